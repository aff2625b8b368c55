// Slow and idle clients against a real beit-server (issue #28): 1,000 connections that send a
// request line and then one byte per second plus 1,000 that send nothing, on the HTTP port and
// again on the metrics port, and 500 silent ones on the gRPC port. While they are all held, 20
// probes each of /v2/health/ready, /metrics and grpc.health.v1 must answer within 1 s and a
// Classify stream must not be starved (its >= 90 % target is a benchmark's: bench/RESULTS.md);
// then every stalled connection must be closed within its deadline (8 s here).
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "beit/v1/beit_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/server/server_process.h"

namespace beit::testing {
namespace {

namespace pb = beit::v1;
using Clock = std::chrono::steady_clock;

// --http-header-timeout-s and --grpc-handshake-timeout-s: longer than the probes and the Classify
// windows take, so the whole attack is held while they run.
constexpr int kDeadlineSeconds = 8;
constexpr int kTricklePerPort = 1000, kSilentPerPort = 1000, kGrpcSilent = 500, kProbes = 20;

double Since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

int ConnectNonBlocking(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));  // EINPROGRESS is fine
  return fd;
}

// Holds the attack connections on one thread (epoll): trickles a byte per second into the
// trickling ones, notices when the server closes one and records how long it lived.
class Attack {
 public:
  enum Kind { kTrickle, kSilent };
  struct Target {
    std::string name;  // "http", "metrics", "grpc"
    int port;
    Kind kind;
    int count;
  };

  explicit Attack(std::vector<Target> targets) : targets_(std::move(targets)) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    for (size_t t = 0; t < targets_.size(); ++t) {
      for (int i = 0; i < targets_[t].count; ++i) Open(t);
    }
    thread_ = std::thread([this] { Run(); });
  }
  ~Attack() {
    Stop();
    for (auto& [fd, c] : connections_) ::close(fd);
    ::close(epoll_);
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Lifetimes of the connections the server closed, by target name.
  std::map<std::string, std::vector<double>> lifetimes() {
    std::lock_guard<std::mutex> lock(mu_);
    return lifetimes_;
  }
  int open_failures() const { return open_failures_; }

 private:
  struct Connection {
    size_t target;
    Clock::time_point opened;
    bool line_sent = false;
  };

  void Open(size_t target) {
    const int fd = ConnectNonBlocking(targets_[target].port);
    if (fd < 0) {
      ++open_failures_;
      return;
    }
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP;
    event.data.fd = fd;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event);
    connections_[fd] = {target, Clock::now()};
  }

  void Run() {
    Clock::time_point next_trickle = Clock::now();
    epoll_event events[512];
    while (!stop_) {
      const int n = ::epoll_wait(epoll_, events, 512, 20);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        char buffer[4096];
        ssize_t got = 0;
        while ((got = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) {
        }
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
          const Connection c = connections_[fd];
          {
            std::lock_guard<std::mutex> lock(mu_);
            lifetimes_[targets_[c.target].name].push_back(Since(c.opened));
          }
          connections_.erase(fd);
          ::close(fd);
        }
      }
      if (Clock::now() >= next_trickle) {
        next_trickle += std::chrono::seconds(1);
        for (auto& [fd, c] : connections_) {
          if (targets_[c.target].kind != kTrickle) continue;
          if (!c.line_sent) {
            c.line_sent = ::send(fd, "GET /v2/health/ready HTTP/1.1\r\n", 31, MSG_NOSIGNAL) == 31;
          } else {
            ::send(fd, "X", 1, MSG_NOSIGNAL);
          }
        }
      }
    }
  }

  const std::vector<Target> targets_;
  int epoll_ = -1;
  std::map<int, Connection> connections_;  // by descriptor; the attack thread's only
  std::atomic<bool> stop_{false};
  std::atomic<int> open_failures_{0};
  std::mutex mu_;
  std::map<std::string, std::vector<double>> lifetimes_;
  std::thread thread_;
};

