#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace beit::serving::http {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kListenId = 0;
constexpr uint64_t kWakeId = 1;
constexpr size_t kReadChunk = 64 << 10;
constexpr auto kSweepInterval = std::chrono::milliseconds(50);
constexpr auto kLingerTime = std::chrono::seconds(2);  // reading what follows an early error answer

// Where a connection is in its request cycle; the deadline depends on it (http_server.h).
enum class Phase { kHandshake, kIdle, kHeaders, kBody, kHandling, kWriting, kLingering };

struct Connection {
  int fd = -1;
  uint64_t id = 0;
  SSL* ssl = nullptr;
  Phase phase = Phase::kHeaders;
  Clock::time_point phase_start, deadline;
  std::string in, out;
  size_t out_sent = 0;
  HttpRequestParser parser;
  bool keep_alive = true;
  bool head_request = false;
  bool close_after_write = false;
  bool linger_after_write = false;
  bool ssl_wants_write = false;
  uint32_t events = 0;
  std::shared_ptr<std::atomic<bool>> client_gone;

  explicit Connection(HttpParserLimits limits) : parser(limits) {}
};

const char* Reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
  }
}

std::string Serialize(const HttpResponse& response, bool keep_alive, bool head_request) {
  std::string out = absl::StrCat("HTTP/1.1 ", response.status, " ", Reason(response.status), "\r\n");
  if (!response.content_type.empty()) absl::StrAppend(&out, "Content-Type: ", response.content_type, "\r\n");
  absl::StrAppend(&out, "Content-Length: ", response.body.size(), "\r\n");
  for (const auto& [name, value] : response.headers) absl::StrAppend(&out, name, ": ", value, "\r\n");
  absl::StrAppend(&out, keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
  if (!head_request) out += response.body;
  return out;
}

HttpResponse ErrorResponse(int status, const std::string& message, bool close) {
  HttpResponse response;
  response.status = status;
  response.body = ErrorBody(message);
  response.close = close;
  return response;
}

void NameThread(std::thread& thread, const std::string& name) {
  pthread_setname_np(thread.native_handle(), name.substr(0, 15).c_str());
}

// Handlers run here, never on the event loop: parsing a large JSON body must not delay probes.
class HandlerPool {
 public:
  HandlerPool(int threads, const std::string& name) {
    for (int i = 0; i < std::max(1, threads); ++i) {
      threads_.emplace_back([this] { Work(); });
      NameThread(threads_.back(), name);
    }
  }
  ~HandlerPool() { Shutdown(); }
  // False once shut down: the task was not taken.
  bool Post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_) return false;
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
    return true;
  }
  // Runs what was posted, then joins.
  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void Work() {
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return done_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool done_ = false;
  std::vector<std::thread> threads_;
};

// Answers from handler threads to the loop; outlives the server (a late answer is dropped).
struct AnswerQueue {
  std::mutex mu;
  std::vector<std::pair<uint64_t, HttpResponse>> answers;
  int wake_fd = -1;
  bool closed = false;

  void Push(uint64_t id, HttpResponse response) {
    std::lock_guard<std::mutex> lock(mu);
    if (closed) return;
    answers.emplace_back(id, std::move(response));
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd, &one, sizeof(one));
  }
};

}  // namespace

std::string ErrorBody(const std::string& message) { return nlohmann::json{{"error", message}}.dump(); }

struct HttpServer::Loop {
  Loop(HttpServerOptions o, HttpHandler h) : options(std::move(o)), handler(std::move(h)) {}
  ~Loop() {
    for (auto& [id, c] : connections) {
      if (c->ssl) SSL_free(c->ssl);
      ::close(c->fd);
    }
    for (int fd : {listen_fd, epoll_fd, spare_fd}) {
      if (fd >= 0) ::close(fd);
    }
    if (answers && answers->wake_fd >= 0) ::close(answers->wake_fd);
    if (ssl_ctx) SSL_CTX_free(ssl_ctx);
  }

