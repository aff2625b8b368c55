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
  const LoadReport r = GenerateLoad(options, [&] {
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
  const LoadReport r = GenerateLoad(options, [] {
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
  const LoadReport r = GenerateLoad(options, [] {
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
}  // namespace beit::client
