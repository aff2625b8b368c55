#include "server/server_options.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/flags/flag.h"
#include "model/io/json_file.h"
#include "model/model_error.h"
#include "tools/command_line/command_line.h"

// beit-server's flags (their meanings in ServerUsage); --model NAME=DIR is repeatable and so not
// an Abseil flag (tools/command_line/command_line.h).
namespace {
const beit::serving::ServerOptions kDefaults;
}  // namespace
ABSL_FLAG(std::string, config, "", "JSON config file");
ABSL_FLAG(std::string, host, kDefaults.host, "listen address");
ABSL_FLAG(int, port, kDefaults.port, "gRPC port");
ABSL_FLAG(int, max_batch_size, kDefaults.batching.max_batch_size, "images per model forward");
ABSL_FLAG(int64_t, max_queue_delay_us, kDefaults.batching.max_queue_delay_us, "longest wait for a batch");
ABSL_FLAG(int, max_queue_size, kDefaults.batching.max_queue_size, "waiting requests per batcher");
ABSL_FLAG(std::string, instances, "1", "compute instances, or auto");
ABSL_FLAG(std::optional<int>, threads_per_instance, std::nullopt, "OpenMP threads per instance");
ABSL_FLAG(int, preprocess_threads, kDefaults.preprocess_threads, "decoding threads");
ABSL_FLAG(int, max_pending_preprocess, kDefaults.max_pending_preprocess, "requests waiting for decoding");
ABSL_FLAG(int64_t, max_message_bytes, kDefaults.max_message_bytes, "largest message");
ABSL_FLAG(int64_t, max_image_side, kDefaults.decode_limits.max_width, "largest image side");
ABSL_FLAG(int64_t, max_image_pixels, kDefaults.decode_limits.max_pixels, "largest image area");
ABSL_FLAG(int, grace_period_s, kDefaults.grace_period_seconds, "shutdown grace period");
ABSL_FLAG(int, metrics_port, kDefaults.metrics_port, "Prometheus port");
ABSL_FLAG(std::string, metrics_host, "", "metrics listen address");
ABSL_FLAG(int, http_port, kDefaults.http_port, "Open Inference Protocol HTTP port");
ABSL_FLAG(std::string, http_host, "", "HTTP listen address");
ABSL_FLAG(std::string, precision, "f32", "f32, bf16 or int8");
ABSL_FLAG(std::string, weights_format, "auto", "auto, safetensors, pytorch or flax");
ABSL_FLAG(int, max_concurrent_streams, kDefaults.max_concurrent_streams, "calls per HTTP/2 connection");
ABSL_FLAG(int, max_connection_idle_s, kDefaults.max_connection_idle_seconds, "idle gRPC connection limit");
ABSL_FLAG(int, grpc_handshake_timeout_s, kDefaults.grpc_handshake_timeout_seconds, "gRPC handshake deadline");
ABSL_FLAG(int, grpc_keepalive_s, kDefaults.grpc_keepalive_time_seconds, "gRPC keep-alive ping interval");
ABSL_FLAG(int, grpc_keepalive_timeout_s, kDefaults.grpc_keepalive_timeout_seconds, "gRPC keep-alive timeout");
ABSL_FLAG(int, http_header_timeout_s, kDefaults.http_header_timeout_seconds, "HTTP header deadline");
ABSL_FLAG(int, http_body_timeout_s, kDefaults.http_body_timeout_seconds, "HTTP body deadline");
ABSL_FLAG(int64_t, http_min_bytes_per_s, kDefaults.http_min_bytes_per_second, "slowest HTTP transfer");
ABSL_FLAG(int, http_idle_timeout_s, kDefaults.http_idle_timeout_seconds, "HTTP keep-alive idle limit");
ABSL_FLAG(int64_t, http_max_header_bytes, kDefaults.http_max_header_bytes, "HTTP header size limit");
ABSL_FLAG(int, http_max_headers, kDefaults.http_max_headers, "HTTP header count limit");
ABSL_FLAG(int, http_max_connections, kDefaults.http_max_connections, "HTTP connections per listener");
ABSL_FLAG(int, http_threads, kDefaults.http_threads, "HTTP handler threads");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain");
ABSL_FLAG(std::string, tls_key, "", "PEM private key");
ABSL_FLAG(std::string, tls_client_ca, "", "PEM CA of client certificates");
ABSL_FLAG(std::string, auth_token_file, "", "bearer token file");
ABSL_FLAG(std::string, admin_token_file, "", "bearer token file for repository load and unload");
ABSL_FLAG(std::string, auth_exempt, "health,reflection", "services callable without the token");
ABSL_FLAG(std::string, log_level, "info", "error, warning, info or debug");
ABSL_FLAG(std::string, log_format, "text", "text or json");
ABSL_FLAG(std::string, model_repository, "", "model repository folder");
ABSL_FLAG(std::string, model_control_mode, "", "none, poll or explicit");
ABSL_FLAG(double, repository_poll_s, kDefaults.repository_poll_seconds, "repository poll interval");

