// The serving core's request path without any protocol: several images and tasks in one request,
// answers in image order equal to each image's own, the segmentation size rule, errors naming the
// image, refusals before any work, and drops before the queue counted by every batcher asked.
#include "server/core/request_path.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "model/image/png_encoder.h"
#include "server/core/model_repository.h"

namespace beit::serving {
namespace {

std::string Png(int64_t width, int64_t height, int variant) {
  Image8 image(width, height, 3);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>((i * 31 + variant * 57) % 251);
  return EncodeRgbPng(image);
}

struct Answer {
  absl::StatusOr<InferenceResult> result;
  InferenceStats stats;
};

class RequestPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> warnings;
    models_.Load({{"cls", std::string(BEIT_TEST_DATA_DIR) + "/models/cls-relpos-meanpool"},
                  {"seg", std::string(BEIT_TEST_DATA_DIR) + "/models/seg-upernet"}},
                 BatcherOptions{}, {}, nullptr, &warnings);
  }
  void TearDown() override {
    models_.ShutdownAll();
    workers_.Shutdown();
  }

  std::shared_ptr<ServedModel> Model(const std::string& name) { return *models_.Find(name); }

  Answer Run(InferenceRequest request, Clock::time_point deadline = Clock::time_point::max(),
             CancellationFlag cancelled = nullptr) {
    auto done = std::make_shared<std::promise<Answer>>();
    std::future<Answer> answer = done->get_future();
    path_.Run(std::move(request), deadline, std::move(cancelled),
              [done](absl::StatusOr<InferenceResult> result, const InferenceStats& stats) {
                done->set_value(Answer{std::move(result), stats});
              });
    return answer.get();
  }

  // A request of encoded images; the fixture keeps their bytes alive (the request points into them).
  InferenceRequest Encoded(std::shared_ptr<ServedModel> model, const std::vector<std::string>& images) {
    InferenceRequest request;
    request.model = model;
    for (const std::string& bytes : images) {
      ImageInput in;
      in.encoded = kept_.emplace_back(bytes);
      request.images.push_back(std::move(in));
    }
    return request;
  }

  std::deque<std::string> kept_;
  ModelRepository models_;
  WorkerPool workers_{2, 64};
  RequestPath path_{&workers_};
};

TEST_F(RequestPathTest, SeveralImagesAndTasksAnswerInImageOrderAsEachAlone) {
  const std::vector<std::string> images = {Png(40, 30, 0), Png(40, 30, 1), Png(40, 30, 2)};
  InferenceRequest both = Encoded(Model("cls"), images);
  both.classify = ClassifyParams{3, true, true};
  both.embed = EmbedParams{};
  Answer together = Run(std::move(both));
  ASSERT_TRUE(together.result.ok()) << together.result.status();
  ASSERT_EQ(together.result->classify.size(), 3u);
  ASSERT_EQ(together.result->embed.size(), 3u);
  EXPECT_GE(together.stats.batch_size, 1);
  EXPECT_GE(together.stats.preprocess_seconds, 0);
  for (size_t i = 0; i < images.size(); ++i) {
    InferenceRequest alone = Encoded(Model("cls"), {images[i]});
    alone.classify = ClassifyParams{3, true, true};
    Answer one = Run(std::move(alone));
    ASSERT_TRUE(one.result.ok());
    EXPECT_EQ(together.result->classify[i].logits, one.result->classify[0].logits) << "image " << i;
    ASSERT_EQ(together.result->classify[i].predictions.size(), 3u);
    EXPECT_EQ(together.result->classify[i].predictions[0].index, one.result->classify[0].predictions[0].index);
  }
  EXPECT_NE(together.result->classify[0].logits, together.result->classify[1].logits);
}

TEST_F(RequestPathTest, WithoutPredictionsClassifyGivesOnlyLogits) {
  InferenceRequest request = Encoded(Model("cls"), {Png(32, 32, 0)});
  request.classify = ClassifyParams{0, /*with_predictions=*/false, /*with_logits=*/true};
  Answer answer = Run(std::move(request));
  ASSERT_TRUE(answer.result.ok());
  EXPECT_TRUE(answer.result->classify[0].predictions.empty());
  EXPECT_FALSE(answer.result->classify[0].logits.empty());
}

