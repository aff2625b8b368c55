// beit-server: hosts BEiT checkpoints behind beit.v1.BeitService, the Open Inference Protocol
// (KServe v2: inference.GRPCInferenceService on the gRPC port, HTTP/REST on --http-port),
// grpc.health.v1 and server reflection, with Prometheus metrics on their own port. Health is
// NOT_SERVING (and /v2/health/ready 503) until every model is loaded and warmed up, and again
// while a required model of the repository has no version ready (repository_manager.h).
// SIGTERM/SIGINT: health NOT_SERVING, new calls refused, accepted calls
// finish within --grace-period-s, exit 0. Exit codes: 1 startup failure (a model, a port, TLS),
// 2 bad flags, 3 a --precision this CPU cannot compute (one log line says which feature is missing).
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <sched.h>
#include <sys/resource.h>

#include "absl/cleanup/cleanup.h"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "model/io/beit_config.h"
#include "model/ops/compute_backend.h"
#include "model/ops/cpu_tier.h"
#include "model/ops/memory_reuse.h"
#include "model/model_error.h"
#include "server/core/compute_executor.h"
#include "server/security/bearer_token_auth.h"
#include "server/beit_v1/beit_service.h"
#include "server/http/http_server.h"
#include "server/open_inference/grpc_inference_service.h"
#include "server/open_inference/http_inference_server.h"
#include "server/open_inference/inference_executor.h"
#include "server/observability/logger.h"
#include "server/core/model_repository.h"
#include "server/observability/observer_list.h"
#include "server/observability/repository_log.h"
#include "server/observability/request_log.h"
#include "server/repository/repository_folder.h"
#include "server/repository/repository_manager.h"
#include "server/observability/server_metrics.h"
#include "server/server_options.h"
#include "server/security/tls_credentials.h"
#include "server/core/worker_pool.h"

#ifndef BEIT_VERSION
#define BEIT_VERSION "unknown"
#endif

namespace {

using beit::serving::ServerOptions;

constexpr const char* kServiceName = "beit.v1.BeitService";

using beit::serving::LogLevel;

// Idle and slow clients cost a descriptor each (server/http): the soft limit goes up to the hard
// one. Returns the limit now in force.
// The cores this process may run on (its CPU affinity: a container's cpuset, taskset).
int UsableCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

rlim_t RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return raised.rlim_cur;
  }
  return limit.rlim_cur;
}

// The limits both HTTP listeners apply to their connections.
beit::serving::http::HttpServerOptions HttpListenerOptions(const ServerOptions& options, const std::string& name) {
  beit::serving::http::HttpServerOptions http;
  http.name = name;
  http.handler_threads = name == "metrics" ? 1 : options.http_threads;
  http.header_timeout_s = options.http_header_timeout_seconds;
  http.body_timeout_s = options.http_body_timeout_seconds;
  http.min_bytes_per_s = static_cast<double>(options.http_min_bytes_per_second);
  http.idle_timeout_s = options.http_idle_timeout_seconds;
  http.limits.max_header_bytes = static_cast<size_t>(options.http_max_header_bytes);
  http.limits.max_headers = static_cast<size_t>(options.http_max_headers);
  http.limits.max_body_bytes = static_cast<size_t>(options.max_message_bytes);
  http.max_connections = options.http_max_connections;
  return http;
}


