#include "server/open_inference/http_inference_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <exception>
#include <future>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/open_inference/http_json_codec.h"

namespace beit::serving::open_inference {
namespace {

using httplib::Request;
using httplib::Response;

// {name} and the optional /versions/{v}; cpp-httplib matches the whole (URL-decoded) path.
constexpr char kModelPath[] = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";

double SecondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

void SetJson(Response& res, int status, std::string body) {
  res.status = status;
  res.body = std::move(body);
  res.set_header("Content-Type", "application/json");
}

void SetError(Response& res, const absl::Status& status) {
  SetJson(res, HttpStatusFromCode(status.code()), ErrorJson(std::string(status.message())));
}

std::string Group(const Request& req, size_t index) {
  return index < req.matches.size() && req.matches[index].matched ? req.matches[index].str() : std::string();
}

// A positive decimal integer of at most 10 digits (about 115 days in milliseconds).
std::optional<int64_t> ParseMilliseconds(const std::string& value) {
  if (value.empty() || value.size() > 10 || value[0] == '-' || value[0] == '+') return std::nullopt;
  int64_t ms = 0;
  const std::from_chars_result r = std::from_chars(value.data(), value.data() + value.size(), ms);
  if (r.ec != std::errc() || r.ptr != value.data() + value.size() || ms <= 0) return std::nullopt;
  return ms;
}

// One request reaching a route: what the observers are told once it is answered.
struct Call {
  std::string rpc;
  std::string model;
  Clock::time_point start = Clock::now();
};

using InferOutcome = std::pair<absl::StatusOr<InferResponse>, InferStats>;

// Debian's cpp-httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, compiled into the
// shared library): a burst of concurrent connects beyond it waits for a SYN retransmission (1 s).
// listen() on the listening socket again raises the backlog; the socket is a protected member,
// reached through a pointer to member taken in a derived class.
struct ListenSocket : httplib::Server {
  static void RaiseBacklog(httplib::Server& server, int backlog) {
    const socket_t socket = (server.*(&ListenSocket::svr_sock_)).load();
    if (socket != INVALID_SOCKET) ::listen(socket, backlog);
  }
};

}  // namespace

HttpInferenceServer::HttpInferenceServer(InferenceExecutor* executor, std::vector<ServingObserver*> observers,
                                         const BearerTokenAuth* auth, HttpServerOptions options)
    : executor_(executor), observers_(std::move(observers)), auth_(auth), options_(std::move(options)) {}

HttpInferenceServer::~HttpInferenceServer() { Stop(); }

absl::StatusOr<int> HttpInferenceServer::Start(const std::string& host, int port) {
  if (server_) return absl::FailedPreconditionError("the HTTP server was already started");
  if (options_.tls_cert.empty() != options_.tls_key.empty()) {
    return absl::InvalidArgumentError("HTTPS needs both a certificate and a private key");
  }
  if (!options_.tls_client_ca.empty() && options_.tls_cert.empty()) {
    return absl::InvalidArgumentError("a client CA needs a server certificate and private key (HTTPS)");
  }
  if (!options_.tls_cert.empty()) {
    auto ssl =
        std::make_unique<httplib::SSLServer>(options_.tls_cert.c_str(), options_.tls_key.c_str(),
                                             options_.tls_client_ca.empty() ? nullptr : options_.tls_client_ca.c_str());
    if (!ssl->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "HTTPS: could not load the certificate '", options_.tls_cert, "' with the private key '", options_.tls_key,
          "'", options_.tls_client_ca.empty() ? "" : absl::StrCat(" and the client CA '", options_.tls_client_ca, "'"),
          " (PEM files that match)"));
    }
    server_ = std::move(ssl);
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  const size_t threads = static_cast<size_t>(std::max(1, options_.threads));
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(options_.max_body_bytes);
  server_->set_tcp_nodelay(true);
  AddRoutes();

