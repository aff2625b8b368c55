#include "client/open_inference_commands.h"

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
#include "model/image/png_encoder.h"


namespace beit::client::cli {

using absl::GetFlag;
namespace oip = beit::client;  // the v2 client's types

namespace {

// --model-version as the protocol spells it: empty for 0 (the highest ready version).
std::string VersionFlag() {
  const int64_t version = GetFlag(FLAGS_model_version);
  return version > 0 ? std::to_string(version) : "";
}

oip::TensorEncoding Encoding() { return GetFlag(FLAGS_typed) ? oip::TensorEncoding::kTyped : oip::TensorEncoding::kRaw; }

// A ModelInfer of --model on the encoded image (`image` BYTES [1]) asking for one output.
oip::InferRequestSpec V2Spec(const std::string& image, const std::string& output,
                             oip::InferParameters output_parameters = {}) {
  oip::InferRequestSpec spec;
  spec.model = Required(FLAGS_model, "model");
  spec.version = VersionFlag();
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
  std::string version;
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
  return {result.model, result.version, *output};
}

json TensorsJson(const std::vector<oip::TensorDescription>& tensors) {
  json out = json::array();
  for (const auto& t : tensors) out.push_back({{"name", t.name}, {"datatype", t.datatype}, {"shape", t.shape}});
  return out;
}

}  // namespace


// beit.v1 flags with no v2 equivalent: a usage error naming the first one given.
void RejectForV2(const std::string& command, const std::vector<std::pair<const char*, bool>>& given) {
  for (const auto& [name, is_given] : given) {
    if (is_given) throw UsageError(absl::StrCat("--", name, " is not available with --api v2 ", command));
  }
}

json V2Classify(const Session& s, const std::string& image) {
  const V2Answer answer = V2Infer(s, V2ClassifyRequest(image), "probabilities", "BYTES");
  const auto images = oip::ParseClassifications(answer.output);
  if (!images.ok()) throw std::runtime_error(std::string(images.status().message()));
  json predictions = json::array();
  for (const oip::Classification& c : images->front()) {
    predictions.push_back({{"index", c.index}, {"label", c.label}, {"score", c.score}});
  }
  return {{"model", answer.model}, {"model_version", answer.version}, {"predictions", predictions}};
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
  json out = {{"model", answer.model}, {"model_version", answer.version}, {"height", shape[1]}, {"width", shape[2]}, {"class_counts", class_counts}};
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
  return {{"model", answer.model}, {"model_version", answer.version}, {"embedding", answer.output.fp32}};
}

json V2PredictTokens(const Session& s, const std::string& image) {
  const V2Answer answer = V2Infer(s, V2PredictTokensRequest(image), "predicted_tokens", "INT64");
  std::vector<int> mask;
  for (int64_t token : answer.output.ints) mask.push_back(token >= 0 ? 1 : 0);
  return {{"model", answer.model}, {"model_version", answer.version}, {"mask", mask}, {"predicted_tokens", answer.output.ints}};
}

json V2Info(const Session& s) {
  if (!GetFlag(FLAGS_model).empty()) {
    oip::ModelDescription m;
    Check(s.v2->ModelMetadata(GetFlag(FLAGS_model), VersionFlag(), &m));
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
    Check(s.v2->ModelReady(GetFlag(FLAGS_model), VersionFlag(), &ready));
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

}  // namespace beit::client::cli
