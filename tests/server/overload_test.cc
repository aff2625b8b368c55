// Load held by a real beit-server: sustained overload at twice its measured capacity, and a storm
// of short deadlines and random cancellations (mid-queue and mid-batch). Bounded in time:
// BEIT_OVERLOAD_SECONDS (default 5) sets the overload phase; the `long` ctest label runs 60 s.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "beit/v1/beit_service.grpc.pb.h"
#include "client/load_generator.h"
#include "tests/server/server_process.h"

namespace beit::testing {
namespace {

namespace pb = beit::v1;
using namespace std::chrono_literals;

constexpr int kMaxQueue = 16;

pb::EmbedRequest Embed224() {
  pb::EmbedRequest request;
  request.set_model("base");
  pb::PixelValues* pv = request.mutable_image()->mutable_pixel_values();
  for (int d : {3, 224, 224}) pv->add_shape(d);
  pv->mutable_data()->Resize(3 * 224 * 224, 0.1f);
  return request;
}

int64_t ResidentKb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string key; status >> key;) {
    if (key == "VmRSS:") {
      int64_t kb = 0;
      status >> kb;
      return kb;
    }
  }
  return 0;
}

int64_t Queued(pb::BeitService::Stub& stub) {
  pb::GetModelInfoRequest request;
  request.set_model("base");
  pb::ModelInfo info;
  grpc::ClientContext context;
  if (!stub.GetModelInfo(&context, request, &info).ok()) return -1;
  int64_t queued = 0;
  for (const auto& s : info.stats()) queued += s.queued();
  return queued;
}

class OverloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(server_.Start({"--model", "base=" + ModelDir("base-224"), "--max-batch-size", "4", "--max-queue-size",
                               std::to_string(kMaxQueue), "--max-queue-delay-us", "1000"},
                              &error))
        << error;
    stub_ = pb::BeitService::NewStub(server_.channel());
  }
  ServerProcess server_;
  std::unique_ptr<pb::BeitService::Stub> stub_;
};

TEST_F(OverloadTest, TwiceCapacityKeepsQueueMemoryAndLatencyBoundedAndLosesNothing) {
  const pb::EmbedRequest request = Embed224();
  pb::BeitService::Stub* stub = stub_.get();
  const client::Call call = [stub, &request](client::ServedCallStats*) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 30s);
    pb::EmbedResponse response;
    return stub->Embed(&context, request, &response);
  };
  client::LoadOptions measure;
  measure.concurrency = 8;
  measure.duration_s = 2;
  measure.warmup_s = 0.5;
  const client::LoadReport capacity = client::GenerateLoad(measure, call);
  ASSERT_GT(capacity.throughput, 0);
  ASSERT_EQ(capacity.ok, capacity.calls);

  const char* seconds = std::getenv("BEIT_OVERLOAD_SECONDS");
  client::LoadOptions overload;
  overload.rate = 2 * capacity.throughput;
  overload.duration_s = seconds ? std::atof(seconds) : 5.0;
  overload.warmup_s = 0;
  overload.max_in_flight = 128;
  const int64_t baseline_kb = ResidentKb(server_.pid());
  std::atomic<bool> sampling{true};
  int64_t max_kb = baseline_kb, max_queued = 0;
  std::thread sampler([&] {
    auto probe = pb::BeitService::NewStub(server_.channel());
    while (sampling.load()) {
      max_kb = std::max(max_kb, ResidentKb(server_.pid()));
      max_queued = std::max(max_queued, Queued(*probe));
      std::this_thread::sleep_for(50ms);
    }
  });
  const client::LoadReport r = client::GenerateLoad(overload, call);
  sampling.store(false);
  sampler.join();

  int64_t rejected = r.errors.count("RESOURCE_EXHAUSTED") ? r.errors.at("RESOURCE_EXHAUSTED") : 0;
  std::printf("overload: capacity %.1f req/s, offered %.1f req/s for %.0f s: %lld calls, %lld ok (%.1f/s), "
              "%lld rejected, p99 %.0f ms, queue max %lld, RSS %lld -> %lld MB\n",
              capacity.throughput, overload.rate, overload.duration_s, static_cast<long long>(r.calls),
              static_cast<long long>(r.ok), r.throughput, static_cast<long long>(rejected), r.p99_ms,
              static_cast<long long>(max_queued), static_cast<long long>(baseline_kb / 1024),
              static_cast<long long>(max_kb / 1024));
  EXPECT_EQ(r.ok + rejected, r.calls) << "only OK and RESOURCE_EXHAUSTED are acceptable answers";
  EXPECT_GT(rejected, 0) << "the offered load did not exceed capacity";
  EXPECT_GE(r.throughput, 0.5 * capacity.throughput) << "overload must not collapse useful throughput";
  EXPECT_LE(max_queued, kMaxQueue);
  EXPECT_LE(max_kb - baseline_kb, 256 * 1024) << "memory grew under overload";
  EXPECT_LE(r.p99_ms, 3000) << "accepted requests waited unboundedly";
}

TEST_F(OverloadTest, DeadlineStormsAndRandomCancellationsLeaveAHealthyServer) {
  const pb::EmbedRequest request = Embed224();
  std::mutex mu;
  std::map<grpc::StatusCode, int> codes;
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(1234 + t);
      for (int i = 0; i < 12; ++i) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 300)(rng)));
        std::thread canceller;
        if (rng() % 3 == 0) {  // cancel at a random moment: while queued, or during the forward
          const auto after = std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 100)(rng));
          canceller = std::thread([&context, after] {
            std::this_thread::sleep_for(after);
            context.TryCancel();
          });
        }
        pb::EmbedResponse response;
        const grpc::Status s = stub_->Embed(&context, request, &response);
        if (canceller.joinable()) canceller.join();
        std::lock_guard<std::mutex> lock(mu);
        ++codes[s.error_code()];
      }
    });
  }
  for (auto& t : threads) t.join();
  int total = 0;
  for (const auto& [code, n] : codes) {
    total += n;
    EXPECT_TRUE(code == grpc::StatusCode::OK || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
                code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::RESOURCE_EXHAUSTED)
        << "unexpected status " << code;
  }
  EXPECT_EQ(total, 16 * 12) << "every call was answered";
  EXPECT_GT(codes[grpc::StatusCode::DEADLINE_EXCEEDED] + codes[grpc::StatusCode::CANCELLED], 0);
  for (int i = 0; i < 200 && Queued(*stub_) != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(Queued(*stub_), 0) << "nothing stays stuck in the queue";
  grpc::ClientContext context;
  pb::EmbedResponse response;
  EXPECT_TRUE(stub_->Embed(&context, request, &response).ok()) << "the server still serves";
}

}  // namespace
}  // namespace beit::testing
