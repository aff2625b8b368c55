#include "server/observability/server_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

#include <prometheus/text_serializer.h>

#include "model/ops/compute_backend.h"
#include "absl/status/status.h"

#ifndef BEIT_VERSION
#define BEIT_VERSION "unknown"
#endif

namespace beit::serving {
namespace {

using prometheus::Histogram;

const std::string kUnknownModel = "_unknown";

const Histogram::BucketBoundaries& SecondsBuckets() {
  static const Histogram::BucketBoundaries buckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
  return buckets;
}

const Histogram::BucketBoundaries& BatchSizeBuckets() {
  static const Histogram::BucketBoundaries buckets = {1, 2, 4, 8, 16, 32, 64, 128};
  return buckets;
}

prometheus::MetricFamily GaugeFamily(const std::string& name, const std::string& help) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = prometheus::MetricType::Gauge;
  return f;
}

prometheus::ClientMetric GaugeValue(double value, std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  return m;
}

// Fields 14, 15 (utime, stime), 22 (starttime), 23 (vsize), 24 (rss) of /proc/self/stat.
struct ProcessStat {
  double cpu_seconds = 0, start_time_seconds = 0, virtual_bytes = 0, resident_bytes = 0;
};

ProcessStat ReadProcessStat() {
  ProcessStat p;
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return p;
  const size_t after_name = line.rfind(')');  // the command name may contain spaces
  std::istringstream fields(line.substr(after_name + 2));
  std::vector<std::string> f;
  for (std::string x; fields >> x;) f.push_back(x);
  // f[0] is field 3 (state); field k is f[k - 3].
  if (f.size() < 22) return p;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  p.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
  double boot_time = 0;
  std::ifstream stat("/proc/stat");
  for (std::string key; stat >> key;) {
    if (key == "btime") {
      stat >> boot_time;
      break;
    }
  }
  p.start_time_seconds = boot_time + std::stod(f[19]) / ticks;
  p.virtual_bytes = std::stod(f[20]);
  p.resident_bytes = std::stod(f[21]) * static_cast<double>(sysconf(_SC_PAGESIZE));
  return p;
}

int CountOpenFds() {
  int n = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(dir)) n += e->d_name[0] != '.';
    closedir(dir);
  }
  return n > 0 ? n - 1 : 0;  // minus the directory stream itself
}

}  // namespace

