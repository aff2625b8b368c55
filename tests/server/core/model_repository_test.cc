// The core's versioned repository: finding versions, loading beside a serving one, unloading
// while requests still hold a version, releasing it only when nothing does.
#include "server/core/model_repository.h"

#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <thread>
#include <vector>

#include "server/core/request_path.h"
#include "server/core/worker_pool.h"

namespace beit::serving {
namespace {

const std::string kCls = std::string(BEIT_TEST_DATA_DIR) + "/models/cls-relpos-meanpool";

class ModelRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> warnings;
    models_.Load({}, BatcherOptions{}, {}, nullptr, &warnings);
  }
  void TearDown() override { models_.ShutdownAll(); }
  ModelSpec Spec(int64_t version, const std::string& dir = kCls) {
    ModelSpec spec;
    spec.name = "cls";
    spec.dir = dir;
    spec.version = version;
    return spec;
  }
  VersionStatus Entry(int64_t version) {
    for (const VersionStatus& v : models_.Index()) {
      if (v.version == version) return v;
    }
    return {};
  }
  ModelRepository models_;
};

TEST_F(ModelRepositoryTest, FindsTheHighestReadyVersionOrTheOneAskedFor) {
  EXPECT_EQ(models_.Find("cls").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(models_.Find("").status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(models_.LoadVersion(Spec(1), nullptr).ok());
  ASSERT_TRUE(models_.LoadVersion(Spec(3), nullptr).ok());
  EXPECT_EQ((*models_.Find("cls"))->description().version, 3);
  EXPECT_EQ((*models_.Find("cls", 1))->description().version, 1);
  const absl::Status missing = models_.Find("cls", 2).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "model 'cls' has no version 2; versions ready: 1, 3");
  EXPECT_EQ(models_.models().size(), 2u);
  EXPECT_FALSE(models_.Pinned("cls"));
}

TEST_F(ModelRepositoryTest, AFailedLoadLeavesTheServingVersionAndSaysWhy) {
  ASSERT_TRUE(models_.LoadVersion(Spec(1), nullptr).ok());
  const absl::Status failed = models_.LoadVersion(Spec(2, "/nonexistent/model"), nullptr);
  EXPECT_EQ(failed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(failed.message().find("model 'cls' version 2 did not load from /nonexistent/model"), std::string::npos)
      << failed;
  EXPECT_EQ(Entry(2).state, VersionState::kUnavailable);
  EXPECT_NE(Entry(2).reason.find("load failed: "), std::string::npos) << Entry(2).reason;
  EXPECT_EQ((*models_.Find("cls"))->description().version, 1);
  const absl::Status asked = models_.Find("cls", 2).status();
  EXPECT_EQ(asked.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(asked.message().find("model 'cls' version 2 is UNAVAILABLE (load failed: "), std::string::npos) << asked;
}

TEST_F(ModelRepositoryTest, AnUnloadedVersionTakesNoNewRequestsAndIsFreedOnlyWhenNothingHoldsIt) {
  ASSERT_TRUE(models_.LoadVersion(Spec(1), nullptr).ok());
  std::shared_ptr<ServedModel> held = *models_.Find("cls");
  ASSERT_TRUE(models_.UnloadVersion("cls", 1, "unloaded").ok());
  EXPECT_EQ(models_.Find("cls").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Entry(1).state, VersionState::kUnloading);
  // What holds it still computes.
  std::promise<absl::StatusOr<ClassifyOutput>> answer;
  ASSERT_TRUE(held->classify()
                  ->Submit({Tensor({1, 3, 32, 32}), 1}, Clock::time_point::max(), nullptr,
                           [&](absl::StatusOr<ClassifyOutput> r, const BatchInfo&) { answer.set_value(r); })
                  .ok());
  EXPECT_TRUE(answer.get_future().get().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Entry(1).state, VersionState::kUnloading) << "still held";
  std::weak_ptr<ServedModel> watch = held;
  held.reset();
  models_.WaitUntilReleased();
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(Entry(1).state, VersionState::kUnavailable);
  EXPECT_EQ(Entry(1).reason, "unloaded");
}

TEST_F(ModelRepositoryTest, RequestsInFlightDuringAnUnloadAllComplete) {
  ASSERT_TRUE(models_.LoadVersion(Spec(1), nullptr).ok());
  WorkerPool workers(2, 64);
  RequestPath path(&workers);
  const std::string png = [] {
    std::ifstream in(std::string(BEIT_TEST_DATA_DIR) + "/preprocess/images/logo_240_rgba.png", std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  ASSERT_FALSE(png.empty());
  std::vector<std::future<absl::Status>> answers;
  for (int i = 0; i < 16; ++i) {
    auto done = std::make_shared<std::promise<absl::Status>>();
    answers.push_back(done->get_future());
    InferenceRequest request;
    request.model = *models_.Find("cls");
    request.images.emplace_back();
    request.images.back().encoded = png;
    request.classify = ClassifyParams{};
    path.Run(std::move(request), Clock::time_point::max(), nullptr,
             [done](absl::StatusOr<InferenceResult> r, const InferenceStats&) { done->set_value(r.status()); });
  }
  ASSERT_TRUE(models_.UnloadVersion("cls", 1, "unloaded").ok());
  for (auto& a : answers) EXPECT_TRUE(a.get().ok());
  models_.WaitUntilReleased();
  EXPECT_EQ(Entry(1).state, VersionState::kUnavailable);
  workers.Shutdown();
}

TEST_F(ModelRepositoryTest, ModelsGivenAtStartupArePinned) {
  ModelRepository pinned;
  std::vector<std::string> warnings;
  pinned.Load({{"cls", kCls}}, BatcherOptions{}, {}, nullptr, &warnings);
  EXPECT_TRUE(pinned.Pinned("cls"));
  const absl::Status s = pinned.UnloadVersion("cls", 1, "unloaded");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(pinned.Find("cls").ok());
  pinned.ShutdownAll();
}

}  // namespace
}  // namespace beit::serving
