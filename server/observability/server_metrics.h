// Prometheus metrics of beit-server (prometheus-cpp), served on their own port at /metrics.
//
// Contract (names follow Prometheus conventions: beit_ prefix, base units, _total counters):
// - beit_requests_total{model,rpc,code}: every finished call, `code` its gRPC status name
//   (OK, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, CANCELLED, INTERNAL, ...).
// - Histograms {model,rpc}: beit_request_duration_seconds (handler to answer),
//   beit_preprocess_duration_seconds (decode + preprocess), beit_queue_duration_seconds (batcher
//   wait, computed requests only), beit_batch_size (one observation per model forward);
//   beit_batch_compute_duration_seconds{model,rpc,instance} (per forward, `instance` the compute
//   instance "0".."N-1" that ran it).
// - beit_images_inferred_total / beit_batches_total {model,rpc}: their ratio is the mean batch.
// - Gauges read at scrape time: beit_pending_requests{model} (waiting for decoding or in a batcher
//   queue: the autoscaling signal), beit_inflight_batches{model}, and beit_compute_instances /
//   beit_busy_compute_instances (the server's instances, and those running a forward now).
// - beit_model_load_duration_seconds{model} (its latest load), beit_model_loads_total{model,result}
//   (run-time loads, result ok|failed), beit_model_state{model,version} read at scrape time (1
//   READY, 2 LOADING, 3 UNLOADING, 0 UNAVAILABLE), beit_model_info{model,architecture,image_size,
//   tasks} = 1, beit_build_info{version,compute,isa} = 1, and process_cpu_seconds_total,
//   process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
//   process_start_time_seconds from /proc.
// - Per HTTP listener watched (WatchHttpListener: "inference", "metrics"), read at scrape time:
//   beit_http_open_connections, beit_http_connections_accepted_total,
//   beit_http_connections_refused_total{reason=capacity|descriptors} and
//   beit_http_connections_timed_out_total{phase=headers|body|idle}.
// - ExpositionText(): all of it in Prometheus' text format (what GET /metrics answers).
// - Requests naming a model this server does not host are counted under model="_unknown", so
//   clients cannot grow the label set.
// Recording takes a short lock per request (prometheus-cpp's label lookup); see bench/ for the cost.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "server/http/http_server.h"
#include "server/core/model_repository.h"
#include "server/core/serving_observer.h"

namespace beit::serving {

class ServerMetrics final : public ServingObserver {
 public:
  explicit ServerMetrics(const ModelRepository* models);

  // Everything to expose: the registry plus the scrape-time collectors.
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables() const;
  std::string ExpositionText() const;
  void WatchHttpListener(std::string listener, std::function<http::HttpServerStats()> read);

  // A version loaded at run time (`loaded` set when ok): beit_model_loads_total, its load time and
  // info, and from then on its own request series rather than "unknown".
  void ModelLoadFinished(const std::string& model, bool ok, double seconds, const ModelDescription* loaded);

  void RequestFinished(const RequestRecord& record) override;
  void BatchStarted(const std::string& model, const std::string& rpc, int instance) override;
  void BatchFinished(const std::string& model, const std::string& rpc, int instance, int batch_size,
                     double seconds) override;

 private:
  struct RpcSeries {
    prometheus::Histogram* request_seconds;
    prometheus::Histogram* preprocess_seconds;
    prometheus::Histogram* queue_seconds;
    prometheus::Histogram* batch_size;
    prometheus::Counter* images;
    prometheus::Counter* batches;
  };
  RpcSeries& Series(const std::string& model, const std::string& rpc);
  void Hosted(const ModelDescription& d);
  prometheus::Histogram& ComputeSeconds(const std::string& model, const std::string& rpc, int instance);

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> live_state_;  // pending, in-flight, process metrics
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& request_seconds_;
  prometheus::Family<prometheus::Histogram>& preprocess_seconds_;
  prometheus::Family<prometheus::Histogram>& queue_seconds_;
  prometheus::Family<prometheus::Histogram>& compute_seconds_;
  prometheus::Family<prometheus::Histogram>& batch_size_;
  prometheus::Family<prometheus::Counter>& images_;
  prometheus::Family<prometheus::Gauge>& load_seconds_;
  prometheus::Family<prometheus::Gauge>& model_info_;
  prometheus::Family<prometheus::Counter>& loads_;
  prometheus::Family<prometheus::Counter>& batches_;

  mutable std::mutex mu_;  // hosted_, series_ and inflight_batches_; the scrape-time collector locks it too
  std::set<std::string> hosted_;
  std::map<std::pair<std::string, std::string>, RpcSeries> series_;
  std::map<std::tuple<std::string, std::string, int>, prometheus::Histogram*> compute_series_;
  std::map<std::string, std::shared_ptr<std::atomic<int>>> inflight_batches_;  // by model
  std::vector<std::pair<std::string, std::function<http::HttpServerStats()>>> http_listeners_;
  friend class LiveStateCollector;
};

}  // namespace beit::serving