// Gauges whose truth lives elsewhere, read when Prometheus scrapes.
class LiveStateCollector final : public prometheus::Collectable {
 public:
  LiveStateCollector(const ServerMetrics* metrics, const ModelRepository* models) : metrics_(metrics), models_(models) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    auto pending = GaugeFamily("beit_pending_requests",
                               "Requests accepted but not yet computing: waiting for decoding or in a batcher queue.");
    auto inflight = GaugeFamily("beit_inflight_batches", "Model forwards running now.");
    auto instances = GaugeFamily("beit_compute_instances", "Compute instances (threads running forwards).");
    instances.metric.push_back(GaugeValue(models_->compute().instances()));
    auto busy = GaugeFamily("beit_busy_compute_instances", "Compute instances running a forward now.");
    busy.metric.push_back(GaugeValue(models_->compute().busy()));
    std::map<std::string, int64_t> waiting;  // by model, over its READY versions
    for (const auto& m : models_->models()) {
      int64_t& w = waiting[m->description().name];
      w += m->waiting_for_preprocess.load();
      for (const auto& [task, stats] : m->Stats()) w += stats.queued;
    }
    for (const auto& [name, w] : waiting) pending.metric.push_back(GaugeValue(static_cast<double>(w), {{"model", name}}));
    {
      std::lock_guard<std::mutex> lock(metrics_->mu_);
      for (const auto& [name, w] : waiting) {
        const auto it = metrics_->inflight_batches_.find(name);
        const int running = it == metrics_->inflight_batches_.end() ? 0 : it->second->load();
        inflight.metric.push_back(GaugeValue(running, {{"model", name}}));
      }
    }
    auto state = GaugeFamily("beit_model_state",
                             "State of each model version: 1 READY, 2 LOADING, 3 UNLOADING, 0 UNAVAILABLE "
                             "(unloaded, excluded by its version policy, or failed to load).");
    for (const VersionStatus& v : models_->Index()) {
      const double code = v.state == VersionState::kReady       ? 1
                          : v.state == VersionState::kLoading   ? 2
                          : v.state == VersionState::kUnloading ? 3
                                                                : 0;
      state.metric.push_back(GaugeValue(code, {{"model", v.name}, {"version", std::to_string(v.version)}}));
    }
    const ProcessStat p = ReadProcessStat();
    prometheus::MetricFamily cpu;
    cpu.name = "process_cpu_seconds_total";
    cpu.help = "Total user and system CPU time spent in seconds.";
    cpu.type = prometheus::MetricType::Counter;
    prometheus::ClientMetric cpu_value;
    cpu_value.counter.value = p.cpu_seconds;
    cpu.metric.push_back(cpu_value);
    auto rss = GaugeFamily("process_resident_memory_bytes", "Resident memory size in bytes.");
    rss.metric.push_back(GaugeValue(p.resident_bytes));
    auto vsz = GaugeFamily("process_virtual_memory_bytes", "Virtual memory size in bytes.");
    vsz.metric.push_back(GaugeValue(p.virtual_bytes));
    auto fds = GaugeFamily("process_open_fds", "Number of open file descriptors.");
    fds.metric.push_back(GaugeValue(CountOpenFds()));
    auto start = GaugeFamily("process_start_time_seconds", "Start time of the process since unix epoch in seconds.");
    start.metric.push_back(GaugeValue(p.start_time_seconds));
    std::vector<prometheus::MetricFamily> families = {pending, inflight, instances, busy, state, cpu, rss, vsz, fds, start};
    AddHttpListeners(&families);
    return families;
  }

  // Each HTTP listener's connections: what slow and idle clients cost and how they end.
  void AddHttpListeners(std::vector<prometheus::MetricFamily>* families) const {
    std::vector<std::pair<std::string, std::function<http::HttpServerStats()>>> listeners;
    {
      std::lock_guard<std::mutex> lock(metrics_->mu_);
      listeners = metrics_->http_listeners_;
    }
    if (listeners.empty()) return;
    auto open = GaugeFamily("beit_http_open_connections", "Open connections of an HTTP listener.");
    auto counter = [](const std::string& name, const std::string& help) {
      prometheus::MetricFamily family;
      family.name = name;
      family.help = help;
      family.type = prometheus::MetricType::Counter;
      return family;
    };
    auto count = [](double value, std::vector<prometheus::ClientMetric::Label> labels) {
      prometheus::ClientMetric m;
      m.label = std::move(labels);
      m.counter.value = value;
      return m;
    };
    auto accepted = counter("beit_http_connections_accepted_total", "Connections accepted by an HTTP listener.");
    auto refused = counter("beit_http_connections_refused_total",
                           "Connections closed at once: reason capacity (--http-max-connections) or descriptors "
                           "(the process is out of file descriptors).");
    auto timed_out = counter("beit_http_connections_timed_out_total",
                             "Connections closed by a deadline: phase headers (TLS handshake included), body "
                             "(request body or answer) or idle (kept alive without a request).");
    for (const auto& [listener, read] : listeners) {
      const http::HttpServerStats s = read();
      open.metric.push_back(GaugeValue(static_cast<double>(s.open_connections), {{"listener", listener}}));
      accepted.metric.push_back(count(static_cast<double>(s.accepted), {{"listener", listener}}));
      refused.metric.push_back(
          count(static_cast<double>(s.refused_at_capacity), {{"listener", listener}, {"reason", "capacity"}}));
      refused.metric.push_back(count(static_cast<double>(s.refused_out_of_descriptors),
                                     {{"listener", listener}, {"reason", "descriptors"}}));
      timed_out.metric.push_back(
          count(static_cast<double>(s.header_timeouts), {{"listener", listener}, {"phase", "headers"}}));
      timed_out.metric.push_back(
          count(static_cast<double>(s.body_timeouts), {{"listener", listener}, {"phase", "body"}}));
      timed_out.metric.push_back(count(static_cast<double>(s.idle_closed), {{"listener", listener}, {"phase", "idle"}}));
    }
    families->insert(families->end(), {open, accepted, refused, timed_out});
  }

 private:
  const ServerMetrics* metrics_;
  const ModelRepository* models_;
};