int Serve(const ServerOptions& options, const sigset_t& stop_signals) {
  beit::serving::Logger log(options.log_level, options.log_format);
  // A precision this CPU cannot compute is refused before anything else, in one line.
  if (auto why = beit::PrecisionUnsupportedReason(options.precision)) {
    log.Log(LogLevel::kError, "precision not supported on this CPU", {{"error", *why}});
    return 3;
  }
  const rlim_t descriptors = RaiseDescriptorLimit();
  log.Log(LogLevel::kInfo, "starting",
          {{"version", std::string(BEIT_VERSION)},
           {"max_open_files", static_cast<int64_t>(descriptors)},
           {"compute", beit::ComputeBackendVersion()},
           {"isa", beit::ComputeBackendIsa()},
           {"preprocess_threads", static_cast<int64_t>(options.preprocess_threads)}});

  // Metrics and the request log observe every model forward and every call; the metrics object
  // reads the repository at scrape time, so it joins once the models are loaded.
  beit::serving::ObserverList observers;

  // Model instances: how many forwards at once, each an OpenMP team of how many threads.
  std::vector<std::string> model_dirs;
  for (const beit::serving::ModelSpec& spec : options.models) model_dirs.push_back(spec.dir);
  if (!options.model_repository.empty()) {
    if (auto names = beit::serving::repository::ListModelNames(options.model_repository); names.ok()) {
      for (const std::string& name : *names) {
        for (const auto& [version, folder] : beit::serving::repository::ScanModel(options.model_repository, name).versions) {
          model_dirs.push_back(folder.dir);
        }
      }
    }
  }
  double largest_gflops = 0;
  for (const std::string& dir : model_dirs) {
    try {
      largest_gflops = std::max(largest_gflops, beit::LoadBeitConfig(dir + "/config.json").gflops_per_image());
    } catch (const std::exception&) {
      // Loading the model says what is wrong with it.
    }
  }
  const char* omp_env = std::getenv("OMP_NUM_THREADS");
  const beit::serving::ResolvedInstances compute = beit::serving::ResolveInstances(
      options, UsableCores(), largest_gflops, omp_env ? std::max(0, std::atoi(omp_env)) : 0);
  if (!compute.warning.empty()) log.Log(LogLevel::kWarning, "oversubscribed", {{"warning", compute.warning}});
  log.Log(LogLevel::kInfo, "compute instances",
          {{"instances", static_cast<int64_t>(compute.instances)},
           {"threads_per_instance", static_cast<int64_t>(compute.threads_per_instance)},
           {"usable_cores", static_cast<int64_t>(UsableCores())}});
  beit::serving::ModelRepository models({compute.instances, compute.threads_per_instance});
  std::vector<std::string> warnings;
  try {
    models.Load(options.models, options.batching, options.decode_limits, &observers, &warnings, options.precision,
                options.weights_format);
  } catch (const std::exception& e) {
    log.Log(LogLevel::kError, "model load failed", {{"error", std::string(e.what())}});
    return 1;
  }
  for (const std::string& w : warnings) log.Log(LogLevel::kWarning, "model warning", {{"warning", w}});
  for (const auto& m : models.models()) {
    const auto& d = m->description();
    std::string tasks;
    for (auto t : d.tasks) tasks += (tasks.empty() ? "" : ",") + std::string(beit::serving::TaskName(t));
    log.Log(LogLevel::kInfo, "model loaded",
            {{"model", d.name},
             {"architecture", d.architecture},
             {"image_size", std::to_string(d.image_height) + "x" + std::to_string(d.image_width)},
             {"tasks", tasks},
             {"precision", d.precision},
             {"path", d.path},
             {"load_ms", d.load_seconds * 1e3}});
  }

  beit::serving::ServerMetrics metrics(&models);
  // The live model repository: loads at startup below (after the warm-up), then by its mode.
  // grpc.health follows the repository's readiness from the end of startup until draining; the
  // lock keeps a late update from turning a draining server back to SERVING.
  std::mutex health_mu;
  grpc::HealthCheckServiceInterface* health_to_update = nullptr;  // guarded by health_mu
  beit::serving::repository::RepositoryManager* manager_for_health = nullptr;
  beit::serving::RepositoryLog repository_log(&log, options.metrics_port >= 0 ? &metrics : nullptr, &models, [&] {
    std::lock_guard<std::mutex> lock(health_mu);
    if (!health_to_update || !manager_for_health) return;
    const bool ready = manager_for_health->RequiredReady();
    health_to_update->SetServingStatus(ready);
    health_to_update->SetServingStatus(kServiceName, ready);
  });
  auto repository = std::make_unique<beit::serving::repository::RepositoryManager>(
      &models,
      beit::serving::repository::RepositoryOptions{options.model_repository, options.model_control_mode,
                                                   options.repository_poll_seconds, options.load_models},
      &repository_log);
  manager_for_health = repository.get();
  beit::serving::RequestLog request_log(&log);
  observers.Add(&request_log);
  // Prometheus' text format at /metrics, on a listener of its own with the same connection limits
  // as the inference port: a scraper must get through while clients stall the other port.
  std::unique_ptr<beit::serving::http::HttpServer> metrics_server;
  int metrics_port = -1;
  if (options.metrics_port >= 0) {
    const std::string metrics_host = options.metrics_host.empty() ? options.host : options.metrics_host;
    metrics_server = std::make_unique<beit::serving::http::HttpServer>(
        HttpListenerOptions(options, "metrics"),
        [&metrics](beit::serving::http::HttpRequest request, std::shared_ptr<const std::atomic<bool>>,
                   beit::serving::http::HttpRespond respond) {
          beit::serving::http::HttpResponse response;
          if ((request.method == "GET" || request.method == "HEAD") && request.path == "/metrics") {
            response.content_type = "text/plain; version=0.0.4";
            response.body = metrics.ExpositionText();
          } else {
            response.status = 404;
            response.body = beit::serving::http::ErrorBody("metrics are at GET /metrics");
          }
          respond(std::move(response));
        });
    absl::StatusOr<int> bound = metrics_server->Start(metrics_host, options.metrics_port);
    if (!bound.ok()) {
      log.Log(LogLevel::kError, "cannot serve metrics",
              {{"port", static_cast<int64_t>(options.metrics_port)}, {"error", std::string(bound.status().message())}});
      return 1;
    }
    metrics_port = *bound;
    metrics.WatchHttpListener("metrics", [server = metrics_server.get()] { return server->stats(); });
    observers.Add(&metrics);
  }

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.tls_cert.empty()) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> tls = beit::serving::TlsCredentials(options);
    if (!tls.ok()) {
      log.Log(LogLevel::kError, "cannot set up TLS", {{"error", std::string(tls.status().message())}});
      return 1;
    }
    credentials = *tls;
  }
  // The inference token and the repository's admin token (each optional).
  std::unique_ptr<beit::serving::BearerTokenAuth> auth, admin_auth;
  for (auto [path, token] : {std::pair{&options.auth_token_file, &auth}, std::pair{&options.admin_token_file, &admin_auth}}) {
    if (path->empty()) continue;
    auto loaded = beit::serving::BearerTokenAuth::FromFile(*path);
    if (!loaded.ok()) {
      log.Log(LogLevel::kError, "cannot set up authentication", {{"error", std::string(loaded.status().message())}});
      return 1;
    }
    *token = std::move(*loaded);
  }

  beit::serving::WorkerPool workers(options.preprocess_threads, static_cast<size_t>(options.max_pending_preprocess));
  beit::serving::BeitServiceImpl service(&models, &workers, {&observers});
  service.RequireToken(auth.get(), options.auth_exempt_info);
  // The Open Inference Protocol (KServe v2) beside beit.v1, on the same models and batchers.
  beit::serving::open_inference::InferenceExecutor executor(&models, &workers, BEIT_VERSION, repository.get());
  beit::serving::open_inference::GrpcInferenceService v2_service(&executor, {&observers});
  v2_service.RequireToken(auth.get(), options.auth_exempt_info);
  v2_service.RequireAdminToken(admin_auth.get());
  grpc::EnableDefaultHealthCheckService(true);
  // gRPC's reflection cannot check tokens: with authentication on, it runs only when exempt.
  const bool reflection = !auth || options.auth_exempt_reflection;
  if (reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  int port = 0;
  const std::string address = options.host + ":" + std::to_string(options.port);
  builder.AddListeningPort(address, credentials, &port);
  builder.RegisterService(&service);
  builder.RegisterService(&v2_service);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, options.max_connection_idle_seconds * 1000);
  // Stalled connections: the TLS handshake and the client's HTTP/2 settings within the handshake
  // timeout (gRPC's default is 120 s); quiet connections are pinged and closed when nobody answers.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, options.grpc_handshake_timeout_seconds * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, options.grpc_keepalive_time_seconds * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, options.grpc_keepalive_timeout_seconds * 1000);
  // Clients may keep their own connections alive with pings every 10 s or more, also between calls.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    log.Log(LogLevel::kError, "cannot listen", {{"address", address}, {"hint", std::string("port in use or address invalid")}});
    return 1;
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  health->SetServingStatus(false);
  health->SetServingStatus(kServiceName, false);

  // The Open Inference Protocol over HTTP/REST: up before the warm-up, so /v2/health/ready can
  // say 503 until it is done. The same TLS files and token as gRPC.
  std::unique_ptr<beit::serving::open_inference::HttpInferenceServer> http;
  int http_port = -1;
  if (options.http_port >= 0) {
    beit::serving::http::HttpServerOptions http_options = HttpListenerOptions(options, "http");
    http_options.tls_cert = options.tls_cert;
    http_options.tls_key = options.tls_key;
    http_options.tls_client_ca = options.tls_client_ca;
    http = std::make_unique<beit::serving::open_inference::HttpInferenceServer>(
        &executor, std::vector<beit::serving::ServingObserver*>{&observers}, auth.get(), http_options);
    http->RequireAdminToken(admin_auth.get());
    const std::string http_host = options.http_host.empty() ? options.host : options.http_host;
    absl::StatusOr<int> bound = http->Start(http_host, options.http_port);
    if (!bound.ok()) {
      log.Log(LogLevel::kError, "cannot serve HTTP",
              {{"address", http_host + ":" + std::to_string(options.http_port)},
               {"error", std::string(bound.status().message())}});
      repository->Stop();
      server->Shutdown();
      return 1;
    }
    http_port = *bound;
    metrics.WatchHttpListener("inference", [server = http.get()] { return server->stats(); });
  }
  // Scrapes read the inference listener's counters: the metrics listener stops before it goes.
  auto stop_metrics_first = absl::MakeCleanup([&metrics_server] {
    if (metrics_server) metrics_server->Stop();
  });

  try {
    models.WarmupAll();
  } catch (const std::exception& e) {
    log.Log(LogLevel::kError, "warm-up failed", {{"error", std::string(e.what())}});
    repository->Stop();  // answers the load calls that arrived meanwhile
    server->Shutdown();
    return 1;
  }
  if (!options.model_repository.empty()) {
    log.Log(LogLevel::kInfo, "model repository",
            {{"path", options.model_repository},
             {"control_mode", std::string(beit::serving::repository::ControlModeName(options.model_control_mode))},
             {"poll_s", options.repository_poll_seconds}});
  }
  if (absl::Status started = repository->Start(); !started.ok()) {
    log.Log(LogLevel::kError, "model repository failed", {{"error", std::string(started.message())}});
    repository->Stop();
    server->Shutdown();
    return 1;
  }
  health->SetServingStatus(true);
  health->SetServingStatus(kServiceName, true);
  {
    std::lock_guard<std::mutex> lock(health_mu);
    health_to_update = health;
  }
  executor.SetReady(true);
  std::string names;
  for (const auto& m : models.models()) {
    names += (names.empty() ? "" : ", ") + m->description().name + " (" + m->description().architecture + ")";
  }
  if (names.empty()) names = "no model yet";
  log.Log(LogLevel::kInfo, "serving",
          {{"grpc_port", static_cast<int64_t>(port)},
           {"metrics_port", static_cast<int64_t>(metrics_port)},
           {"http_port", static_cast<int64_t>(http_port)},
           {"tls", std::string(options.tls_cert.empty() ? "off" : options.tls_client_ca.empty() ? "on" : "mutual")},
           {"auth", std::string(auth ? "bearer-token" : "off")},
           {"reflection", std::string(reflection ? "on" : "off")}});
  // The one stdout line: tools and tests read the ports from it.
  std::printf("beit-server listening on %s:%d serving %s; metrics on port %d; http on port %d\n",
              options.host.c_str(), port, names.c_str(), metrics_port, http_port);
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  log.Log(LogLevel::kInfo, "draining",
          {{"signal", std::string(strsignal(signal_number))},
           {"grace_period_s", static_cast<int64_t>(options.grace_period_seconds)}});
  {
    std::lock_guard<std::mutex> lock(health_mu);
    health_to_update = nullptr;
    health->SetServingStatus(kServiceName, false);
    health->SetServingStatus(false);
  }
  service.StopAccepting();
  executor.StopAccepting();
  // No load or poll from here; load and unload calls still queued answer UNAVAILABLE, so the
  // drain below does not wait on them (a load already running finishes beside it).
  repository->Stop(/*wait=*/false);
  // Both doors answer what they accepted within the one grace period; new calls were refused above.
  const auto grace = std::chrono::seconds(options.grace_period_seconds);
  const auto grpc_deadline = std::chrono::system_clock::now() + grace;
  if (http) http->Stop(std::chrono::steady_clock::now() + grace);
  server->Shutdown(grpc_deadline);
  repository->Stop();  // the running load, if any, ends before the models shut down
  models.ShutdownAll();
  workers.Shutdown();
  std::move(stop_metrics_first).Invoke();
  log.Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  beit::serving::BoundOpenMpSpinning(argv);  // may re-execute this program once (compute_executor.h)
  // Block the stop signals before any thread starts so only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client that disconnects while its HTTPS answer is written makes OpenSSL's write() raise
  // SIGPIPE, which would end the process: the error is handled where it happens instead.
  std::signal(SIGPIPE, SIG_IGN);

  const absl::StatusOr<ServerOptions> options =
      beit::serving::ParseServerOptions(std::vector<std::string>(argv + 1, argv + argc));
  if (!options.ok()) {
    std::fprintf(stderr, "beit-server: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  if (options->help) {
    std::fputs(beit::serving::ServerUsage().c_str(), stdout);
    return 0;
  }
  beit::ReuseFreedMemory();  // before any thread starts; see model/ops/memory_reuse.h
  return Serve(*options, stop_signals);
}