TEST_F(RequestPathTest, SegmentationMapsTakeTheSharedOriginalSizeElseTheModels) {
  InferenceRequest same = Encoded(Model("seg"), {Png(50, 20, 0), Png(50, 20, 1)});
  same.segment = SegmentParams{};
  Answer shared = Run(std::move(same));
  ASSERT_TRUE(shared.result.ok()) << shared.result.status();
  for (const SegmentOutput& s : shared.result->segment) {
    EXPECT_EQ(s.label_map.dim(0), 20);
    EXPECT_EQ(s.label_map.dim(1), 50);
  }
  InferenceRequest mixed = Encoded(Model("seg"), {Png(50, 20, 0), Png(20, 50, 1)});
  mixed.segment = SegmentParams{};
  Answer model_size = Run(std::move(mixed));
  ASSERT_TRUE(model_size.result.ok());
  const ModelDescription& d = Model("seg")->description();
  for (const SegmentOutput& s : model_size.result->segment) {
    EXPECT_EQ(s.label_map.dim(0), d.image_height);
    EXPECT_EQ(s.label_map.dim(1), d.image_width);
  }
  InferenceRequest asked = Encoded(Model("seg"), {Png(50, 20, 0)});
  asked.segment = SegmentParams{7, 9, false, false};
  Answer sized = Run(std::move(asked));
  ASSERT_TRUE(sized.result.ok());
  EXPECT_EQ(sized.result->segment[0].label_map.dim(0), 7);
  EXPECT_EQ(sized.result->segment[0].label_map.dim(1), 9);
}

TEST_F(RequestPathTest, ErrorsNameTheImageWhenTheFrontDoorAsks) {
  const std::string good = Png(32, 32, 0);
  const std::string bad = "not an image";
  InferenceRequest unnamed = Encoded(Model("cls"), {bad});
  unnamed.classify = ClassifyParams{};
  Answer plain = Run(std::move(unnamed));
  EXPECT_EQ(plain.result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(plain.result.status().message().rfind("image.encoded", 0), 0u) << plain.result.status();
  EXPECT_GE(plain.stats.preprocess_seconds, 0);

  InferenceRequest named = Encoded(Model("cls"), {good, bad});
  named.image_input_name = "image";
  named.classify = ClassifyParams{};
  Answer decode = Run(std::move(named));
  EXPECT_EQ(decode.result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(decode.result.status().message().rfind("input 'image' element 1: ", 0), 0u) << decode.result.status();

  InferenceRequest negative = Encoded(Model("cls"), {good, good});
  negative.image_input_name = "image";
  negative.classify = ClassifyParams{-1, true, false};
  Answer invalid = Run(std::move(negative));
  EXPECT_EQ(invalid.result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(invalid.result.status().message().rfind("image 0: top_k", 0), 0u) << invalid.result.status();
}

TEST_F(RequestPathTest, RefusedBeforeAnyWork) {
  InferenceRequest segment_on_classifier = Encoded(Model("cls"), {Png(32, 32, 0)});
  segment_on_classifier.segment = SegmentParams{};
  EXPECT_EQ(Run(std::move(segment_on_classifier)).result.status().code(), absl::StatusCode::kFailedPrecondition);

  InferenceRequest nothing = Encoded(Model("cls"), {Png(32, 32, 0)});
  EXPECT_EQ(Run(std::move(nothing)).result.status().code(), absl::StatusCode::kInvalidArgument);

  path_.StopAccepting();
  EXPECT_EQ(path_.Accepting().code(), absl::StatusCode::kUnavailable);
  InferenceRequest late = Encoded(Model("cls"), {Png(32, 32, 0)});
  late.classify = ClassifyParams{};
  EXPECT_EQ(Run(std::move(late)).result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Model("cls")->waiting_for_preprocess.load(), 0);
}

TEST_F(RequestPathTest, DropsBeforeTheQueueCountInEveryBatcherAsked) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(workers_.TryPost([released] { released.wait(); }));  // both workers busy
  const std::string image = Png(32, 32, 0);
  auto ask_both = [&] {
    InferenceRequest r = Encoded(Model("cls"), {image});
    r.classify = ClassifyParams{};
    r.embed = EmbedParams{};
    return r;
  };
  InferenceRequest first = ask_both(), second = ask_both();
  auto expiring = std::async(std::launch::async, [&] {
    return Run(std::move(first), Clock::now() + std::chrono::milliseconds(20)).result.status();
  });
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  auto cancelling = std::async(std::launch::async, [&] {
    return Run(std::move(second), Clock::time_point::max(), cancelled).result.status();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Model("cls")->waiting_for_preprocess.load(), 2);
  cancelled->store(true);
  release.set_value();
  EXPECT_EQ(expiring.get().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(cancelling.get().code(), absl::StatusCode::kCancelled);
  for (const BatcherStats& stats : {Model("cls")->classify()->Stats(), Model("cls")->embed()->Stats()}) {
    EXPECT_EQ(stats.expired, 1);
    EXPECT_EQ(stats.cancelled, 1);
    EXPECT_EQ(stats.requests_computed, 0);
  }
  EXPECT_EQ(Model("cls")->waiting_for_preprocess.load(), 0);
}

}  // namespace
}  // namespace beit::serving
