// beit-client: command-line client for beit-server: beit.v1.BeitService, or with --api v2 the
// Open Inference Protocol (KServe v2, inference.GRPCInferenceService).
// Results print as JSON on stdout; errors print the gRPC status on stderr (exit 1); usage
// errors, including a command or flag --api v2 has no equivalent for, exit 2.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "beit/v1/beit_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "client/load_generator.h"
#include "client/npy_writer.h"
#include "client/open_inference_client.h"
#include "client/segmentation_overlay.h"
#include "model/image/image_decoder.h"
#include "model/image/png_encoder.h"

namespace {

namespace pb = beit::v1;
using nlohmann::json;

constexpr const char* kUsage = R"(beit-client: talks to beit-server.

Usage: beit-client [--server HOST:PORT] [--api beit|v2] [--timeout-ms N]
                   [--tls-ca FILE [--tls-cert FILE --tls-key FILE]] [--token-file FILE] COMMAND [flags]

Commands (--api beit, the default: beit.v1.BeitService)
  classify        --model M --image FILE [--top-k K]
  segment         --model M --image FILE [--size HxW] [--scores] [--png LABELS.png] [--overlay OVERLAY.png]
                  (--png: the label map as a PNG; --overlay: the image with class colours blended in)
  embed           --model M --image FILE [--l2] [--layers 0,4,12] [--cls] [--mean] [--patches] [--npy OUT.npy]
                  (--npy writes the pooled embedding; JSON always has everything)
  predict-tokens  --model M --image FILE (--mask-ratio R [--seed S] | --mask 0,1,1,...) [--top-k K]
  info            [--model M]            (without --model: every hosted model)
  health          [--service NAME]       grpc.health.v1 check; exit 0 only when SERVING (container probes)
  explain         --model M --image FILE [--method rollout|last-layer] [--query cls|mean-patches]
                  [--head H] [--size HxW] [--top-k K] [--png OVERLAY.png]
                  (attention map on the patch grid; --png writes the heat-map overlay)
  bench           --model M --image FILE [--task classify|segment|embed|predict-tokens|explain]
                  [--concurrency 1,2,4,8 | --rate CALLS_PER_S] [--duration-s 10] [--warmup-s 1]
                  [--max-in-flight 64]   (one JSON line per level: throughput, p50/p90/p99, errors by status)

Commands with --api v2 (Open Inference Protocol / KServe v2: inference.GRPCInferenceService)
  classify        --model M --image FILE [--top-k K]
                  (ModelInfer, output `probabilities` with classification: K; same JSON as above, no stats)
  segment         --model M --image FILE [--size HxW] [--png LABELS.png] [--overlay OVERLAY.png]
                  (output `label_map`; class_counts give index and pixels: v2 metadata has no labels)
  embed           --model M --image FILE [--npy OUT.npy]             (output `pooler_output`)
  predict-tokens  --model M --image FILE (--mask-ratio R [--seed S] | --mask 0,1,1,...)
                  (output `predicted_tokens`: the argmax token of each masked patch, -1 elsewhere)
  info            [--model M]            ModelMetadata; without --model: ServerMetadata
  health          [--model M]            ServerReady (ModelReady with --model); exit 0 only when ready
  bench           as above; each call is one ModelInfer of the --task's request above (BYTES `image`)
  --typed         (classify, segment, embed, predict-tokens, bench) send the inputs as typed contents
                  instead of raw_input_contents
  Not available with --api v2 (exit 2): segment --scores; embed --l2, --layers, --cls, --mean,
  --patches; predict-tokens --top-k; health --service.

Defaults: --server localhost:50051, --api beit, --timeout-ms 60000. FILE is a JPEG or PNG.
Bench lines carry "api": "beit" or "v2", so both APIs' throughput can be compared.
TLS: --tls-ca is the PEM CA that signed the server's certificate; --tls-cert/--tls-key present a
client certificate (mutual TLS). --token-file sends 'authorization: Bearer <token>' on every call.
)";

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// --flag value pairs and bare --switches after the command.
struct Flags {
  std::map<std::string, std::string> values;
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    const auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
  }
  std::string Require(const std::string& name) const {
    const auto it = values.find(name);
    if (it == values.end() || it->second.empty()) throw UsageError("--" + name + " is required");
    return it->second;
  }
  bool Has(const std::string& name) const { return values.count(name) > 0; }
};

