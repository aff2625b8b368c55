#include "client/bench_command.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/beit_v1_commands.h"
#include "client/cli_flags.h"
#include "client/load_generator.h"
#include "client/open_inference_commands.h"


namespace beit::client::cli {

using absl::GetFlag;
using nlohmann::json;

namespace {

// What a beit.v1 answer says about the batch that computed it.
void ReportStats(const pb::ServingStats& from, beit::client::ServedCallStats* to) {
  to->batch_size = from.batch_size();
  to->queue_ms = from.queue_time_us() / 1e3;
  to->compute_ms = from.compute_time_us() / 1e3;
}

}  // namespace


// Prints one JSON line per load level (with "served": batch sizes and compute time per batch
// size, from the answers' stats, for beit.v1); returns 0.
int Bench(Session& s) {
  const std::string task = GetFlag(FLAGS_task);
  const std::string image = Required(FLAGS_image, "image");
  beit::client::Call call;
  pb::BeitService::Stub* stub = s.stub.get();
  const Session* session = &s;
  auto with_context = [session](auto rpc) {
    return [session, rpc](beit::client::ServedCallStats* stats) {
      grpc::ClientContext context;
      session->Prepare(context);
      return rpc(context, stats);
    };
  };
  if (s.api == "v2") {
    call = V2BenchCall(s, task, image);
  } else if (task == "classify") {
    auto request = std::make_shared<pb::ClassifyRequest>(ClassifyRequest(image));
    call = with_context([stub, request](grpc::ClientContext& c, beit::client::ServedCallStats* stats) {
      pb::ClassifyResponse r;
      const grpc::Status status = stub->Classify(&c, *request, &r);
      ReportStats(r.stats(), stats);
      return status;
    });
  } else if (task == "segment") {
    auto request = std::make_shared<pb::SegmentRequest>(SegmentRequest(image));
    call = with_context([stub, request](grpc::ClientContext& c, beit::client::ServedCallStats* stats) {
      pb::SegmentResponse r;
      const grpc::Status status = stub->Segment(&c, *request, &r);
      ReportStats(r.stats(), stats);
      return status;
    });
  } else if (task == "embed") {
    auto request = std::make_shared<pb::EmbedRequest>(EmbedRequest(image));
    call = with_context([stub, request](grpc::ClientContext& c, beit::client::ServedCallStats* stats) {
      pb::EmbedResponse r;
      const grpc::Status status = stub->Embed(&c, *request, &r);
      ReportStats(r.stats(), stats);
      return status;
    });
  } else if (task == "predict-tokens") {
    auto request = std::make_shared<pb::PredictTokensRequest>(PredictTokensRequest(image));
    call = with_context([stub, request](grpc::ClientContext& c, beit::client::ServedCallStats* stats) {
      pb::PredictTokensResponse r;
      const grpc::Status status = stub->PredictTokens(&c, *request, &r);
      ReportStats(r.stats(), stats);
      return status;
    });
  } else if (task == "explain") {
    auto request = std::make_shared<pb::ExplainRequest>(ExplainRequest(image, /*return_png=*/false));
    call = with_context([stub, request](grpc::ClientContext& c, beit::client::ServedCallStats* stats) {
      pb::ExplainResponse r;
      const grpc::Status status = stub->Explain(&c, *request, &r);
      ReportStats(r.stats(), stats);
      return status;
    });
  } else {
    throw UsageError("--task: expected classify, segment, embed, predict-tokens or explain");
  }
  beit::client::LoadOptions options;
  options.duration_s = GetFlag(FLAGS_duration_s);
  options.warmup_s = GetFlag(FLAGS_warmup_s);
  options.max_in_flight = GetFlag(FLAGS_max_in_flight);
  std::vector<std::pair<int, double>> levels;  // (concurrency, rate)
  if (GetFlag(FLAGS_rate).has_value()) {
    levels.emplace_back(0, *GetFlag(FLAGS_rate));
  } else {
    const std::string concurrency = GetFlag(FLAGS_concurrency);
    for (int c : IntList("concurrency", concurrency.empty() ? "1" : concurrency)) levels.emplace_back(c, 0.0);
  }
  for (const auto& [concurrency, rate] : levels) {
    options.concurrency = concurrency;
    options.rate = rate;
    const beit::client::LoadReport r = beit::client::GenerateLoad(options, call);
    json line = {{"tool", "beit-client bench"},
                 {"api", s.api},
                 {"task", task},
                 {"model", GetFlag(FLAGS_model)},
                 {"mode", rate > 0 ? "rate" : "concurrency"},
                 {"calls", r.calls},
                 {"ok", r.ok},
                 {"errors", r.errors},
                 {"seconds", r.seconds},
                 {"throughput_rps", r.throughput},
                 {"latency_ms", {{"p50", r.p50_ms}, {"p90", r.p90_ms}, {"p99", r.p99_ms}, {"mean", r.mean_ms}, {"max", r.max_ms}}}};
    if (rate > 0) {
      line["rate"] = rate;
    } else {
      line["concurrency"] = concurrency;
    }
    if (!r.by_batch_size.empty()) {
      json by_size = json::object();
      for (const auto& [size, b] : r.by_batch_size) {
        by_size[std::to_string(size)] = {{"calls", b.calls}, {"compute_ms_p50", b.compute_ms_p50},
                                         {"compute_ms_mean", b.compute_ms_mean}};
      }
      line["served"] = {{"mean_batch_size", r.mean_batch_size}, {"queue_ms_mean", r.queue_ms_mean},
                        {"by_batch_size", by_size}};
    }
    std::cout << line.dump() << std::endl;
  }
  return 0;
}

}  // namespace beit::client::cli
