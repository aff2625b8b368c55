// An event-driven HTTP/1.1 server: one epoll thread owns every connection, handlers run on a
// small pool and answer whenever they are done. An idle or slow connection costs a descriptor
// and a few hundred bytes, never a thread, so stalled clients cannot starve probes or scrapes.
//
// Contract:
// - Start(host, port) binds (port 0: any free port) and returns the bound port; UNAVAILABLE when
//   it cannot bind, INVALID_ARGUMENT for unusable TLS files. Start at most once.
// - Each complete request is given to the handler on a handler thread (a Content-Encoding is
//   the handler's to decode: content_decoding.h); the handler calls `respond` exactly once, from any thread,
//   now or later. `client_gone` is set when the client closes its connection before the answer.
// - Limits, each an option with a default suited to a Kubernetes pod (README, "Slow clients"):
//   * the request line and headers within header_timeout_s of the connection's first byte (of
//     its accept for a new connection, the TLS handshake included): a total, not per read;
//   * the body within body_timeout_s + size / min_bytes_per_s, and the answer likewise;
//   * idle_timeout_s between requests on a kept-alive connection;
//   * the parser's header size, header count and body size limits (431, 413);
//   * at most max_connections open: beyond, a new connection gets 503 (plain HTTP) or is closed
//     at once (TLS); when the process is out of descriptors, new connections are closed at once.
//   Timed-out connections are closed (408 first when part of a request arrived).
// - Errors the server answers itself have the body {"error": "..."} (application/json).
// - A client that closes its connection (or half-closes it) while its request is handled is
//   gone: the connection is closed and `client_gone` set.
// - Stop(deadline) closes the listener and every connection without a request in progress,
//   waits for the requests in progress to be answered and written, and cuts what is left at the
//   deadline; then returns. The destructor stops.
// - stats() is safe from any thread (counters since Start).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/http/http_request_parser.h"

namespace beit::serving::http {

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;  // close the connection after this answer
};

using HttpRespond = std::function<void(HttpResponse)>;
using HttpHandler =
    std::function<void(HttpRequest request, std::shared_ptr<const std::atomic<bool>> client_gone, HttpRespond respond)>;

struct HttpServerOptions {
  std::string name = "http";  // thread names: beit-<name> (the loop) and beit-<name>-h (handlers)
  std::string tls_cert, tls_key, tls_client_ca;  // PEM paths; a client CA requires client certificates
  int handler_threads = 4;
  HttpParserLimits limits;
  double header_timeout_s = 10;
  double body_timeout_s = 10;
  double min_bytes_per_s = 64 << 10;
  double idle_timeout_s = 75;
  int max_connections = 4096;
  // GET/HEAD of these exact paths (health probes) is handled on the event loop, never queued
  // behind other requests: such handlers must answer at once and not block.
  std::vector<std::string> inline_paths;
};

struct HttpServerStats {
  int64_t open_connections = 0;
  int64_t accepted = 0;
  int64_t refused_at_capacity = 0;
  int64_t refused_out_of_descriptors = 0;
  int64_t header_timeouts = 0;  // TLS handshakes included
  int64_t body_timeouts = 0;    // bodies and answers
  int64_t idle_closed = 0;
};

// JSON {"error": message}.
std::string ErrorBody(const std::string& message);

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();

  absl::StatusOr<int> Start(const std::string& host, int port);
  void Stop(std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());
  HttpServerStats stats() const;
  // Runs `task` on a handler thread (e.g. to serialize an answer computed elsewhere); false (the
  // task not taken) before Start and once Stop has returned.
  bool Post(std::function<void()> task);

 private:
  struct Loop;
  std::unique_ptr<Loop> loop_;
};

}  // namespace beit::serving::http
