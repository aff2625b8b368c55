#include "server/server_options.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/io/json_file.h"
#include "model/model_error.h"

namespace beit::serving {
namespace {

absl::StatusOr<int64_t> ParseInteger(const std::string& flag, const std::string& text, int64_t lo, int64_t hi) {
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) {
    return absl::InvalidArgumentError("--" + flag + ": '" + text + "' is not an integer");
  }
  if (value < lo || value > hi) {
    return absl::InvalidArgumentError("--" + flag + ": " + text + " is out of range [" + std::to_string(lo) + ", " +
                                      std::to_string(hi) + "]");
  }
  return value;
}

absl::StatusOr<ModelSpec> ParseModelSpec(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    return absl::InvalidArgumentError("--model: expected NAME=DIR (e.g. cls=/models/beit-base), got '" + text + "'");
  }
  return ModelSpec{text.substr(0, eq), text.substr(eq + 1)};
}

// One setter per flag; `value` is the flag's text.
using Setter = std::function<absl::Status(ServerOptions&, const std::string&)>;

template <typename T>
Setter IntegerFlag(const std::string& name, T ServerOptions::*field, int64_t lo, int64_t hi) {
  return [=](ServerOptions& o, const std::string& v) {
    absl::StatusOr<int64_t> n = ParseInteger(name, v, lo, hi);
    if (!n.ok()) return n.status();
    o.*field = static_cast<T>(*n);
    return absl::OkStatus();
  };
}

Setter StringFlag(std::string ServerOptions::*field) {
  return [=](ServerOptions& o, const std::string& v) {
    o.*field = v;
    return absl::OkStatus();
  };
}

template <typename T>
Setter NestedIntegerFlag(const std::string& name, std::function<T&(ServerOptions&)> field, int64_t lo, int64_t hi) {
  return [=](ServerOptions& o, const std::string& v) {
    absl::StatusOr<int64_t> n = ParseInteger(name, v, lo, hi);
    if (!n.ok()) return n.status();
    field(o) = static_cast<T>(*n);
    return absl::OkStatus();
  };
}

