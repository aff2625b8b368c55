// The Open Inference Protocol's (KServe v2) HTTP/REST endpoints, beside the gRPC ones, over one
// InferenceExecutor (cpp-httplib; bodies by http_json_codec).
//
// Contract:
// - Routes: GET /v2 (server metadata), GET /v2/health/live (200), GET /v2/health/ready (200 when
//   the executor is ready, else 503), GET /v2/models/{name}[/versions/{v}] (model metadata),
//   GET /v2/models/{name}[/versions/{v}]/ready (200 / 503), POST
//   /v2/models/{name}[/versions/{v}]/infer (JSON, or Triton's binary data extension with the
//   header Inference-Header-Content-Length, in requests and responses). Successful health and
//   ready answers have an empty body; every error is {"error": "..."} with HttpStatusFromCode's
//   status (unknown routes 404, a body beyond max_body_bytes 413, also after decompression).
// - With `auth`, every route but /v2/health/live and /v2/health/ready needs
//   `Authorization: Bearer <token>` (else 401). An infer request's body is read before the token
//   is checked, so the connection stays usable.
// - Infer runs on the executor with the deadline of the optional header `Timeout-Ms` (a positive
//   integer; none without it); the handler thread waits for the answer. `threads` handler
//   threads serve connections (a kept-alive connection holds one between its requests), so that
//   many requests can wait in one batch.
// - Every request reaching a route is reported to each observer once it is answered: api
//   "v2_http", rpc "ServerLive", "ServerReady", "ServerMetadata", "ModelMetadata", "ModelReady" or
//   "ModelInfer", the status code as gRPC's (OK for a ready probe answering 503, as gRPC's
//   ServerReady answers OK with ready false), the executor's InferStats for ModelInfer.
// - TLS: tls_cert and tls_key (PEM paths) serve HTTPS; tls_client_ca also requires client
//   certificates signed by it. Both empty: plain HTTP.
// - Start(host, port) binds (port 0: any free port) and returns the bound port, serving on its
//   own threads; UNAVAILABLE when it cannot bind, INVALID_ARGUMENT for unusable TLS files.
//   Stop() (and the destructor) stops accepting connections and returns once the requests in
//   flight were answered and idle kept-alive connections closed (cpp-httplib waits out their
//   5 s keep-alive timeout). Start at most once.
// - cpp-httplib 0.11 tells a handler nothing of a client that went away: the cancellation flag
//   given to the executor is never set; Timeout-Ms bounds the wait instead.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "server/bearer_token_auth.h"
#include "server/open_inference/inference_executor.h"
#include "server/serving_observer.h"

namespace httplib {
class Server;
}

namespace beit::serving::open_inference {

struct HttpServerOptions {
  std::string tls_cert, tls_key, tls_client_ca;
  int threads = 32;
  size_t max_body_bytes = size_t{64} << 20;
};

class HttpInferenceServer {
 public:
  HttpInferenceServer(InferenceExecutor* executor, std::vector<ServingObserver*> observers, const BearerTokenAuth* auth,
                      HttpServerOptions options);
  HttpInferenceServer(const HttpInferenceServer&) = delete;
  HttpInferenceServer& operator=(const HttpInferenceServer&) = delete;
  ~HttpInferenceServer();

  absl::StatusOr<int> Start(const std::string& host, int port);
  void Stop();

 private:
  void AddRoutes();

  InferenceExecutor* executor_;
  const std::vector<ServingObserver*> observers_;
  const BearerTokenAuth* auth_;
  const HttpServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
};

}  // namespace beit::serving::open_inference
