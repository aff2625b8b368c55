// beit-client: command-line client for beit-server: beit.v1.BeitService, or with --api v2 the
// Open Inference Protocol (KServe v2, inference.GRPCInferenceService).
// One image (--image FILE): the answer prints as JSON on stdout. Many images (directories, globs,
// @lists after the command): one record per file in --output, progress on stderr.
// Flags are Abseil flags (either '-' or '_' in their names, anywhere on the line). Errors print
// the gRPC status on stderr (exit 1); usage errors, including a command or flag --api v2 has no
// equivalent for, exit 2; a bulk run exits 1 when any file failed and 130 when interrupted.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "beit/v1/beit_service.grpc.pb.h"
#include "client/bulk_runner.h"
#include "client/embedding_matrix.h"
#include "client/input_paths.h"
#include "client/load_generator.h"
#include "client/npy_writer.h"
#include "client/open_inference_client.h"
#include "client/progress_meter.h"
#include "client/result_file.h"
#include "client/segmentation_overlay.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "model/image/image_decoder.h"
#include "model/image/png_encoder.h"

// Connection (every command).
ABSL_FLAG(std::string, server, "localhost:50051", "beit-server's gRPC address, HOST:PORT");
ABSL_FLAG(std::string, api, "beit", "beit (beit.v1.BeitService) or v2 (Open Inference Protocol)");
ABSL_FLAG(int, timeout_ms, 60000, "deadline of each call, in milliseconds");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA that signed the server's certificate (enables TLS)");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate (mutual TLS; needs --tls-ca)");
ABSL_FLAG(std::string, tls_key, "", "PEM key of --tls-cert");
ABSL_FLAG(std::string, token_file, "", "file whose contents are sent as 'authorization: Bearer <token>'");
// What to ask.
ABSL_FLAG(std::string, model, "", "the hosted model's name");
ABSL_FLAG(std::string, image, "", "one JPEG or PNG file (bulk runs take inputs after the command instead)");
ABSL_FLAG(std::optional<int>, top_k, std::nullopt, "how many classes (or tokens) to return");
ABSL_FLAG(std::string, size, "", "output size HxW (segment, explain)");
ABSL_FLAG(bool, scores, false, "segment: also return the per-pixel scores");
ABSL_FLAG(std::string, png, "", "segment: write the label map PNG here; explain: the heat-map overlay");
ABSL_FLAG(std::string, overlay, "", "segment: write the image with class colours blended in");
ABSL_FLAG(bool, l2, false, "embed: L2-normalise the embedding");
ABSL_FLAG(std::string, layers, "", "embed: comma-separated hidden-state indices to return");
ABSL_FLAG(bool, cls, false, "embed --layers: include each layer's CLS token");
ABSL_FLAG(bool, mean, false, "embed --layers: include each layer's mean of patches");
ABSL_FLAG(bool, patches, false, "embed --layers: include each layer's patch tokens");
ABSL_FLAG(std::string, npy, "", "embed: write the embedding (bulk: the matrix) as .npy here");
ABSL_FLAG(std::optional<double>, mask_ratio, std::nullopt, "predict-tokens: share of patches to mask");
ABSL_FLAG(uint64_t, seed, 0, "predict-tokens: seed of the blockwise mask");
ABSL_FLAG(std::string, mask, "", "predict-tokens: explicit mask, comma-separated 0/1 per patch");
ABSL_FLAG(std::string, service, "", "health: the grpc.health.v1 service name");
ABSL_FLAG(std::string, method, "rollout", "explain: rollout or last-layer");
ABSL_FLAG(std::string, query, "", "explain: cls or mean-patches (default: the model's pooling)");
ABSL_FLAG(std::optional<int>, head, std::nullopt, "explain --method last-layer: one head (default: their mean)");
ABSL_FLAG(bool, typed, false, "--api v2: send inputs as typed contents instead of raw_input_contents");
// bench
ABSL_FLAG(std::string, task, "classify", "bench: classify, segment, embed, predict-tokens or explain");
ABSL_FLAG(std::string, concurrency, "",
          "bench: comma-separated in-flight levels (default 1); bulk runs: calls in flight (default 4)");
