// beit-bench: model-only throughput of the engine on a checkpoint folder, one JSON line per batch
// size in the format ../shared/peers/README.md documents (peer, batch, images_per_s,
// ms_per_batch_p50, ms_per_batch_p90, threads, ...), so compare.sh can put it beside PyTorch and
// ONNX Runtime.
//
// Per batch size: N(0,1) pixel_values made once, 3 warm-up forwards, then timed forwards (the model
// call only: no decoding, no network) until at least --min-runs and --min-time seconds. Also
// reported: peak RSS, the model's GFLOP per image (multiply-adds x 2 of the encoder's matmuls and
// the patch embedding), achieved GFLOP/s, and efficiency against oneDNN's own matmul (same precision) measured
// in the same process on the MLP's first matmul shape (m = tokens of the batch, k = hidden size,
// n = intermediate size), and against the CPU's own multiply-add ceiling for the precision's
// instruction (bench/cpu_peak.h, measured once per process), and the kernel policy in force
// (model/ops/kernel_policy.h). With --profile[=N] (default 5), N more forwards per batch size are
// timed by op class (model/ops/op_profile.h) and the line gains "profile": milliseconds per batch
// for each class, the total, and the share outside the Linears' matmuls.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "bench/cpu_peak.h"
#include "model/ops/compute_backend.h"
#include "model/ops/kernel_policy.h"
#include "model/ops/memory_reuse.h"
#include "model/ops/op_profile.h"
#include "model/model_error.h"
#include "model/model_runner.h"
#include "tools/command_line/command_line.h"

ABSL_FLAG(std::string, model, "", "checkpoint folder");
ABSL_FLAG(std::vector<std::string>, batches, std::vector<std::string>({"1", "8"}), "batch sizes");
ABSL_FLAG(int, threads, 0, "OpenMP threads (0: OMP_NUM_THREADS)");
ABSL_FLAG(double, min_time, 10, "seconds per batch size, at least");
ABSL_FLAG(int, min_runs, 10, "timed forwards per batch size, at least");
ABSL_FLAG(int, warmup, 3, "untimed forwards first");
ABSL_FLAG(std::string, precision, "f32", "f32, bf16 or int8");
ABSL_FLAG(std::string, peer, "beit-serve", "the peer name in the JSON lines");
ABSL_FLAG(std::optional<int>, profile, std::nullopt, "forwards timed by op class");
ABSL_FLAG(bool, json, true, "JSON lines (the only output; accepted for compare.sh)");

