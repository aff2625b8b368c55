#include "client/load_generator.h"

#include "absl/status/status.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>
#include <vector>

namespace beit::client {
namespace {

using Clock = std::chrono::steady_clock;

struct Recorder {
  std::mutex mu;
  std::vector<double> latencies_ms;
  std::vector<ServedCallStats> served;
  LoadReport report;
  void Add(const grpc::Status& status, double ms, const ServedCallStats& stats) {
    std::lock_guard<std::mutex> lock(mu);
    ++report.calls;
    if (status.ok()) {
      ++report.ok;
      latencies_ms.push_back(ms);
      if (stats.batch_size > 0) served.push_back(stats);
    } else {
      ++report.errors[StatusCodeName(status.error_code())];
    }
  }
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

void RunClosedLoop(const LoadOptions& o, const Call& call, Clock::time_point measure_from, Clock::time_point end,
                   Recorder& rec) {
  std::vector<std::thread> callers;
  for (int c = 0; c < std::max(1, o.concurrency); ++c) {
    callers.emplace_back([&] {
      while (Clock::now() < end) {
        const Clock::time_point start = Clock::now();
        ServedCallStats stats;
        const grpc::Status s = call(&stats);
        if (start >= measure_from) rec.Add(s, Ms(Clock::now() - start), stats);
      }
    });
  }
  for (auto& t : callers) t.join();
}

void RunOpenLoop(const LoadOptions& o, const Call& call, Clock::time_point begin, Clock::time_point measure_from,
                 Clock::time_point end, Recorder& rec) {
  const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / o.rate));
  std::atomic<int64_t> next{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < std::max(1, o.max_in_flight); ++c) {
    callers.emplace_back([&] {
      for (;;) {
        const Clock::time_point scheduled = begin + interval * next++;
        if (scheduled >= end) return;
        std::this_thread::sleep_until(scheduled);
        ServedCallStats stats;
        const grpc::Status s = call(&stats);
        if (scheduled >= measure_from) rec.Add(s, Ms(Clock::now() - scheduled), stats);
      }
    });
  }
  for (auto& t : callers) t.join();
}

// Compute time per batch size, and the mean batch size counting each batch once (a batch of k
// answers k calls, so its calls weigh 1/k each).
void SummariseServed(const std::vector<ServedCallStats>& served, LoadReport& report) {
  std::map<int, std::vector<double>> compute;
  double batches = 0, queue_sum = 0;
  for (const ServedCallStats& s : served) {
    compute[s.batch_size].push_back(s.compute_ms);
    batches += 1.0 / s.batch_size;
    queue_sum += s.queue_ms;
  }
  for (auto& [size, ms] : compute) {
    std::sort(ms.begin(), ms.end());
    BatchSizeReport& r = report.by_batch_size[size];
    r.calls = static_cast<int64_t>(ms.size());
    r.compute_ms_p50 = Percentile(ms, 0.5);
    double total = 0;
    for (double v : ms) total += v;
    r.compute_ms_mean = total / static_cast<double>(ms.size());
  }
  if (!served.empty()) {
    report.mean_batch_size = static_cast<double>(served.size()) / batches;
    report.queue_ms_mean = queue_sum / static_cast<double>(served.size());
  }
}

}  // namespace

std::string StatusCodeName(grpc::StatusCode code) {
  // gRPC and absl share the canonical codes and their names.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

LoadReport GenerateLoad(const LoadOptions& options, const Call& call) {
  Recorder rec;
  const Clock::time_point begin = Clock::now();
  const Clock::time_point measure_from =
      begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.warmup_s));
  const Clock::time_point end =
      measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.duration_s));
  if (options.rate > 0) {
    RunOpenLoop(options, call, begin, measure_from, end, rec);
  } else {
    RunClosedLoop(options, call, measure_from, end, rec);
  }
  LoadReport report = rec.report;
  report.seconds = std::chrono::duration<double>(Clock::now() - measure_from).count();
  report.throughput = report.seconds > 0 ? static_cast<double>(report.ok) / report.seconds : 0.0;
  std::vector<double>& lat = rec.latencies_ms;
  std::sort(lat.begin(), lat.end());
  report.p50_ms = Percentile(lat, 0.50);
  report.p90_ms = Percentile(lat, 0.90);
  report.p99_ms = Percentile(lat, 0.99);
  report.max_ms = lat.empty() ? 0.0 : lat.back();
  double sum = 0;
  for (double v : lat) sum += v;
  report.mean_ms = lat.empty() ? 0.0 : sum / static_cast<double>(lat.size());
  SummariseServed(rec.served, report);
  return report;
}

}  // namespace beit::client