  absl::Status SetUpTls();
  absl::StatusOr<int> Listen(const std::string& host, int port);
  void Run();
  void AcceptAll();
  void EvictIdlest();
  void OnEvent(Connection& c, uint32_t events);
  bool Handshake(Connection& c);
  bool ReadAndParse(Connection& c);
  bool Advance(Connection& c);
  void Dispatch(Connection& c);
  bool Answer(Connection& c, const HttpResponse& response);
  bool Flush(Connection& c);
  void DeliverAnswers();
  void SweepDeadlines();
  void ApplyStop();
  void PauseListener();
  void Close(Connection& c);
  void UpdateEvents(Connection& c);
  ssize_t Read(Connection& c, char* buffer, size_t size);
  ssize_t Write(Connection& c, const char* data, size_t size);
  void StartRequestClock(Connection& c, Clock::time_point now) {
    c.keep_alive = true;  // until the request says otherwise
    c.head_request = false;
    c.phase = Phase::kHeaders;
    c.phase_start = now;
    c.deadline = now + Seconds(options.header_timeout_s);
  }
  static Clock::duration Seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }
  Clock::time_point TransferDeadline(Clock::time_point start, size_t bytes) const {
    return start + Seconds(options.body_timeout_s + static_cast<double>(bytes) / std::max(1.0, options.min_bytes_per_s));
  }

  const HttpServerOptions options;
  const HttpHandler handler;
  SSL_CTX* ssl_ctx = nullptr;
  int listen_fd = -1, epoll_fd = -1, spare_fd = -1;
  std::shared_ptr<AnswerQueue> answers;
  std::unique_ptr<HandlerPool> pool;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections;
  uint64_t next_id = 2;
  std::thread thread;
  std::atomic<bool> stop_requested{false};
  bool stop_applied = false;
  bool listener_paused = false;
  Clock::time_point stop_deadline = Clock::time_point::max();
  bool stopped = false;

  std::atomic<int64_t> open{0}, accepted{0}, refused_at_capacity{0}, refused_out_of_descriptors{0},
      header_timeouts{0}, body_timeouts{0}, idle_closed{0};
};

absl::Status HttpServer::Loop::SetUpTls() {
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError("HTTPS needs both a certificate and a private key");
  }
  if (!options.tls_client_ca.empty() && options.tls_cert.empty()) {
    return absl::InvalidArgumentError("a client CA needs a server certificate and private key (HTTPS)");
  }
  if (options.tls_cert.empty()) return absl::OkStatus();
  ssl_ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_RENEGOTIATION);
  bool ok = SSL_CTX_use_certificate_chain_file(ssl_ctx, options.tls_cert.c_str()) == 1 &&
            SSL_CTX_use_PrivateKey_file(ssl_ctx, options.tls_key.c_str(), SSL_FILETYPE_PEM) == 1 &&
            SSL_CTX_check_private_key(ssl_ctx) == 1;
  if (ok && !options.tls_client_ca.empty()) {
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.tls_client_ca.c_str());
    ok = names != nullptr && SSL_CTX_load_verify_locations(ssl_ctx, options.tls_client_ca.c_str(), nullptr) == 1;
    if (names) SSL_CTX_set_client_CA_list(ssl_ctx, names);
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  ERR_clear_error();
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HTTPS: could not load the certificate '", options.tls_cert, "' with the private key '", options.tls_key, "'",
        options.tls_client_ca.empty() ? "" : absl::StrCat(" and the client CA '", options.tls_client_ca, "'"),
        " (PEM files that match)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> HttpServer::Loop::Listen(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found) != 0 || !found) {
    return absl::UnavailableError(absl::StrCat("HTTP: could not resolve the address ", host));
  }
  for (addrinfo* a = found; a != nullptr && listen_fd < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
      listen_fd = fd;
    } else {
      ::close(fd);
    }
  }
  freeaddrinfo(found);
  if (listen_fd < 0) return absl::UnavailableError(absl::StrCat("HTTP: could not listen on ", host, ":", port));
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&bound), &length);
  return ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

