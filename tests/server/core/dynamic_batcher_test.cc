#include "server/core/dynamic_batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <thread>
#include <chrono>
#include <future>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace beit::serving {
namespace {

using namespace std::chrono_literals;

// A batch function that doubles its inputs, records every batch, and can be held closed so
// requests pile up behind a running batch.
struct Recorder {
  std::mutex mu;
  std::vector<std::vector<int>> batches;
  std::promise<void> entered;  // set when the first batch starts
  bool entered_set = false;
  std::shared_future<void> gate;

  std::vector<absl::StatusOr<int>> Run(std::vector<int>& inputs) {
    {
      std::lock_guard<std::mutex> lock(mu);
      batches.push_back(inputs);
      if (!entered_set) {
        entered_set = true;
        entered.set_value();
      }
    }
    if (gate.valid()) gate.wait();
    std::vector<absl::StatusOr<int>> out;
    for (int x : inputs) out.push_back(2 * x);
    return out;
  }
};

struct Result {
  std::promise<std::pair<absl::StatusOr<int>, BatchInfo>> promise;
  std::future<std::pair<absl::StatusOr<int>, BatchInfo>> future = promise.get_future();
  DynamicBatcher<int, int>::DoneCallback Callback() {
    return [this](absl::StatusOr<int> r, const BatchInfo& info) { promise.set_value({std::move(r), info}); };
  }
};

const Clock::time_point kNoDeadline = Clock::time_point::max();

TEST(DynamicBatcher, BatchesConcurrentRequestsUpToMaxBatchSize) {
  Recorder rec;
  std::promise<void> open;
  rec.gate = open.get_future().share();
  DynamicBatcher<int, int> batcher("test", {4, 1000, 100}, [&](std::vector<int>& in) { return rec.Run(in); });
  std::vector<Result> results(9);
  ASSERT_TRUE(batcher.Submit(0, kNoDeadline, nullptr, results[0].Callback()).ok());
  rec.entered.get_future().wait();  // batch [0] is running and held: the rest queue up
  for (int i = 1; i < 9; ++i) ASSERT_TRUE(batcher.Submit(i, kNoDeadline, nullptr, results[i].Callback()).ok());
  open.set_value();
  for (int i = 0; i < 9; ++i) {
    auto [value, info] = results[i].future.get();
    ASSERT_TRUE(value.ok());
    EXPECT_EQ(*value, 2 * i);
    EXPECT_EQ(info.batch_size, i == 0 ? 1 : 4);
  }
  ASSERT_EQ(rec.batches.size(), 3u);
  EXPECT_EQ(rec.batches[1], (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(rec.batches[2], (std::vector<int>{5, 6, 7, 8}));
  EXPECT_EQ(batcher.Stats().largest_batch, 4);
}

TEST(DynamicBatcher, LoneRequestWaitsAtMostTheQueueDelay) {
  Recorder rec;
  DynamicBatcher<int, int> batcher("test", {8, 20'000, 100}, [&](std::vector<int>& in) { return rec.Run(in); });
  Result r;
  const auto start = Clock::now();
  ASSERT_TRUE(batcher.Submit(7, kNoDeadline, nullptr, r.Callback()).ok());
  auto [value, info] = r.future.get();
  const auto waited = Clock::now() - start;
  EXPECT_EQ(*value, 14);
  EXPECT_EQ(info.batch_size, 1);
  EXPECT_GE(waited, 20ms);          // it did wait for company...
  EXPECT_GE(info.queue_time_us, 20'000);
}

TEST(DynamicBatcher, FullQueueIsRefusedAtOnce) {
  Recorder rec;
  std::promise<void> open;
  rec.gate = open.get_future().share();
  DynamicBatcher<int, int> batcher("m/Classify", {1, 0, 2}, [&](std::vector<int>& in) { return rec.Run(in); });
  std::vector<Result> results(3);
  ASSERT_TRUE(batcher.Submit(0, kNoDeadline, nullptr, results[0].Callback()).ok());
  rec.entered.get_future().wait();
  ASSERT_TRUE(batcher.Submit(1, kNoDeadline, nullptr, results[1].Callback()).ok());
  ASSERT_TRUE(batcher.Submit(2, kNoDeadline, nullptr, results[2].Callback()).ok());
  bool called = false;
  const absl::Status refused = batcher.Submit(3, kNoDeadline, nullptr, [&](absl::StatusOr<int>, const BatchInfo&) {
    called = true;
  });
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("queue full"), absl::string_view::npos);
  open.set_value();
  for (auto& r : results) EXPECT_TRUE(r.future.get().first.ok());
  EXPECT_FALSE(called);
  EXPECT_EQ(batcher.Stats().rejected_queue_full, 1);
}

TEST(DynamicBatcher, ExpiredAndCancelledRequestsNeverReachTheModel) {
  Recorder rec;
  std::promise<void> open;
  rec.gate = open.get_future().share();
  DynamicBatcher<int, int> batcher("test", {8, 0, 100}, [&](std::vector<int>& in) { return rec.Run(in); });
  Result first, expired, cancelled, alive;
  ASSERT_TRUE(batcher.Submit(0, kNoDeadline, nullptr, first.Callback()).ok());
  rec.entered.get_future().wait();
  auto flag = std::make_shared<std::atomic<bool>>(false);
  ASSERT_TRUE(batcher.Submit(1, Clock::now() + 1ms, nullptr, expired.Callback()).ok());
  ASSERT_TRUE(batcher.Submit(2, kNoDeadline, flag, cancelled.Callback()).ok());
  ASSERT_TRUE(batcher.Submit(3, kNoDeadline, nullptr, alive.Callback()).ok());
  flag->store(true);
  std::this_thread::sleep_for(5ms);  // the deadline of request 1 passes while it is queued
  open.set_value();
  EXPECT_EQ(expired.future.get().first.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(cancelled.future.get().first.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(*alive.future.get().first, 6);
  first.future.get();
  ASSERT_EQ(rec.batches.size(), 2u);
  EXPECT_EQ(rec.batches[1], (std::vector<int>{3}));  // only the live request was computed
  const BatcherStats stats = batcher.Stats();
  EXPECT_EQ(stats.expired, 1);
  EXPECT_EQ(stats.cancelled, 1);
  EXPECT_EQ(stats.requests_computed, 2);
}

TEST(DynamicBatcher, CancelledRequestsFreeTheirQueueSlots) {
  Recorder rec;
  std::promise<void> open;
  rec.gate = open.get_future().share();
  DynamicBatcher<int, int> batcher("test", {1, 0, 1}, [&](std::vector<int>& in) { return rec.Run(in); });
  Result running, cancelled, next;
  ASSERT_TRUE(batcher.Submit(0, kNoDeadline, nullptr, running.Callback()).ok());
  rec.entered.get_future().wait();
  auto flag = std::make_shared<std::atomic<bool>>(false);
  ASSERT_TRUE(batcher.Submit(1, kNoDeadline, flag, cancelled.Callback()).ok());
  flag->store(true);
  EXPECT_TRUE(batcher.Submit(2, kNoDeadline, nullptr, next.Callback()).ok());  // slot reclaimed
  open.set_value();
  EXPECT_EQ(cancelled.future.get().first.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(*next.future.get().first, 4);
  EXPECT_EQ(rec.batches.size(), 2u);  // 0 and 2; never 1
}

TEST(DynamicBatcher, AFailingBatchFailsOnlyItsOwnRequests) {
  std::atomic<int> calls{0};
  DynamicBatcher<int, int> batcher("m/Embed", {8, 0, 100}, [&](std::vector<int>& in) {
    if (calls++ == 0) throw std::runtime_error("boom");
    return std::vector<absl::StatusOr<int>>(in.size(), 1);
  });
  Result a, b;
  ASSERT_TRUE(batcher.Submit(0, kNoDeadline, nullptr, a.Callback()).ok());
  const absl::StatusOr<int> failed = a.future.get().first;
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(failed.status().message().find("boom"), absl::string_view::npos);
  ASSERT_TRUE(batcher.Submit(1, kNoDeadline, nullptr, b.Callback()).ok());
  EXPECT_EQ(*b.future.get().first, 1);
}

TEST(DynamicBatcher, ConcurrentBatchesFormWhileOthersComputeAndEachBatchIsWhole) {
  // Two instances: while the first batch is held, a second forms and runs; a third waits for one
  // of them.
  std::mutex mu;
  std::condition_variable cv;
  int running = 0, most = 0;
  bool open = false;
  std::vector<std::vector<int>> batches;
  DynamicBatcher<int, int> batcher("test", {2, 1000, 100, /*concurrent_batches=*/2}, [&](std::vector<int>& in) {
    std::unique_lock<std::mutex> lock(mu);
    batches.push_back(in);
    most = std::max(most, ++running);
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
    --running;
    std::vector<absl::StatusOr<int>> out;
    for (int x : in) out.push_back(2 * x);
    return out;
  });
  std::vector<Result> results(6);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(batcher.Submit(i, kNoDeadline, nullptr, results[i].Callback()).ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return running == 2; })) << "two batches compute at once";
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(running, 2) << "never more than concurrent_batches";
    open = true;
    cv.notify_all();
  }
  for (int i = 0; i < 6; ++i) EXPECT_EQ(*results[i].future.get().first, 2 * i);
  EXPECT_EQ(most, 2);
  // Each batch takes the queue's oldest requests, in arrival order (which batch reaches the
  // function first is up to the threads).
  std::sort(batches.begin(), batches.end());
  EXPECT_EQ(batches, (std::vector<std::vector<int>>{{0, 1}, {2, 3}, {4, 5}}));
}

TEST(DynamicBatcher, ShutdownFinishesQueuedWorkThenRefuses) {
  Recorder rec;
  DynamicBatcher<int, int> batcher("test", {2, 50'000, 100}, [&](std::vector<int>& in) { return rec.Run(in); });
  std::vector<Result> results(5);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(batcher.Submit(i, kNoDeadline, nullptr, results[i].Callback()).ok());
  batcher.Shutdown();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(*results[i].future.get().first, 2 * i);
  const absl::Status after = batcher.Submit(9, kNoDeadline, nullptr, [](absl::StatusOr<int>, const BatchInfo&) {});
  EXPECT_EQ(after.code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace beit::serving