namespace beit::serving {
namespace {

// Every Abseil flag of beit-server, by name: what ParseServerOptions resets before each parse.
const std::vector<std::string>& FlagNames() {
  static const std::vector<std::string> names = {
      "config", "host", "port", "max_batch_size", "max_queue_delay_us", "max_queue_size", "instances",
      "threads_per_instance", "preprocess_threads", "max_pending_preprocess", "max_message_bytes", "max_image_side",
      "max_image_pixels", "grace_period_s", "metrics_port", "metrics_host", "http_port", "http_host", "precision",
      "weights_format", "max_concurrent_streams", "max_connection_idle_s", "grpc_handshake_timeout_s",
      "grpc_keepalive_s", "grpc_keepalive_timeout_s", "http_header_timeout_s", "http_body_timeout_s",
      "http_min_bytes_per_s", "http_idle_timeout_s", "http_max_header_bytes", "http_max_headers",
      "http_max_connections", "http_threads", "tls_cert", "tls_key", "tls_client_ca", "auth_token_file",
      "auth_exempt", "log_level", "log_format", "admin_token_file", "model_repository", "model_control_mode", "repository_poll_s"};
  return names;
}

std::string Dashed(std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

absl::StatusOr<ModelSpec> ParseModelSpec(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    return absl::InvalidArgumentError("--model: expected NAME=DIR (e.g. cls=/models/beit-base), got '" + text + "'");
  }
  return ModelSpec{text.substr(0, eq), text.substr(eq + 1)};
}

// The value of an integer flag, or INVALID_ARGUMENT naming it when it was set out of [lo, hi].
template <typename T>
absl::StatusOr<T> InRange(const absl::Flag<T>& flag, const std::string& name, int64_t lo, int64_t hi) {
  const T value = absl::GetFlag(flag);
  if (static_cast<int64_t>(value) < lo || static_cast<int64_t>(value) > hi) {
    return absl::InvalidArgumentError("--" + Dashed(name) + ": " + std::to_string(value) + " is out of range [" +
                                      std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return value;
}

// "name": "dir", or "name": {"dir": "...", "instances": N}.
absl::StatusOr<ModelSpec> ConfigModel(const std::string& path, const std::string& name, const nlohmann::json& model) {
  if (model.is_string()) return ModelSpec{name, model.get<std::string>()};
  const std::string where = path + ": models." + name;
  if (!model.is_object() || !model.contains("dir") || !model["dir"].is_string()) {
    return absl::InvalidArgumentError(where + " must be a folder path or {\"dir\": \"...\", \"instances\": N}");
  }
  ModelSpec spec{name, model["dir"].get<std::string>()};
  for (const auto& [key, value] : model.items()) {
    if (key == "dir") continue;
    if (key != "instances") return absl::InvalidArgumentError(where + ": unknown key '" + key + "' (dir, instances)");
    if (!value.is_number_integer() || value.get<int64_t>() < 1 || value.get<int64_t>() > 1024) {
      return absl::InvalidArgumentError(where + ".instances must be an integer in [1, 1024]");
    }
    spec.instances = value.get<int>();
  }
  return spec;
}

// The config file's models, and its other keys set on their flags unless the command line gives
// them (`given`).
absl::Status ApplyConfigFile(const std::string& path, const std::set<std::string>& given,
                             std::vector<ModelSpec>* models, std::vector<std::string>* load_models) {
  nlohmann::json config;
  try {
    config = ParseJsonObject(ReadTextFile(path), path);
  } catch (const ModelError& e) {
    return absl::InvalidArgumentError(std::string("--config: ") + e.what());
  }
  for (const auto& [key, value] : config.items()) {
    std::string flag = key;
    std::replace(flag.begin(), flag.end(), '-', '_');
    if (flag == "models") {
      if (!value.is_object()) return absl::InvalidArgumentError(path + ": 'models' must be an object {\"name\": \"dir\"}");
      for (const auto& [name, model] : value.items()) {
        absl::StatusOr<ModelSpec> spec = ConfigModel(path, name, model);
        if (!spec.ok()) return spec.status();
        models->push_back(*spec);
      }
      continue;
    }
    if (flag == "load_model") {  // "load_model": "NAME" or ["NAME", ...], as the repeatable flag
      const nlohmann::json list = value.is_array() ? value : nlohmann::json::array({value});
      for (const nlohmann::json& item : list) {
        if (!item.is_string()) return absl::InvalidArgumentError(path + ": 'load_model' must be a name or a list of them");
        if (!given.count("load_model")) load_models->push_back(item.get<std::string>());
      }
      continue;
    }
    if (flag == "model") {  // "model": "NAME=DIR" or ["NAME=DIR", ...], as the repeatable flag
      const nlohmann::json list = value.is_array() ? value : nlohmann::json::array({value});
      for (const nlohmann::json& item : list) {
        if (!item.is_string()) return absl::InvalidArgumentError(path + ": 'model' must be \"NAME=DIR\" or a list of them");
        absl::StatusOr<ModelSpec> spec = ParseModelSpec(item.get<std::string>());
        if (!spec.ok()) return absl::InvalidArgumentError(path + ": " + std::string(spec.status().message()));
        models->push_back(*spec);
      }
      continue;
    }
    if (std::find(FlagNames().begin(), FlagNames().end(), flag) == FlagNames().end() || flag == "config") {
      return absl::InvalidArgumentError(path + ": unknown flag --" + Dashed(flag) + " (see --help)");
    }
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_number_integer()) {
      text = std::to_string(value.get<int64_t>());
    } else {
      return absl::InvalidArgumentError(path + ": '" + key + "' must be a string or an integer");
    }
    if (given.count(flag)) continue;  // the command line wins
    try {
      cli::SetFlag(flag, text);
    } catch (const cli::UsageError& e) {
      return absl::InvalidArgumentError(path + ": " + e.what());
    }
  }
  return absl::OkStatus();
}

// ServerOptions from the flags' values, each checked.
absl::Status ReadFlags(ServerOptions& o) {
  constexpr int64_t kIntMax = std::numeric_limits<int>::max();
#define BEIT_RANGED(field, flag, lo, hi)                                                       \
  do {                                                                                         \
    auto value = InRange(FLAGS_##flag, #flag, lo, hi);                                         \
    if (!value.ok()) return value.status();                                                    \
    field = *value;                                                                            \
  } while (false)
  o.host = absl::GetFlag(FLAGS_host);
  BEIT_RANGED(o.port, port, 0, 65535);
  BEIT_RANGED(o.batching.max_batch_size, max_batch_size, 1, 1024);
  BEIT_RANGED(o.batching.max_queue_delay_us, max_queue_delay_us, 0, 10'000'000);
  BEIT_RANGED(o.batching.max_queue_size, max_queue_size, 1, 1'000'000);
  const std::string instances = absl::GetFlag(FLAGS_instances);
  if (instances == "auto") {
    o.instances_auto = true;
  } else {
    size_t used = 0;
    int n = 0;
    try {
      n = std::stoi(instances, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != instances.size() || n < 1 || n > 1024) {
      return absl::InvalidArgumentError("--instances: expected a count or auto, got '" + instances + "'");
    }
    o.instances = n;
  }
  if (const std::optional<int> t = absl::GetFlag(FLAGS_threads_per_instance); t.has_value()) {
    if (*t < 1 || *t > 1024) {
      return absl::InvalidArgumentError("--threads-per-instance: " + std::to_string(*t) + " is out of range [1, 1024]");
    }
    o.threads_per_instance = *t;
  }
  BEIT_RANGED(o.preprocess_threads, preprocess_threads, 1, 256);
  BEIT_RANGED(o.max_pending_preprocess, max_pending_preprocess, 1, kIntMax);
  BEIT_RANGED(o.max_message_bytes, max_message_bytes, 1024, kIntMax);
  BEIT_RANGED(o.decode_limits.max_width, max_image_side, 1, 65535);
  o.decode_limits.max_height = o.decode_limits.max_width;
  BEIT_RANGED(o.decode_limits.max_pixels, max_image_pixels, 1, int64_t{1} << 32);
  BEIT_RANGED(o.grace_period_seconds, grace_period_s, 0, 3600);
  BEIT_RANGED(o.metrics_port, metrics_port, -1, 65535);
  o.metrics_host = absl::GetFlag(FLAGS_metrics_host);
  BEIT_RANGED(o.http_port, http_port, -1, 65535);
  o.http_host = absl::GetFlag(FLAGS_http_host);
  const std::string precision = absl::GetFlag(FLAGS_precision);
  const std::optional<Precision> p = ParsePrecision(precision);
  if (!p) return absl::InvalidArgumentError("--precision: expected f32, bf16 or int8, got '" + precision + "'");
  o.precision = *p;
  const std::string weights_format = absl::GetFlag(FLAGS_weights_format);
  if (!ParseWeightsFormat(weights_format, &o.weights_format)) {
    return absl::InvalidArgumentError("--weights-format: expected auto, safetensors, pytorch or flax, got '" +
                                      weights_format + "'");
  }
  BEIT_RANGED(o.max_concurrent_streams, max_concurrent_streams, 1, 100000);
  BEIT_RANGED(o.max_connection_idle_seconds, max_connection_idle_s, 1, 86400 * 7);
  BEIT_RANGED(o.grpc_handshake_timeout_seconds, grpc_handshake_timeout_s, 1, 3600);
  BEIT_RANGED(o.grpc_keepalive_time_seconds, grpc_keepalive_s, 1, 86400);
  BEIT_RANGED(o.grpc_keepalive_timeout_seconds, grpc_keepalive_timeout_s, 1, 3600);
  BEIT_RANGED(o.http_header_timeout_seconds, http_header_timeout_s, 1, 3600);
  BEIT_RANGED(o.http_body_timeout_seconds, http_body_timeout_s, 1, 3600);
  BEIT_RANGED(o.http_min_bytes_per_second, http_min_bytes_per_s, 1, int64_t{1} << 40);
  BEIT_RANGED(o.http_idle_timeout_seconds, http_idle_timeout_s, 1, 86400);
  BEIT_RANGED(o.http_max_header_bytes, http_max_header_bytes, 256, 1 << 24);
  BEIT_RANGED(o.http_max_headers, http_max_headers, 1, 10000);
  BEIT_RANGED(o.http_max_connections, http_max_connections, 1, 10'000'000);
  BEIT_RANGED(o.http_threads, http_threads, 1, 256);
#undef BEIT_RANGED
  o.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key = absl::GetFlag(FLAGS_tls_key);
  o.tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  o.auth_token_file = absl::GetFlag(FLAGS_auth_token_file);
  o.admin_token_file = absl::GetFlag(FLAGS_admin_token_file);
  o.auth_exempt_reflection = o.auth_exempt_info = false;
  std::stringstream items(absl::GetFlag(FLAGS_auth_exempt));
  for (std::string item; std::getline(items, item, ',');) {
    if (item == "reflection") {
      o.auth_exempt_reflection = true;
    } else if (item == "info") {
      o.auth_exempt_info = true;
    } else if (item != "health" && !item.empty()) {
      return absl::InvalidArgumentError("--auth-exempt: expected a list of health, reflection, info; got '" + item +
                                        "'");
    }
  }
  const std::string level_name = absl::GetFlag(FLAGS_log_level);
  const std::optional<LogLevel> level = ParseLogLevel(level_name);
  if (!level) return absl::InvalidArgumentError("--log-level: expected error, warning, info or debug, got '" + level_name + "'");
  o.log_level = *level;
  const std::string format_name = absl::GetFlag(FLAGS_log_format);
  const std::optional<LogFormat> format = ParseLogFormat(format_name);
  if (!format) return absl::InvalidArgumentError("--log-format: expected text or json, got '" + format_name + "'");
  o.log_format = *format;
  o.model_repository = absl::GetFlag(FLAGS_model_repository);
  const std::string mode = absl::GetFlag(FLAGS_model_control_mode);
  if (mode.empty()) {
    o.model_control_mode = o.model_repository.empty() ? repository::ControlMode::kNone : repository::ControlMode::kPoll;
  } else if (mode == "none" || mode == "poll" || mode == "explicit") {
    o.model_control_mode = mode == "none"   ? repository::ControlMode::kNone
                           : mode == "poll" ? repository::ControlMode::kPoll
                                            : repository::ControlMode::kExplicit;
  } else {
    return absl::InvalidArgumentError("--model-control-mode: expected none, poll or explicit, got '" + mode + "'");
  }
  o.repository_poll_seconds = absl::GetFlag(FLAGS_repository_poll_s);
  if (!(o.repository_poll_seconds >= 0.1 && o.repository_poll_seconds <= 86400)) {
    return absl::InvalidArgumentError("--repository-poll-s: expected seconds in [0.1, 86400]");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServerOptions> ParseServerOptions(const std::vector<std::string>& args) {
  ServerOptions options;
  cli::CommandLine command_line;
  try {
    cli::ResetToDefaults(FlagNames());
    std::vector<std::string> full = {"beit-server"};
    full.insert(full.end(), args.begin(), args.end());
    command_line = cli::ParseCommandLine(full, {"model", "load_model"}, /*apply=*/false);
  } catch (const cli::UsageError& e) {
    return absl::InvalidArgumentError(std::string(e.what()) + " (see --help)");
  }
  if (command_line.help) {
    options.help = true;
    return options;
  }
  if (!command_line.positional.empty()) {
    return absl::InvalidArgumentError("unexpected argument '" + command_line.positional.front() + "' (see --help)");
  }
  // The config file first (its models, and its flags unless the command line gives them), then
  // the command line.
  for (const auto& [name, value] : command_line.values) {
    if (name == "config") {
      absl::Status s = ApplyConfigFile(value, command_line.given, &options.models, &options.load_models);
      if (!s.ok()) return s;
    }
  }
  try {
    for (const auto& [name, value] : command_line.values) cli::SetFlag(name, value);
  } catch (const cli::UsageError& e) {
    return absl::InvalidArgumentError(e.what());
  }
  const auto models = command_line.repeated.find("model");
  if (models != command_line.repeated.end()) {
    for (const std::string& text : models->second) {
      absl::StatusOr<ModelSpec> spec = ParseModelSpec(text);
      if (!spec.ok()) return spec.status();
      options.models.push_back(*spec);
    }
  }
  const auto load_models = command_line.repeated.find("load_model");
  if (load_models != command_line.repeated.end()) options.load_models = load_models->second;
  if (absl::Status s = ReadFlags(options); !s.ok()) return s;
  if (options.models.empty() && options.model_repository.empty()) {
    return absl::InvalidArgumentError(
        "no model to serve: give --model NAME=DIR (a save_pretrained folder) or --model-repository DIR");
  }
  if (options.model_repository.empty() && options.model_control_mode != repository::ControlMode::kNone) {
    return absl::InvalidArgumentError(std::string("--model-control-mode ") +
                                      repository::ControlModeName(options.model_control_mode) +
                                      " needs --model-repository DIR");
  }
  if (!options.load_models.empty() && options.model_control_mode != repository::ControlMode::kExplicit) {
    return absl::InvalidArgumentError("--load-model goes with --model-control-mode explicit (in poll and none "
                                      "modes every model of the repository loads at startup)");
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together (the server's certificate chain and key)");
  }
  if (!options.tls_client_ca.empty() && options.tls_cert.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key");
  }
  return options;
}

ResolvedInstances ResolveInstances(const ServerOptions& options, int cores, double gflops_per_image,
                                   int omp_num_threads) {
  cores = std::max(1, cores);
  ResolvedInstances r;
  if (options.instances_auto) {
    r.instances = gflops_per_image < 2.0 ? cores : std::max(1, cores / 4);
  } else {
    r.instances = std::max(1, options.instances);
  }
  for (const ModelSpec& m : options.models) r.instances = std::max(r.instances, m.instances);
  if (options.threads_per_instance > 0) {
    r.threads_per_instance = options.threads_per_instance;
  } else if (omp_num_threads > 0) {
    r.threads_per_instance = omp_num_threads;
  } else {
    r.threads_per_instance = std::max(1, cores / r.instances);
  }
  if (static_cast<int64_t>(r.instances) * r.threads_per_instance > cores) {
    r.warning = std::to_string(r.instances) + " instances x " + std::to_string(r.threads_per_instance) +
                " threads exceed the " + std::to_string(cores) +
                " usable cores: forwards will share cores (slower than fewer instances or threads)";
  }
  return r;
}

std::string ServerUsage() {
  return R"(beit-server: serves BEiT checkpoints over gRPC (beit.v1.BeitService, grpc.health.v1, reflection).

Usage: beit-server --model NAME=DIR [--model NAME=DIR ...] [flags]
       beit-server --model-repository DIR [--model-control-mode poll|explicit] [flags]

Models
  --model NAME=DIR            serve the save_pretrained folder DIR (config.json, weights,
                              preprocessor_config.json) as NAME; repeat for several models
  --model-repository DIR      a folder of models: DIR/NAME/ holds version folders 1/, 2/, ...
                              (each a save_pretrained folder) or the model files (version 1),
                              and optionally serving.json (version_policy, precision, instances,
                              batching); README "Model repository"
  --model-control-mode MODE   none (default without a repository: load at startup only), poll
                              (default with one: new, changed and removed folders are picked up)
                              or explicit (only the repository API loads and unloads)
  --repository-poll-s S       seconds between repository scans in poll mode (default 15); a folder
                              loads once unchanged for one interval
  --load-model NAME           explicit mode: load NAME at startup (repeatable; * for all)
  --weights-format F          auto (default: model.safetensors, sharded safetensors,
                              pytorch_model.bin, flax_model.msgpack, in that order), safetensors,
                              pytorch or flax
  --config FILE               JSON object with any flag below as a key (dashes or underscores) and
                              "models": {"NAME": "DIR"}; command-line flags override it
  --precision P               f32 (default: Transformers' numbers to 1e-4), bf16 (bfloat16 matmuls
                              with f32 accumulation: about 2x faster on AVX512-BF16 CPUs) or int8
                              (s8 weights per channel, s8 inputs per token, VNNI matmuls)
Network
  --host ADDR                 listen address (default 0.0.0.0)
  --port N                    port (default 50051; 0 picks a free port, printed at start)
  --max-message-bytes N       largest request/response message (default 67108864 = 64 MiB)
Dynamic batching (per model and task, Triton's meanings)
  --max-batch-size N          images per model forward (default 8)
  --max-queue-delay-us N      longest a request waits for others to batch with (default 2000)
  --max-queue-size N          waiting requests per batcher; beyond it RESOURCE_EXHAUSTED (default 256)
Model instances (README, "Model instances")
  --instances N|auto          forwards computed at once, each by its own OpenMP team, sharing the
                              weights (default 1; auto: one per core for models under 2 GFLOP per
                              image, else one per 4 cores); per model in --config:
                              "models": {"NAME": {"dir": "DIR", "instances": N}}
  --threads-per-instance T    OpenMP threads of each instance (default: OMP_NUM_THREADS when set,
                              else the usable cores / instances, at least 1)
Image decoding
  --preprocess-threads N      threads decoding and preprocessing images (default 2)
  --max-pending-preprocess N  requests waiting for those threads; beyond it RESOURCE_EXHAUSTED (default 1024)
  --max-image-side N          largest accepted width or height in pixels (default 16384)
  --max-image-pixels N        largest accepted width x height (default 40000000)
Security
  --tls-cert FILE             serve TLS with this PEM certificate chain (with --tls-key)
  --tls-key FILE              the PEM private key of --tls-cert
  --tls-client-ca FILE        mutual TLS: require client certificates signed by this PEM CA
  --auth-token-file FILE      require 'authorization: Bearer <token>' metadata (token read from FILE)
  --auth-exempt LIST          services callable without the token, from health, reflection, info
                              (default health,reflection; health is always exempt: probes carry no
                              token; reflection cannot check tokens, so leaving it out turns it off)
  --admin-token-file FILE     model repository load and unload need this token instead of
                              --auth-token-file's (the index keeps the inference token)
  --http-host ADDR            Open Inference Protocol (KServe v2) HTTP/REST listen address (default:
                              --host); the same TLS and token as gRPC
  --http-port N               its port (default 8000; 0 picks a free port, printed at start; -1 off).
                              The protocol's gRPC service shares the gRPC port
  --max-concurrent-streams N  concurrent calls per HTTP/2 connection (default 100)
  --max-connection-idle-s N   close gRPC connections without a call this long (default 600)
Slow and idle clients (README, "Slow and idle clients"; both HTTP listeners: inference and metrics)
  --grpc-handshake-timeout-s N  a gRPC connection's TLS handshake and HTTP/2 settings within N s (default 10)
  --grpc-keepalive-s N        ping a gRPC connection quiet for N s (default 60) ...
  --grpc-keepalive-timeout-s N  ... and close it without an answer within N s (default 20)
  --http-header-timeout-s N   a request's line and headers within N s of its first byte, in total
                              (a new connection's clock, TLS handshake included, starts at accept;
                              default 10)
  --http-body-timeout-s N     a body within N s plus its size / --http-min-bytes-per-s; an answer
                              likewise (default 10)
  --http-min-bytes-per-s N    slowest accepted transfer (default 65536)
  --http-idle-timeout-s N     close a kept-alive connection without a request for N s (default 75:
                              longer than the usual load balancer idle timeout of 60 s)
  --http-max-header-bytes N   request line and headers at most N bytes, else 431 (default 16384)
  --http-max-headers N        at most N header fields, else 431 (default 100)
  --http-max-connections N    open connections per listener; beyond, new ones get 503 (default 4096)
  --http-threads N            HTTP handler threads (default 4; requests wait for models without one)
Observability
  --metrics-host ADDR         metrics listen address (default: --host)
  --metrics-port N            Prometheus metrics at http://HOST:N/metrics (default 8002; 0 picks a
                              free port, printed at start; -1 turns metrics off)
  --log-level LEVEL           error, warning, info (default) or debug; debug logs one line per request,
                              info logs failed requests, error only server faults
  --log-format FORMAT         text (default) or json (one JSON object per line)
Lifecycle
  --grace-period-s N          on SIGTERM/SIGINT: health turns NOT_SERVING, new calls are refused, and
                              accepted calls get N seconds to finish (default 15)
  --help                      this text

Model compute threads: --threads-per-instance, else OMP_NUM_THREADS (oneDNN uses OpenMP).
)";
}

}  // namespace beit::serving