void HttpServer::Loop::Run() {
  epoll_event events[256];
  Clock::time_point next_sweep = Clock::now() + kSweepInterval;
  while (!(stop_applied && connections.empty())) {
    const int n = epoll_wait(epoll_fd, events, 256, static_cast<int>(kSweepInterval.count()));
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == kListenId) {
        AcceptAll();
      } else if (id == kWakeId) {
        uint64_t count = 0;
        [[maybe_unused]] ssize_t r = ::read(answers->wake_fd, &count, sizeof(count));
        DeliverAnswers();
      } else if (auto it = connections.find(id); it != connections.end()) {
        OnEvent(*it->second, events[i].events);
      }
    }
    if (stop_requested.load() && !stop_applied) ApplyStop();
    if (stop_applied && Clock::now() >= stop_deadline) {
      // Out of time: whatever is still in progress is cut (its handler sees client_gone).
      std::vector<Connection*> remaining;
      for (auto& [id, c] : connections) remaining.push_back(c.get());
      for (Connection* c : remaining) Close(*c);
    }
    if (Clock::now() >= next_sweep) {
      SweepDeadlines();
      next_sweep = Clock::now() + kSweepInterval;
    }
  }
}

void HttpServer::Loop::AcceptAll() {
  while (true) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if ((errno == EMFILE || errno == ENFILE) && spare_fd >= 0) {
        // Out of descriptors: the reserved one lets the connection be accepted and closed, so it
        // does not wait in the backlog (and the listener does not report readable forever).
        // accept() reports EMFILE before it looks at the queue: stop once the queue is empty.
        ::close(spare_fd);
        const int refused = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (refused >= 0) {
          refused_out_of_descriptors.fetch_add(1);
          ::close(refused);
        }
        spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (refused < 0) return;
        continue;
      }
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // No spare descriptor (or no memory): stop watching the listener, else the level-triggered
        // loop spins on it; the sweep reopens the spare and watches it again.
        PauseListener();
      }
      return;
    }
    if (static_cast<int>(connections.size()) >= options.max_connections) EvictIdlest();
    if (static_cast<int>(connections.size()) >= options.max_connections) {
      refused_at_capacity.fetch_add(1);
      if (!ssl_ctx) {
        const std::string busy =
            Serialize(ErrorResponse(503, "the server has too many open connections; try again later", true), false,
                      false);
        [[maybe_unused]] ssize_t n = ::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      }
      ::close(fd);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto c = std::make_unique<Connection>(options.limits);
    c->fd = fd;
    c->id = next_id++;
    StartRequestClock(*c, Clock::now());  // a new connection's first request: its clock runs from accept
    if (ssl_ctx) {
      c->ssl = SSL_new(ssl_ctx);
      SSL_set_fd(c->ssl, fd);
      SSL_set_accept_state(c->ssl);
      c->phase = Phase::kHandshake;
    }
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP;
    event.data.u64 = c->id;
    c->events = event.events;
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
      if (c->ssl) SSL_free(c->ssl);
      ::close(fd);
      continue;
    }
    accepted.fetch_add(1);
    open.fetch_add(1);
    connections.emplace(c->id, std::move(c));
  }
}

// At capacity, a kept-alive connection waiting for its next request gives way to a new one
// (clients' pools reconnect), so idle pools cannot lock out probes.
void HttpServer::Loop::EvictIdlest() {
  Connection* idlest = nullptr;
  for (auto& [id, c] : connections) {
    if (c->phase == Phase::kIdle && (!idlest || c->phase_start < idlest->phase_start)) idlest = c.get();
  }
  if (idlest) {
    idle_closed.fetch_add(1);
    Close(*idlest);
  }
}