const std::map<std::string, Setter>& Flags() {
  constexpr int64_t kIntMax = std::numeric_limits<int>::max();
  static const std::map<std::string, Setter> flags = {
      {"model",
       [](ServerOptions& o, const std::string& v) {
         absl::StatusOr<ModelSpec> spec = ParseModelSpec(v);
         if (!spec.ok()) return spec.status();
         o.models.push_back(*spec);
         return absl::OkStatus();
       }},
      {"host", StringFlag(&ServerOptions::host)},
      {"port", IntegerFlag("port", &ServerOptions::port, 0, 65535)},
      {"max-batch-size", NestedIntegerFlag<int>(
                             "max-batch-size", [](ServerOptions& o) -> int& { return o.batching.max_batch_size; }, 1, 1024)},
      {"max-queue-delay-us",
       NestedIntegerFlag<int64_t>(
           "max-queue-delay-us", [](ServerOptions& o) -> int64_t& { return o.batching.max_queue_delay_us; }, 0, 10'000'000)},
      {"max-queue-size", NestedIntegerFlag<int>(
                             "max-queue-size", [](ServerOptions& o) -> int& { return o.batching.max_queue_size; }, 1, 1'000'000)},
      {"instances",
       [](ServerOptions& o, const std::string& v) {
         if (v == "auto") {
           o.instances_auto = true;
           return absl::OkStatus();
         }
         absl::StatusOr<int64_t> n = ParseInteger("instances", v, 1, 1024);
         if (!n.ok()) return absl::InvalidArgumentError("--instances: expected a count or auto, got '" + v + "'");
         o.instances = static_cast<int>(*n);
         o.instances_auto = false;
         return absl::OkStatus();
       }},
      {"threads-per-instance", IntegerFlag("threads-per-instance", &ServerOptions::threads_per_instance, 1, 1024)},
      {"preprocess-threads", IntegerFlag("preprocess-threads", &ServerOptions::preprocess_threads, 1, 256)},
      {"max-pending-preprocess", IntegerFlag("max-pending-preprocess", &ServerOptions::max_pending_preprocess, 1, kIntMax)},
      {"max-message-bytes", IntegerFlag("max-message-bytes", &ServerOptions::max_message_bytes, 1024, kIntMax)},
      {"max-image-side",
       NestedIntegerFlag<int64_t>("max-image-side", [](ServerOptions& o) -> int64_t& { return o.decode_limits.max_width; },
                                  1, 65535)},
      {"max-image-pixels", NestedIntegerFlag<int64_t>(
                               "max-image-pixels", [](ServerOptions& o) -> int64_t& { return o.decode_limits.max_pixels; },
                               1, int64_t{1} << 32)},
      {"grace-period-s", IntegerFlag("grace-period-s", &ServerOptions::grace_period_seconds, 0, 3600)},
      {"metrics-port", IntegerFlag("metrics-port", &ServerOptions::metrics_port, -1, 65535)},
      {"metrics-host", StringFlag(&ServerOptions::metrics_host)},
      {"http-port", IntegerFlag("http-port", &ServerOptions::http_port, -1, 65535)},
      {"http-host", StringFlag(&ServerOptions::http_host)},
      {"precision",
       [](ServerOptions& o, const std::string& v) {
         const std::optional<Precision> p = ParsePrecision(v);
         if (!p) return absl::InvalidArgumentError("--precision: expected f32, bf16 or int8, got '" + v + "'");
         o.precision = *p;
         return absl::OkStatus();
       }},
      {"weights-format",
       [](ServerOptions& o, const std::string& v) {
         if (!ParseWeightsFormat(v, &o.weights_format)) {
           return absl::InvalidArgumentError("--weights-format: expected auto, safetensors, pytorch or flax, got '" + v +
                                             "'");
         }
         return absl::OkStatus();
       }},
      {"max-concurrent-streams", IntegerFlag("max-concurrent-streams", &ServerOptions::max_concurrent_streams, 1, 100000)},
      {"max-connection-idle-s",
       IntegerFlag("max-connection-idle-s", &ServerOptions::max_connection_idle_seconds, 1, 86400 * 7)},
      {"grpc-handshake-timeout-s",
       IntegerFlag("grpc-handshake-timeout-s", &ServerOptions::grpc_handshake_timeout_seconds, 1, 3600)},
      {"grpc-keepalive-s", IntegerFlag("grpc-keepalive-s", &ServerOptions::grpc_keepalive_time_seconds, 1, 86400)},
      {"grpc-keepalive-timeout-s",
       IntegerFlag("grpc-keepalive-timeout-s", &ServerOptions::grpc_keepalive_timeout_seconds, 1, 3600)},
      {"http-header-timeout-s",
       IntegerFlag("http-header-timeout-s", &ServerOptions::http_header_timeout_seconds, 1, 3600)},
      {"http-body-timeout-s", IntegerFlag("http-body-timeout-s", &ServerOptions::http_body_timeout_seconds, 1, 3600)},
      {"http-min-bytes-per-s",
       IntegerFlag("http-min-bytes-per-s", &ServerOptions::http_min_bytes_per_second, 1, int64_t{1} << 40)},
      {"http-idle-timeout-s", IntegerFlag("http-idle-timeout-s", &ServerOptions::http_idle_timeout_seconds, 1, 86400)},
      {"http-max-header-bytes",
       IntegerFlag("http-max-header-bytes", &ServerOptions::http_max_header_bytes, 256, 1 << 24)},
      {"http-max-headers", IntegerFlag("http-max-headers", &ServerOptions::http_max_headers, 1, 10000)},
      {"http-max-connections",
       IntegerFlag("http-max-connections", &ServerOptions::http_max_connections, 1, 10'000'000)},
      {"http-threads", IntegerFlag("http-threads", &ServerOptions::http_threads, 1, 256)},
      {"tls-cert", StringFlag(&ServerOptions::tls_cert)},
      {"tls-key", StringFlag(&ServerOptions::tls_key)},
      {"tls-client-ca", StringFlag(&ServerOptions::tls_client_ca)},
      {"auth-token-file", StringFlag(&ServerOptions::auth_token_file)},
      {"auth-exempt",
       [](ServerOptions& o, const std::string& v) {
         o.auth_exempt_reflection = o.auth_exempt_info = false;
         std::stringstream items(v);
         for (std::string item; std::getline(items, item, ',');) {
           if (item == "reflection") {
             o.auth_exempt_reflection = true;
           } else if (item == "info") {
             o.auth_exempt_info = true;
           } else if (item != "health" && !item.empty()) {
             return absl::InvalidArgumentError("--auth-exempt: expected a list of health, reflection, info; got '" +
                                               item + "'");
           }
         }
         return absl::OkStatus();
       }},
      {"log-level",
       [](ServerOptions& o, const std::string& v) {
         const std::optional<LogLevel> level = ParseLogLevel(v);
         if (!level) return absl::InvalidArgumentError("--log-level: expected error, warning, info or debug, got '" + v + "'");
         o.log_level = *level;
         return absl::OkStatus();
       }},
      {"log-format",
       [](ServerOptions& o, const std::string& v) {
         const std::optional<LogFormat> format = ParseLogFormat(v);
         if (!format) return absl::InvalidArgumentError("--log-format: expected text or json, got '" + v + "'");
         o.log_format = *format;
         return absl::OkStatus();
       }},
  };
  return flags;
}