namespace {

struct Options {
  std::string model;
  std::vector<int> batches = {1, 8};
  int threads = 0;  // 0: leave OMP_NUM_THREADS
  double min_time = 10;
  int min_runs = 10;
  int warmup = 3;
  std::string precision = "f32";
  std::string peer = "beit-serve";
  int profile = 0;  // forwards per batch size timed by op class (0: no profile)
};

constexpr char kUsage[] =
    "Usage: beit-bench --model DIR [--batches 1,8] [--threads N] [--min-time S] [--min-runs N] [--warmup N]\n"
    "                  [--precision f32|bf16|int8] [--peer NAME] [--profile[=N]] [--json]\n";

// Options from the flags, each checked (a bad one is a usage error: exit 2).
Options Read() {
  Options o;
  o.model = absl::GetFlag(FLAGS_model);
  if (o.model.empty()) throw beit::cli::UsageError("--model is required");
  o.batches.clear();
  for (const std::string& item : absl::GetFlag(FLAGS_batches)) {
    int batch = 0;
    if (!absl::SimpleAtoi(item, &batch) || batch < 1) {
      throw beit::cli::UsageError("--batches: '" + item + "' is not a batch size (a positive integer)");
    }
    o.batches.push_back(batch);
  }
  if (o.batches.empty()) throw beit::cli::UsageError("--batches: give at least one batch size");
  o.threads = absl::GetFlag(FLAGS_threads);
  o.min_time = absl::GetFlag(FLAGS_min_time);
  o.min_runs = absl::GetFlag(FLAGS_min_runs);
  o.warmup = absl::GetFlag(FLAGS_warmup);
  if (o.threads < 0 || o.min_runs < 1 || o.warmup < 0 || !(o.min_time >= 0)) {
    throw beit::cli::UsageError("--threads, --warmup and --min-time are >= 0, --min-runs >= 1");
  }
  o.precision = absl::GetFlag(FLAGS_precision);
  if (!beit::ParsePrecision(o.precision)) throw beit::cli::UsageError("--precision: expected f32, bf16 or int8");
  o.peer = absl::GetFlag(FLAGS_peer);
  if (const std::optional<int> profile = absl::GetFlag(FLAGS_profile); profile.has_value()) {
    if (*profile < 1) throw beit::cli::UsageError("--profile=N: N is at least 1");
    o.profile = *profile;
  }
  return o;
}

double Percentile(std::vector<double> v, double q) {  // linear interpolation, as numpy.percentile
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

double PeakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// Milliseconds per batch by op class (model/ops/op_profile.h) over `runs` forwards after the timed
// ones, their sum, what no class claimed ("unclassified": time outside every timed scope), and the
// share of the forward spent outside the Linears' matmuls.
nlohmann::ordered_json Profile(const beit::ModelRunner& model, const beit::RunInputs& inputs, int runs) {
  beit::TakeOpProfile();
  beit::SetOpProfiling(true);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) model.Run(inputs, {});
  const double total_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / runs;
  beit::SetOpProfiling(false);
  const beit::OpProfile seconds = beit::TakeOpProfile();
  nlohmann::ordered_json ms;
  double classified = 0;
  for (size_t i = 0; i < seconds.size(); ++i) {
    const double v = seconds[i] * 1e3 / runs;
    ms[beit::OpClassName(static_cast<beit::OpClass>(i))] = v;
    classified += v;
  }
  ms["unclassified"] = std::max(0.0, total_ms - classified);
  ms["total"] = total_ms;
  const double matmuls = ms["linear_matmul"].get<double>();
  ms["outside_linear_matmuls_share"] = total_ms > 0 ? 1.0 - matmuls / total_ms : 0.0;
  ms["runs"] = runs;
  return ms;
}

void Bench(const Options& o) {
  std::unique_ptr<beit::ModelRunner> model;
  const auto load_start = std::chrono::steady_clock::now();
  model = beit::ModelRunner::Load(o.model, nullptr, *beit::ParsePrecision(o.precision));
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  const beit::BeitConfig& c = model->config();
  const double gflop = c.gflops_per_image();
  const double cpu_peak_gflops = beit::MeasureCpuPeakGflops(o.precision, beit::ComputeThreads(), 0.5);
  std::mt19937 rng(0);
  std::normal_distribution<float> normal;
  for (int batch : o.batches) {
    beit::RunInputs inputs;
    inputs.pixel_values = beit::Tensor({batch, c.num_channels, c.image_height, c.image_width});
    for (float& x : inputs.pixel_values.data) x = normal(rng);
    for (int i = 0; i < o.warmup; ++i) model->Run(inputs, {});
    std::vector<double> ms;
    const auto start = std::chrono::steady_clock::now();
    double elapsed = 0;
    while (static_cast<int>(ms.size()) < o.min_runs || elapsed < o.min_time) {
      const auto t0 = std::chrono::steady_clock::now();
      model->Run(inputs, {});
      const auto t1 = std::chrono::steady_clock::now();
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      elapsed = std::chrono::duration<double>(t1 - start).count();
    }
    const double p50 = Percentile(ms, 0.5);
    const int tokens = batch * (c.patch_grid_height() * c.patch_grid_width() + 1);
    const double matmul_gflops = beit::MeasureMatmulGflops(tokens, c.hidden_size, c.intermediate_size, 1.0, model->precision());
    const double achieved = gflop * batch / (p50 * 1e-3);
    nlohmann::ordered_json line = {{"peer", o.peer + "-" + o.precision},
                                   {"batch", batch},
                                   {"images_per_s", batch * 1000.0 / p50},
                                   {"ms_per_batch_p50", p50},
                                   {"ms_per_batch_p90", Percentile(ms, 0.9)},
                                   {"threads", beit::ComputeThreads()},
                                   {"dtype", o.precision},
                                   {"runs", ms.size()},
                                   {"warmup", o.warmup},
                                   {"ms_per_batch_min", *std::min_element(ms.begin(), ms.end())},
                                   {"peak_rss_mb", PeakRssMb()},
                                   {"image_size", c.image_height},
                                   {"model", o.model},
                                   {"architecture", model->architecture()},
                                   {"gflop_per_image", gflop},
                                   {"achieved_gflops", achieved},
                                   {"onednn_matmul_gflops", matmul_gflops},
                                   {"efficiency", achieved / matmul_gflops},
                                   {"cpu_peak_gflops", cpu_peak_gflops},
                                   {"cpu_peak_instruction", beit::CpuPeakInstruction(o.precision)},
                                   {"cpu_peak_efficiency", cpu_peak_gflops > 0 ? achieved / cpu_peak_gflops : 0.0},
                                   {"load_s", load_s},
                                   {"compute", beit::ComputeBackendVersion() + " " + beit::ComputeBackendIsa()},
                                   {"cpu_tier", beit::ComputeBackendIsa()}};
    if (o.profile > 0) line["profile"] = Profile(*model, inputs, o.profile);
    line["kernel_policy"] = beit::KernelPolicyName();
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
  }
}

}  // namespace

int Run(const beit::cli::CommandLine& command_line) {
  if (!command_line.positional.empty()) {
    throw beit::cli::UsageError("unexpected argument '" + command_line.positional.front() + "'");
  }
  const Options o = Read();
  beit::ReuseFreedMemory();  // as beit-server does
  if (o.threads > 0) beit::SetComputeThreads(o.threads);
  try {
    Bench(o);
  } catch (const std::exception& e) {
    // Never an abort: one JSON line with the error (compare.sh shows it), and a non-zero exit.
    const nlohmann::ordered_json line = {{"peer", o.peer + "-" + o.precision},
                                         {"dtype", o.precision},
                                         {"cpu_tier", beit::ComputeBackendIsa()},
                                         {"error", e.what()}};
    std::printf("%s\n", line.dump().c_str());
    std::fprintf(stderr, "beit-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  // --profile alone means 5 forwards (its value is optional, which Abseil flags are not).
  std::vector<char*> args(argv, argv + argc);
  static char profile_default[] = "--profile=5";
  for (char*& arg : args) {
    if (std::string(arg) == "--profile") arg = profile_default;
  }
  return beit::cli::RunMain(static_cast<int>(args.size()), args.data(), "beit-bench", kUsage, {}, Run);
}
