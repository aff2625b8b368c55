// beit-server's command line (and optional JSON config file): every knob, with --help.
//
// Contract:
// - ParseServerOptions(args) reads args (without argv[0]). `--config FILE` loads a JSON object
//   whose keys are the flag names without dashes (`max_batch_size`, `models` as {"name": "dir"},
//   ...); flags given on the command line override the file wherever they appear.
// - Returns INVALID_ARGUMENT naming the flag for anything unknown, missing or out of range;
//   `--help` yields options with `help` set. At least one --model or a --model-repository is
//   required otherwise. --model-control-mode defaults to none without a repository and poll with
//   one; explicit and poll need a repository; --load-model only goes with explicit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/image/image_decoder.h"
#include "model/io/checkpoint.h"
#include "model/ops/precision.h"
#include "server/core/dynamic_batcher.h"
#include "server/observability/logger.h"
#include "server/core/model_repository.h"
#include "server/repository/repository_manager.h"

namespace beit::serving {

struct ServerOptions {
  std::vector<ModelSpec> models;
  // The live model repository (server/repository/repository_manager.h).
  std::string model_repository;
  repository::ControlMode model_control_mode = repository::ControlMode::kNone;
  double repository_poll_seconds = 15;
  std::vector<std::string> load_models;  // explicit mode: loaded at startup ("*": all)
  std::string host = "0.0.0.0";
  int port = 50051;  // 0: pick a free port (printed at start)
  BatcherOptions batching;
  // Model instances (compute_executor.h): `instances` forwards at once, each an OpenMP team of
  // `threads_per_instance` threads. instances_auto: chosen at startup (ResolveInstances).
  int instances = 1;
  bool instances_auto = false;
  int threads_per_instance = 0;  // 0: OMP_NUM_THREADS when set, else the usable cores / instances
  int preprocess_threads = 2;
  int max_pending_preprocess = 1024;
  int64_t max_message_bytes = 64 << 20;
  DecodeLimits decode_limits;
  Precision precision = Precision::kF32;
  WeightsFormat weights_format = WeightsFormat::kAuto;
  int grace_period_seconds = 15;
  int metrics_port = 8002;  // Prometheus /metrics; 0 picks a free port, -1 turns metrics off
  std::string metrics_host;  // empty: the same as `host`
  int http_port = 8000;      // Open Inference Protocol over HTTP/REST; 0 picks a free port, -1 off
  std::string http_host;     // empty: the same as `host`
  int max_concurrent_streams = 100;  // per HTTP/2 connection
  int max_connection_idle_seconds = 600;
  // gRPC: a connection must finish its TLS handshake and send HTTP/2 settings within this; the
  // server pings a connection quiet for keepalive_time and closes it without an answer in timeout.
  int grpc_handshake_timeout_seconds = 10;
  int grpc_keepalive_time_seconds = 60;
  int grpc_keepalive_timeout_seconds = 20;
  // The HTTP listeners (inference and metrics) against slow and idle clients (http_server.h).
  int http_header_timeout_seconds = 10;
  int http_body_timeout_seconds = 10;
  int64_t http_min_bytes_per_second = 64 << 10;
  int http_idle_timeout_seconds = 75;
  int64_t http_max_header_bytes = 16 << 10;
  int http_max_headers = 100;
  int http_max_connections = 4096;
  int http_threads = 4;
  // TLS: both or neither; a client CA turns on mutual TLS (client certificates required).
  std::string tls_cert, tls_key, tls_client_ca;
  std::string auth_token_file;
  // When set, repository load and unload need this token instead (operators, not clients).
  std::string admin_token_file;
  bool auth_exempt_reflection = true;  // health is always exempt (probes carry no token)
  bool auth_exempt_info = false;       // GetModelInfo / ListModels
  LogLevel log_level = LogLevel::kInfo;
  LogFormat log_format = LogFormat::kText;
  bool help = false;
};

absl::StatusOr<ServerOptions> ParseServerOptions(const std::vector<std::string>& args);

// The compute instances to run on `cores` usable cores (sched_getaffinity) for models of
// `gflops_per_image` each (the largest hosted), and `omp_num_threads` (0 when unset):
// - N: --instances, or for auto one per core for models under 2 GFLOP per image (small models
//   scale poorly across threads), else one per 4 cores (at least 1): bench/RESULTS.md,
//   "Model instances".
// - T: --threads-per-instance when given; else OMP_NUM_THREADS when set; else cores / N, at
//   least 1. `warning` is set when N x T exceeds the cores.
struct ResolvedInstances {
  int instances = 1;
  int threads_per_instance = 1;
  std::string warning;
};
ResolvedInstances ResolveInstances(const ServerOptions& options, int cores, double gflops_per_image,
                                   int omp_num_threads);
std::string ServerUsage();

}  // namespace beit::serving