ServerMetrics::ServerMetrics(const ModelRepository* models)
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("beit_requests_total")
                    .Help("Finished calls by model, RPC, gRPC status code and API (beit, v2_grpc, v2_http).")
                    .Register(*registry_)),
      request_seconds_(prometheus::BuildHistogram()
                           .Name("beit_request_duration_seconds")
                           .Help("Time from the handler being called to the answer.")
                           .Register(*registry_)),
      preprocess_seconds_(prometheus::BuildHistogram()
                              .Name("beit_preprocess_duration_seconds")
                              .Help("Image decoding and preprocessing time per request.")
                              .Register(*registry_)),
      queue_seconds_(prometheus::BuildHistogram()
                         .Name("beit_queue_duration_seconds")
                         .Help("Time a computed request waited in its batcher queue.")
                         .Register(*registry_)),
      compute_seconds_(prometheus::BuildHistogram()
                           .Name("beit_batch_compute_duration_seconds")
                           .Help("Model forward time per batch.")
                           .Register(*registry_)),
      batch_size_(prometheus::BuildHistogram()
                      .Name("beit_batch_size")
                      .Help("Images per model forward (formed batch sizes).")
                      .Register(*registry_)),
      images_(prometheus::BuildCounter()
                  .Name("beit_images_inferred_total")
                  .Help("Images run through the model.")
                  .Register(*registry_)),
      load_seconds_(prometheus::BuildGauge()
                        .Name("beit_model_load_duration_seconds")
                        .Help("Time the model's latest load took (config, weights, preprocessing; warm-up too "
                              "for versions loaded while serving).")
                        .Register(*registry_)),
      model_info_(prometheus::BuildGauge()
                      .Name("beit_model_info")
                      .Help("Hosted models (value 1), described by labels.")
                      .Register(*registry_)),
      loads_(prometheus::BuildCounter()
                 .Name("beit_model_loads_total")
                 .Help("Model version loads at run time (the model repository), by result (ok or failed).")
                 .Register(*registry_)),
      batches_(prometheus::BuildCounter()
                   .Name("beit_batches_total")
                   .Help("Model forwards executed.")
                   .Register(*registry_)) {
  live_state_ = std::make_shared<LiveStateCollector>(this, models);
  for (const auto& m : models->models()) Hosted(m->description());
  prometheus::BuildGauge()
      .Name("beit_build_info")
      .Help("beit-server build (value 1): version, compute library and the instruction set it uses here.")
      .Register(*registry_)
      .Add({{"version", BEIT_VERSION}, {"compute", ComputeBackendVersion()}, {"isa", ComputeBackendIsa()}})
      .Set(1);
}

std::vector<std::weak_ptr<prometheus::Collectable>> ServerMetrics::collectables() const {
  return {registry_, live_state_};
}

void ServerMetrics::WatchHttpListener(std::string listener, std::function<http::HttpServerStats()> read) {
  std::lock_guard<std::mutex> lock(mu_);
  http_listeners_.emplace_back(std::move(listener), std::move(read));
}

std::string ServerMetrics::ExpositionText() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::vector<prometheus::MetricFamily> live = live_state_->Collect();
  families.insert(families.end(), std::make_move_iterator(live.begin()), std::make_move_iterator(live.end()));
  return prometheus::TextSerializer().Serialize(families);
}

