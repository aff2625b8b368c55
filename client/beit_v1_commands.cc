#include "client/beit_v1_commands.h"

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

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/cli_flags.h"
#include "grpc/health/v1/health.grpc.pb.h"


namespace beit::client::cli {

using absl::GetFlag;

namespace {

json StatsJson(const pb::ServingStats& s) {
  return {{"batch_size", s.batch_size()}, {"queue_time_us", s.queue_time_us()}, {"compute_time_us", s.compute_time_us()}};
}

// A request of any task with its `model` from --model and the encoded image at `image_path`.
template <typename Request>
Request RequestFor(const std::string& image_path) {
  Request r;
  r.set_model(Required(FLAGS_model, "model"));
  r.set_version(GetFlag(FLAGS_model_version));
  r.mutable_image()->set_encoded(ReadFile(image_path));
  return r;
}

json PredictionsJson(const google::protobuf::RepeatedPtrField<pb::ClassPrediction>& predictions) {
  json out = json::array();
  for (const auto& p : predictions) out.push_back({{"index", p.index()}, {"label", p.label()}, {"score", p.score()}});
  return out;
}

json InfoJson(const pb::ModelInfo& m) {
  json tasks = json::array();
  for (int t : m.tasks()) tasks.push_back(pb::Task_Name(static_cast<pb::Task>(t)));
  json stats = json::array();
  for (const auto& s : m.stats()) {
    stats.push_back({{"task", pb::Task_Name(s.task())},
                     {"batches", s.batches()},
                     {"requests_computed", s.requests_computed()},
                     {"rejected_queue_full", s.rejected_queue_full()},
                     {"expired", s.expired()},
                     {"cancelled", s.cancelled()},
                     {"largest_batch", s.largest_batch()},
                     {"queued", s.queued()}});
  }
  return {{"name", m.name()},
          {"architecture", m.architecture()},
          {"tasks", tasks},
          {"image_size", {m.image_height(), m.image_width()}},
          {"patch_size", m.patch_size()},
          {"hidden_size", m.hidden_size()},
          {"num_layers", m.num_layers()},
          {"num_labels", m.num_labels()},
          {"labels", std::vector<std::string>(m.labels().begin(), m.labels().end())},
          {"vocab_size", m.vocab_size()},
          {"pooling", m.pooling()},
          {"path", m.path()},
          {"max_batch_size", m.max_batch_size()},
          {"stats", stats}};
}

}  // namespace


pb::ClassifyRequest ClassifyRequest(const std::string& image) {
  auto r = RequestFor<pb::ClassifyRequest>(image);
  r.set_top_k(GetFlag(FLAGS_top_k).value_or(5));
  return r;
}

pb::SegmentRequest SegmentRequest(const std::string& image) {
  auto r = RequestFor<pb::SegmentRequest>(image);
  if (!GetFlag(FLAGS_size).empty()) {
    const auto [height, width] = OutputSize();
    r.set_output_height(height);
    r.set_output_width(width);
  }
  r.set_return_scores(GetFlag(FLAGS_scores));
  return r;
}

pb::EmbedRequest EmbedRequest(const std::string& image) {
  auto r = RequestFor<pb::EmbedRequest>(image);
  r.set_l2_normalize(GetFlag(FLAGS_l2));
  for (int layer : IntList("layers", GetFlag(FLAGS_layers))) r.add_layers(layer);
  r.set_include_cls(GetFlag(FLAGS_cls));
  r.set_include_mean(GetFlag(FLAGS_mean));
  r.set_include_patches(GetFlag(FLAGS_patches));
  return r;
}

// Everything of an ExplainRequest but its model and image, from the flags.
void SetExplainOptions(bool return_png, pb::ExplainRequest& r) {
  const std::string method = GetFlag(FLAGS_method);
  if (method == "rollout") {
    r.set_method(pb::EXPLAIN_METHOD_ATTENTION_ROLLOUT);
  } else if (method == "last-layer") {
    r.set_method(pb::EXPLAIN_METHOD_LAST_LAYER);
  } else {
    throw UsageError("--method: expected rollout or last-layer");
  }
  const std::string query = GetFlag(FLAGS_query);
  if (query == "cls") {
    r.set_query(pb::EXPLAIN_QUERY_CLS);
  } else if (query == "mean-patches") {
    r.set_query(pb::EXPLAIN_QUERY_MEAN_PATCHES);
  } else if (!query.empty()) {
    throw UsageError("--query: expected cls or mean-patches");
  }
  if (GetFlag(FLAGS_head).has_value()) r.set_head(*GetFlag(FLAGS_head));
  if (!GetFlag(FLAGS_size).empty()) {
    const auto [height, width] = OutputSize();
    r.set_output_height(height);
    r.set_output_width(width);
  }
  if (GetFlag(FLAGS_top_k).has_value()) r.set_top_k(*GetFlag(FLAGS_top_k));
  r.set_return_png(return_png);
}

pb::ExplainRequest ExplainRequest(const std::string& image, bool return_png) {
  auto r = RequestFor<pb::ExplainRequest>(image);
  SetExplainOptions(return_png, r);
  return r;
}

pb::PredictTokensRequest PredictTokensRequest(const std::string& image) {
  auto r = RequestFor<pb::PredictTokensRequest>(image);
  if (!GetFlag(FLAGS_mask).empty()) {
    for (int m : IntList("mask", GetFlag(FLAGS_mask))) r.add_mask(m != 0);
  } else {
    if (!GetFlag(FLAGS_mask_ratio).has_value()) throw UsageError("--mask-ratio is required (or --mask)");
    r.set_mask_ratio(static_cast<float>(*GetFlag(FLAGS_mask_ratio)));
    r.set_seed(GetFlag(FLAGS_seed));
  }
  r.set_top_k(GetFlag(FLAGS_top_k).value_or(5));
  return r;
}

json Classify(const Session& s, const std::string& image) {
  pb::ClassifyResponse response;
  grpc::ClientContext context;
  s.Prepare(context);
  Check(s.stub->Classify(&context, ClassifyRequest(image), &response));
  return {{"model", response.model()}, {"model_version", response.model_version()}, {"predictions", PredictionsJson(response.predictions())},
          {"stats", StatsJson(response.stats())}};
}

json Segment(const Session& s, const std::string& image, const ImageOutputs& outputs) {
  pb::SegmentRequest request = SegmentRequest(image);
  request.set_return_png(!outputs.png.empty());
  pb::SegmentResponse response;
  grpc::ClientContext context;
  s.Prepare(context);
  Check(s.stub->Segment(&context, request, &response));
  json counts = json::array();
  for (const auto& c : response.class_counts()) {
    counts.push_back({{"index", c.index()}, {"label", c.label()}, {"pixels", c.pixels()}});
  }
  json out = {{"model", response.model()}, {"model_version", response.model_version()},
              {"height", response.height()},
              {"width", response.width()},
              {"class_counts", counts},
              {"stats", StatsJson(response.stats())}};
  if (!outputs.png.empty()) {
    WriteFile(outputs.png, response.label_map_png());
    out["png"] = outputs.png;
  }
  if (!outputs.overlay.empty()) {
    WriteOverlay(image, outputs.overlay,
                 beit::LabelMap({response.height(), response.width()},
                                std::vector<int32_t>(response.label_map().begin(), response.label_map().end())));
    out["overlay"] = outputs.overlay;
  }
  if (GetFlag(FLAGS_scores)) {
    double sum = 0;
    for (float v : response.scores()) sum += v;
    out["mean_score"] = response.scores_size() ? sum / response.scores_size() : 0.0;
  }
  return out;
}

json Embed(const Session& s, const std::string& image) {
  pb::EmbedResponse response;
  grpc::ClientContext context;
  s.Prepare(context);
  Check(s.stub->Embed(&context, EmbedRequest(image), &response));
  json layers = json::array();
  for (const auto& l : response.layers()) {
    json layer = {{"layer", l.layer()}};
    if (l.cls_size()) layer["cls"] = std::vector<float>(l.cls().begin(), l.cls().end());
    if (l.mean_size()) layer["mean"] = std::vector<float>(l.mean().begin(), l.mean().end());
    if (l.patches_size()) layer["patches"] = std::vector<float>(l.patches().begin(), l.patches().end());
    layers.push_back(layer);
  }
  return {{"model", response.model()}, {"model_version", response.model_version()},
          {"pooling", response.pooling()},
          {"embedding", std::vector<float>(response.embedding().begin(), response.embedding().end())},
          {"layers", layers},
          {"hidden_size", response.hidden_size()},
          {"num_patches", response.num_patches()},
          {"stats", StatsJson(response.stats())}};
}

json Explain(const Session& s, const std::string& image, const std::string& png_path) {
  pb::ExplainResponse response;
  grpc::ClientContext context;
  s.Prepare(context);
  Check(s.stub->Explain(&context, ExplainRequest(image, !png_path.empty()), &response));
  json out = {{"model", response.model()}, {"model_version", response.model_version()},
              {"grid_height", response.grid_height()},
              {"grid_width", response.grid_width()},
              {"grid", std::vector<float>(response.grid().begin(), response.grid().end())},
              {"height", response.height()},
              {"width", response.width()},
              {"predictions", PredictionsJson(response.predictions())},
              {"stats", StatsJson(response.stats())}};
  if (!png_path.empty()) {
    WriteFile(png_path, response.png());
    out["png"] = png_path;
  }
  return out;
}

json PredictTokens(const Session& s, const std::string& image) {
  pb::PredictTokensResponse response;
  grpc::ClientContext context;
  s.Prepare(context);
  Check(s.stub->PredictTokens(&context, PredictTokensRequest(image), &response));
  json patches = json::array();
  for (const auto& p : response.patches()) {
    json tokens = json::array();
    for (const auto& t : p.predictions()) tokens.push_back({{"token_id", t.token_id()}, {"probability", t.probability()}});
    patches.push_back({{"patch_index", p.patch_index()}, {"predictions", tokens}});
  }
  std::vector<int> mask(response.mask().begin(), response.mask().end());
  return {{"model", response.model()}, {"model_version", response.model_version()}, {"mask", mask}, {"patches", patches}, {"stats", StatsJson(response.stats())}};
}

json Info(const Session& s) {
  grpc::ClientContext context;
  s.Prepare(context);
  if (!GetFlag(FLAGS_model).empty()) {
    pb::GetModelInfoRequest request;
    request.set_model(GetFlag(FLAGS_model));
    request.set_version(GetFlag(FLAGS_model_version));
    pb::ModelInfo info;
    Check(s.stub->GetModelInfo(&context, request, &info));
    return InfoJson(info);
  }
  pb::ListModelsResponse list;
  Check(s.stub->ListModels(&context, pb::ListModelsRequest(), &list));
  json models = json::array();
  for (const auto& m : list.models()) models.push_back(InfoJson(m));
  return {{"models", models}};
}

// grpc.health.v1 Check: prints the status; exit code 0 only for SERVING.
int Health(const std::shared_ptr<grpc::Channel>& channel, const Session& s) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(GetFlag(FLAGS_service));
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  s.Prepare(context);
  Check(stub->Check(&context, request, &response));
  const std::string status = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
  std::cout << json({{"service", GetFlag(FLAGS_service)}, {"status", status}}).dump() << std::endl;
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

}  // namespace beit::client::cli
