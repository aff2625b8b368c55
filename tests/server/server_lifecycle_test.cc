// End-to-end load behaviour of a real beit-server: a full queue, expired deadlines and cancelled
// calls (never computed: checked with the batcher counters in GetModelInfo), and SIGTERM under load.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "beit/v1/beit_service.grpc.pb.h"
#include "tests/server/server_process.h"

namespace beit::testing {
namespace {

namespace pb = beit::v1;
using namespace std::chrono_literals;

// A 224 x 224 BeitModel (base-224): slow enough that requests queue behind each other.
pb::EmbedRequest EmbedRequest224() {
  pb::EmbedRequest request;
  request.set_model("base");
  pb::PixelValues* pv = request.mutable_image()->mutable_pixel_values();
  for (int d : {3, 224, 224}) pv->add_shape(d);
  pv->mutable_data()->Resize(3 * 224 * 224, 0.25f);
  return request;
}

pb::TaskStats EmbedStats(pb::BeitService::Stub& stub) {
  pb::GetModelInfoRequest request;
  request.set_model("base");
  pb::ModelInfo info;
  grpc::ClientContext context;
  EXPECT_TRUE(stub.GetModelInfo(&context, request, &info).ok());
  for (const auto& s : info.stats()) {
    if (s.task() == pb::TASK_EMBED) return s;
  }
  ADD_FAILURE() << "no Embed stats";
  return {};
}

struct Outcome {
  std::mutex mu;
  std::map<grpc::StatusCode, int> by_code;
  std::vector<std::string> messages;
  void Add(const grpc::Status& s) {
    std::lock_guard<std::mutex> lock(mu);
    ++by_code[s.error_code()];
    if (!s.ok()) messages.push_back(s.error_message());
  }
  int count(grpc::StatusCode c) {
    std::lock_guard<std::mutex> lock(mu);
    return by_code[c];
  }
};

// Starts `n` concurrent Embed calls; `deadline` (if non-zero) and `cancel_after` (if non-zero)
// apply to each. Returns once all are answered.
void Flood(pb::BeitService::Stub& stub, int n, Outcome& outcome, std::chrono::milliseconds deadline = 0ms,
           std::chrono::milliseconds cancel_after = 0ms) {
  const pb::EmbedRequest request = EmbedRequest224();
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&] {
      grpc::ClientContext context;
      if (deadline.count() > 0) context.set_deadline(std::chrono::system_clock::now() + deadline);
      std::thread canceller;
      if (cancel_after.count() > 0) {
        canceller = std::thread([&] {
          std::this_thread::sleep_for(cancel_after);
          context.TryCancel();
        });
      }
      pb::EmbedResponse response;
      outcome.Add(stub.Embed(&context, request, &response));
      if (canceller.joinable()) canceller.join();
    });
  }
  for (auto& t : threads) t.join();
}

// The one-time re-exec that bounds libgomp's spinning (server/core/compute_executor.h) keeps the
// process's name (ps, top and the container check look for it) and sets GOMP_SPINCOUNT only when
// the environment did not.
TEST(ServerLifecycle, KeepsItsNameAndBoundsOpenMpSpinning) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--model", "base=" + ModelDir("base-224")}, &error)) << error;
  std::string name;
  std::getline(std::ifstream("/proc/" + std::to_string(server.pid()) + "/comm"), name);
  EXPECT_EQ(name, "beit-server");
  std::ifstream environ_file("/proc/" + std::to_string(server.pid()) + "/environ");
  std::string spincount;
  for (std::string entry; std::getline(environ_file, entry, '\0');) {
    if (entry.rfind("GOMP_SPINCOUNT=", 0) == 0) spincount = entry.substr(15);
  }
  const char* ours = std::getenv("GOMP_SPINCOUNT");
  EXPECT_EQ(spincount, ours ? ours : "10000");
}

TEST(ServerLifecycle, FullQueueAnswersResourceExhaustedAndComputesTheRest) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--model", "base=" + ModelDir("base-224"), "--max-batch-size", "1", "--max-queue-size",
                            "2", "--max-queue-delay-us", "0"},
                           &error))
      << error;
  auto stub = pb::BeitService::NewStub(server.channel());
  Outcome outcome;
  Flood(*stub, 48, outcome);
  const int ok = outcome.count(grpc::StatusCode::OK);
  const int full = outcome.count(grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ok + full, 48) << "only OK and RESOURCE_EXHAUSTED expected";
  EXPECT_GT(full, 0);
  EXPECT_GT(ok, 0);
  for (const auto& m : outcome.messages) EXPECT_NE(m.find("queue full"), std::string::npos) << m;
  const pb::TaskStats stats = EmbedStats(*stub);
  EXPECT_EQ(stats.requests_computed(), ok);
  EXPECT_EQ(stats.rejected_queue_full(), full);
  EXPECT_EQ(stats.largest_batch(), 1);
}