  int bound = port;
  if (port == 0) {
    bound = server_->bind_to_any_port(host);
  } else if (!server_->bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound < 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("HTTP: could not listen on ", host, ":", port));
  }
  ListenSocket::RaiseBacklog(*server_, 1024);
  httplib::Server* server = server_.get();
  auto returned = std::make_shared<std::atomic<bool>>(false);
  listener_ = std::thread([server, returned] {
    server->listen_after_bind();
    returned->store(true);
  });
  // stop() only takes effect once the accept loop runs, so Stop() right after Start() must not
  // come before it.
  while (!server->is_running() && !returned->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return bound;
}

void HttpInferenceServer::Stop() {
  if (!server_) return;
  server_->stop();
  if (listener_.joinable()) listener_.join();
}

void HttpInferenceServer::AddRoutes() {
  httplib::Server& server = *server_;

  // Answers a call (the body already set on success, or the error) and tells the observers.
  auto finish = [this](const Call& call, Response& res, const absl::Status& status, const InferStats* stats) {
    if (!status.ok()) SetError(res, status);
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
    for (ServingObserver* observer : observers_) observer->RequestFinished(record);
  };
  auto authorize = [this](const Request& req) {
    if (auth_ == nullptr) return absl::OkStatus();
    if (!req.has_header("Authorization")) return auth_->CheckHeader(nullptr);
    const std::string value = req.get_header_value("Authorization");
    return auth_->CheckHeader(&value);
  };

  server.Get("/v2/health/live", [this, finish](const Request&, Response& res) {
    const Call call{"ServerLive", ""};
    res.status = executor_->ServerLive() ? 200 : 503;
    if (res.status != 200) SetJson(res, 503, ErrorJson("the server is not live"));
    finish(call, res, absl::OkStatus(), nullptr);
  });
  server.Get("/v2/health/ready", [this, finish](const Request&, Response& res) {
    const Call call{"ServerReady", ""};
    res.status = 200;
    if (!executor_->ServerReady()) SetJson(res, 503, ErrorJson("the server is not ready"));
    finish(call, res, absl::OkStatus(), nullptr);
  });
  server.Get("/v2", [this, finish, authorize](const Request& req, Response& res) {
    const Call call{"ServerMetadata", ""};
    absl::Status status = authorize(req);
    if (status.ok()) SetJson(res, 200, ServerMetadataJson(executor_->GetServerMetadata()));
    finish(call, res, status, nullptr);
  });
  server.Get(kModelPath, [this, finish, authorize](const Request& req, Response& res) {
    const Call call{"ModelMetadata", Group(req, 1)};
    absl::Status status = authorize(req);
    if (status.ok()) {
      absl::StatusOr<ModelMetadata> metadata = executor_->GetModelMetadata(call.model, Group(req, 2));
      status = metadata.status();
      if (status.ok()) SetJson(res, 200, ModelMetadataJson(*metadata));
    }
    finish(call, res, status, nullptr);
  });
  server.Get(absl::StrCat(kModelPath, "/ready"), [this, finish, authorize](const Request& req, Response& res) {
    const Call call{"ModelReady", Group(req, 1)};
    absl::Status status = authorize(req);
    if (status.ok()) {
      absl::StatusOr<bool> ready = executor_->ModelReady(call.model, Group(req, 2));
      status = ready.status();
      if (status.ok()) {
        res.status = 200;
        if (!*ready) SetJson(res, 503, ErrorJson(absl::StrCat("model '", call.model, "' is not ready")));
      }
    }
    finish(call, res, status, nullptr);
  });

  // The body through a content reader: its size is checked as it arrives, also after
  // decompression and for chunked uploads, which the payload limit alone does not bound.
  server.Post(absl::StrCat(kModelPath, "/infer"), [this, finish, authorize](const Request& req, Response& res,
                                                                            const httplib::ContentReader& reader) {
    const Call call{"ModelInfer", Group(req, 1)};
    const size_t max_body = options_.max_body_bytes;
    std::string body;
    if (req.has_header("Content-Length")) {
      const std::string value = req.get_header_value("Content-Length");
      size_t length = 0;
      const auto r = std::from_chars(value.data(), value.data() + value.size(), length);
      if (r.ec == std::errc() && length <= max_body) body.reserve(length);
    }
    bool too_large = false;
    const bool read = reader([&](const char* data, size_t length) {
      if (length > max_body - body.size()) {
        too_large = true;
        return false;
      }
      body.append(data, length);
      return true;
    });
    if (too_large || res.status == 413) {
      // The rest of the body was not read: the connection cannot carry another request.
      res.set_header("Connection", "close");
      finish(call, res,
             absl::ResourceExhaustedError(absl::StrCat("the request body is larger than ", max_body, " bytes")),
             nullptr);
      res.status = 413;
      return;
    }
    if (!read) {
      finish(call, res, absl::InvalidArgumentError("could not read the request body"), nullptr);
      return;
    }
    absl::Status status = authorize(req);
    if (!status.ok()) return finish(call, res, status, nullptr);

    std::optional<size_t> header_length;
    if (req.has_header(kInferenceHeaderContentLength)) {
      absl::StatusOr<size_t> length = ParseJsonHeaderLength(req.get_header_value(kInferenceHeaderContentLength));
      if (!length.ok()) return finish(call, res, length.status(), nullptr);
      header_length = *length;
    }
    Clock::time_point deadline = Clock::time_point::max();
    if (req.has_header("Timeout-Ms")) {
      const std::optional<int64_t> ms = ParseMilliseconds(req.get_header_value("Timeout-Ms"));
      if (!ms) {
        return finish(call, res, absl::InvalidArgumentError("the header Timeout-Ms must be a positive integer"),
                      nullptr);
      }
      deadline = call.start + std::chrono::milliseconds(*ms);
    }
    absl::StatusOr<InferRequest> parsed = ParseInferRequest(body, header_length);
    std::string().swap(body);  // the tensors hold their own copies
    if (!parsed.ok()) return finish(call, res, parsed.status(), nullptr);
    parsed->model_name = call.model;
    parsed->model_version = Group(req, 2);
    auto request = std::make_shared<const InferRequest>(std::move(*parsed));

    // The promise is shared with the callback, so it outlives set_value even when this thread
    // wakes up and returns first.
    auto promise = std::make_shared<std::promise<InferOutcome>>();
    std::future<InferOutcome> future = promise->get_future();
    auto cancelled = std::make_shared<std::atomic<bool>>(false);
    executor_->Infer(request, deadline, cancelled,
                     [promise](absl::StatusOr<InferResponse> response, const InferStats& stats) {
                       promise->set_value(InferOutcome(std::move(response), stats));
                     });
    InferOutcome outcome = future.get();
    if (!outcome.first.ok()) return finish(call, res, outcome.first.status(), &outcome.second);
    absl::StatusOr<HttpResponseBody> answer = SerializeInferResponse(*outcome.first, *request);
    if (!answer.ok()) return finish(call, res, answer.status(), &outcome.second);
    res.status = 200;
    res.body = std::move(answer->body);
    res.set_header("Content-Type", answer->content_type);
    if (answer->json_header_length) {
      res.set_header(kInferenceHeaderContentLength, std::to_string(*answer->json_header_length));
    }
    finish(call, res, absl::OkStatus(), &outcome.second);
  });

  // Whatever no route answered (unknown paths, malformed requests, bodies beyond the limit) still
  // gets a JSON error; bodies the routes set are kept.
  server.set_error_handler([](const Request& req, Response& res) {
    if (!res.body.empty()) return;
    std::string message;
    switch (res.status) {
      case 404:
        message = absl::StrCat("no route for ", req.method, " ", req.path);
        break;
      case 413:
        message = "the request body is too large";
        break;
      case 414:
        message = "the request URI is too long";
        break;
      case 400:
        message = "malformed HTTP request";
        break;
      default:
        message = absl::StrCat("HTTP status ", res.status);
        break;
    }
    SetJson(res, res.status, ErrorJson(message));
  });
  server.set_exception_handler([](const Request&, Response& res, std::exception_ptr exception) {
    std::string message = "internal error";
    try {
      if (exception) std::rethrow_exception(exception);
    } catch (const std::exception& e) {
      message = absl::StrCat("internal error: ", e.what());
    } catch (...) {
    }
    SetJson(res, 500, ErrorJson(message));
  });
}

}  // namespace beit::serving::open_inference