void HttpServer::Loop::OnEvent(Connection& c, uint32_t events) {
  if (c.phase == Phase::kHandling) {
    // Nothing is read while a request is handled: a hang-up means the client is gone.
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) Close(c);
    return;
  }
  if ((events & EPOLLERR) || ((events & EPOLLHUP) && c.phase != Phase::kLingering)) return Close(c);
  if (c.phase == Phase::kHandshake) {
    Handshake(c);
    return;
  }
  if ((events & EPOLLOUT) && c.out_sent < c.out.size()) {
    if (!Flush(c)) return;
  }
  if (c.phase == Phase::kIdle || c.phase == Phase::kHeaders || c.phase == Phase::kBody ||
      c.phase == Phase::kLingering) {
    if (!ReadAndParse(c)) return;
  }
  UpdateEvents(c);
}

bool HttpServer::Loop::Handshake(Connection& c) {
  ERR_clear_error();
  const int r = SSL_do_handshake(c.ssl);
  if (r == 1) {
    c.phase = Phase::kHeaders;  // the same deadline: the handshake counts against the header time
    c.ssl_wants_write = false;
    if (!ReadAndParse(c)) return false;
    UpdateEvents(c);
    return true;
  }
  const int error = SSL_get_error(c.ssl, r);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    c.ssl_wants_write = error == SSL_ERROR_WANT_WRITE;
    UpdateEvents(c);
    return true;
  }
  ERR_clear_error();
  Close(c);
  return false;
}

ssize_t HttpServer::Loop::Read(Connection& c, char* buffer, size_t size) {
  if (!c.ssl) {
    const ssize_t n = ::recv(c.fd, buffer, size, 0);
    if (n >= 0) return n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
  }
  ERR_clear_error();
  const int n = SSL_read(c.ssl, buffer, static_cast<int>(size));
  if (n > 0) return n;
  switch (SSL_get_error(c.ssl, n)) {
    case SSL_ERROR_WANT_READ:
      c.ssl_wants_write = false;
      return -1;
    case SSL_ERROR_WANT_WRITE:
      c.ssl_wants_write = true;
      return -1;
    case SSL_ERROR_ZERO_RETURN:
      return 0;
    default:
      ERR_clear_error();
      return -2;
  }
}

ssize_t HttpServer::Loop::Write(Connection& c, const char* data, size_t size) {
  if (!c.ssl) {
    const ssize_t n = ::send(c.fd, data, size, MSG_NOSIGNAL);
    if (n >= 0) return n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
  }
  ERR_clear_error();
  const int n = SSL_write(c.ssl, data, static_cast<int>(std::min<size_t>(size, 1 << 30)));
  if (n > 0) return n;
  const int error = SSL_get_error(c.ssl, n);
  if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) return -1;
  ERR_clear_error();
  return -2;
}

bool HttpServer::Loop::ReadAndParse(Connection& c) {
  char buffer[kReadChunk];
  // Bounded per event so one fast sender cannot hold the loop; level-triggered epoll comes back.
  for (int round = 0; round < 16; ++round) {
    const ssize_t n = Read(c, buffer, sizeof(buffer));
    if (n == -1) break;
    if (n <= 0) {
      Close(c);  // end of stream or an error: nothing to answer
      return false;
    }
    if (c.phase == Phase::kLingering) continue;  // discarded
    if (c.phase == Phase::kIdle) StartRequestClock(c, Clock::now());
    c.in.append(buffer, static_cast<size_t>(n));
    if (!Advance(c)) return false;
    if (c.phase != Phase::kHeaders && c.phase != Phase::kBody) break;
  }
  return true;
}