TEST(ServerLifecycle, ExpiredAndCancelledCallsAreNeverComputed) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--model", "base=" + ModelDir("base-224"), "--max-batch-size", "1", "--max-queue-size",
                            "1000", "--max-queue-delay-us", "0"},
                           &error))
      << error;
  auto stub = pb::BeitService::NewStub(server.channel());
  Outcome backlog, short_deadline, cancelled;
  // A backlog longer than the deadlines below: 70+ forwards of 1.5-3 ms each (30 were once
  // drained within 150 ms by a fast build). 84 + 8 + 8 calls fit the 100 streams of one connection.
  std::thread load([&] { Flood(*stub, 84, backlog); });
  for (int i = 0; i < 1000 && EmbedStats(*stub).queued() < 70; ++i) std::this_thread::sleep_for(5ms);
  // 70+ forwards are queued ahead of these: they die in the queue.
  std::thread expiring([&] { Flood(*stub, 8, short_deadline, /*deadline=*/100ms); });
  std::thread cancelling([&] { Flood(*stub, 8, cancelled, /*deadline=*/0ms, /*cancel_after=*/100ms); });
  load.join();
  expiring.join();
  cancelling.join();

  EXPECT_EQ(backlog.count(grpc::StatusCode::OK), 84);
  EXPECT_GT(short_deadline.count(grpc::StatusCode::DEADLINE_EXCEEDED), 0);
  EXPECT_EQ(short_deadline.count(grpc::StatusCode::OK) + short_deadline.count(grpc::StatusCode::DEADLINE_EXCEEDED), 8);
  EXPECT_GT(cancelled.count(grpc::StatusCode::CANCELLED), 0);
  EXPECT_EQ(cancelled.count(grpc::StatusCode::OK) + cancelled.count(grpc::StatusCode::CANCELLED), 8);

  // The server answers every call before it finishes; wait for the last dropped ones to be counted.
  pb::TaskStats stats;
  for (int i = 0; i < 100; ++i) {
    stats = EmbedStats(*stub);
    if (stats.queued() == 0 && stats.requests_computed() + stats.expired() + stats.cancelled() >= 60) break;
    std::this_thread::sleep_for(20ms);
  }
  const int computed_ok = backlog.count(grpc::StatusCode::OK) + short_deadline.count(grpc::StatusCode::OK) +
                          cancelled.count(grpc::StatusCode::OK);
  EXPECT_GT(stats.expired(), 0);
  EXPECT_GT(stats.cancelled(), 0);
  // Nothing that was dropped reached the model: computed requests are at most those answered OK
  // (a call cancelled by the client during its own forward is computed but answered CANCELLED).
  EXPECT_LE(stats.requests_computed(), computed_ok + 2);
  EXPECT_GE(stats.requests_computed(), computed_ok);
  EXPECT_EQ(stats.queued(), 0);

  Outcome after;
  Flood(*stub, 1, after);
  EXPECT_EQ(after.count(grpc::StatusCode::OK), 1) << "the server still serves";
}

TEST(ServerLifecycle, SigtermUnderLoadAnswersEveryCallAndExitsZero) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--model", "base=" + ModelDir("base-224"), "--max-batch-size", "4", "--grace-period-s",
                            "20"},
                           &error))
      << error;
  auto stub = pb::BeitService::NewStub(server.channel());
  Outcome outcome;
  std::atomic<int> sent{0};
  std::vector<std::thread> clients;
  std::atomic<bool> stop{false};
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      const pb::EmbedRequest request = EmbedRequest224();
      while (!stop.load()) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + 30s);
        pb::EmbedResponse response;
        ++sent;
        const grpc::Status s = stub->Embed(&context, request, &response);
        outcome.Add(s);
        if (s.error_code() == grpc::StatusCode::UNAVAILABLE) break;
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  server.Signal(SIGTERM);
  const int exit_code = server.WaitForExit(30);
  stop.store(true);
  for (auto& t : clients) t.join();
  EXPECT_EQ(exit_code, 0);
  EXPECT_GT(outcome.count(grpc::StatusCode::OK), 0);
  // Every call got an answer: a result; UNAVAILABLE once the server stopped taking calls; or, for a
  // call reaching the transport in the very instant gRPC shuts down, CANCELLED. Nothing hangs,
  // nothing is INTERNAL or UNKNOWN.
  std::string seen;
  for (const auto& m : outcome.messages) seen += m + "\n";
  EXPECT_EQ(outcome.count(grpc::StatusCode::OK) + outcome.count(grpc::StatusCode::UNAVAILABLE) +
                outcome.count(grpc::StatusCode::CANCELLED),
            sent.load())
      << seen;
  EXPECT_LE(outcome.count(grpc::StatusCode::CANCELLED), 8) << seen;
}

// A precision the CPU cannot compute stops the server at startup with exit code 3 and one line
// naming the precision, the missing CPU feature and what to use instead; no oneDNN error text.
// The tier is capped with ONEDNN_MAX_CPU_ISA, so this runs what such a CPU runs on any machine.
TEST(ServerLifecycle, APrecisionTheCpuCannotComputeIsRefusedInOneLine) {
  struct Refusal {
    const char* tier;
    const char* precision;
    std::vector<std::string> expected_words;
  };
  for (const Refusal& r : {Refusal{"AVX2", "bf16", {"bf16", "AVX512-BF16", "tier avx2", "int8", "f32"}},
                           Refusal{"SSE41", "int8", {"int8", "AVX2", "tier portable", "f32"}}}) {
    SCOPED_TRACE(r.tier);
    const char* previous = std::getenv("ONEDNN_MAX_CPU_ISA");
    const std::string saved = previous ? previous : "";
    setenv("ONEDNN_MAX_CPU_ISA", r.tier, 1);  // the child inherits it
    ServerProcess server;
    std::string error;
    const bool started =
        server.Start({"--model", "m=" + ModelDir("cls-relpos-meanpool"), "--precision", r.precision}, &error);
    if (previous) setenv("ONEDNN_MAX_CPU_ISA", saved.c_str(), 1); else unsetenv("ONEDNN_MAX_CPU_ISA");
    ASSERT_FALSE(started);
    EXPECT_EQ(server.WaitForExit(30), 3);
    const std::string log = server.log();
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
    for (const std::string& word : r.expected_words) EXPECT_NE(log.find(word), std::string::npos) << word << " in " << log;
    for (const char* onednn_words : {"primitive", "descriptor", "dnnl"}) EXPECT_EQ(log.find(onednn_words), std::string::npos) << log;
  }
}

}  // namespace
}  // namespace beit::testing
