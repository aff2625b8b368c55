// Scrapes /metrics of a real beit-server around known traffic and checks that counters and
// histogram counts move by exactly the expected amounts.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "beit/v1/beit_service.grpc.pb.h"
#include "tests/server/server_process.h"

namespace beit::testing {
namespace {

namespace pb = beit::v1;
using namespace std::chrono_literals;
using Labels = std::map<std::string, std::string>;

std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!write(fd, request.data(), request.size());
  std::string response;
  char buffer[8192];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, static_cast<size_t>(n));
  close(fd);
  return response;
}

// One scrape: every sample as (name, labels, value).
struct Sample {
  std::string name;
  Labels labels;
  double value;
};

class Scrape {
 public:
  explicit Scrape(const std::string& text) {
    std::istringstream lines(text.substr(text.find("\r\n\r\n") + 4));
    for (std::string line; std::getline(lines, line);) {
      if (line.empty() || line[0] == '#') continue;
      Sample s;
      const size_t brace = line.find('{'), space = line.rfind(' ');
      s.name = line.substr(0, std::min(brace, space));
      if (brace != std::string::npos) {
        const std::string body = line.substr(brace + 1, line.rfind('}') - brace - 1);
        for (size_t at = 0; at < body.size();) {
          const size_t eq = body.find('=', at);
          const size_t end_quote = body.find('"', eq + 2);
          s.labels[body.substr(at, eq - at)] = body.substr(eq + 2, end_quote - eq - 2);
          at = end_quote + 2;  // past `",`
        }
      }
      s.value = std::stod(line.substr(space + 1));
      samples_.push_back(s);
    }
  }
  // Sum of the samples named `name` whose labels include `match`.
  double Sum(const std::string& name, const Labels& match = {}) const {
    double total = 0;
    for (const Sample& s : samples_) {
      if (s.name != name) continue;
      bool ok = true;
      for (const auto& [k, v] : match) ok = ok && s.labels.count(k) && s.labels.at(k) == v;
      if (ok) total += s.value;
    }
    return total;
  }
  bool Has(const std::string& name) const {
    for (const Sample& s : samples_) {
      if (s.name == name) return true;
    }
    return false;
  }

 private:
  std::vector<Sample> samples_;
};

pb::Image Encoded(const std::string& name) {
  pb::Image image;
  image.set_encoded(ReadFileBytes(std::string(BEIT_TEST_DATA_DIR) + "/preprocess/images/" + name));
  return image;
}

pb::EmbedRequest Embed224() {
  pb::EmbedRequest request;
  request.set_model("base");
  pb::PixelValues* pv = request.mutable_image()->mutable_pixel_values();
  for (int d : {3, 224, 224}) pv->add_shape(d);
  pv->mutable_data()->Resize(3 * 224 * 224, 0.5f);
  return request;
}

// Sends `n` concurrent Embed calls; returns how many ended with each code.
std::map<grpc::StatusCode, int> Flood(pb::BeitService::Stub& stub, int n, std::chrono::milliseconds deadline = 0ms) {
  std::map<grpc::StatusCode, int> codes;
  std::mutex mu;
  std::vector<std::thread> threads;
  const pb::EmbedRequest request = Embed224();
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&] {
      grpc::ClientContext context;
      if (deadline.count()) context.set_deadline(std::chrono::system_clock::now() + deadline);
      pb::EmbedResponse response;
      const grpc::Status s = stub.Embed(&context, request, &response);
      std::lock_guard<std::mutex> lock(mu);
      ++codes[s.error_code()];
    });
  }
  for (auto& t : threads) t.join();
  return codes;
}