bool HttpServer::Loop::Advance(Connection& c) {
  while (c.phase == Phase::kHeaders || c.phase == Phase::kBody) {
    switch (c.parser.Parse(&c.in)) {
      case HttpRequestParser::Progress::kNeedMore:
        if (c.phase == Phase::kBody) c.deadline = TransferDeadline(c.phase_start, c.parser.body_bytes());
        return true;
      case HttpRequestParser::Progress::kHeadersComplete: {
        c.phase = Phase::kBody;
        c.phase_start = Clock::now();
        c.deadline = TransferDeadline(c.phase_start, 0);
        const std::string* expect = c.parser.request().Header("expect");
        if (expect && c.parser.request().minor_version == 1 && (c.parser.content_length().value_or(1) > 0) &&
            absl::EqualsIgnoreCase(*expect, "100-continue")) {
          c.out += "HTTP/1.1 100 Continue\r\n\r\n";
          if (!Flush(c)) return false;
        }
        break;
      }
      case HttpRequestParser::Progress::kComplete:
        Dispatch(c);
        return true;
      case HttpRequestParser::Progress::kError: {
        // What follows cannot be trusted to be a request: answer, then read and drop the rest.
        const int status = c.parser.error_status();
        c.linger_after_write = true;
        return Answer(c, ErrorResponse(status, c.parser.error_message(), true));
      }
    }
  }
  return true;
}

void HttpServer::Loop::Dispatch(Connection& c) {
  c.phase = Phase::kHandling;
  c.keep_alive = c.parser.request().keep_alive;
  c.head_request = c.parser.request().method == "HEAD";
  c.client_gone = std::make_shared<std::atomic<bool>>(false);
  UpdateEvents(c);
  std::shared_ptr<AnswerQueue> queue = answers;
  const uint64_t id = c.id;
  auto answered = std::make_shared<std::atomic<bool>>(false);
  HttpRespond respond = [queue, id, answered](HttpResponse response) {
    if (!answered->exchange(true)) queue->Push(id, std::move(response));
  };
  const HttpRequest& request = c.parser.request();
  if ((request.method == "GET" || request.method == "HEAD") &&
      std::find(options.inline_paths.begin(), options.inline_paths.end(), request.path) != options.inline_paths.end()) {
    // Probes: answered here, so they never wait behind requests on the handler threads.
    try {
      handler(std::move(c.parser.request()), c.client_gone, respond);
    } catch (const std::exception& e) {
      respond(ErrorResponse(500, absl::StrCat("internal error: ", e.what()), true));
    }
    return;
  }
  pool->Post([this, request = std::move(c.parser.request()), gone = c.client_gone, respond]() mutable {
    try {
      handler(std::move(request), std::move(gone), respond);
    } catch (const std::exception& e) {
      respond(ErrorResponse(500, absl::StrCat("internal error: ", e.what()), true));
    } catch (...) {
      respond(ErrorResponse(500, "internal error", true));
    }
  });
}

bool HttpServer::Loop::Answer(Connection& c, const HttpResponse& response) {
  c.close_after_write = c.close_after_write || response.close || !c.keep_alive || stop_requested.load();
  c.out += Serialize(response, !c.close_after_write, c.head_request);
  c.phase = Phase::kWriting;
  c.phase_start = Clock::now();
  c.deadline = TransferDeadline(c.phase_start, c.out.size() - c.out_sent);
  return Flush(c);
}