ABSL_FLAG(std::optional<double>, rate, std::nullopt, "bench: open loop at this many calls per second");
ABSL_FLAG(double, duration_s, 10, "bench: seconds per level");
ABSL_FLAG(double, warmup_s, 1, "bench: warm-up seconds before each level");
ABSL_FLAG(int, max_in_flight, 64, "bench --rate: most calls in flight");
// Bulk runs.
ABSL_FLAG(std::string, output, "", "bulk: results file, one record per input (.jsonl, or .csv)");
ABSL_FLAG(std::string, output_dir, "", "bulk segment/explain: PNGs go here, named after the inputs");
ABSL_FLAG(bool, resume, false, "bulk: continue --output, skipping the files it already records");
ABSL_FLAG(bool, retry_failed, false, "bulk --resume: run the files whose record is an error again");
ABSL_FLAG(std::string, progress, "auto", "bulk: auto (a bar on a terminal, lines otherwise), bar, lines or none");
ABSL_FLAG(double, progress_interval_s, 10, "bulk: seconds between progress lines when not a bar");

namespace {

namespace pb = beit::v1;
using absl::GetFlag;
using nlohmann::json;

constexpr const char* kUsage = R"(beit-client: talks to beit-server.

Usage: beit-client [--server HOST:PORT] [--api beit|v2] [--timeout-ms N]
                   [--tls-ca FILE [--tls-cert FILE --tls-key FILE]] [--token-file FILE] COMMAND [flags] [INPUTS...]

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

Many images (classify, segment, embed, explain; with --api v2: classify, segment, embed)
  COMMAND --model M [the command's flags] --output results.jsonl|results.csv INPUTS...
          [--concurrency 4] [--output-dir DIR] [--npy embeddings.npy] [--resume [--retry-failed]] [--progress auto|bar|lines|none]
  INPUTS are files, directories (their .jpg/.jpeg/.png files, recursively), quoted globs ('shots/*.jpg')
  and @list.txt (one input per line). One record per file goes to --output: path, ok, ms, and the
  answer or the error. With --output-dir, segment and explain write each file's PNG (label map;
  heat-map overlay) as DIR/<input path>.png; embed appends each embedding as a row of a float32 .npy
  (--npy, default: --output with .npy) and its path as that row's line of <npy stem>.index.txt.
  A failed file is recorded and the run goes on. --resume skips the files already in --output
  (with --retry-failed it runs the failed ones again); the summary counts the whole output.
  Progress goes to stderr: a bar on a terminal, a line every --progress-interval-s otherwise.
  Ctrl-C starts no new file, waits for the ones in flight and writes the summary (a second quits).
  --concurrency is 1 to 256. Exit code: 0 every file answered, 1 some failed (or an output file
  cannot be written), 130 interrupted, 2 usage error (an existing --output without --resume too).

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
  --patches; predict-tokens --top-k; health --service; explain.

Defaults: --server localhost:50051, --api beit, --timeout-ms 60000. FILE is a JPEG or PNG.
Flags may come anywhere on the line and be spelled with '-' or '_' (--top-k, --top_k).
Bench lines carry "api": "beit" or "v2", so both APIs' throughput can be compared.
TLS: --tls-ca is the PEM CA that signed the server's certificate; --tls-cert/--tls-key present a
client certificate (mutual TLS). --token-file sends 'authorization: Bearer <token>' on every call.
)";

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A local file that cannot be read or written (a bulk record's NOT_FOUND / PERMISSION_DENIED).
class FileError : public std::runtime_error {
 public:
  FileError(absl::StatusCode code, const std::string& message) : std::runtime_error(message), code(code) {}
  absl::StatusCode code;
};

std::string Required(const absl::Flag<std::string>& flag, const char* name) {
  std::string value = GetFlag(flag);
  if (value.empty()) throw UsageError(absl::StrCat("--", name, " is required"));
  return value;
}

int ParseInt(const char* flag, absl::string_view text) {
  int value = 0;
  if (!absl::SimpleAtoi(text, &value)) throw UsageError(absl::StrCat("--", flag, ": '", text, "' is not an integer"));
  return value;
}

std::vector<int> IntList(const char* flag, const std::string& text) {
  std::vector<int> out;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) out.push_back(ParseInt(flag, item));
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code error;
  if (!in || std::filesystem::is_directory(path, error)) throw FileError(absl::StatusCode::kNotFound, path + ": cannot read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out) throw FileError(absl::StatusCode::kPermissionDenied, path + ": cannot write");
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

// A request of any task with its `model` from --model and the encoded image at `image_path`.
template <typename Request>
Request RequestFor(const std::string& image_path) {
  Request r;
  r.set_model(Required(FLAGS_model, "model"));
  r.mutable_image()->set_encoded(ReadFile(image_path));
  return r;
}

pb::ClassifyRequest ClassifyRequest(const std::string& image) {
  auto r = RequestFor<pb::ClassifyRequest>(image);
  r.set_top_k(GetFlag(FLAGS_top_k).value_or(5));
  return r;
}

// --size HxW as (height, width).
std::pair<int, int> OutputSize() {
  const std::vector<absl::string_view> parts = absl::StrSplit(GetFlag(FLAGS_size), 'x');
  if (parts.size() != 2) throw UsageError("--size: expected HxW, e.g. 480x640");
  return {ParseInt("size", parts[0]), ParseInt("size", parts[1])};
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

json PredictionsJson(const google::protobuf::RepeatedPtrField<pb::ClassPrediction>& predictions) {
  json out = json::array();
  for (const auto& p : predictions) out.push_back({{"index", p.index()}, {"label", p.label()}, {"score", p.score()}});
  return out;
}

json Classify(const Session& s, const std::string& image) {
  pb::ClassifyResponse response;
  grpc::ClientContext context;
  s.Prepare(context);
  Check(s.stub->Classify(&context, ClassifyRequest(image), &response));
  return {{"model", response.model()}, {"predictions", PredictionsJson(response.predictions())},
          {"stats", StatsJson(response.stats())}};
}

// `overlay_path`: the image at `image` with the label map's class colours blended in.
void WriteOverlay(const std::string& image, const std::string& overlay_path, const beit::LabelMap& labels) {
  const beit::Image8 decoded = beit::DecodeImageFile(image);
  if (decoded.height != labels.shape[0] || decoded.width != labels.shape[1]) {
    throw UsageError("--overlay needs the label map at the image's size (leave out --size)");
  }
  WriteFile(overlay_path, beit::EncodeRgbPng(beit::client::OverlayLabels(decoded, labels)));
}

// Where the optional output files of one image go (empty: not written).
struct ImageOutputs {
  std::string png;
  std::string overlay;
};

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
  json out = {{"model", response.model()},
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
  return {{"model", response.model()},
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
  json out = {{"model", response.model()},
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

json Info(const Session& s) {
  grpc::ClientContext context;
  s.Prepare(context);
  if (!GetFlag(FLAGS_model).empty()) {
    pb::GetModelInfoRequest request;
    request.set_model(GetFlag(FLAGS_model));
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

// --- Open Inference Protocol (--api v2) -------------------------------------------------------

namespace oip = beit::client;  // the v2 client's types

// beit.v1 flags with no v2 equivalent: a usage error naming the first one given.
void RejectForV2(const std::string& command, const std::vector<std::pair<const char*, bool>>& given) {
  for (const auto& [name, is_given] : given) {
    if (is_given) throw UsageError(absl::StrCat("--", name, " is not available with --api v2 ", command));
  }
}

oip::TensorEncoding Encoding() { return GetFlag(FLAGS_typed) ? oip::TensorEncoding::kTyped : oip::TensorEncoding::kRaw; }

// A ModelInfer of --model on the encoded image (`image` BYTES [1]) asking for one output.
oip::InferRequestSpec V2Spec(const std::string& image, const std::string& output,
                             oip::InferParameters output_parameters = {}) {
  oip::InferRequestSpec spec;
  spec.model = Required(FLAGS_model, "model");
  spec.inputs.push_back(oip::ImageInput({ReadFile(image)}));
  spec.outputs.push_back({output, std::move(output_parameters)});
  return spec;
}

inference::ModelInferRequest V2ClassifyRequest(const std::string& image) {
  const int64_t k = GetFlag(FLAGS_top_k).value_or(5);
  return oip::MakeInferRequest(V2Spec(image, "probabilities", {{"classification", k}}), Encoding());
}

inference::ModelInferRequest V2SegmentRequest(const std::string& image) {
  RejectForV2("segment", {{"scores", GetFlag(FLAGS_scores)}});
  oip::InferRequestSpec spec = V2Spec(image, "label_map");
  if (!GetFlag(FLAGS_size).empty()) {
    const auto [height, width] = OutputSize();
    spec.parameters["output_height"] = int64_t{height};
    spec.parameters["output_width"] = int64_t{width};
  }
  return oip::MakeInferRequest(spec, Encoding());
}

inference::ModelInferRequest V2EmbedRequest(const std::string& image) {
  RejectForV2("embed", {{"l2", GetFlag(FLAGS_l2)},
                        {"layers", !GetFlag(FLAGS_layers).empty()},
                        {"cls", GetFlag(FLAGS_cls)},
                        {"mean", GetFlag(FLAGS_mean)},
                        {"patches", GetFlag(FLAGS_patches)}});
  return oip::MakeInferRequest(V2Spec(image, "pooler_output"), Encoding());
}

inference::ModelInferRequest V2PredictTokensRequest(const std::string& image) {
  RejectForV2("predict-tokens", {{"top-k", GetFlag(FLAGS_top_k).has_value()}});
  oip::InferRequestSpec spec = V2Spec(image, "predicted_tokens");
  if (!GetFlag(FLAGS_mask).empty()) {
    std::vector<bool> mask;
    for (int m : IntList("mask", GetFlag(FLAGS_mask))) mask.push_back(m != 0);
    spec.inputs.push_back(oip::MaskInput({mask}));
  } else {
    if (!GetFlag(FLAGS_mask_ratio).has_value()) throw UsageError("--mask-ratio is required (or --mask)");
    spec.parameters["mask_ratio"] = *GetFlag(FLAGS_mask_ratio);
    spec.parameters["seed"] = static_cast<int64_t>(GetFlag(FLAGS_seed));
  }
  return oip::MakeInferRequest(spec, Encoding());
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

json V2Classify(const Session& s, const std::string& image) {
  const V2Answer answer = V2Infer(s, V2ClassifyRequest(image), "probabilities", "BYTES");
  const auto images = oip::ParseClassifications(answer.output);
  if (!images.ok()) throw std::runtime_error(std::string(images.status().message()));
  json predictions = json::array();
  for (const oip::Classification& c : images->front()) {
    predictions.push_back({{"index", c.index}, {"label", c.label}, {"score", c.score}});
  }
  return {{"model", answer.model}, {"predictions", predictions}};
}

json V2Segment(const Session& s, const std::string& image, const ImageOutputs& outputs) {
  const V2Answer answer = V2Infer(s, V2SegmentRequest(image), "label_map", "INT32");
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
  if (!outputs.png.empty()) {
    WriteFile(outputs.png, beit::EncodeLabelMapPng(map));
    out["png"] = outputs.png;
  }
  if (!outputs.overlay.empty()) {
    WriteOverlay(image, outputs.overlay, map);
    out["overlay"] = outputs.overlay;
  }
  return out;
}

json V2Embed(const Session& s, const std::string& image) {
  const V2Answer answer = V2Infer(s, V2EmbedRequest(image), "pooler_output", "FP32");
  return {{"model", answer.model}, {"embedding", answer.output.fp32}};
}

json V2PredictTokens(const Session& s, const std::string& image) {
  const V2Answer answer = V2Infer(s, V2PredictTokensRequest(image), "predicted_tokens", "INT64");
  std::vector<int> mask;
  for (int64_t token : answer.output.ints) mask.push_back(token >= 0 ? 1 : 0);
  return {{"model", answer.model}, {"mask", mask}, {"predicted_tokens", answer.output.ints}};
}

json TensorsJson(const std::vector<oip::TensorDescription>& tensors) {
  json out = json::array();
  for (const auto& t : tensors) out.push_back({{"name", t.name}, {"datatype", t.datatype}, {"shape", t.shape}});
  return out;
}

json V2Info(const Session& s) {
  if (!GetFlag(FLAGS_model).empty()) {
    oip::ModelDescription m;
    Check(s.v2->ModelMetadata(GetFlag(FLAGS_model), "", &m));
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
int V2Health(const Session& s) {
  RejectForV2("health", {{"service", !GetFlag(FLAGS_service).empty()}});
  bool ready = false;
  json out;
  if (!GetFlag(FLAGS_model).empty()) {
    Check(s.v2->ModelReady(GetFlag(FLAGS_model), "", &ready));
    out = {{"model", GetFlag(FLAGS_model)}, {"ready", ready}};
  } else {
    Check(s.v2->ServerReady(&ready));
    out = {{"ready", ready}};
  }
  std::cout << out.dump() << std::endl;
  return ready ? 0 : 1;
}

// The bench's call for --api v2: one ModelInfer of the task's request (the response is received,
// not interpreted, as beit.v1's bench does).
beit::client::Call V2BenchCall(const Session& s, const std::string& task, const std::string& image) {
  std::shared_ptr<const inference::ModelInferRequest> request;
  if (task == "classify") {
    request = std::make_shared<inference::ModelInferRequest>(V2ClassifyRequest(image));
  } else if (task == "segment") {
    request = std::make_shared<inference::ModelInferRequest>(V2SegmentRequest(image));
  } else if (task == "embed") {
    request = std::make_shared<inference::ModelInferRequest>(V2EmbedRequest(image));
  } else if (task == "predict-tokens") {
    request = std::make_shared<inference::ModelInferRequest>(V2PredictTokensRequest(image));
  } else {
    throw UsageError("--task: expected classify, segment, embed or predict-tokens");
  }
  const oip::OpenInferenceClient* client = s.v2.get();
  return [client, request](beit::client::ServedCallStats*) {  // v2 answers carry no batch stats
    inference::ModelInferResponse response;
    return client->ModelInfer(*request, &response);
  };
}

// What a beit.v1 answer says about the batch that computed it.
void ReportStats(const pb::ServingStats& from, beit::client::ServedCallStats* to) {
  to->batch_size = from.batch_size();
  to->queue_ms = from.queue_time_us() / 1e3;
  to->compute_ms = from.compute_time_us() / 1e3;
}

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

// --- Many images --------------------------------------------------------------------------------

std::atomic<bool> g_stop{false};

// First Ctrl-C (or SIGTERM): finish what is in flight; the handler is reset, so a second quits.
void OnStopSignal(int) { g_stop.store(true); }

// Top-1 fields beside the answer's predictions (the CSV's columns).
void AddTopPrediction(json& answer) {
  if (answer.contains("predictions") && !answer["predictions"].empty()) {
    const json& top = answer["predictions"][0];
    answer["label"] = top["label"];
    answer["index"] = top["index"];
    answer["score"] = top["score"];
  }
}

// The CSV columns after path, ok, ms, error, per command.
std::vector<std::string> CsvColumns(const std::string& command) {
  if (command == "classify") return {"label", "index", "score"};
  if (command == "segment") return {"height", "width", "png"};
  if (command == "embed") return {"row", "dim"};
  return {"label", "score", "grid_height", "grid_width", "png"};  // explain
}

// More workers than this only queue on the server and cost threads.
constexpr int kMaxBulkConcurrency = 256;

// Why an output file cannot be opened, as the exit code says it: a file the command would
// overwrite or continue wrongly (FAILED_PRECONDITION) is a usage error (exit 2); a file that
// cannot be read or written is a runtime failure (exit 1).
void ThrowIfCannotOpen(const absl::Status& status) {
  if (status.ok()) return;
  const std::string message(status.message());
  if (status.code() == absl::StatusCode::kFailedPrecondition) throw UsageError(message);
  throw std::runtime_error(message);
}

template <typename T>
std::unique_ptr<T> OpenedOrExit(absl::StatusOr<std::unique_ptr<T>> opened) {
  ThrowIfCannotOpen(opened.status());
  return *std::move(opened);
}

// The --npy and index paths of a bulk embed run.
std::pair<std::string, std::string> MatrixPaths(const std::string& output) {
  std::filesystem::path npy = GetFlag(FLAGS_npy);
  if (npy.empty()) npy = std::filesystem::path(output).replace_extension(".npy");
  std::filesystem::path index = npy;
  index.replace_extension(".index.txt");
  return {npy.string(), index.string()};
}

// Runs `command` over every input; prints the summary on stderr; returns the exit code.
int RunMany(const Session& s, const std::string& command, const std::vector<std::string>& specs) {
  const bool v2 = s.api == "v2";
  if (command != "classify" && command != "segment" && command != "embed" && (command != "explain" || v2)) {
    throw UsageError(absl::StrCat("many inputs are for classify, segment, embed", v2 ? "" : " and explain",
                                  ", not ", command, v2 ? " with --api v2" : ""));
  }
  if (!GetFlag(FLAGS_image).empty()) throw UsageError("give inputs after the command or --image, not both");
  if (!GetFlag(FLAGS_overlay).empty() || !GetFlag(FLAGS_png).empty()) {
    throw UsageError("with many inputs, PNGs go to --output-dir (not --png/--overlay)");
  }
  const std::string output = Required(FLAGS_output, "output");
  const std::string output_dir = GetFlag(FLAGS_output_dir);
  const std::string concurrency_text = GetFlag(FLAGS_concurrency);
  const int concurrency = concurrency_text.empty() ? 4 : ParseInt("concurrency", concurrency_text);
  if (concurrency < 1 || concurrency > kMaxBulkConcurrency) {
    throw UsageError(absl::StrCat("--concurrency: 1 to ", kMaxBulkConcurrency, " with many inputs"));
  }
  const double progress_interval_s = GetFlag(FLAGS_progress_interval_s);
  if (!(progress_interval_s >= 0.1 && progress_interval_s <= 86400)) {
    throw UsageError("--progress-interval-s: 0.1 to 86400 seconds");
  }
  beit::client::ProgressStyle style;
  if (!beit::client::ParseProgressStyle(GetFlag(FLAGS_progress), stderr, &style)) {
    throw UsageError("--progress: expected auto, bar, lines or none");
  }
  Required(FLAGS_model, "model");
  // Every per-request flag is checked once, before any file: a usage error is not 20,000 errors.
  if (command == "explain") {
    pb::ExplainRequest check;
    SetExplainOptions(false, check);
  }
  if (command == "segment" && !GetFlag(FLAGS_size).empty()) OutputSize();
  if (command == "embed") IntList("layers", GetFlag(FLAGS_layers));
  if (v2) {
    RejectForV2(command, {{"scores", GetFlag(FLAGS_scores)}, {"l2", GetFlag(FLAGS_l2)}, {"layers", !GetFlag(FLAGS_layers).empty()},
                          {"cls", GetFlag(FLAGS_cls)}, {"mean", GetFlag(FLAGS_mean)}, {"patches", GetFlag(FLAGS_patches)}});
  }

  const bool resume = GetFlag(FLAGS_resume);
  if (GetFlag(FLAGS_retry_failed) && !resume) throw UsageError("--retry-failed goes with --resume");
  absl::StatusOr<std::vector<std::string>> inputs = beit::client::ExpandInputs(specs);
  if (!inputs.ok()) throw UsageError(std::string(inputs.status().message()));
  // Refusals come before the first file is created: an existing results file without --resume,
  // then the matrix's own checks.
  ThrowIfCannotOpen(beit::client::ResultFile::CheckCanOpen(output, resume));
  std::unique_ptr<beit::client::EmbeddingMatrix> matrix;
  if (command == "embed") {
    const auto [npy, index] = MatrixPaths(output);
    // Records without their matrix: a new matrix would give their rows to other files.
    std::error_code error;
    if (resume && beit::client::ResultFile::Started(output) && !std::filesystem::exists(npy, error)) {
      throw UsageError(absl::StrCat(output, " records rows of ", npy,
                                    ", which is missing: remove the results file and the index to start again"));
    }
    matrix = OpenedOrExit(beit::client::EmbeddingMatrix::Open(npy, index, resume));
  }
  const std::unique_ptr<beit::client::ResultFile> results =
      OpenedOrExit(beit::client::ResultFile::Open(output, CsvColumns(command), resume));
  std::vector<std::string> todo;
  for (const std::string& path : *inputs) {
    const std::optional<bool> outcome = results->Outcome(path);
    if (!outcome.has_value() || (!*outcome && GetFlag(FLAGS_retry_failed))) todo.push_back(path);
  }
  const int64_t skipped = static_cast<int64_t>(inputs->size() - todo.size());
  if (skipped > 0) std::fprintf(stderr, "beit-client: resuming %s: %lld of %zu files already recorded\n", output.c_str(),
                                static_cast<long long>(skipped), inputs->size());

  const beit::client::FileTask task = [&](const std::string& path) -> absl::StatusOr<json> {
    try {
      ImageOutputs outputs;
      if (!output_dir.empty()) {
        const std::filesystem::path png = std::filesystem::path(output_dir) / beit::client::OutputName(path);
        std::error_code error;
        std::filesystem::create_directories(png.parent_path(), error);
        if (error) throw FileError(absl::StatusCode::kPermissionDenied, absl::StrCat(png.parent_path().string(), ": ", error.message()));
        outputs.png = png.string();
      }
      json answer;
      if (command == "classify") {
        answer = v2 ? V2Classify(s, path) : Classify(s, path);
        AddTopPrediction(answer);
      } else if (command == "segment") {
        answer = v2 ? V2Segment(s, path, outputs) : Segment(s, path, outputs);
      } else if (command == "explain") {
        answer = Explain(s, path, outputs.png);
        AddTopPrediction(answer);
      } else {
        answer = v2 ? V2Embed(s, path) : Embed(s, path);
        const std::vector<float> embedding = answer["embedding"].get<std::vector<float>>();
        absl::StatusOr<int64_t> row = matrix->Append(path, embedding);
        if (!row.ok()) return row.status();
        answer.erase("embedding");
        answer["row"] = *row;
        answer["dim"] = embedding.size();
      }
      return answer;
    } catch (const RpcError& e) {
      return absl::Status(static_cast<absl::StatusCode>(e.status.error_code()), e.status.error_message());
    } catch (const FileError& e) {
      return absl::Status(e.code, e.what());
    } catch (const std::exception& e) {  // a malformed answer, an undecodable image for --overlay
      return absl::UnknownError(e.what());
    }
  };

  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  action.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  beit::client::ProgressMeter progress(stderr, style, static_cast<int64_t>(todo.size()),
                                       absl::Seconds(progress_interval_s));
  beit::client::BulkOptions options;
  options.concurrency = concurrency;
  options.stop = &g_stop;
  options.progress = &progress;
  const absl::StatusOr<beit::client::BulkSummary> summary = beit::client::RunBulk(
      todo, task,
      [&](const beit::client::FileResult& r) {
        // A matrix that can no longer be written stops the run as the results file would, before
        // this file is recorded: --resume then does it again (a row it did get is kept).
        if (matrix != nullptr) {
          if (absl::Status s = matrix->write_error(); !s.ok()) return s;
        }
        return results->Append(r);
      },
      options);
  progress.Finish();
  if (!summary.ok()) {
    std::fprintf(stderr, "beit-client: stopped: %s\n", std::string(summary.status().message()).c_str());
    return 1;
  }
  // The whole output's standing for these inputs, earlier runs' records included.
  int64_t answered = 0, failed = 0;
  for (const std::string& path : *inputs) {
    const std::optional<bool> outcome = results->Outcome(path);
    if (outcome.has_value()) (*outcome ? answered : failed) += 1;
  }
  const double seconds = absl::ToDoubleSeconds(summary->elapsed);
  const json line = {{"output", output},
                     {"files", inputs->size()},
                     {"ok", answered},
                     {"failed", failed},
                     {"not_started", summary->not_started},
                     {"interrupted", summary->interrupted},
                     {"skipped", skipped},
                     {"this_run", {{"ok", summary->ok}, {"failed", summary->failed}}},
                     {"seconds", seconds},
                     {"images_per_s", seconds > 0 ? static_cast<double>(summary->ok + summary->failed) / seconds : 0.0}};
  std::fprintf(stderr, "beit-client: %s%zu files: %lld ok, %lld failed%s; results in %s\n",
               summary->interrupted ? "interrupted: " : "", inputs->size(), static_cast<long long>(answered),
               static_cast<long long>(failed),
               summary->interrupted ? absl::StrCat(", ", summary->not_started, " not started (--resume continues)").c_str() : "",
               output.c_str());
  std::cout << line.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl;  // paths may not be UTF-8
  if (summary->interrupted) return 130;
  return failed > 0 ? 1 : 0;
}

// Whether Abseil reads `arg` as a flag: "--name..." or "-name..." (anything after one dash, so an
// input named "-5.png" must be written "./-5.png" or after "--"); "-" alone is not.
bool LooksLikeFlag(const std::string& arg) { return arg.size() >= 2 && arg[0] == '-' && arg != "--"; }

// The arguments in the spelling Abseil parses, each flag checked first so that an unknown flag
// or a value its flag cannot take is a usage error (exit 2) with our usage text, not Abseil's
// exit 1. Flag names may use '-' (as the usage text does) or '_' (Abseil's own spelling), one dash
// or two, and a boolean may be negated as --no-name or --noname.
std::vector<std::string> CheckedArguments(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--") break;
    if (!LooksLikeFlag(args[i])) continue;
    const std::string body = args[i].substr(args[i][1] == '-' ? 2 : 1);
    const size_t equals = body.find('=');
    std::string name = body.substr(0, equals);
    std::replace(name.begin(), name.end(), '-', '_');
    const std::string shown = absl::StrCat("--", absl::StrReplaceAll(name, {{"_", "-"}}));
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) {
      // A negated boolean: --no-scores, --no_scores or --noscores.
      absl::CommandLineFlag* negated = nullptr;
      for (const std::string prefix : {"no_", "no"}) {
        if (negated == nullptr && absl::StartsWith(name, prefix)) negated = absl::FindCommandLineFlag(name.substr(prefix.size()));
      }
      if (negated == nullptr || !negated->IsOfType<bool>()) throw UsageError(absl::StrCat("unknown flag ", shown));
      if (equals != std::string::npos) throw UsageError(absl::StrCat(shown, " takes no value"));
      args[i] = absl::StrCat("--no", negated->Name());
      continue;
    }
    args[i] = absl::StrCat("--", name, equals == std::string::npos ? "" : body.substr(equals));
    // Abseil's own flags (--flagfile=..., --fromenv=...) are Abseil's to read.
    if (flag->Filename().find("absl/flags") != std::string::npos) continue;
    std::string value;
    if (equals != std::string::npos) {
      value = body.substr(equals + 1);
    } else if (flag->IsOfType<bool>()) {
      continue;
    } else if (i + 1 >= args.size()) {
      throw UsageError(absl::StrCat(shown, " needs a value"));
    } else {
      value = args[++i];  // the value, as it is
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) throw UsageError(absl::StrCat(shown, ": ", error));
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--") break;
      if (arg == "--help" || arg == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
      }
    }
    absl::SetProgramUsageMessage(kUsage);
    const std::vector<std::string> args = CheckedArguments(argc, argv);
    std::vector<char*> arg_pointers;
    for (const std::string& a : args) arg_pointers.push_back(const_cast<char*>(a.c_str()));
    const std::vector<char*> positional = absl::ParseCommandLine(static_cast<int>(arg_pointers.size()), arg_pointers.data());
    if (positional.size() < 2) throw UsageError("no command given");
    const std::string command = positional[1];
    const std::vector<std::string> inputs(positional.begin() + 2, positional.end());

    Session session;
    session.api = GetFlag(FLAGS_api);
    if (session.api != "beit" && session.api != "v2") throw UsageError("--api: expected beit or v2");
    session.timeout_ms = GetFlag(FLAGS_timeout_ms);
    if (!GetFlag(FLAGS_token_file).empty()) {
      session.token = std::string(absl::StripAsciiWhitespace(ReadFile(GetFlag(FLAGS_token_file))));
    }
    if (session.api == "beit" && GetFlag(FLAGS_typed)) throw UsageError("--typed needs --api v2");
    grpc::ChannelArguments channel_args;
    channel_args.SetMaxReceiveMessageSize(256 << 20);
    channel_args.SetMaxSendMessageSize(256 << 20);
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (!GetFlag(FLAGS_tls_ca).empty()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = ReadFile(GetFlag(FLAGS_tls_ca));
      if (!GetFlag(FLAGS_tls_cert).empty()) ssl.pem_cert_chain = ReadFile(GetFlag(FLAGS_tls_cert));
      if (!GetFlag(FLAGS_tls_key).empty()) ssl.pem_private_key = ReadFile(GetFlag(FLAGS_tls_key));
      credentials = grpc::SslCredentials(ssl);
    } else if (!GetFlag(FLAGS_tls_cert).empty() || !GetFlag(FLAGS_tls_key).empty()) {
      throw UsageError("--tls-cert/--tls-key need --tls-ca");
    }
    const auto channel = grpc::CreateCustomChannel(GetFlag(FLAGS_server), credentials, channel_args);
    session.stub = pb::BeitService::NewStub(channel);
    if (session.api == "v2") {
      const Session* prepare = &session;
      session.v2 = std::make_unique<beit::client::OpenInferenceClient>(
          channel, [prepare](grpc::ClientContext& context) { prepare->Prepare(context); });
      if (GetFlag(FLAGS_typed) && (command == "info" || command == "health")) {
        throw UsageError("--typed is for the commands that run ModelInfer, not " + command);
      }
    }
    if (!inputs.empty()) return RunMany(session, command, inputs);
    if (!GetFlag(FLAGS_output).empty()) throw UsageError("--output is for many inputs: give them after the command");

    const bool v2 = session.api == "v2";
    const ImageOutputs outputs{GetFlag(FLAGS_png), GetFlag(FLAGS_overlay)};
    json out;
    if (command == "classify") {
      const std::string image = Required(FLAGS_image, "image");
      out = v2 ? V2Classify(session, image) : Classify(session, image);
    } else if (command == "segment") {
      const std::string image = Required(FLAGS_image, "image");
      out = v2 ? V2Segment(session, image, outputs) : Segment(session, image, outputs);
    } else if (command == "embed") {
      const std::string image = Required(FLAGS_image, "image");
      out = v2 ? V2Embed(session, image) : Embed(session, image);
      if (!GetFlag(FLAGS_npy).empty()) {
        const std::vector<float> embedding = out["embedding"].get<std::vector<float>>();
        beit::client::WriteNpy(GetFlag(FLAGS_npy), {static_cast<int64_t>(embedding.size())}, embedding);
        out["npy"] = GetFlag(FLAGS_npy);
      }
    } else if (command == "predict-tokens") {
      const std::string image = Required(FLAGS_image, "image");
      out = v2 ? V2PredictTokens(session, image) : PredictTokens(session, image);
    } else if (command == "explain" && !v2) {
      out = Explain(session, Required(FLAGS_image, "image"), GetFlag(FLAGS_png));
    } else if (command == "info") {
      out = v2 ? V2Info(session) : Info(session);
    } else if (command == "bench") {
      return Bench(session);
    } else if (command == "health") {
      return v2 ? V2Health(session) : Health(channel, session);
    } else {
      throw UsageError("unknown command '" + command + (v2 ? "' with --api v2" : "'"));
    }
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << std::endl;  // paths may not be UTF-8
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "beit-client: %s\n\n%s", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beit-client: %s\n", e.what());
    return 1;
  }
}
