// The `beit-client bench` load generator, in the spirit of Triton's perf_analyzer.
//
// Contract:
// - Closed loop (rate == 0): `concurrency` callers each issue the next call as soon as the
//   previous one returns, for `duration_s`. Latency = call duration.
// - Open loop (rate > 0): calls are scheduled at fixed intervals (1/rate) regardless of answers,
//   served by up to `max_in_flight` callers; latency is measured from the scheduled time, so a
//   saturated server shows its queueing (no coordinated omission).
// - A warm-up of `warmup_s` precedes the measurement and is not reported.
// - The report counts every call by status; throughput counts successful calls per second;
//   percentiles (nearest rank) are over successful calls.
// - A call may fill in what the server said about how it ran it (beit.v1 answers carry
//   `stats`: the batch it ran in, its queue time, the batch's compute time); the report then
//   gives, over the measured successful calls that did, the batches' sizes and the compute time
//   per batch size, so a served forward can be set beside the model-only benchmark's.
#pragma once

#include <functional>
#include <map>
#include <string>

#include <grpcpp/grpcpp.h>

namespace beit::client {

struct LoadOptions {
  int concurrency = 1;
  double rate = 0.0;
  double duration_s = 10.0;
  double warmup_s = 1.0;
  int max_in_flight = 64;
};

// How the server ran one call, as its answer says (batch_size 0: not said).
struct ServedCallStats {
  int batch_size = 0;
  double queue_ms = 0.0, compute_ms = 0.0;
};

struct BatchSizeReport {
  int64_t calls = 0;  // measured calls that ran in a batch of this size
  double compute_ms_p50 = 0.0, compute_ms_mean = 0.0;
};

struct LoadReport {
  int64_t calls = 0;
  int64_t ok = 0;
  std::map<std::string, int64_t> errors;  // status name -> count
  double seconds = 0.0;
  double throughput = 0.0;  // successful calls per second
  double p50_ms = 0.0, p90_ms = 0.0, p99_ms = 0.0, mean_ms = 0.0, max_ms = 0.0;
  // From the calls that reported ServedCallStats (empty / 0 when none did).
  std::map<int, BatchSizeReport> by_batch_size;
  double mean_batch_size = 0.0;  // per batch: each batch counted once, not once per call in it
  double queue_ms_mean = 0.0;
};

using Call = std::function<grpc::Status(ServedCallStats* stats)>;

LoadReport GenerateLoad(const LoadOptions& options, const Call& call);
std::string StatusCodeName(grpc::StatusCode code);

}  // namespace beit::client