bool HttpServer::Loop::Flush(Connection& c) {
  while (c.out_sent < c.out.size()) {
    const ssize_t n = Write(c, c.out.data() + c.out_sent, c.out.size() - c.out_sent);
    if (n == -1) {
      UpdateEvents(c);
      return true;
    }
    if (n < 0) {
      Close(c);
      return false;
    }
    c.out_sent += static_cast<size_t>(n);
  }
  c.out.clear();
  c.out_sent = 0;
  if (c.phase != Phase::kWriting) return true;  // a "100 Continue"
  const Clock::time_point now = Clock::now();
  if (c.linger_after_write) {
    // Read and drop what the client still sends for a while, so our answer is not lost to a reset.
    if (c.ssl) SSL_shutdown(c.ssl);
    ::shutdown(c.fd, SHUT_WR);
    c.phase = Phase::kLingering;
    c.deadline = now + kLingerTime;
    UpdateEvents(c);
    return true;
  }
  // A stray CR LF after a body is allowed (RFC 9112 2.2): not the start of another request.
  const size_t stray = c.in.find_first_not_of("\r\n");
  if (stray == std::string::npos) c.in.clear();
  if (c.close_after_write && !c.in.empty() && !c.linger_after_write) {
    // Pipelined bytes we will not answer: closing with them unread would reset the connection
    // and could lose this answer, so read and drop for a while first.
    c.linger_after_write = true;
    return Flush(c);
  }
  if (c.close_after_write) {
    if (c.ssl) SSL_shutdown(c.ssl);
    Close(c);
    return false;
  }
  c.parser.Reset();
  c.phase = Phase::kIdle;
  c.phase_start = now;
  c.deadline = now + Seconds(options.idle_timeout_s);
  if (!c.in.empty() || (c.ssl && SSL_pending(c.ssl) > 0)) {
    // A pipelined request is already here.
    StartRequestClock(c, now);
    if (!Advance(c)) return false;
    if (c.ssl && c.phase == Phase::kHeaders && !ReadAndParse(c)) return false;
  }
  UpdateEvents(c);
  return true;
}

void HttpServer::Loop::DeliverAnswers() {
  std::vector<std::pair<uint64_t, HttpResponse>> ready;
  {
    std::lock_guard<std::mutex> lock(answers->mu);
    ready.swap(answers->answers);
  }
  for (auto& [id, response] : ready) {
    auto it = connections.find(id);
    if (it == connections.end() || it->second->phase != Phase::kHandling) continue;  // the client left
    Answer(*it->second, response);
  }
}

void HttpServer::Loop::PauseListener() {
  if (listener_paused || listen_fd < 0) return;
  ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
  listener_paused = true;
}