// GET `path` on a new connection; the status, or 0 when nothing came within 5 s.
int HttpGet(int port, const std::string& path, std::string* body = nullptr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string data;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n";
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buffer[65536];
    for (ssize_t n; (n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0;) data.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  if (body) *body = data;
  return data.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(data.substr(9, 3)) : 0;
}

pb::ClassifyRequest Pixels32() {
  pb::ClassifyRequest request;
  request.set_model("cls");
  pb::PixelValues* pv = request.mutable_image()->mutable_pixel_values();
  for (int d : {3, 32, 32}) pv->add_shape(d);
  for (int i = 0; i < 3 * 32 * 32; ++i) pv->add_data(static_cast<float>((i * 7) % 17 - 8) / 8.0f);
  return request;
}

// Classify calls completed by one caller (a closed loop) in `seconds`.
double ClassifyRate(const std::shared_ptr<grpc::Channel>& channel, double seconds) {
  std::atomic<int> done{0}, failed{0};
  const pb::ClassifyRequest request = Pixels32();
  const Clock::time_point end =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> callers;
  for (int i = 0; i < 1; ++i) {
    callers.emplace_back([&] {
      auto stub = pb::BeitService::NewStub(channel);
      while (Clock::now() < end) {
        grpc::ClientContext context;
        pb::ClassifyResponse response;
        (stub->Classify(&context, request, &response).ok() ? done : failed)++;
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(failed.load(), 0);
  return done.load() / seconds;
}

TEST(SlowClients, ProbesAndAClassifyStreamGetThroughAndStalledConnectionsAreCut) {
  // The attack needs about 4,600 descriptors here (and as many in the server, which raises its own).
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < 6000) GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << limit.rlim_max << " < 6000";

  ServerProcess server;
  std::string error;
  // Batches of one without waiting: the Classify rate then depends on the CPU left to the server,
  // not on whether two callers' requests happened to pair up (that alone moves it by a third).
  ASSERT_TRUE(server.Start({"--model", "cls=" + ModelDir("cls-relpos-meanpool"), "--max-batch-size", "1",
                            "--max-queue-delay-us", "0", "--http-header-timeout-s",
                            std::to_string(kDeadlineSeconds), "--grpc-handshake-timeout-s",
                            std::to_string(kDeadlineSeconds)},
                           &error))
      << error;
  auto channel = server.channel();
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)));
  ClassifyRate(channel, 1);  // warm
  // The median of five short windows, with and without the attack: a 2-core machine's rate drifts.
  // The median of five short windows, with and without the attack, and again after it.
  auto median_rate = [&channel] {
    std::vector<double> rates;
    for (int i = 0; i < 5; ++i) rates.push_back(ClassifyRate(channel, 0.6));
    std::sort(rates.begin(), rates.end());
    return rates[2];
  };
  const double quiet_rate = median_rate();

  const Clock::time_point attack_start = Clock::now();
  Attack attack({{"http", server.http_port(), Attack::kTrickle, kTricklePerPort},
                 {"http", server.http_port(), Attack::kSilent, kSilentPerPort},
                 {"metrics", server.metrics_port(), Attack::kTrickle, kTricklePerPort},
                 {"metrics", server.metrics_port(), Attack::kSilent, kSilentPerPort},
                 {"grpc", server.port(), Attack::kSilent, kGrpcSilent}});
  ASSERT_EQ(attack.open_failures(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  // Probes, one after another, as a kubelet and a scraper would send them.
  std::vector<double> ready_s, metrics_s, health_s;
  for (int i = 0; i < kProbes; ++i) {
    Clock::time_point start = Clock::now();
    EXPECT_EQ(HttpGet(server.http_port(), "/v2/health/ready"), 200);
    ready_s.push_back(Since(start));
    start = Clock::now();
    std::string scrape;
    EXPECT_EQ(HttpGet(server.metrics_port(), "/metrics", &scrape), 200);
    EXPECT_NE(scrape.find("beit_http_open_connections"), std::string::npos);
    metrics_s.push_back(Since(start));
    start = Clock::now();
    auto probe_channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server.port()),
                                             grpc::InsecureChannelCredentials());
    auto health = grpc::health::v1::Health::NewStub(probe_channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::health::v1::HealthCheckResponse answer;
    EXPECT_TRUE(health->Check(&context, {}, &answer).ok());
    EXPECT_EQ(answer.status(), grpc::health::v1::HealthCheckResponse::SERVING);
    health_s.push_back(Since(start));
  }
  const double attacked_rate = median_rate();
  const double held_for = Since(attack_start);
  EXPECT_LT(held_for, kDeadlineSeconds - 0.5) << "the probes and the Classify windows outlasted the attack";
  // Past every deadline: every stalled connection opened at the start has been cut by now.
  const double waited = Since(attack_start);
  if (waited < kDeadlineSeconds + 2) std::this_thread::sleep_for(std::chrono::duration<double>(kDeadlineSeconds + 2 - waited));
  attack.Stop();
  // Quiet again: the machine's own drift during the test shows here, not as the attack's cost.
  const double quiet_after = median_rate();
  const double quiet_rate_before = quiet_rate;

  const double slowest_ready = *std::max_element(ready_s.begin(), ready_s.end());
  const double slowest_scrape = *std::max_element(metrics_s.begin(), metrics_s.end());
  const double slowest_health = *std::max_element(health_s.begin(), health_s.end());
  EXPECT_LT(slowest_ready, 1.0);
  EXPECT_LT(slowest_scrape, 1.0);
  EXPECT_LT(slowest_health, 1.0);
#ifndef __SANITIZE_ADDRESS__  // under AddressSanitizer the attacker's own bookkeeping is what slows
  // Not starved: this 2-vCPU machine's rate drifts by a fifth between windows (steal time), so the
  // test guards against starvation (a busy loop, connection churn: 0.5 and below) and the >= 0.9
  // target is shown by the medians over many runs in bench/RESULTS.md, "Slow and idle clients".
  EXPECT_GE(attacked_rate, 0.7 * std::min(quiet_rate_before, quiet_after))
      << "Classify calls/s: " << quiet_rate_before << " quiet before, " << attacked_rate << " under attack, "
      << quiet_after << " quiet after";
#endif
  std::map<std::string, std::vector<double>> lifetimes = attack.lifetimes();
  const std::map<std::string, int> first_wave = {{"http", kTricklePerPort + kSilentPerPort},
                                                 {"metrics", kTricklePerPort + kSilentPerPort},
                                                 {"grpc", kGrpcSilent}};
  for (const auto& [name, count] : first_wave) {
    std::vector<double>& lives = lifetimes[name];
    EXPECT_EQ(static_cast<int>(lives.size()), count) << name << ": stalled connections the server did not close";
    if (lives.empty()) continue;
    EXPECT_LT(*std::max_element(lives.begin(), lives.end()), kDeadlineSeconds + 1.0) << name;
    EXPECT_GT(*std::min_element(lives.begin(), lives.end()), kDeadlineSeconds - 0.5)
        << name << ": a connection was cut before its deadline";
  }
  std::string scrape;
  ASSERT_EQ(HttpGet(server.metrics_port(), "/metrics", &scrape), 200);
  EXPECT_NE(scrape.find("beit_http_connections_timed_out_total{listener=\"inference\",phase=\"headers\"}"),
            std::string::npos);
  std::printf("probes slowest: ready %.1f ms, metrics %.1f ms, grpc health %.1f ms; Classify %.0f/s quiet, %.0f/s "
              "attacked, %.0f/s quiet after\n",
              slowest_ready * 1e3, slowest_scrape * 1e3, slowest_health * 1e3, quiet_rate, attacked_rate, quiet_after);
}

}  // namespace
}  // namespace beit::testing