TEST(ServerMetrics, CountersAndHistogramsMoveByExactlyTheTraffic) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--model", "cls=" + ModelDir("cls-relpos-meanpool"), "--model", "base=" + ModelDir("base-224"),
                            "--max-batch-size", "1", "--max-queue-size", "1", "--max-queue-delay-us", "0"},
                           &error))
      << error;
  ASSERT_GT(server.metrics_port(), 0);
  auto stub = pb::BeitService::NewStub(server.channel());
  const Scrape before(HttpGet(server.metrics_port(), "/metrics"));
  EXPECT_EQ(before.Sum("beit_model_info", {{"model", "cls"}, {"architecture", "BeitForImageClassification"}}), 1);
  EXPECT_EQ(before.Sum("beit_build_info"), 1);
  EXPECT_GT(before.Sum("beit_model_load_duration_seconds", {{"model", "base"}}), 0);
  EXPECT_GT(before.Sum("process_resident_memory_bytes"), 1e6);
  EXPECT_TRUE(before.Has("process_cpu_seconds_total"));
  EXPECT_EQ(before.Sum("beit_pending_requests", {{"model", "cls"}}), 0);

  // Phase 1, one call at a time: 3 successes, 1 undecodable image, 1 unknown model.
  for (int i = 0; i < 3; ++i) {
    pb::ClassifyRequest request;
    request.set_model("cls");
    *request.mutable_image() = Encoded("chelsea_q90_420.jpg");
    pb::ClassifyResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(stub->Classify(&context, request, &response).ok());
  }
  {
    pb::ClassifyRequest request;
    request.set_model("cls");
    request.mutable_image()->set_encoded("garbage");
    pb::ClassifyResponse response;
    grpc::ClientContext c1;
    ASSERT_EQ(stub->Classify(&c1, request, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    request.set_model("no-such-model");
    grpc::ClientContext c2;
    ASSERT_EQ(stub->Classify(&c2, request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  const Scrape one(HttpGet(server.metrics_port(), "/metrics"));
  const Labels cls = {{"model", "cls"}, {"rpc", "Classify"}};
  auto delta = [&](const Scrape& a, const Scrape& b, const std::string& name, Labels l) {
    return b.Sum(name, l) - a.Sum(name, l);
  };
  Labels ok = cls, invalid = cls;
  ok["code"] = "OK";
  invalid["code"] = "INVALID_ARGUMENT";
  EXPECT_EQ(delta(before, one, "beit_requests_total", ok), 3);
  EXPECT_EQ(delta(before, one, "beit_requests_total", invalid), 1);
  EXPECT_EQ(delta(before, one, "beit_requests_total", {{"model", "_unknown"}, {"code", "NOT_FOUND"}}), 1);
  EXPECT_EQ(delta(before, one, "beit_request_duration_seconds_count", cls), 4);
  EXPECT_EQ(delta(before, one, "beit_preprocess_duration_seconds_count", cls), 4);  // the bad image too
  EXPECT_EQ(delta(before, one, "beit_queue_duration_seconds_count", cls), 3);
  EXPECT_EQ(delta(before, one, "beit_batch_compute_duration_seconds_count", cls), 3);
  EXPECT_EQ(delta(before, one, "beit_batches_total", cls), 3);
  EXPECT_EQ(delta(before, one, "beit_images_inferred_total", cls), 3);
  Labels size_one = cls;
  size_one["le"] = "1";
  EXPECT_EQ(delta(before, one, "beit_batch_size_bucket", size_one), 3);
  EXPECT_GT(delta(before, one, "beit_request_duration_seconds_sum", cls), 0);

  // Phase 2: 24 concurrent calls against a queue of one: successes and rejections, exactly as seen.
  const Labels base = {{"model", "base"}, {"rpc", "Embed"}};
  const auto flood = Flood(*stub, 24);
  const int flood_ok = flood.count(grpc::StatusCode::OK) ? flood.at(grpc::StatusCode::OK) : 0;
  const int flood_full =
      flood.count(grpc::StatusCode::RESOURCE_EXHAUSTED) ? flood.at(grpc::StatusCode::RESOURCE_EXHAUSTED) : 0;
  ASSERT_EQ(flood_ok + flood_full, 24);
  ASSERT_GT(flood_full, 0);
  const Scrape two(HttpGet(server.metrics_port(), "/metrics"));
  Labels base_ok = base, base_full = base;
  base_ok["code"] = "OK";
  base_full["code"] = "RESOURCE_EXHAUSTED";
  EXPECT_EQ(delta(one, two, "beit_requests_total", base_ok), flood_ok);
  EXPECT_EQ(delta(one, two, "beit_requests_total", base_full), flood_full);
  EXPECT_EQ(delta(one, two, "beit_images_inferred_total", base), flood_ok);
  EXPECT_EQ(delta(one, two, "beit_request_duration_seconds_count", base), 24);
  EXPECT_EQ(two.Sum("beit_pending_requests"), 0);
  EXPECT_EQ(two.Sum("beit_inflight_batches"), 0);
}

TEST(ServerMetrics, ExpiredRequestsAndThePendingGauge) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--model", "base=" + ModelDir("base-224"), "--max-batch-size", "1", "--max-queue-delay-us",
                            "0"},
                           &error))
      << error;
  auto stub = pb::BeitService::NewStub(server.channel());
  // One forward's time here (Release or a sanitizer build, a fast or a slow machine): the expiring
  // calls get five of them, while twenty or more forwards are queued ahead of them.
  // The quickest of three calls: the first one (a cold forward) can take many forwards' time.
  auto one_forward = std::chrono::milliseconds::max();
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    Flood(*stub, 1);
    one_forward = std::min(one_forward, std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - start));
  }
  const auto deadline = std::clamp(5 * one_forward, 40ms, 5000ms);
  // Those calls are recorded just after they are answered: wait for the three before counting.
  Scrape before(HttpGet(server.metrics_port(), "/metrics"));
  for (int i = 0; i < 100 && before.Sum("beit_requests_total", {{"code", "OK"}}) < 3; ++i) {
    std::this_thread::sleep_for(20ms);
    before = Scrape(HttpGet(server.metrics_port(), "/metrics"));
  }
  std::map<grpc::StatusCode, int> backlog, expiring;
  std::thread load([&] { backlog = Flood(*stub, 40); });
  double pending = 0;
  for (int i = 0; i < 400 && pending < 20; ++i) {
    pending = Scrape(HttpGet(server.metrics_port(), "/metrics")).Sum("beit_pending_requests", {{"model", "base"}});
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_GE(pending, 20) << "the autoscaling gauge shows the backlog";
  // A fixed 200 ms let a fast machine drain the backlog first; a fixed 40 ms expired calls before
  // a sanitizer build's server had taken them in.
  expiring = Flood(*stub, 4, deadline);
  load.join();
  ASSERT_EQ(backlog[grpc::StatusCode::OK], 40);
  EXPECT_EQ(expiring[grpc::StatusCode::DEADLINE_EXCEEDED], 4);

  Scrape after(HttpGet(server.metrics_port(), "/metrics"));
  for (int i = 0; i < 100 && after.Sum("beit_requests_total", {{"code", "DEADLINE_EXCEEDED"}}) < 4; ++i) {
    std::this_thread::sleep_for(20ms);  // the server answers dropped calls asynchronously
    after = Scrape(HttpGet(server.metrics_port(), "/metrics"));
  }
  const Labels base = {{"model", "base"}, {"rpc", "Embed"}};
  Labels expired = base, ok = base;
  expired["code"] = "DEADLINE_EXCEEDED";
  ok["code"] = "OK";
  EXPECT_EQ(after.Sum("beit_requests_total", expired) - before.Sum("beit_requests_total", expired), 4);
  EXPECT_EQ(after.Sum("beit_requests_total", ok) - before.Sum("beit_requests_total", ok), 40);
  EXPECT_EQ(after.Sum("beit_images_inferred_total", base) - before.Sum("beit_images_inferred_total", base), 40)
      << "expired requests were never computed";
  EXPECT_EQ(after.Sum("beit_pending_requests"), 0);
}