void HttpServer::Loop::SweepDeadlines() {
  const Clock::time_point now = Clock::now();
  if (listener_paused && listen_fd >= 0) {
    if (spare_fd < 0) spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    epoll_event listen_event{};
    listen_event.events = EPOLLIN;
    listen_event.data.u64 = kListenId;
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &listen_event) == 0) listener_paused = false;
  }
  std::vector<Connection*> expired;
  for (auto& [id, c] : connections) {
    if (c->phase != Phase::kHandling && c->deadline <= now) expired.push_back(c.get());
  }
  for (Connection* c : expired) {
    switch (c->phase) {
      case Phase::kIdle:
        idle_closed.fetch_add(1);
        break;
      case Phase::kHandshake:
      case Phase::kHeaders:
      case Phase::kBody:
        (c->phase == Phase::kBody ? body_timeouts : header_timeouts).fetch_add(1);
        if (!c->ssl && (c->phase == Phase::kBody || !c->in.empty())) {
          const std::string late = Serialize(
              ErrorResponse(408,
                            c->phase == Phase::kBody
                                ? "the request body did not arrive in time"
                                : absl::StrCat("the request headers did not arrive within ", options.header_timeout_s,
                                               " s"),
                            true),
              false, false);
          [[maybe_unused]] ssize_t n = ::send(c->fd, late.data(), late.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        break;
      case Phase::kWriting:
        body_timeouts.fetch_add(1);
        break;
      default:
        break;
    }
    Close(*c);
  }
}

void HttpServer::Loop::ApplyStop() {
  stop_applied = true;
  if (listen_fd >= 0) {
    if (!listener_paused) ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
    ::close(listen_fd);
    listen_fd = -1;
  }
  std::vector<Connection*> waiting;
  for (auto& [id, c] : connections) {
    if (c->phase == Phase::kHandling || c->phase == Phase::kWriting) {
      c->close_after_write = true;
    } else {
      waiting.push_back(c.get());
    }
  }
  for (Connection* c : waiting) Close(*c);
}

void HttpServer::Loop::Close(Connection& c) {
  if (c.client_gone && c.phase == Phase::kHandling) c.client_gone->store(true);
  open.fetch_sub(1);  // before the close: a peer seeing it may read the counters at once
  if (c.ssl) SSL_free(c.ssl);
  ::close(c.fd);  // also leaves the epoll set
  const uint64_t id = c.id;  // erase(c.id) would read the key from the node it destroys
  connections.erase(id);
}

void HttpServer::Loop::UpdateEvents(Connection& c) {
  uint32_t events = 0;
  switch (c.phase) {
    case Phase::kHandshake:
      events = c.ssl_wants_write ? EPOLLOUT : EPOLLIN;
      break;
    case Phase::kHandling:
      events = EPOLLRDHUP;
      break;
    case Phase::kWriting:
      events = EPOLLOUT;
      break;
    default:
      events = EPOLLIN | EPOLLRDHUP;
      if (c.out_sent < c.out.size() || c.ssl_wants_write) events |= EPOLLOUT;
      break;
  }
  if (events == c.events) return;
  epoll_event event{};
  event.events = events;
  event.data.u64 = c.id;
  ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &event);
  c.events = events;
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : loop_(std::make_unique<Loop>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<int> HttpServer::Start(const std::string& host, int port) {
  Loop& l = *loop_;
  if (l.thread.joinable() || l.stopped) return absl::FailedPreconditionError("the HTTP server was already started");
  if (absl::Status tls = l.SetUpTls(); !tls.ok()) return tls;
  absl::StatusOr<int> bound = l.Listen(host, port);
  if (!bound.ok()) return bound.status();
  l.epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  l.answers = std::make_shared<AnswerQueue>();
  l.answers->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  l.spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (l.epoll_fd < 0 || l.answers->wake_fd < 0) return absl::UnavailableError("HTTP: could not create an epoll set");
  epoll_event listen_event{};
  listen_event.events = EPOLLIN;
  listen_event.data.u64 = kListenId;
  ::epoll_ctl(l.epoll_fd, EPOLL_CTL_ADD, l.listen_fd, &listen_event);
  epoll_event wake_event{};
  wake_event.events = EPOLLIN;
  wake_event.data.u64 = kWakeId;
  ::epoll_ctl(l.epoll_fd, EPOLL_CTL_ADD, l.answers->wake_fd, &wake_event);
  l.pool = std::make_unique<HandlerPool>(l.options.handler_threads, "beit-" + l.options.name + "-h");
  l.thread = std::thread([&l] { l.Run(); });
  NameThread(l.thread, "beit-" + l.options.name);
  return bound;
}

void HttpServer::Stop(std::chrono::steady_clock::time_point deadline) {
  Loop& l = *loop_;
  if (!l.thread.joinable()) return;
  l.stop_deadline = deadline;  // read by the loop only after it sees stop_requested
  l.stop_requested.store(true);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(l.answers->wake_fd, &one, sizeof(one));
  l.thread.join();
  l.stopped = true;
  {
    std::lock_guard<std::mutex> lock(l.answers->mu);
    l.answers->closed = true;
  }
  l.pool->Shutdown();
}

bool HttpServer::Post(std::function<void()> task) {
  return loop_->pool && loop_->pool->Post(std::move(task));
}

HttpServerStats HttpServer::stats() const {
  const Loop& l = *loop_;
  HttpServerStats s;
  s.open_connections = l.open.load();
  s.accepted = l.accepted.load();
  s.refused_at_capacity = l.refused_at_capacity.load();
  s.refused_out_of_descriptors = l.refused_out_of_descriptors.load();
  s.header_timeouts = l.header_timeouts.load();
  s.body_timeouts = l.body_timeouts.load();
  s.idle_closed = l.idle_closed.load();
  return s;
}

}  // namespace beit::serving::http
