// Cost of beit-server's metrics per request (Google Benchmark): what ServerMetrics records for one
// computed request (RequestFinished) and for its batch (BatchStarted + BatchFinished), with the
// label sets already created, as the server runs after its first requests. Compare with the time
// of one request (bench/RESULTS.md).
#include <benchmark/benchmark.h>

#include <vector>

#include "server/core/model_repository.h"
#include "server/observability/server_metrics.h"

namespace {

using beit::serving::ModelRepository;
using beit::serving::RequestRecord;
using beit::serving::ServerMetrics;

ModelRepository& Repository() {
  static ModelRepository* models = [] {
    auto* m = new ModelRepository();
    std::vector<std::string> warnings;
    m->Load({{"cls", std::string(BEIT_SOURCE_DIR) + "/tests/data/models/cls-relpos-meanpool"}}, {}, {}, nullptr,
            &warnings);
    return m;
  }();
  return *models;
}

// A computed request of a batch of 4.
RequestRecord TypicalRequest() {
  RequestRecord r;
  r.model = "cls";
  r.rpc = "Classify";
  r.total_seconds = 0.012;
  r.preprocess_seconds = 0.004;
  r.queue_seconds = 0.001;
  r.batch_size = 4;
  return r;
}

void BM_RecordOneRequest(benchmark::State& state) {
  ServerMetrics metrics(&Repository());
  const RequestRecord r = TypicalRequest();
  for (auto _ : state) {
    metrics.BatchStarted("cls", "Classify", 0);
    metrics.BatchFinished("cls", "Classify", 0, 4, 0.006);
    metrics.RequestFinished(r);
  }
}
BENCHMARK(BM_RecordOneRequest);

void BM_RecordOneRequestFourThreads(benchmark::State& state) {
  static ServerMetrics* metrics = new ServerMetrics(&Repository());
  const RequestRecord r = TypicalRequest();
  for (auto _ : state) {
    metrics->BatchStarted("cls", "Classify", 0);
    metrics->BatchFinished("cls", "Classify", 0, 4, 0.006);
    metrics->RequestFinished(r);
  }
}
BENCHMARK(BM_RecordOneRequestFourThreads)->Threads(4);

}  // namespace

BENCHMARK_MAIN();
