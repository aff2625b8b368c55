// InferenceExecutor without a transport: readiness, shutting down, a queue that fills while a
// request waits, a deadline, and a client that cancels.
#include "server/open_inference/inference_executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/core/model_repository.h"
#include "server/core/worker_pool.h"

namespace beit::serving::open_inference {
namespace {

// pixel_values [count, 3, 32, 32] for cls-relpos-meanpool.
std::shared_ptr<const InferRequest> PixelRequest(int64_t count) {
  auto request = std::make_shared<InferRequest>();
  request->model_name = "cls";
  InferTensor t;
  t.name = "pixel_values";
  t.datatype = "FP32";
  t.shape = {count, 3, 32, 32};
  t.raw.assign(static_cast<size_t>(count) * 3 * 32 * 32 * sizeof(float), '\0');
  request->inputs.push_back(std::move(t));
  return request;
}

class InferenceExecutorTest : public ::testing::Test {
 protected:
  void Load(const BatcherOptions& batching) {
    std::vector<std::string> warnings;
    models_.Load({{"cls", std::string(BEIT_TEST_DATA_DIR) + "/models/cls-relpos-meanpool"}}, batching, {}, nullptr,
                 &warnings);
    executor_ = std::make_unique<InferenceExecutor>(&models_, &workers_, "test");
  }
  void TearDown() override {
    models_.ShutdownAll();
    workers_.Shutdown();
  }

  // Starts a request; the future holds its status.
  std::future<absl::Status> Start(std::shared_ptr<const InferRequest> request,
                                  Clock::time_point deadline = Clock::time_point::max(),
                                  CancellationFlag cancelled = nullptr) {
    auto done = std::make_shared<std::promise<absl::Status>>();
    std::future<absl::Status> result = done->get_future();
    executor_->Infer(std::move(request), deadline, std::move(cancelled),
                     [done](absl::StatusOr<InferResponse> response, const InferStats&) {
                       done->set_value(response.status());
                     });
    return result;
  }

  ModelRepository models_;
  WorkerPool workers_{2, 64};
  std::unique_ptr<InferenceExecutor> executor_;
};

TEST_F(InferenceExecutorTest, ReadyOnlyBetweenSetReadyAndStopAccepting) {
  Load(BatcherOptions{});
  EXPECT_TRUE(executor_->ServerLive());
  EXPECT_FALSE(executor_->ServerReady());
  EXPECT_FALSE(*executor_->ModelReady("cls", ""));
  executor_->SetReady(true);
  EXPECT_TRUE(executor_->ServerReady());
  EXPECT_TRUE(*executor_->ModelReady("cls", "1"));
  EXPECT_EQ(Start(PixelRequest(1)).get(), absl::OkStatus());
  executor_->StopAccepting();
  EXPECT_FALSE(executor_->ServerReady());
  const absl::Status refused = Start(PixelRequest(1)).get();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_NE(refused.message().find("shutting down"), std::string::npos) << refused;
}

// Two images wait for a batch of four (a long queue delay); a second request of two finds the
// queue of two full and is refused whole; the first is still answered.
TEST_F(InferenceExecutorTest, AFullQueueRefusesTheNextRequest) {
  BatcherOptions batching;
  batching.max_batch_size = 4;
  batching.max_queue_size = 2;
  batching.max_queue_delay_us = 1'500'000;
  Load(batching);
  executor_->SetReady(true);
  std::future<absl::Status> first = Start(PixelRequest(2));
  // Wait until the first request's images are queued.
  auto queued = [&] {
    for (const auto& [task, stats] : models_.Find("cls").value()->Stats()) {
      if (task == Task::kClassify) return stats.queued;
    }
    return int64_t{0};
  };
  for (int i = 0; i < 200 && queued() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const absl::Status second = Start(PixelRequest(2)).get();
  EXPECT_EQ(second.code(), absl::StatusCode::kResourceExhausted) << second;
  EXPECT_EQ(first.get(), absl::OkStatus());
}

TEST_F(InferenceExecutorTest, DeadlineAndCancellation) {
  BatcherOptions batching;
  batching.max_batch_size = 4;
  batching.max_queue_delay_us = 500'000;
  Load(batching);
  executor_->SetReady(true);
  const absl::Status late = Start(PixelRequest(1), Clock::now() + std::chrono::milliseconds(50)).get();
  EXPECT_EQ(late.code(), absl::StatusCode::kDeadlineExceeded) << late;
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  std::future<absl::Status> pending = Start(PixelRequest(1), Clock::time_point::max(), cancelled);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  cancelled->store(true);
  const absl::Status status = pending.get();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
}

// Requests that expire or are cancelled while waiting for a preprocessing worker are never
// decoded, and the batchers count them as dropped, as for beit.v1.
TEST_F(InferenceExecutorTest, DropsBeforeTheQueueAreCountedLikeBeitV1) {
  Load(BatcherOptions{});
  executor_->SetReady(true);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(workers_.TryPost([released] { released.wait(); }));  // both workers busy
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  std::future<absl::Status> expiring = Start(PixelRequest(1), Clock::now() + std::chrono::milliseconds(20));
  std::future<absl::Status> cancelling = Start(PixelRequest(1), Clock::time_point::max(), cancelled);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  cancelled->store(true);
  release.set_value();
  EXPECT_EQ(expiring.get().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(cancelling.get().code(), absl::StatusCode::kCancelled);
  const BatcherStats stats = (*models_.Find("cls"))->classify()->Stats();
  EXPECT_EQ(stats.expired, 1);
  EXPECT_EQ(stats.cancelled, 1);
  EXPECT_EQ(stats.requests_computed, 0);
}

}  // namespace
}  // namespace beit::serving::open_inference
