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
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/cpu_peak.h"
#include "model/ops/compute_backend.h"
#include "model/ops/kernel_policy.h"
#include "model/ops/memory_reuse.h"
#include "model/ops/op_profile.h"
#include "model/model_error.h"
#include "model/model_runner.h"

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

[[noreturn]] void Usage(const std::string& error) {
  std::fprintf(stderr,
               "beit-bench: %s\nUsage: beit-bench --model DIR [--batches 1,8] [--threads N] [--min-time S] "
               "[--min-runs N] [--warmup N] [--precision f32|bf16|int8] [--peer NAME] [--profile[=N]] [--json]\n",
               error.c_str());
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model") {
      o.model = value();
    } else if (a == "--batches") {
      o.batches.clear();
      std::stringstream s(value());
      for (std::string item; std::getline(s, item, ',');) o.batches.push_back(std::stoi(item));
    } else if (a == "--threads") {
      o.threads = std::stoi(value());
    } else if (a == "--min-time") {
      o.min_time = std::stod(value());
    } else if (a == "--min-runs") {
      o.min_runs = std::stoi(value());
    } else if (a == "--warmup") {
      o.warmup = std::stoi(value());
    } else if (a == "--precision") {
      o.precision = value();
    } else if (a == "--peer") {
      o.peer = value();
    } else if (a == "--profile") {
      o.profile = 5;
    } else if (a.rfind("--profile=", 0) == 0) {
      o.profile = std::stoi(a.substr(10));
      if (o.profile < 1) Usage("--profile=N: N is at least 1");
    } else if (a == "--json") {
      // JSON lines are the only output; accepted for compare.sh's documented command.
    } else {
      Usage("unknown flag " + a);
    }
  }
  if (o.model.empty()) Usage("--model is required");
  if (!beit::ParsePrecision(o.precision)) Usage("--precision: expected f32, bf16 or int8");
  return o;
}

// Multiply-adds of one image through the patch embedding and the encoder's matmuls.
double GflopPerImage(const beit::BeitConfig& c) {
  const double P = static_cast<double>(c.patch_grid_height()) * c.patch_grid_width();
  const double N = P + 1, D = c.hidden_size, I = c.intermediate_size, L = c.num_hidden_layers;
  const double patch = P * 3.0 * c.patch_size * c.patch_size * D;
  const double layer = N * D * 3 * D + 2 * N * N * D + N * D * D + 2 * N * D * I;
  return 2 * (patch + L * layer) * 1e-9;
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
  const double gflop = GflopPerImage(c);
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

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
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
