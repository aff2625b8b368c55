#include "server/open_inference/http_inference_server.h"

#include <charconv>
#include <chrono>
#include <optional>
#include <string_view>
#include <vector>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/http/content_decoding.h"
#include "server/open_inference/http_json_codec.h"

namespace beit::serving::open_inference {
namespace {

// /v2/models/{name}[/versions/{v}][/ready|/infer] on the percent-decoded path, split by hand (a
// regex would recurse once per character of a path a client chose).
struct ModelRoute {
  std::string name, version, suffix;
};

std::optional<ModelRoute> ParseModelPath(std::string_view path) {
  constexpr std::string_view kPrefix = "/v2/models/";
  if (path.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::vector<std::string_view> parts;
  std::string_view rest = path.substr(kPrefix.size());
  for (size_t slash = rest.find('/'); slash != std::string_view::npos; slash = rest.find('/')) {
    parts.push_back(rest.substr(0, slash));
    rest.remove_prefix(slash + 1);
  }
  parts.push_back(rest);
  ModelRoute route;
  if (parts.empty() || parts[0].empty()) return std::nullopt;
  route.name = std::string(parts[0]);
  size_t next = 1;
  if (parts.size() >= 3 && parts[1] == "versions") {
    if (parts[2].empty()) return std::nullopt;
    route.version = std::string(parts[2]);
    next = 3;
  }
  if (parts.size() == next + 1 && (parts[next] == "ready" || parts[next] == "infer")) {
    route.suffix = "/" + std::string(parts[next]);
  } else if (parts.size() != next) {
    return std::nullopt;
  }
  return route;
}

double SecondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

http::HttpResponse Json(int status, std::string body) {
  http::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

// A positive decimal integer of at most 10 digits (about 115 days in milliseconds).
std::optional<int64_t> ParseMilliseconds(const std::string& value) {
  if (value.empty() || value.size() > 10 || value[0] == '-' || value[0] == '+') return std::nullopt;
  int64_t ms = 0;
  const std::from_chars_result r = std::from_chars(value.data(), value.data() + value.size(), ms);
  if (r.ec != std::errc() || r.ptr != value.data() + value.size() || ms <= 0) return std::nullopt;
  return ms;
}

http::HttpServerOptions WithProbesInline(http::HttpServerOptions options) {
  options.inline_paths = {"/v2/health/live", "/v2/health/ready"};
  return options;
}

}  // namespace

// One request reaching a route: what the observers are told once it is answered.
struct HttpInferenceServer::Call {
  std::string rpc;
  std::string model;
  std::string version;
  Clock::time_point start = Clock::now();
};

HttpInferenceServer::HttpInferenceServer(InferenceExecutor* executor, std::vector<ServingObserver*> observers,
                                         const BearerTokenAuth* auth, HttpServerOptions options)
    : executor_(executor),
      observers_(std::move(observers)),
      auth_(auth),
      max_body_bytes_(options.limits.max_body_bytes),
      server_(WithProbesInline(std::move(options)), [this](http::HttpRequest request, std::shared_ptr<const std::atomic<bool>> gone,
                                         http::HttpRespond respond) {
        Handle(std::move(request), std::move(gone), std::move(respond));
      }) {}

HttpInferenceServer::~HttpInferenceServer() { Stop(); }

absl::StatusOr<int> HttpInferenceServer::Start(const std::string& host, int port) { return server_.Start(host, port); }

void HttpInferenceServer::Stop(Clock::time_point deadline) {
  server_.Stop(deadline);
  // Requests whose client left are still computing: their answers reach this object.
  std::unique_lock<std::mutex> lock(inflight_mu_);
  inflight_done_.wait(lock, [this] { return inflight_ == 0; });
}

void HttpInferenceServer::Finish(const Call& call, http::HttpResponse response, const absl::Status& status,
                                 const InferStats* stats, const http::HttpRespond& respond, int http_status) const {
  if (!status.ok()) {
    response = Json(http_status ? http_status : HttpStatusFromCode(status.code()),
                    ErrorJson(std::string(status.message())));
  }
  RequestRecord record;
  record.model = call.model;
  record.rpc = call.rpc;
  record.api = "v2_http";
  record.code = static_cast<int>(status.code());
  record.message = std::string(status.message());
  record.total_seconds = SecondsSince(call.start);
  if (stats != nullptr) {
    record.preprocess_seconds = stats->preprocess_seconds;
    record.queue_seconds = stats->queue_seconds;
    record.batch_size = stats->batch_size;
  }
  // Observers first: whoever gets the answer may read the metrics right away.
  for (ServingObserver* observer : observers_) observer->RequestFinished(record);
  respond(std::move(response));
}

void HttpInferenceServer::Handle(http::HttpRequest request, std::shared_ptr<const std::atomic<bool>> client_gone,
                                 http::HttpRespond respond) {
  const bool get = request.method == "GET" || request.method == "HEAD";
  auto authorize = [&] { return auth_ == nullptr ? absl::OkStatus() : auth_->CheckHeader(request.Header("authorization")); };
  if (get && request.path == "/v2/health/live") {
    const Call call{"ServerLive", "", ""};
    return Finish(call,
                  executor_->ServerLive() ? Json(200, "") : Json(503, ErrorJson("the server is not live")),
                  absl::OkStatus(), nullptr, respond);
  }
  if (get && request.path == "/v2/health/ready") {
    const Call call{"ServerReady", "", ""};
    return Finish(call, executor_->ServerReady() ? Json(200, "") : Json(503, ErrorJson("the server is not ready")),
                  absl::OkStatus(), nullptr, respond);
  }
  if (get && request.path == "/v2") {
    const Call call{"ServerMetadata", "", ""};
    absl::Status status = authorize();
    return Finish(call, status.ok() ? Json(200, ServerMetadataJson(executor_->GetServerMetadata())) : Json(200, ""),
                  status, nullptr, respond);
  }
  if (Repository(request, respond)) return;
  if (std::optional<ModelRoute> route = ParseModelPath(request.path)) {
    const std::string& suffix = route->suffix;
    Call call{"", route->name, route->version};
    if (get && suffix.empty()) {
      call.rpc = "ModelMetadata";
      absl::Status status = authorize();
      http::HttpResponse response;
      if (status.ok()) {
        absl::StatusOr<ModelMetadata> metadata = executor_->GetModelMetadata(call.model, call.version);
        status = metadata.status();
        if (status.ok()) response = Json(200, ModelMetadataJson(*metadata));
      }
      return Finish(call, std::move(response), status, nullptr, respond);
    }
    if (get && suffix == "/ready") {
      call.rpc = "ModelReady";
      absl::Status status = authorize();
      http::HttpResponse response;
      if (status.ok()) {
        absl::StatusOr<bool> ready = executor_->ModelReady(call.model, call.version);
        status = ready.status();
        if (status.ok()) {
          response = *ready ? Json(200, "") : Json(503, ErrorJson(absl::StrCat("model '", call.model, "' is not ready")));
        }
      }
      return Finish(call, std::move(response), status, nullptr, respond);
    }
    if (request.method == "POST" && suffix == "/infer") {
      call.rpc = "ModelInfer";
      return Infer(call, std::move(request), std::move(client_gone), std::move(respond));
    }
  }
  respond(Json(404, ErrorJson(absl::StrCat("no route for ", request.method, " ", request.path))));
}

void HttpInferenceServer::Infer(const Call& call, http::HttpRequest request,
                                std::shared_ptr<const std::atomic<bool>> client_gone, http::HttpRespond respond) {
  // The body was read whole before the token is checked, so the connection stays usable.
  absl::Status status = auth_ == nullptr ? absl::OkStatus() : auth_->CheckHeader(request.Header("authorization"));
  if (!status.ok()) return Finish(call, {}, status, nullptr, respond);
  std::optional<size_t> header_length;
  if (const std::string* value = request.Header("inference-header-content-length")) {
    absl::StatusOr<size_t> length = ParseJsonHeaderLength(*value);
    if (!length.ok()) return Finish(call, {}, length.status(), nullptr, respond);
    header_length = *length;
  }
  Clock::time_point deadline = Clock::time_point::max();
  if (const std::string* value = request.Header("timeout-ms")) {
    const std::optional<int64_t> ms = ParseMilliseconds(*value);
    if (!ms) {
      return Finish(call, {}, absl::InvalidArgumentError("the header Timeout-Ms must be a positive integer"), nullptr,
                    respond);
    }
    deadline = call.start + std::chrono::milliseconds(*ms);
  }
  if (const std::string* encoding = request.Header("content-encoding")) {
    // Bounded: a small compressed body must not become gigabytes.
    absl::StatusOr<std::string> decoded = http::DecodeContent(*encoding, std::move(request.body), max_body_bytes_);
    if (!decoded.ok()) {
      const absl::StatusCode code = decoded.status().code();
      return Finish(call, {}, decoded.status(), nullptr, respond,
                    code == absl::StatusCode::kResourceExhausted ? 413
                    : code == absl::StatusCode::kUnimplemented   ? 415
                                                                 : 0);
    }
    request.body = std::move(*decoded);
  }
  absl::StatusOr<InferRequest> parsed = ParseInferRequest(request.body, header_length);
  std::string().swap(request.body);  // the tensors hold their own copies
  if (!parsed.ok()) return Finish(call, {}, parsed.status(), nullptr, respond);
  parsed->model_name = call.model;
  parsed->model_version = call.version;
  auto infer_request = std::make_shared<const InferRequest>(std::move(*parsed));
  {
    std::lock_guard<std::mutex> lock(inflight_mu_);
    ++inflight_;
  }
  executor_->Infer(
      infer_request, deadline, client_gone,
      [this, call, infer_request, respond](absl::StatusOr<InferResponse> response, const InferStats& stats) {
        auto answer = std::make_shared<absl::StatusOr<InferResponse>>(std::move(response));
        auto finish = [this, call, infer_request, respond, answer, stats] {
          if (!answer->ok()) {
            Finish(call, {}, answer->status(), &stats, respond);
          } else if (absl::StatusOr<HttpResponseBody> body = SerializeInferResponse(**answer, *infer_request);
                     !body.ok()) {
            Finish(call, {}, body.status(), &stats, respond);
          } else {
            http::HttpResponse ok = Json(200, std::move(body->body));
            ok.content_type = body->content_type;
            if (body->json_header_length) {
              ok.headers.emplace_back(kInferenceHeaderContentLength, std::to_string(*body->json_header_length));
            }
            Finish(call, std::move(ok), absl::OkStatus(), &stats, respond);
          }
          std::lock_guard<std::mutex> lock(inflight_mu_);
          if (--inflight_ == 0) inflight_done_.notify_all();
        };
        // Serialized on a handler thread (`done` may run on the thread that computes batches);
        // here once the HTTP server has stopped.
        if (!server_.Post(finish)) finish();
      });
}

void HttpInferenceServer::PostFinish(std::function<void()> finish) {
  auto counted = [this, finish] {
    finish();
    std::lock_guard<std::mutex> lock(inflight_mu_);
    if (--inflight_ == 0) inflight_done_.notify_all();
  };
  if (!server_.Post(counted)) counted();
}

bool HttpInferenceServer::Repository(const http::HttpRequest& request, const http::HttpRespond& respond) {
  constexpr std::string_view kPrefix = "/v2/repository/";
  if (std::string_view(request.path).substr(0, kPrefix.size()) != kPrefix) return false;
  const std::string rest = request.path.substr(kPrefix.size());
  // models/{name}/load, models/{name}/unload
  const size_t slash = rest.rfind('/');
  const std::string action = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (request.method == "POST" && rest == "index") {
    RepositoryIndex(request, respond);
  } else if (request.method == "POST" && rest.rfind("models/", 0) == 0 && slash > 7 &&
             (action == "load" || action == "unload")) {
    RepositoryLoadOrUnload(request, rest.substr(7, slash - 7), action == "load", respond);
  } else {
    respond(Json(404, ErrorJson(absl::StrCat("no route for ", request.method, " ", request.path,
                                             "; the repository extension has POST /v2/repository/index, "
                                             "/v2/repository/models/{name}/load and .../unload"))));
  }
  return true;
}

void HttpInferenceServer::RepositoryIndex(const http::HttpRequest& request, const http::HttpRespond& respond) {
  const Call call{"RepositoryIndex", "", ""};
  if (absl::Status s = auth_ ? auth_->CheckHeader(request.Header("authorization")) : absl::OkStatus(); !s.ok()) {
    return Finish(call, {}, s, nullptr, respond);
  }
  bool ready_only = false;
  if (!request.body.empty()) {
    const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object() || (body.contains("ready") && !body["ready"].is_boolean())) {
      return Finish(call, {}, absl::InvalidArgumentError("the index request body must be {\"ready\": true|false}"),
                    nullptr, respond);
    }
    ready_only = body.value("ready", false);
  }
  absl::StatusOr<std::vector<VersionStatus>> index = executor_->RepositoryIndex("", ready_only);
  if (!index.ok()) return Finish(call, {}, index.status(), nullptr, respond, 400);
  nlohmann::json out = nlohmann::json::array();
  for (const VersionStatus& v : *index) {
    out.push_back({{"name", v.name},
                   {"version", v.version > 0 ? std::to_string(v.version) : ""},
                   {"state", VersionStateName(v.state)},
                   {"reason", v.reason}});
  }
  Finish(call, Json(200, out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)), absl::OkStatus(), nullptr,
         respond);
}

void HttpInferenceServer::RepositoryLoadOrUnload(const http::HttpRequest& request, const std::string& name, bool load,
                                                 const http::HttpRespond& respond) {
  const Call call{load ? "RepositoryModelLoad" : "RepositoryModelUnload", name, ""};
  const BearerTokenAuth* admin = admin_auth_ ? admin_auth_ : auth_;
  if (absl::Status s = admin ? admin->CheckHeader(request.Header("authorization")) : absl::OkStatus(); !s.ok()) {
    return Finish(call, {}, s, nullptr, respond);
  }
  size_t parameters = 0;
  if (!request.body.empty()) {
    const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
      return Finish(call, {}, absl::InvalidArgumentError("the body must be a JSON object (or empty)"), nullptr, respond,
                    400);
    }
    if (body.contains("parameters")) parameters = body["parameters"].is_object() ? body["parameters"].size() : 1;
  }
  {
    std::lock_guard<std::mutex> lock(inflight_mu_);
    ++inflight_;
  }
  auto done = [this, call, respond](absl::Status status) {
    PostFinish([this, call, respond, status] { Finish(call, Json(200, ""), status, nullptr, respond, 400); });
  };
  if (load) {
    executor_->RepositoryLoad("", name, parameters, done);
  } else {
    executor_->RepositoryUnload("", name, parameters, done);
  }
}

}  // namespace beit::serving::open_inference
