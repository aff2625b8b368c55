// A served model's batchers under concurrent load from many threads, without gRPC: every answer
// equals computing the request alone (bit for bit where the CPU tier promises it, within float
// rounding elsewhere: tests/model/ops/cpu_tier_testing.h), whatever it was batched with. This is also
// what ThreadSanitizer runs over the batchers, the shared compute lock and the model.
#include "server/core/served_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/core/model_repository.h"
#include "tests/model/ops/cpu_tier_testing.h"

namespace beit::serving {
namespace {

Tensor Pixels(int variant) {
  Tensor t({1, 3, 32, 32});
  for (int64_t i = 0; i < t.numel(); ++i) t.data[i] = static_cast<float>(((i * 7 + variant * 13) % 17) - 8) / 8.f;
  return t;
}

TEST(ServedModel, ConcurrentRequestsOnTwoTasksEqualTheirUnbatchedAnswers) {
  ModelRepository models;
  std::vector<std::string> warnings;
  BatcherOptions batching;
  batching.max_batch_size = 4;
  batching.max_queue_delay_us = 3000;
  models.Load({{"cls", std::string(BEIT_TEST_DATA_DIR) + "/models/cls-relpos-meanpool"}}, batching, {}, nullptr,
              &warnings);
  ServedModel* model = models.Find("cls")->get();

  // Answers alone, one request per batch.
  constexpr int kRequests = 24;
  std::vector<ClassifyOutput> alone(kRequests);
  std::vector<EmbedOutput> alone_embed(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    std::promise<ClassifyOutput> c;
    ASSERT_TRUE(model->classify()
                    ->Submit({Pixels(i), 3}, Clock::time_point::max(), nullptr,
                             [&](absl::StatusOr<ClassifyOutput> r, const BatchInfo&) { c.set_value(*r); })
                    .ok());
    alone[i] = c.get_future().get();
    std::promise<EmbedOutput> e;
    EmbedInput in;
    in.pixels = Pixels(i);
    ASSERT_TRUE(model->embed()
                    ->Submit(std::move(in), Clock::time_point::max(), nullptr,
                             [&](absl::StatusOr<EmbedOutput> r, const BatchInfo&) { e.set_value(*r); })
                    .ok());
    alone_embed[i] = e.get_future().get();
  }

  // The same requests from 8 threads at once, both tasks interleaved.
  std::mutex mu;
  int largest = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kRequests; i += 8) {
        std::promise<std::pair<ClassifyOutput, int>> c;
        std::promise<EmbedOutput> e;
        EmbedInput in;
        in.pixels = Pixels(i);
        ASSERT_TRUE(model->classify()
                        ->Submit({Pixels(i), 3}, Clock::time_point::max(), nullptr,
                                 [&](absl::StatusOr<ClassifyOutput> r, const BatchInfo& info) {
                                   c.set_value({*r, info.batch_size});
                                 })
                        .ok());
        ASSERT_TRUE(model->embed()
                        ->Submit(std::move(in), Clock::time_point::max(), nullptr,
                                 [&](absl::StatusOr<EmbedOutput> r, const BatchInfo&) { e.set_value(*r); })
                        .ok());
        const auto [together, batch] = c.get_future().get();
        const EmbedOutput embedded = e.get_future().get();
        std::lock_guard<std::mutex> lock(mu);
        largest = std::max(largest, batch);
        ASSERT_EQ(together.predictions.size(), 3u);
        for (size_t k = 0; k < 3; ++k) {
          EXPECT_EQ(together.predictions[k].index, alone[i].predictions[k].index);
          SCOPED_TRACE("request " + std::to_string(i));
          ExpectSameAnswerAsAlone(together.predictions[k].score, alone[i].predictions[k].score);
        }
        ASSERT_EQ(embedded.embedding.size(), alone_embed[i].embedding.size());
        for (size_t j = 0; j < embedded.embedding.size(); ++j) {
          ExpectSameAnswerAsAlone(embedded.embedding[j], alone_embed[i].embedding[j]);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(largest, 1) << "the concurrent requests never shared a batch";
  models.ShutdownAll();
}

// Records which instance ran each forward.
class InstanceRecorder final : public ServingObserver {
 public:
  void RequestFinished(const RequestRecord&) override {}
  void BatchStarted(const std::string&, const std::string&, int instance) override {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.insert(instance);
  }
  void BatchFinished(const std::string&, const std::string&, int, int, double) override {}
  std::set<int> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  std::mutex mu_;
  std::set<int> seen_;
};

// Each image's embedding and logits, every request submitted at once (batches of one).
std::vector<std::pair<std::vector<float>, std::vector<float>>> AnswersWith(ComputeOptions compute,
                                                                           std::set<int>* instances_seen) {
  ModelRepository models(compute);
  InstanceRecorder recorder;
  std::vector<std::string> warnings;
  BatcherOptions batching;
  batching.max_batch_size = 1;
  models.Load({{"cls", std::string(BEIT_TEST_DATA_DIR) + "/models/cls-relpos-meanpool"}}, batching, {}, &recorder,
              &warnings);
  ServedModel* model = models.Find("cls")->get();
  constexpr int kImages = 16;
  std::vector<std::promise<EmbedOutput>> embedded(kImages);
  std::vector<std::promise<ClassifyOutput>> classified(kImages);
  for (int i = 0; i < kImages; ++i) {
    EmbedInput in;
    in.pixels = Pixels(i);
    EXPECT_TRUE(model->embed()
                    ->Submit(std::move(in), Clock::time_point::max(), nullptr,
                             [&, i](absl::StatusOr<EmbedOutput> r, const BatchInfo&) { embedded[i].set_value(*r); })
                    .ok());
    EXPECT_TRUE(model->classify()
                    ->Submit({Pixels(i), 1, /*with_logits=*/true}, Clock::time_point::max(), nullptr,
                             [&, i](absl::StatusOr<ClassifyOutput> r, const BatchInfo&) { classified[i].set_value(*r); })
                    .ok());
  }
  std::vector<std::pair<std::vector<float>, std::vector<float>>> answers;
  for (int i = 0; i < kImages; ++i) {
    answers.emplace_back(embedded[i].get_future().get().embedding, classified[i].get_future().get().logits);
  }
  models.ShutdownAll();
  *instances_seen = recorder.seen();
  return answers;
}

TEST(ServedModel, InstancesGiveTheSameBitsWhicheverComputesAndHoweverMany) {
  std::set<int> one_seen, two_seen;
  const auto one = AnswersWith({/*instances=*/1, /*threads_per_instance=*/1}, &one_seen);
  const auto two = AnswersWith({/*instances=*/2, /*threads_per_instance=*/1}, &two_seen);
  EXPECT_EQ(one_seen, (std::set<int>{0}));
  EXPECT_EQ(two_seen, (std::set<int>{0, 1})) << "both instances computed";
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i].first, two[i].first) << "embedding of image " << i;
    EXPECT_EQ(one[i].second, two[i].second) << "logits of image " << i;
    if (i > 0) {
      EXPECT_NE(one[i].second, one[0].second);
    }
  }
}

