// The event-driven HTTP server on loopback: requests, keep-alive and pipelining, answers from
// other threads, every deadline (total header time against a trickling client, body, idle), the
// limits with their JSON errors, the connection cap, running out of descriptors, a client that
// leaves, and Stop() waiting for the request in progress.
#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

namespace beit::serving::http {
namespace {

using Clock = std::chrono::steady_clock;

int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  return fd;
}

void Send(int fd, const std::string& data) {
  ASSERT_EQ(::send(fd, data.data(), data.size(), MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
}

// Everything the server sends until it closes or `seconds` pass.
std::string ReadUntilClosed(int fd, double seconds) {
  std::string data;
  const auto give_up = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    char buffer[65536];
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return data;
    data.append(buffer, static_cast<size_t>(n));
  }
  return data + "<still open>";
}

struct Answer {
  int status = 0;
  std::string body;
  std::string head;
};

// One answer (status line, headers, Content-Length body) from a kept-alive connection.
Answer ReadAnswer(int fd, std::string* pending, double seconds = 10) {
  const auto give_up = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < give_up) {
    const size_t end = pending->find("\r\n\r\n");
    if (end != std::string::npos) {
      Answer a;
      a.head = pending->substr(0, end);
      a.status = std::stoi(a.head.substr(9, 3));
      const size_t at = a.head.find("Content-Length: ");
      const size_t length = at == std::string::npos ? 0 : std::stoul(a.head.substr(at + 16));
      if (pending->size() >= end + 4 + length) {
        a.body = pending->substr(end + 4, length);
        pending->erase(0, end + 4 + length);
        return a;
      }
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    char buffer[65536];
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    pending->append(buffer, static_cast<size_t>(n));
  }
  return {};
}

struct Harness {
  explicit Harness(HttpServerOptions options = {}) {
    server = std::make_unique<HttpServer>(
        std::move(options), [this](HttpRequest request, std::shared_ptr<const std::atomic<bool>> gone,
                                   HttpRespond respond) {
          HttpResponse response;
          if (request.path == "/echo") {
            response.content_type = "text/plain";
            response.body = request.method + " " + request.body;
          } else if (request.path == "/later") {
            // Answered from another thread, later.
            std::thread([respond] {
              std::this_thread::sleep_for(std::chrono::milliseconds(200));
              HttpResponse late;
              late.body = "late";
              respond(late);
            }).detach();
            return;
          } else if (request.path == "/busy") {
            std::this_thread::sleep_for(std::chrono::milliseconds(500));  // holds a handler thread
            response.body = "busy";
          } else if (request.path == "/probe") {
            response.body = "probe";
          } else if (request.path == "/hold") {
            held_gone = gone;
            held.set_value(respond);
            return;
          } else {
            response.status = 404;
            response.body = ErrorBody("no " + request.path);
          }
          respond(response);
        });
    absl::StatusOr<int> bound = server->Start("127.0.0.1", 0);
    EXPECT_TRUE(bound.ok()) << bound.status();
    port = bound.value_or(-1);
  }
  std::unique_ptr<HttpServer> server;
  int port = -1;
  std::promise<HttpRespond> held;
  std::shared_ptr<const std::atomic<bool>> held_gone;
};

TEST(HttpServer, KeepAlivePipeliningContinueAndLateAnswers) {
  Harness h;
  const int fd = Connect(h.port);
  std::string pending;
  Send(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  Answer a = ReadAnswer(fd, &pending);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "GET ");
  EXPECT_NE(a.head.find("Connection: keep-alive"), std::string::npos);
  // Two pipelined requests, one answered later from another thread: in order.
  Send(fd, "GET /later HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
  EXPECT_EQ(ReadAnswer(fd, &pending).body, "late");
  EXPECT_EQ(ReadAnswer(fd, &pending).body, "POST hi");
  // Expect: 100-continue gets its interim answer before the body is sent.
  Send(fd, "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(ReadAnswer(fd, &pending).status, 100);
  Send(fd, "abc");
  EXPECT_EQ(ReadAnswer(fd, &pending).body, "POST abc");
  // HEAD: headers only; unknown path: the handler's JSON.
  Send(fd, "HEAD /echo HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\nConnection: close\r\n\r\n");
  std::string rest = ReadUntilClosed(fd, 5);
  EXPECT_EQ(rest.find("HTTP/1.1 200 OK"), 0u) << rest;
  EXPECT_NE(rest.find("Connection: keep-alive\r\n\r\nHTTP/1.1 404"), std::string::npos) << "HEAD answers headers only: " << rest;
  EXPECT_NE(rest.find("HTTP/1.1 404 Not Found"), std::string::npos) << rest;
  EXPECT_NE(rest.find("{\"error\":\"no /nope\"}"), std::string::npos) << rest;
  EXPECT_EQ(rest.find("<still open>"), std::string::npos) << "Connection: close was not honoured";
  ::close(fd);
}

TEST(HttpServer, HeaderTimeIsATotalNotPerRead) {
  HttpServerOptions options;
  options.header_timeout_s = 1;
  Harness h(options);
  const int trickler = Connect(h.port);
  const int silent = Connect(h.port);
  const auto start = Clock::now();
  Send(trickler, "GET /echo HTTP/1.1\r\n");
  std::string got;
  // One byte every 100 ms: each read is quick, the total is not.
  while (Clock::now() - start < std::chrono::seconds(4)) {
    if (::send(trickler, "X", 1, MSG_NOSIGNAL) != 1) break;
    pollfd p{trickler, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      got = ReadUntilClosed(trickler, 2);
      break;
    }
  }
  const double closed_after = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_GE(closed_after, 0.9);
  EXPECT_LT(closed_after, 1.8) << "the trickling connection was not cut at its 1 s header deadline";
  EXPECT_NE(got.find("HTTP/1.1 408"), std::string::npos) << got;
  EXPECT_NE(got.find("within 1 s"), std::string::npos) << got;
  EXPECT_EQ(ReadUntilClosed(silent, 2), "") << "a silent connection is closed too, without an answer";
  EXPECT_EQ(h.server->stats().header_timeouts, 2);
  ::close(trickler);
  ::close(silent);
}

TEST(HttpServer, BodyAndIdleDeadlines) {
  HttpServerOptions options;
  options.body_timeout_s = 1;
  options.min_bytes_per_s = 1000;
  options.idle_timeout_s = 1;
  Harness h(options);
  // 100 bytes declared, 10 sent: allowed 1 s + 10 / 1000 s.
  const int slow_body = Connect(h.port);
  const auto start = Clock::now();
  Send(slow_body, "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789");
  const std::string got = ReadUntilClosed(slow_body, 4);
  const double closed_after = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_NE(got.find("HTTP/1.1 408"), std::string::npos) << got;
  EXPECT_GE(closed_after, 0.9);
  EXPECT_LT(closed_after, 1.8);
  // A kept-alive connection without a next request is closed after the idle timeout.
  const int idle = Connect(h.port);
  std::string pending;
  Send(idle, "GET /echo HTTP/1.1\r\n\r\n");
  EXPECT_EQ(ReadAnswer(idle, &pending).status, 200);
  const auto answered = Clock::now();
  EXPECT_EQ(ReadUntilClosed(idle, 4), "");
  const double idle_for = std::chrono::duration<double>(Clock::now() - answered).count();
  EXPECT_GE(idle_for, 0.9);
  EXPECT_LT(idle_for, 1.8);
  const HttpServerStats s = h.server->stats();
  EXPECT_EQ(s.body_timeouts, 1);
  EXPECT_EQ(s.idle_closed, 1);
  EXPECT_EQ(s.open_connections, 0);
  ::close(slow_body);
  ::close(idle);
}

TEST(HttpServer, LimitsAnswerWithJsonErrors) {
  HttpServerOptions options;
  options.limits.max_headers = 5;
  options.limits.max_header_bytes = 1024;
  options.limits.max_body_bytes = 1000;
  Harness h(options);
  auto answer_to = [&](const std::string& request) {
    const int fd = Connect(h.port);
    Send(fd, request);
    std::string pending;
    Answer a = ReadAnswer(fd, &pending);
    ::close(fd);
    return a;
  };
  std::string many = "GET /echo HTTP/1.1\r\n";
  for (int i = 0; i < 6; ++i) many += "H" + std::to_string(i) + ": v\r\n";
  Answer a = answer_to(many + "\r\n");
  EXPECT_EQ(a.status, 431);
  EXPECT_EQ(a.body, "{\"error\":\"more than 5 header fields\"}");
  EXPECT_EQ(answer_to("GET /echo HTTP/1.1\r\nBig: " + std::string(2000, 'b') + "\r\n\r\n").status, 431);
  // A body beyond the limit is refused once the headers say so, while the client still sends it:
  // the answer must survive (the server reads and drops the rest before closing).
  a = answer_to("POST /echo HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'z'));
  EXPECT_EQ(a.status, 413);
  EXPECT_NE(a.body.find("larger than 1000"), std::string::npos) << a.body;
  EXPECT_EQ(answer_to("GET /echo HTTP/3.0\r\n\r\n").status, 505);
}

TEST(HttpServer, ConnectionsBeyondTheCapGet503AndOpenOnesKeepWorking) {
  HttpServerOptions options;
  options.max_connections = 3;
  Harness h(options);
  int open[3];
  std::string pending[3];
  for (int i = 0; i < 3; ++i) open[i] = Connect(h.port);
  // The fourth is accepted and answered 503 at once.
  const int extra = Connect(h.port);
  const std::string refused = ReadUntilClosed(extra, 3);
  EXPECT_EQ(refused.find("HTTP/1.1 503"), 0u) << refused;
  EXPECT_NE(refused.find("too many open connections"), std::string::npos) << refused;
  for (int i = 0; i < 3; ++i) {
    Send(open[i], "GET /echo HTTP/1.1\r\n\r\n");
    EXPECT_EQ(ReadAnswer(open[i], &pending[i]).status, 200);
  }
  // All three now wait idle for a next request: a new connection takes the place of the one
  // idle longest.
  const int newcomer = Connect(h.port);
  std::string newcomer_pending;
  Send(newcomer, "GET /echo HTTP/1.1\r\n\r\n");
  EXPECT_EQ(ReadAnswer(newcomer, &newcomer_pending).status, 200);
  EXPECT_EQ(ReadUntilClosed(open[0], 2), "") << "the idlest connection was not the one closed";
  for (int i = 1; i < 3; ++i) {
    Send(open[i], "GET /echo HTTP/1.1\r\n\r\n");
    EXPECT_EQ(ReadAnswer(open[i], &pending[i]).status, 200);
  }
  for (int fd : open) ::close(fd);
  ::close(extra);
  ::close(newcomer);
  EXPECT_EQ(h.server->stats().refused_at_capacity, 1);
  EXPECT_EQ(h.server->stats().idle_closed, 1);
}

TEST(HttpServer, InlineProbesDoNotWaitForBusyHandlerThreads) {
  HttpServerOptions options;
  options.handler_threads = 1;
  options.inline_paths = {"/probe"};
  Harness h(options);
  std::vector<int> busy;
  for (int i = 0; i < 3; ++i) {
    busy.push_back(Connect(h.port));
    Send(busy.back(), "GET /busy HTTP/1.1\r\n\r\n");  // 1.5 s of work for the one thread
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto start = Clock::now();
  const int probe = Connect(h.port);
  std::string pending;
  Send(probe, "GET /probe HTTP/1.1\r\n\r\n");
  EXPECT_EQ(ReadAnswer(probe, &pending).body, "probe");
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(400));
  for (int fd : busy) {
    std::string p;
    EXPECT_EQ(ReadAnswer(fd, &p).body, "busy");
    ::close(fd);
  }
  ::close(probe);
}

TEST(HttpServer, OutOfDescriptorsRefusesNewConnectionsOnly) {
  Harness h;
  const int kept = Connect(h.port);
  std::string pending;
  Send(kept, "GET /echo HTTP/1.1\r\n\r\n");
  ASSERT_EQ(ReadAnswer(kept, &pending).status, 200);
  // The next descriptor number is about how many this process has open; allow two more.
  const int probe = ::dup(0);
  ::close(probe);
  rlimit old{};
  getrlimit(RLIMIT_NOFILE, &old);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(probe + 2);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  // Another process connects ten times (it has its own descriptor table).
  const pid_t child = fork();
  if (child == 0) {
    setrlimit(RLIMIT_NOFILE, &old);  // the limit is this test's server's, not its clients'
    int fds[10];
    for (int& fd : fds) {
      fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<uint16_t>(h.port));
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    }
    ::sleep(3);
    _exit(0);
  }
  const auto give_up = Clock::now() + std::chrono::seconds(3);
  while (h.server->stats().refused_out_of_descriptors == 0 && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT(h.server->stats().refused_out_of_descriptors, 0);
  // The connection that was open keeps being served.
  Send(kept, "POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(ReadAnswer(kept, &pending).body, "POST ok");
  EXPECT_LE(h.server->stats().refused_out_of_descriptors, 10);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
  int status = 0;
  waitpid(child, &status, 0);
  ::close(kept);
}

TEST(HttpServer, AClientLeavingIsToldToTheHandlerAndStopWaitsForTheAnswer) {
  Harness h;
  const int leaver = Connect(h.port);
  Send(leaver, "GET /hold HTTP/1.1\r\n\r\n");
  std::future<HttpRespond> held = h.held.get_future();
  ASSERT_EQ(held.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  HttpRespond respond = held.get();
  EXPECT_FALSE(h.held_gone->load());
  ::close(leaver);
  const auto give_up = Clock::now() + std::chrono::seconds(3);
  while (!h.held_gone->load() && Clock::now() < give_up) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(h.held_gone->load()) << "the handler was not told the client left";
  respond(HttpResponse{});  // dropped: nobody to answer

  // A request in progress when Stop() is called is answered before Stop returns; idle
  // connections are closed at once.
  h.held = std::promise<HttpRespond>();
  const int waiting = Connect(h.port);
  const int idle = Connect(h.port);
  Send(waiting, "GET /hold HTTP/1.1\r\n\r\n");
  std::future<HttpRespond> second = h.held.get_future();
  ASSERT_EQ(second.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  HttpRespond answer_later = second.get();
  std::thread answerer([answer_later] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    HttpResponse r;
    r.body = "done";
    answer_later(r);
  });
  const auto stop_start = Clock::now();
  h.server->Stop();
  EXPECT_GE(Clock::now() - stop_start, std::chrono::milliseconds(250));
  const std::string got = ReadUntilClosed(waiting, 2);
  EXPECT_NE(got.find("Connection: close\r\n\r\ndone"), std::string::npos) << got;
  EXPECT_EQ(ReadUntilClosed(idle, 2), "");
  answerer.join();
  ::close(waiting);
  ::close(idle);
}

}  // namespace
}  // namespace beit::serving::http