absl::Status Apply(ServerOptions& o, const std::string& name, const std::string& value) {
  const auto it = Flags().find(name);
  if (it == Flags().end()) return absl::InvalidArgumentError("unknown flag --" + name + " (see --help)");
  absl::Status s = it->second(o, value);
  if (name == "max-image-side") o.decode_limits.max_height = o.decode_limits.max_width;
  return s;
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

absl::Status ApplyConfigFile(ServerOptions& o, const std::string& path) {
  nlohmann::json config;
  try {
    config = ParseJsonObject(ReadTextFile(path), path);
  } catch (const ModelError& e) {
    return absl::InvalidArgumentError(std::string("--config: ") + e.what());
  }
  for (const auto& [key, value] : config.items()) {
    std::string flag = key;
    for (char& c : flag) c = c == '_' ? '-' : c;
    if (flag == "models") {
      if (!value.is_object()) return absl::InvalidArgumentError(path + ": 'models' must be an object {\"name\": \"dir\"}");
      for (const auto& [name, model] : value.items()) {
        absl::StatusOr<ModelSpec> spec = ConfigModel(path, name, model);
        if (!spec.ok()) return spec.status();
        o.models.push_back(*spec);
      }
      continue;
    }
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_number_integer()) {
      text = std::to_string(value.get<int64_t>());
    } else {
      return absl::InvalidArgumentError(path + ": '" + key + "' must be a string or an integer");
    }
    absl::Status s = Apply(o, flag, text);
    if (!s.ok()) return absl::InvalidArgumentError(path + ": " + std::string(s.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServerOptions> ParseServerOptions(const std::vector<std::string>& args) {
  ServerOptions options;
  std::vector<std::pair<std::string, std::string>> flags;
  std::string config_path;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      options.help = true;
      return options;
    }
    if (arg.rfind("--", 0) != 0) return absl::InvalidArgumentError("unexpected argument '" + arg + "' (see --help)");
    std::string name = arg.substr(2), value;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {  // --flag=value (for --model=NAME=DIR the first '=' splits)
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError("--" + name + " needs a value (see --help)");
      value = args[++i];
    }
    if (name == "config") {
      config_path = value;
    } else {
      flags.emplace_back(name, value);
    }
  }
  if (!config_path.empty()) {
    absl::Status s = ApplyConfigFile(options, config_path);
    if (!s.ok()) return s;
  }
  for (const auto& [name, value] : flags) {
    absl::Status s = Apply(options, name, value);
    if (!s.ok()) return s;
  }
  if (options.models.empty()) {
    return absl::InvalidArgumentError("no model to serve: give --model NAME=DIR (a save_pretrained folder)");
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

Models
  --model NAME=DIR            serve the save_pretrained folder DIR (config.json, weights,
                              preprocessor_config.json) as NAME; repeat for several models
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
