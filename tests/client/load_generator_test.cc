#include "client/load_generator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace beit::client {
namespace {

using namespace std::chrono_literals;

TEST(GenerateLoad, ClosedLoopCountsStatusesAndMeasuresLatency) {
  std::atomic<int> n{0};
  LoadOptions options;
  options.concurrency = 2;
  options.duration_s = 0.3;
  options.warmup_s = 0.05;
  const LoadReport r = GenerateLoad(options, [&](ServedCallStats*) {
    std::this_thread::sleep_for(2ms);
    return n++ % 5 == 4 ? grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "full") : grpc::Status::OK;
  });
  EXPECT_GT(r.calls, 50);
  EXPECT_EQ(r.ok + r.errors.at("RESOURCE_EXHAUSTED"), r.calls);
  EXPECT_GT(r.errors.at("RESOURCE_EXHAUSTED"), 5);
  EXPECT_GE(r.p50_ms, 2.0);
  EXPECT_LE(r.p50_ms, r.p90_ms);
  EXPECT_LE(r.p90_ms, r.p99_ms);
  EXPECT_LE(r.p99_ms, r.max_ms);
  EXPECT_NEAR(r.throughput, r.ok / r.seconds, 1e-9);
}

TEST(GenerateLoad, OpenLoopIssuesCallsAtTheRequestedRate) {
  LoadOptions options;
  options.rate = 200;
  options.duration_s = 0.5;
  options.warmup_s = 0.0;
  options.max_in_flight = 8;
  const LoadReport r = GenerateLoad(options, [](ServedCallStats*) {
    std::this_thread::sleep_for(1ms);
    return grpc::Status::OK;
  });
  EXPECT_NEAR(static_cast<double>(r.calls), 100.0, 15.0);
  EXPECT_EQ(r.ok, r.calls);
}

TEST(GenerateLoad, OpenLoopLatencyIncludesTimeSpentBehindASlowServer) {
  // One caller, calls every 5 ms that each take 20 ms: later calls start late, and that wait
  // counts (no coordinated omission).
  LoadOptions options;
  options.rate = 200;
  options.duration_s = 0.2;
  options.warmup_s = 0.0;
  options.max_in_flight = 1;
  const LoadReport r = GenerateLoad(options, [](ServedCallStats*) {
    std::this_thread::sleep_for(20ms);
    return grpc::Status::OK;
  });
  EXPECT_GT(r.max_ms, 100.0);
}

TEST(StatusCodeName, NamesEveryCode) {
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
}

}  // namespace
// Calls that report how the server ran them: compute time per batch size, and the mean batch size
// counting each batch once (three calls that each say "batch of 3" are one batch, not three).
TEST(GenerateLoad, SummarisesWhatTheServerSaysAboutItsBatches) {
  std::atomic<int> n{0};
  LoadOptions options;
  options.concurrency = 1;
  options.duration_s = 0.2;
  options.warmup_s = 0.0;
  const LoadReport r = GenerateLoad(options, [&](ServedCallStats* stats) {
    std::this_thread::sleep_for(1ms);
    const int i = n++;
    if (i % 4 == 3) {  // one call in four ran alone, the rest in batches of 3
      stats->batch_size = 1;
      stats->compute_ms = 10;
    } else {
      stats->batch_size = 3;
      stats->compute_ms = 20 + i % 2;
    }
    stats->queue_ms = 2;
    return grpc::Status::OK;
  });
  ASSERT_EQ(r.by_batch_size.size(), 2u);
  EXPECT_EQ(r.by_batch_size.at(1).calls + r.by_batch_size.at(3).calls, r.ok);
  EXPECT_EQ(r.by_batch_size.at(1).compute_ms_p50, 10.0);
  EXPECT_GE(r.by_batch_size.at(3).compute_ms_mean, 20.0);
  EXPECT_LE(r.by_batch_size.at(3).compute_ms_mean, 21.0);
  // Per batch: c1 calls alone are c1 batches, c3 calls in threes are c3 / 3 batches.
  const double c1 = double(r.by_batch_size.at(1).calls), c3 = double(r.by_batch_size.at(3).calls);
  EXPECT_NEAR(r.mean_batch_size, (c1 + c3) / (c1 + c3 / 3), 1e-9);
  EXPECT_DOUBLE_EQ(r.queue_ms_mean, 2.0);
}

TEST(GenerateLoad, CallsThatSayNothingLeaveTheServedSummaryEmpty) {
  LoadOptions options;
  options.duration_s = 0.05;
  options.warmup_s = 0.0;
  const LoadReport r = GenerateLoad(options, [](ServedCallStats*) { return grpc::Status::OK; });
  EXPECT_TRUE(r.by_batch_size.empty());
  EXPECT_EQ(r.mean_batch_size, 0.0);
}

}  // namespace beit::client