ServerMetrics::RpcSeries& ServerMetrics::Series(const std::string& model, const std::string& rpc) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto key = std::make_pair(model, rpc);
  auto it = series_.find(key);
  if (it != series_.end()) return it->second;
  const prometheus::Labels labels = {{"model", model}, {"rpc", rpc}};
  RpcSeries s{&request_seconds_.Add(labels, SecondsBuckets()), &preprocess_seconds_.Add(labels, SecondsBuckets()),
              &queue_seconds_.Add(labels, SecondsBuckets()), &batch_size_.Add(labels, BatchSizeBuckets()),
              &images_.Add(labels), &batches_.Add(labels)};
  return series_.emplace(key, s).first->second;
}

prometheus::Histogram& ServerMetrics::ComputeSeconds(const std::string& model, const std::string& rpc, int instance) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto key = std::make_tuple(model, rpc, instance);
  auto it = compute_series_.find(key);
  if (it != compute_series_.end()) return *it->second;
  prometheus::Histogram* h =
      &compute_seconds_.Add({{"model", model}, {"rpc", rpc}, {"instance", std::to_string(instance)}}, SecondsBuckets());
  compute_series_.emplace(key, h);
  return *h;
}

void ServerMetrics::Hosted(const ModelDescription& d) {
  load_seconds_.Add({{"model", d.name}}).Set(d.load_seconds);
  std::string tasks;
  for (Task t : d.tasks) tasks += (tasks.empty() ? "" : ",") + std::string(TaskName(t));
  model_info_
      .Add({{"model", d.name},
            {"architecture", d.architecture},
            {"image_size", std::to_string(d.image_height) + "x" + std::to_string(d.image_width)},
            {"tasks", tasks}})
      .Set(1);
  std::lock_guard<std::mutex> lock(mu_);
  if (!inflight_batches_.count(d.name)) inflight_batches_[d.name] = std::make_shared<std::atomic<int>>(0);
  hosted_.insert(d.name);
}

void ServerMetrics::ModelLoadFinished(const std::string& model, bool ok, double seconds,
                                      const ModelDescription* loaded) {
  loads_.Add({{"model", model}, {"result", ok ? "ok" : "failed"}}).Increment();
  if (!loaded) return;
  Hosted(*loaded);
  load_seconds_.Add({{"model", model}}).Set(seconds);
}

void ServerMetrics::RequestFinished(const RequestRecord& r) {
  bool hosted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hosted = r.model.empty() || hosted_.count(r.model) > 0;
  }
  const std::string& model = hosted ? r.model : kUnknownModel;
  requests_
      .Add({{"model", model},
            {"rpc", r.rpc},
            {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(r.code))},
            {"api", r.api}})
      .Increment();
  RpcSeries& s = Series(model, r.rpc);
  s.request_seconds->Observe(r.total_seconds);
  if (r.preprocess_seconds >= 0) s.preprocess_seconds->Observe(r.preprocess_seconds);
  if (r.queue_seconds >= 0) s.queue_seconds->Observe(r.queue_seconds);
}

void ServerMetrics::BatchStarted(const std::string& model, const std::string&, int) {
  std::lock_guard<std::mutex> lock(mu_);
  // A version loaded at run time may compute before ModelLoadFinished registers it.
  std::shared_ptr<std::atomic<int>>& running = inflight_batches_[model];
  if (!running) running = std::make_shared<std::atomic<int>>(0);
  ++*running;
}

void ServerMetrics::BatchFinished(const std::string& model, const std::string& rpc, int instance, int batch_size,
                                  double seconds) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = inflight_batches_.find(model);
    if (it != inflight_batches_.end()) --*it->second;
  }
  ComputeSeconds(model, rpc, instance).Observe(seconds);
  RpcSeries& s = Series(model, rpc);
  s.batch_size->Observe(batch_size);
  s.images->Increment(batch_size);
  s.batches->Increment();
}

}  // namespace beit::serving