// Two compute instances: the gauges say so, both compute, and each forward is counted under the
// instance that ran it.
TEST(ServerMetrics, ForwardsAreCountedByComputeInstance) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--model", "base=" + ModelDir("base-224"), "--max-batch-size", "1", "--max-queue-delay-us",
                            "0", "--instances", "2", "--threads-per-instance", "1", "--log-format", "json"},
                           &error))
      << error;
  EXPECT_NE(server.log().find("\"instances\":2"), std::string::npos) << server.log();
  auto stub = pb::BeitService::NewStub(server.channel());
  const Scrape before(HttpGet(server.metrics_port(), "/metrics"));
  EXPECT_EQ(before.Sum("beit_compute_instances"), 2);
  EXPECT_EQ(before.Sum("beit_busy_compute_instances"), 0);
  const auto codes = Flood(*stub, 16);
  ASSERT_EQ(codes.count(grpc::StatusCode::OK) ? codes.at(grpc::StatusCode::OK) : 0, 16);
  const Scrape after(HttpGet(server.metrics_port(), "/metrics"));
  const Labels embed = {{"model", "base"}, {"rpc", "Embed"}};
  Labels zero = embed, one = embed;
  zero["instance"] = "0";
  one["instance"] = "1";
  const double on_zero = after.Sum("beit_batch_compute_duration_seconds_count", zero) -
                         before.Sum("beit_batch_compute_duration_seconds_count", zero);
  const double on_one = after.Sum("beit_batch_compute_duration_seconds_count", one) -
                        before.Sum("beit_batch_compute_duration_seconds_count", one);
  EXPECT_EQ(on_zero + on_one, 16);
  EXPECT_GT(on_zero, 0);
  EXPECT_GT(on_one, 0);
}

}  // namespace
}  // namespace beit::testing