const std::vector<std::string> kSwitches = {"scores", "l2", "cls", "mean", "patches", "typed"};

Flags ParseFlags(const std::vector<std::string>& args, size_t from) {
  Flags flags;
  for (size_t i = from; i < args.size(); ++i) {
    if (args[i].rfind("--", 0) != 0) throw UsageError("unexpected argument '" + args[i] + "'");
    const std::string name = args[i].substr(2);
    if (std::find(kSwitches.begin(), kSwitches.end(), name) != kSwitches.end()) {
      flags.values[name] = "1";
    } else {
      if (i + 1 >= args.size()) throw UsageError("--" + name + " needs a value");
      flags.values[name] = args[++i];
    }
  }
  return flags;
}

int ToInt(const std::string& flag, const std::string& text) {
  try {
    size_t used = 0;
    const int v = std::stoi(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError("--" + flag + ": '" + text + "' is not an integer");
}

double ToDouble(const std::string& flag, const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError("--" + flag + ": '" + text + "' is not a number");
}

std::vector<int> IntList(const std::string& flag, const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(ToInt(flag, item));
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out) throw std::runtime_error(path + ": cannot write");
}

struct Session {
  std::unique_ptr<pb::BeitService::Stub> stub;
  std::unique_ptr<beit::client::OpenInferenceClient> v2;  // with --api v2
  std::string api = "beit";
  int timeout_ms = 60000;
  std::string token;  // empty: none
  // Deadline and credentials of every call.
  void Prepare(grpc::ClientContext& context) const {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  }
};

std::string Trimmed(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  return first == std::string::npos ? "" : text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

// Throws on a non-OK status; main prints it.
struct RpcError : std::runtime_error {
  grpc::Status status;
  explicit RpcError(grpc::Status s)
      : std::runtime_error(beit::client::StatusCodeName(s.error_code()) + ": " + s.error_message()), status(s) {}
};

void Check(const grpc::Status& s) {
  if (!s.ok()) throw RpcError(s);
}

json StatsJson(const pb::ServingStats& s) {
  return {{"batch_size", s.batch_size()}, {"queue_time_us", s.queue_time_us()}, {"compute_time_us", s.compute_time_us()}};
}

// A request of any task with its `model` and encoded `image` filled from --model and --image.
template <typename Request>
Request RequestFor(const Flags& f) {
  Request r;
  r.set_model(f.Require("model"));
  r.mutable_image()->set_encoded(ReadFile(f.Require("image")));
  return r;
}

pb::ClassifyRequest ClassifyRequest(const Flags& f) {
  auto r = RequestFor<pb::ClassifyRequest>(f);
  r.set_top_k(ToInt("top-k", f.Get("top-k", "5")));
  return r;
}

// --size HxW as (height, width).
std::pair<int, int> OutputSize(const Flags& f) {
  const std::string size = f.Get("size");
  const size_t x = size.find('x');
  if (x == std::string::npos) throw UsageError("--size: expected HxW, e.g. 480x640");
  return {ToInt("size", size.substr(0, x)), ToInt("size", size.substr(x + 1))};
}

pb::SegmentRequest SegmentRequest(const Flags& f) {
  auto r = RequestFor<pb::SegmentRequest>(f);
  if (f.Has("size")) {
    const auto [height, width] = OutputSize(f);
    r.set_output_height(height);
    r.set_output_width(width);
  }
  r.set_return_scores(f.Has("scores"));
  return r;
}

pb::EmbedRequest EmbedRequest(const Flags& f) {
  auto r = RequestFor<pb::EmbedRequest>(f);
  r.set_l2_normalize(f.Has("l2"));
  if (f.Has("layers")) {
    for (int layer : IntList("layers", f.Get("layers"))) r.add_layers(layer);
  }
  r.set_include_cls(f.Has("cls"));
  r.set_include_mean(f.Has("mean"));
  r.set_include_patches(f.Has("patches"));
  return r;
}

pb::ExplainRequest ExplainRequest(const Flags& f) {
  auto r = RequestFor<pb::ExplainRequest>(f);
  const std::string method = f.Get("method", "rollout");
  if (method == "rollout") {
    r.set_method(pb::EXPLAIN_METHOD_ATTENTION_ROLLOUT);
  } else if (method == "last-layer") {
    r.set_method(pb::EXPLAIN_METHOD_LAST_LAYER);
  } else {
    throw UsageError("--method: expected rollout or last-layer");
  }
  if (f.Has("query")) {
    const std::string query = f.Get("query");
    if (query == "cls") {
      r.set_query(pb::EXPLAIN_QUERY_CLS);
    } else if (query == "mean-patches") {
      r.set_query(pb::EXPLAIN_QUERY_MEAN_PATCHES);
    } else {
      throw UsageError("--query: expected cls or mean-patches");
    }
  }
  if (f.Has("head")) r.set_head(ToInt("head", f.Get("head")));
  if (f.Has("size")) {
    const auto [height, width] = OutputSize(f);
    r.set_output_height(height);
    r.set_output_width(width);
  }
  if (f.Has("top-k")) r.set_top_k(ToInt("top-k", f.Get("top-k")));
  r.set_return_png(f.Has("png"));
  return r;
}

pb::PredictTokensRequest PredictTokensRequest(const Flags& f) {
  auto r = RequestFor<pb::PredictTokensRequest>(f);
  if (f.Has("mask")) {
    for (int m : IntList("mask", f.Get("mask"))) r.add_mask(m != 0);
  } else {
    r.set_mask_ratio(static_cast<float>(ToDouble("mask-ratio", f.Require("mask-ratio"))));
    r.set_seed(static_cast<uint64_t>(ToInt("seed", f.Get("seed", "0"))));
  }
  r.set_top_k(ToInt("top-k", f.Get("top-k", "5")));
  return r;
}

json Classify(Session& s, const Flags& f) {
  pb::ClassifyResponse response;
  grpc::ClientContext context;
  s.Prepare(context);
  Check(s.stub->Classify(&context, ClassifyRequest(f), &response));
  json predictions = json::array();
  for (const auto& p : response.predictions()) {
    predictions.push_back({{"index", p.index()}, {"label", p.label()}, {"score", p.score()}});
  }
  return {{"model", response.model()}, {"predictions", predictions}, {"stats", StatsJson(response.stats())}};
}

// --overlay: the --image with the label map's class colours blended in.
void WriteOverlay(const Flags& f, const beit::LabelMap& labels) {
  const beit::Image8 image = beit::DecodeImageFile(f.Get("image"));
  if (image.height != labels.shape[0] || image.width != labels.shape[1]) {
    throw UsageError("--overlay needs the label map at the image's size (leave out --size)");
  }
  WriteFile(f.Get("overlay"), beit::EncodeRgbPng(beit::client::OverlayLabels(image, labels)));
}

json Segment(Session& s, const Flags& f) {
  pb::SegmentRequest request = SegmentRequest(f);
  request.set_return_png(f.Has("png"));
  pb::SegmentResponse response;
  grpc::ClientContext context;
  s.Prepare(context);
  Check(s.stub->Segment(&context, request, &response));
  json counts = json::array();
  for (const auto& c : response.class_counts()) {
    counts.push_back({{"index", c.index()}, {"label", c.label()}, {"pixels", c.pixels()}});
  }
  json out = {{"model", response.model()},
              {"height", response.height()},
              {"width", response.width()},
              {"class_counts", counts},
              {"stats", StatsJson(response.stats())}};
  if (f.Has("png")) {
    WriteFile(f.Get("png"), response.label_map_png());
    out["png"] = f.Get("png");
  }
  if (f.Has("overlay")) {
    WriteOverlay(f, beit::LabelMap({response.height(), response.width()},
                                   std::vector<int32_t>(response.label_map().begin(), response.label_map().end())));
    out["overlay"] = f.Get("overlay");
  }
  if (f.Has("scores")) {
    double sum = 0;
    for (float v : response.scores()) sum += v;
    out["mean_score"] = response.scores_size() ? sum / response.scores_size() : 0.0;
  }
  return out;
}

json Embed(Session& s, const Flags& f) {
  pb::EmbedResponse response;
  grpc::ClientContext context;
  s.Prepare(context);
  Check(s.stub->Embed(&context, EmbedRequest(f), &response));
  std::vector<float> embedding(response.embedding().begin(), response.embedding().end());
  json layers = json::array();
  for (const auto& l : response.layers()) {
    json layer = {{"layer", l.layer()}};
    if (l.cls_size()) layer["cls"] = std::vector<float>(l.cls().begin(), l.cls().end());
    if (l.mean_size()) layer["mean"] = std::vector<float>(l.mean().begin(), l.mean().end());
    if (l.patches_size()) layer["patches"] = std::vector<float>(l.patches().begin(), l.patches().end());
    layers.push_back(layer);
  }
  json out = {{"model", response.model()},       {"pooling", response.pooling()},
              {"embedding", embedding},          {"layers", layers},
              {"hidden_size", response.hidden_size()}, {"num_patches", response.num_patches()},
              {"stats", StatsJson(response.stats())}};
  if (f.Has("npy")) {
    beit::client::WriteNpy(f.Get("npy"), {static_cast<int64_t>(embedding.size())}, embedding);
    out["npy"] = f.Get("npy");
  }
  return out;
}

json Explain(Session& s, const Flags& f) {
  pb::ExplainResponse response;
  grpc::ClientContext context;
  s.Prepare(context);
  Check(s.stub->Explain(&context, ExplainRequest(f), &response));
  json predictions = json::array();
  for (const auto& p : response.predictions()) {
    predictions.push_back({{"index", p.index()}, {"label", p.label()}, {"score", p.score()}});
  }
  json out = {{"model", response.model()},
              {"grid_height", response.grid_height()},
              {"grid_width", response.grid_width()},
              {"grid", std::vector<float>(response.grid().begin(), response.grid().end())},
              {"height", response.height()},
              {"width", response.width()},
              {"predictions", predictions},
              {"stats", StatsJson(response.stats())}};
  if (f.Has("png")) {
    WriteFile(f.Get("png"), response.png());
    out["png"] = f.Get("png");
  }
  return out;
}

json PredictTokens(Session& s, const Flags& f) {
  pb::PredictTokensResponse response;
  grpc::ClientContext context;
  s.Prepare(context);
  Check(s.stub->PredictTokens(&context, PredictTokensRequest(f), &response));
  json patches = json::array();
  for (const auto& p : response.patches()) {
    json tokens = json::array();
    for (const auto& t : p.predictions()) tokens.push_back({{"token_id", t.token_id()}, {"probability", t.probability()}});
    patches.push_back({{"patch_index", p.patch_index()}, {"predictions", tokens}});
  }
  std::vector<int> mask(response.mask().begin(), response.mask().end());
  return {{"model", response.model()}, {"mask", mask}, {"patches", patches}, {"stats", StatsJson(response.stats())}};
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

json Info(Session& s, const Flags& f) {
  grpc::ClientContext context;
  s.Prepare(context);
  if (f.Has("model")) {
    pb::GetModelInfoRequest request;
    request.set_model(f.Get("model"));
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
int Health(const std::shared_ptr<grpc::Channel>& channel, const Session& s, const Flags& f) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(f.Get("service"));
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  s.Prepare(context);
  Check(stub->Check(&context, request, &response));
  const std::string status = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
  std::cout << json({{"service", f.Get("service")}, {"status", status}}).dump() << std::endl;
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

// --- Open Inference Protocol (--api v2) -------------------------------------------------------

namespace oip = beit::client;  // the v2 client's types

// beit.v1 flags with no v2 equivalent: a usage error naming the first one given.
void RejectForV2(const Flags& f, const std::string& command, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (f.Has(name)) throw UsageError("--" + name + " is not available with --api v2 " + command);
  }
}

oip::TensorEncoding Encoding(const Flags& f) {
  return f.Has("typed") ? oip::TensorEncoding::kTyped : oip::TensorEncoding::kRaw;
}

// A ModelInfer of --model on the encoded --image (`image` BYTES [1]) asking for one output.
oip::InferRequestSpec V2Spec(const Flags& f, const std::string& output, oip::InferParameters output_parameters = {}) {
  oip::InferRequestSpec spec;
  spec.model = f.Require("model");
  spec.inputs.push_back(oip::ImageInput({ReadFile(f.Require("image"))}));
  spec.outputs.push_back({output, std::move(output_parameters)});
  return spec;
}

inference::ModelInferRequest V2ClassifyRequest(const Flags& f) {
  const int64_t k = ToInt("top-k", f.Get("top-k", "5"));
  return oip::MakeInferRequest(V2Spec(f, "probabilities", {{"classification", k}}), Encoding(f));
}

inference::ModelInferRequest V2SegmentRequest(const Flags& f) {
  RejectForV2(f, "segment", {"scores"});
  oip::InferRequestSpec spec = V2Spec(f, "label_map");
  if (f.Has("size")) {
    const auto [height, width] = OutputSize(f);
    spec.parameters["output_height"] = int64_t{height};
    spec.parameters["output_width"] = int64_t{width};
  }
  return oip::MakeInferRequest(spec, Encoding(f));
}

inference::ModelInferRequest V2EmbedRequest(const Flags& f) {
  RejectForV2(f, "embed", {"l2", "layers", "cls", "mean", "patches"});
  return oip::MakeInferRequest(V2Spec(f, "pooler_output"), Encoding(f));
}

inference::ModelInferRequest V2PredictTokensRequest(const Flags& f) {
  RejectForV2(f, "predict-tokens", {"top-k"});
  oip::InferRequestSpec spec = V2Spec(f, "predicted_tokens");
  if (f.Has("mask")) {
    std::vector<bool> mask;
    for (int m : IntList("mask", f.Get("mask"))) mask.push_back(m != 0);
    spec.inputs.push_back(oip::MaskInput({mask}));
  } else {
    spec.parameters["mask_ratio"] = ToDouble("mask-ratio", f.Require("mask-ratio"));
    spec.parameters["seed"] = int64_t{ToInt("seed", f.Get("seed", "0"))};
  }
  return oip::MakeInferRequest(spec, Encoding(f));
}

// Runs ModelInfer and returns the output `name` of `datatype` for the one image sent, with the
// model's name.
struct V2Answer {
  std::string model;
  oip::OutputTensor output;
};

V2Answer V2Infer(const Session& s, const inference::ModelInferRequest& request, const std::string& name,
               const std::string& datatype) {
  oip::InferResult result;
  Check(s.v2->Infer(request, &result));
  const oip::OutputTensor* output = result.Find(name);
  if (output == nullptr) throw std::runtime_error("the response has no output '" + name + "'");
  if (output->datatype != datatype) {
    throw std::runtime_error("output '" + name + "' is " + output->datatype + ", expected " + datatype);
  }
  if (output->shape.empty() || output->shape[0] != 1) {
    throw std::runtime_error("output '" + name + "' is not one image's (its first dimension is not 1)");
  }
  return {result.model, *output};
}

json V2Classify(const Session& s, const Flags& f) {
  const V2Answer answer = V2Infer(s, V2ClassifyRequest(f), "probabilities", "BYTES");
  const auto images = oip::ParseClassifications(answer.output);
  if (!images.ok()) throw std::runtime_error(std::string(images.status().message()));
  json predictions = json::array();
  for (const oip::Classification& c : images->front()) {
    predictions.push_back({{"index", c.index}, {"label", c.label}, {"score", c.score}});
  }
  return {{"model", answer.model}, {"predictions", predictions}};
}

json V2Segment(const Session& s, const Flags& f) {
  const V2Answer answer = V2Infer(s, V2SegmentRequest(f), "label_map", "INT32");
  const std::vector<int64_t>& shape = answer.output.shape;
  if (shape.size() != 3) throw std::runtime_error("output 'label_map' is not [1, H, W]");
  beit::LabelMap map({shape[1], shape[2]}, std::vector<int32_t>(answer.output.ints.begin(), answer.output.ints.end()));
  // Most pixels first, ties to the lower index (as beit.v1's class_counts).
  std::map<int32_t, int64_t> pixels;
  for (int32_t label : map.data) ++pixels[label];
  std::vector<std::pair<int32_t, int64_t>> counts(pixels.begin(), pixels.end());
  std::stable_sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  json class_counts = json::array();
  for (const auto& [index, n] : counts) class_counts.push_back({{"index", index}, {"pixels", n}});
  json out = {{"model", answer.model}, {"height", shape[1]}, {"width", shape[2]}, {"class_counts", class_counts}};
  if (f.Has("png")) {
    WriteFile(f.Get("png"), beit::EncodeLabelMapPng(map));
    out["png"] = f.Get("png");
  }
  if (f.Has("overlay")) {
    WriteOverlay(f, map);
    out["overlay"] = f.Get("overlay");
  }
  return out;
}

json V2Embed(const Session& s, const Flags& f) {
  const V2Answer answer = V2Infer(s, V2EmbedRequest(f), "pooler_output", "FP32");
  const std::vector<float>& embedding = answer.output.fp32;
  json out = {{"model", answer.model}, {"embedding", embedding}};
  if (f.Has("npy")) {
    beit::client::WriteNpy(f.Get("npy"), {static_cast<int64_t>(embedding.size())}, embedding);
    out["npy"] = f.Get("npy");
  }
  return out;
}

json V2PredictTokens(const Session& s, const Flags& f) {
  const V2Answer answer = V2Infer(s, V2PredictTokensRequest(f), "predicted_tokens", "INT64");
  std::vector<int> mask;
  for (int64_t token : answer.output.ints) mask.push_back(token >= 0 ? 1 : 0);
  return {{"model", answer.model}, {"mask", mask}, {"predicted_tokens", answer.output.ints}};
}

json TensorsJson(const std::vector<oip::TensorDescription>& tensors) {
  json out = json::array();
  for (const auto& t : tensors) out.push_back({{"name", t.name}, {"datatype", t.datatype}, {"shape", t.shape}});
  return out;
}

json V2Info(const Session& s, const Flags& f) {
  if (f.Has("model")) {
    oip::ModelDescription m;
    Check(s.v2->ModelMetadata(f.Get("model"), "", &m));
    return {{"name", m.name},
            {"versions", m.versions},
            {"platform", m.platform},
            {"inputs", TensorsJson(m.inputs)},
            {"outputs", TensorsJson(m.outputs)}};
  }
  oip::ServerDescription d;
  Check(s.v2->ServerMetadata(&d));
  return {{"name", d.name}, {"version", d.version}, {"extensions", d.extensions}};
}

// ServerReady (ModelReady with --model): prints it; exit code 0 only when ready.
int V2Health(const Session& s, const Flags& f) {
  RejectForV2(f, "health", {"service"});
  bool ready = false;
  json out;
  if (f.Has("model")) {
    Check(s.v2->ModelReady(f.Get("model"), "", &ready));
    out = {{"model", f.Get("model")}, {"ready", ready}};
  } else {
    Check(s.v2->ServerReady(&ready));
    out = {{"ready", ready}};
  }
  std::cout << out.dump() << std::endl;
  return ready ? 0 : 1;
}

// The bench's call for --api v2: one ModelInfer of the task's request (the response is received,
// not interpreted, as beit.v1's bench does).
beit::client::Call V2BenchCall(const Session& s, const std::string& task, const Flags& f) {
  std::shared_ptr<const inference::ModelInferRequest> request;
  if (task == "classify") {
    request = std::make_shared<inference::ModelInferRequest>(V2ClassifyRequest(f));
  } else if (task == "segment") {
    request = std::make_shared<inference::ModelInferRequest>(V2SegmentRequest(f));
  } else if (task == "embed") {
    request = std::make_shared<inference::ModelInferRequest>(V2EmbedRequest(f));
  } else if (task == "predict-tokens") {
    request = std::make_shared<inference::ModelInferRequest>(V2PredictTokensRequest(f));
  } else {
    throw UsageError("--task: expected classify, segment, embed or predict-tokens");
  }
  const oip::OpenInferenceClient* client = s.v2.get();
  return [client, request] {
    inference::ModelInferResponse response;
    return client->ModelInfer(*request, &response);
  };
}

// Prints one JSON line per load level; returns 0.
int Bench(Session& s, const Flags& f) {
  const std::string task = f.Get("task", "classify");
  beit::client::Call call;
  pb::BeitService::Stub* stub = s.stub.get();
  const Session* session = &s;
  auto with_context = [session](auto rpc) {
    return [session, rpc] {
      grpc::ClientContext context;
      session->Prepare(context);
      return rpc(context);
    };
  };
  if (s.api == "v2") {
    call = V2BenchCall(s, task, f);
  } else if (task == "classify") {
    auto request = std::make_shared<pb::ClassifyRequest>(ClassifyRequest(f));
    call = with_context([stub, request](grpc::ClientContext& c) {
      pb::ClassifyResponse r;
      return stub->Classify(&c, *request, &r);
    });
  } else if (task == "segment") {
    auto request = std::make_shared<pb::SegmentRequest>(SegmentRequest(f));
    call = with_context([stub, request](grpc::ClientContext& c) {
      pb::SegmentResponse r;
      return stub->Segment(&c, *request, &r);
    });
  } else if (task == "embed") {
    auto request = std::make_shared<pb::EmbedRequest>(EmbedRequest(f));
    call = with_context([stub, request](grpc::ClientContext& c) {
      pb::EmbedResponse r;
      return stub->Embed(&c, *request, &r);
    });
  } else if (task == "predict-tokens") {
    auto request = std::make_shared<pb::PredictTokensRequest>(PredictTokensRequest(f));
    call = with_context([stub, request](grpc::ClientContext& c) {
      pb::PredictTokensResponse r;
      return stub->PredictTokens(&c, *request, &r);
    });
  } else if (task == "explain") {
    auto request = std::make_shared<pb::ExplainRequest>(ExplainRequest(f));
    call = with_context([stub, request](grpc::ClientContext& c) {
      pb::ExplainResponse r;
      return stub->Explain(&c, *request, &r);
    });
  } else {
    throw UsageError("--task: expected classify, segment, embed, predict-tokens or explain");
  }
  beit::client::LoadOptions options;
  options.duration_s = ToDouble("duration-s", f.Get("duration-s", "10"));
  options.warmup_s = ToDouble("warmup-s", f.Get("warmup-s", "1"));
  options.max_in_flight = ToInt("max-in-flight", f.Get("max-in-flight", "64"));
  std::vector<std::pair<int, double>> levels;  // (concurrency, rate)
  if (f.Has("rate")) {
    levels.emplace_back(0, ToDouble("rate", f.Get("rate")));
  } else {
    for (int c : IntList("concurrency", f.Get("concurrency", "1"))) levels.emplace_back(c, 0.0);
  }
  for (const auto& [concurrency, rate] : levels) {
    options.concurrency = concurrency;
    options.rate = rate;
    const beit::client::LoadReport r = beit::client::GenerateLoad(options, call);
    json line = {{"tool", "beit-client bench"},
                 {"api", s.api},
                 {"task", task},
                 {"model", f.Get("model")},
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
    std::cout << line.dump() << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  std::string server = "localhost:50051";
  std::string tls_ca, tls_cert, tls_key;
  Session session;
  size_t i = 0;
  try {
    for (; i < args.size() && args[i].rfind("--", 0) == 0; ++i) {
      if (args[i] == "--help" || args[i] == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
      }
      if (i + 1 >= args.size()) throw UsageError(args[i] + " needs a value");
      if (args[i] == "--server") {
        server = args[++i];
      } else if (args[i] == "--api") {
        session.api = args[++i];
        if (session.api != "beit" && session.api != "v2") throw UsageError("--api: expected beit or v2");
      } else if (args[i] == "--timeout-ms") {
        session.timeout_ms = ToInt("timeout-ms", args[++i]);
      } else if (args[i] == "--tls-ca") {
        tls_ca = ReadFile(args[++i]);
      } else if (args[i] == "--tls-cert") {
        tls_cert = ReadFile(args[++i]);
      } else if (args[i] == "--tls-key") {
        tls_key = ReadFile(args[++i]);
      } else if (args[i] == "--token-file") {
        session.token = Trimmed(ReadFile(args[++i]));
      } else {
        throw UsageError("unknown flag " + args[i]);
      }
    }
    if (i >= args.size()) throw UsageError("no command given");
    const std::string command = args[i];
    const Flags flags = ParseFlags(args, i + 1);
    if (flags.Has("api")) throw UsageError("--api goes before the command");
    if (session.api == "beit" && flags.Has("typed")) throw UsageError("--typed needs --api v2");
    grpc::ChannelArguments channel_args;
    channel_args.SetMaxReceiveMessageSize(256 << 20);
    channel_args.SetMaxSendMessageSize(256 << 20);
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (!tls_ca.empty()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = tls_ca;
      ssl.pem_cert_chain = tls_cert;
      ssl.pem_private_key = tls_key;
      credentials = grpc::SslCredentials(ssl);
    } else if (!tls_cert.empty() || !tls_key.empty()) {
      throw UsageError("--tls-cert/--tls-key need --tls-ca");
    }
    const auto channel = grpc::CreateCustomChannel(server, credentials, channel_args);
    session.stub = pb::BeitService::NewStub(channel);
    json out;
    if (session.api == "v2") {
      const Session* prepare = &session;
      session.v2 = std::make_unique<beit::client::OpenInferenceClient>(
          channel, [prepare](grpc::ClientContext& context) { prepare->Prepare(context); });
      if (flags.Has("typed") && (command == "info" || command == "health")) {
        throw UsageError("--typed is for the commands that run ModelInfer, not " + command);
      }
      if (command == "classify") {
        out = V2Classify(session, flags);
      } else if (command == "segment") {
        out = V2Segment(session, flags);
      } else if (command == "embed") {
        out = V2Embed(session, flags);
      } else if (command == "predict-tokens") {
        out = V2PredictTokens(session, flags);
      } else if (command == "info") {
        out = V2Info(session, flags);
      } else if (command == "bench") {
        return Bench(session, flags);
      } else if (command == "health") {
        return V2Health(session, flags);
      } else {
        throw UsageError("unknown command '" + command + "'");
      }
    } else if (command == "classify") {
      out = Classify(session, flags);
    } else if (command == "segment") {
      out = Segment(session, flags);
    } else if (command == "embed") {
      out = Embed(session, flags);
    } else if (command == "predict-tokens") {
      out = PredictTokens(session, flags);
    } else if (command == "explain") {
      out = Explain(session, flags);
    } else if (command == "info") {
      out = Info(session, flags);
    } else if (command == "bench") {
      return Bench(session, flags);
    } else if (command == "health") {
      return Health(channel, session, flags);
    } else {
      throw UsageError("unknown command '" + command + "'");
    }
    std::cout << out.dump(2) << std::endl;
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "beit-client: %s\n\n%s", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beit-client: %s\n", e.what());
    return 1;
  }
}
