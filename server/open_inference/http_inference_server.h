// The Open Inference Protocol's (KServe v2) HTTP/REST endpoints, beside the gRPC ones, over one
// InferenceExecutor (on server/http's event-driven server; bodies by http_json_codec).
//
// Contract:
// - Routes: GET /v2 (server metadata), GET /v2/health/live (200), GET /v2/health/ready (200 when
//   the executor is ready, else 503), GET /v2/models/{name}[/versions/{v}] (model metadata),
//   GET /v2/models/{name}[/versions/{v}]/ready (200 / 503), POST
//   /v2/models/{name}[/versions/{v}]/infer (JSON, or Triton's binary data extension with the
//   header Inference-Header-Content-Length, in requests and responses). The repository extension:
//   POST /v2/repository/index (body optional: {"ready": bool}) answers a JSON array of
//   {"name", "version", "state", "reason"}; POST /v2/repository/models/{name}/load and .../unload
//   answer 200 with an empty body once done, and every failure of theirs is 400 {"error": "..."}
//   as Triton answers (the mode refusing, an unknown model, a load that failed). Successful health and
//   ready answers have an empty body; every error is {"error": "..."} with HttpStatusFromCode's
//   status (unknown routes 404, a body beyond max_body_bytes 413, also after decompression).
// - With `auth`, every route but /v2/health/live and /v2/health/ready needs
//   `Authorization: Bearer <token>` (else 401); repository load and unload the admin token's
//   instead when RequireAdminToken set one. An infer request's body is read before the token
//   is checked, so the connection stays usable.
// - Infer runs on the executor with the deadline of the optional header `Timeout-Ms` (a positive
//   integer; none without it) and is cancelled when the client closes its connection first;
//   no thread waits for it.
// - Every request reaching a route is reported to each observer once it is answered: api
//   "v2_http", rpc "ServerLive", "ServerReady", "ServerMetadata", "ModelMetadata", "ModelReady",
//   "ModelInfer", "RepositoryIndex", "RepositoryModelLoad" or "RepositoryModelUnload", the status code as gRPC's (OK for a ready probe answering 503, as gRPC's
//   ServerReady answers OK with ready false), the executor's InferStats for ModelInfer.
// - Connections, limits, deadlines and TLS (tls_cert and tls_key: HTTPS; tls_client_ca: client
//   certificates required) are http::HttpServer's (server/http/http_server.h).
// - GET /v2/health/live and /v2/health/ready are answered on the event loop, never queued
//   behind infer requests.
// - Start(host, port) binds (port 0: any free port) and returns the bound port; UNAVAILABLE when
//   it cannot bind, INVALID_ARGUMENT for unusable TLS files. Stop() (and the destructor) stops
//   accepting connections and returns once the requests in flight were answered; idle
//   connections are closed at once. Start at most once.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/security/bearer_token_auth.h"
#include "server/http/http_server.h"
#include "server/open_inference/inference_executor.h"
#include "server/core/serving_observer.h"

namespace beit::serving::open_inference {

using HttpServerOptions = http::HttpServerOptions;

class HttpInferenceServer {
 public:
  HttpInferenceServer(InferenceExecutor* executor, std::vector<ServingObserver*> observers, const BearerTokenAuth* auth,
                      HttpServerOptions options);
  HttpInferenceServer(const HttpInferenceServer&) = delete;
  HttpInferenceServer& operator=(const HttpInferenceServer&) = delete;
  ~HttpInferenceServer();

  absl::StatusOr<int> Start(const std::string& host, int port);
  // Waits for the requests in progress (cut at `deadline`), then for those whose client left.
  void Stop(Clock::time_point deadline = Clock::time_point::max());
  http::HttpServerStats stats() const { return server_.stats(); }

  // Repository load and unload need this token instead of `auth` (null: `auth`). Before Start().
  void RequireAdminToken(const BearerTokenAuth* admin) { admin_auth_ = admin; }

 private:
  struct Call;
  void Handle(http::HttpRequest request, std::shared_ptr<const std::atomic<bool>> client_gone,
              http::HttpRespond respond);
  void Infer(const Call& call, http::HttpRequest request, std::shared_ptr<const std::atomic<bool>> client_gone,
             http::HttpRespond respond);
  // /v2/repository/...: true when the path is the extension's (answered).
  bool Repository(const http::HttpRequest& request, const http::HttpRespond& respond);
  void RepositoryIndex(const http::HttpRequest& request, const http::HttpRespond& respond);
  void RepositoryLoadOrUnload(const http::HttpRequest& request, const std::string& name, bool load,
                              const http::HttpRespond& respond);
  // Runs `finish` on a handler thread (here once the HTTP server has stopped), counted in flight.
  void PostFinish(std::function<void()> finish);
  // Answers a call and tells the observers.
  // http_status, when not 0, replaces the one HttpStatusFromCode gives an error.
  void Finish(const Call& call, http::HttpResponse response, const absl::Status& status, const InferStats* stats,
              const http::HttpRespond& respond, int http_status = 0) const;

  InferenceExecutor* executor_;
  const std::vector<ServingObserver*> observers_;
  const BearerTokenAuth* auth_;
  const BearerTokenAuth* admin_auth_ = nullptr;
  const size_t max_body_bytes_;
  std::mutex inflight_mu_;
  std::condition_variable inflight_done_;
  int inflight_ = 0;  // infer requests given to the executor and not yet answered
  http::HttpServer server_;
};

}  // namespace beit::serving::open_inference