// Counts the forwards running at once.
class ConcurrencyRecorder final : public ServingObserver {
 public:
  void RequestFinished(const RequestRecord&) override {}
  void BatchStarted(const std::string&, const std::string&, int) override {
    std::lock_guard<std::mutex> lock(mu_);
    most_ = std::max(most_, ++running_);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // overlap, if anything may
  }
  void BatchFinished(const std::string&, const std::string&, int, int, double) override {
    std::lock_guard<std::mutex> lock(mu_);
    --running_;
  }
  int most() {
    std::lock_guard<std::mutex> lock(mu_);
    return most_;
  }

 private:
  std::mutex mu_;
  int running_ = 0, most_ = 0;
};

TEST(ServedModel, AModelsInstancesBoundAllItsTasksTogether) {
  for (const int instances : {1, 2}) {
    ModelRepository models({/*instances=*/2, /*threads_per_instance=*/1});
    ConcurrencyRecorder recorder;
    std::vector<std::string> warnings;
    BatcherOptions batching;
    batching.max_batch_size = 1;
    models.Load({{"cls", std::string(BEIT_TEST_DATA_DIR) + "/models/cls-relpos-meanpool", instances}}, batching, {},
                &recorder, &warnings);
    ServedModel* model = models.Find("cls")->get();
    constexpr int kEach = 12;
    std::vector<std::promise<void>> done(2 * kEach);
    for (int i = 0; i < kEach; ++i) {
      EmbedInput in;
      in.pixels = Pixels(i);
      ASSERT_TRUE(model->embed()
                      ->Submit(std::move(in), Clock::time_point::max(), nullptr,
                               [&, i](absl::StatusOr<EmbedOutput>, const BatchInfo&) { done[i].set_value(); })
                      .ok());
      ASSERT_TRUE(model->classify()
                      ->Submit({Pixels(i), 1}, Clock::time_point::max(), nullptr,
                               [&, i](absl::StatusOr<ClassifyOutput>, const BatchInfo&) { done[kEach + i].set_value(); })
                      .ok());
    }
    for (auto& d : done) d.get_future().get();
    models.ShutdownAll();
    EXPECT_EQ(recorder.most(), instances) << "classify and embed together never exceed the model's instances";
  }
}

}  // namespace
}  // namespace beit::serving
