#include "server/open_inference/inference_executor.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace beit::serving::open_inference {
namespace {

constexpr char kPlatform[] = "beit-serve_onednn";

enum class Head { kClassification, kSegmentation, kMaskedImageModeling, kBackbone };

bool Has(const ModelDescription& d, Task task) {
  return std::find(d.tasks.begin(), d.tasks.end(), task) != d.tasks.end();
}

Head HeadOf(const ModelDescription& d) {
  if (Has(d, Task::kClassify)) return Head::kClassification;
  if (Has(d, Task::kSegment)) return Head::kSegmentation;
  if (Has(d, Task::kPredictTokens)) return Head::kMaskedImageModeling;
  return Head::kBackbone;
}

struct OutputKind {
  TensorMetadata metadata;
  Task task;
};

// What a model answers, in ModelMetadata's order; the first is the default output.
std::vector<OutputKind> OutputsOf(const ModelDescription& d) {
  const int64_t labels = static_cast<int64_t>(d.labels.size());
  const int64_t patches = static_cast<int64_t>(d.grid_height()) * d.grid_width();
  std::vector<OutputKind> out;
  switch (HeadOf(d)) {
    case Head::kClassification:
      out.push_back({{"probabilities", "FP32", {-1, labels}}, Task::kClassify});
      out.push_back({{"logits", "FP32", {-1, labels}}, Task::kClassify});
      break;
    case Head::kSegmentation:
      out.push_back({{"label_map", "INT32", {-1, -1, -1}}, Task::kSegment});
      out.push_back({{"logits", "FP32", {-1, labels, -1, -1}}, Task::kSegment});
      break;
    case Head::kMaskedImageModeling:
      out.push_back({{"predicted_tokens", "INT64", {-1, patches}}, Task::kPredictTokens});
      out.push_back({{"logits", "FP32", {-1, patches, d.vocab_size}}, Task::kPredictTokens});
      break;
    case Head::kBackbone:
      break;
  }
  if (d.has_pooler) out.push_back({{"pooler_output", "FP32", {-1, d.hidden_size}}, Task::kEmbed});
  out.push_back({{"last_hidden_state", "FP32", {-1, 1 + patches, d.hidden_size}}, Task::kEmbed});
  return out;
}

std::vector<TensorMetadata> InputsOf(const ModelDescription& d) {
  std::vector<TensorMetadata> in = {{"image", "BYTES", {-1}},
                                    {"pixel_values", "FP32", {-1, 3, d.image_height, d.image_width}}};
  if (HeadOf(d) == Head::kMaskedImageModeling) {
    in.push_back({"bool_masked_pos", "BOOL", {-1, static_cast<int64_t>(d.grid_height()) * d.grid_width()}});
  }
  return in;
}

std::string Names(const std::vector<OutputKind>& outputs) {
  std::vector<std::string> names;
  for (const OutputKind& o : outputs) names.push_back(o.metadata.name);
  return absl::StrJoin(names, ", ");
}

std::string ShapeText(const std::vector<int64_t>& shape) { return absl::StrCat("[", absl::StrJoin(shape, ","), "]"); }

// One output the response carries.
struct PlannedOutput {
  std::string name;
  Task task;
  int classification = 0;  // K > 0: "score:index:label" strings of the K best
};

// A validated request: where the images come from, what each image runs, what the answer holds.
struct Plan {
  std::shared_ptr<ServedModel> model;
  int64_t count = 0;  // N images
  const InferTensor* images = nullptr;        // BYTES [N] or [N, 1]
  const InferTensor* pixel_values = nullptr;  // FP32 [N, 3, H, W]
  const InferTensor* mask = nullptr;          // BOOL [N, num_patches]
  std::optional<double> mask_ratio;
  int64_t seed = 0;
  std::optional<std::pair<int64_t, int64_t>> output_size;  // output_height, output_width
  std::vector<PlannedOutput> outputs;
  bool runs[5] = {false, false, false, false, false};  // by Task
  bool classify_logits = false, segment_logits = false, tokens_logits = false, last_hidden_state = false;
};

int TaskIndex(Task t) { return static_cast<int>(t); }

absl::StatusOr<Plan> MakePlan(std::shared_ptr<ServedModel> model, const InferRequest& request,
                              const BatcherOptions& batching) {
  const ModelDescription& d = model->description();
  Plan plan;
  plan.model = model;
  const Head head = HeadOf(d);
  const std::vector<TensorMetadata> accepted = InputsOf(d);
  for (const InferTensor& input : request.inputs) {
    const TensorMetadata* meta = nullptr;
    for (const TensorMetadata& m : accepted) {
      if (m.name == input.name) meta = &m;
    }
    if (!meta) {
      std::vector<std::string> names;
      for (const TensorMetadata& m : accepted) names.push_back(m.name + " (" + m.datatype + ")");
      return absl::InvalidArgumentError(absl::StrCat("unknown input '", input.name, "'; model '", d.name, "' takes ",
                                                     absl::StrJoin(names, ", ")));
    }
    if (input.datatype != meta->datatype) {
      return absl::InvalidArgumentError(absl::StrCat("input '", input.name, "' must have datatype ", meta->datatype,
                                                     ", not ", input.datatype));
    }
    const InferTensor** slot = input.name == "image"          ? &plan.images
                               : input.name == "pixel_values" ? &plan.pixel_values
                                                              : &plan.mask;
    if (*slot) return absl::InvalidArgumentError(absl::StrCat("input '", input.name, "' is given twice"));
    *slot = &input;
  }
  if (plan.images && plan.pixel_values) {
    return absl::InvalidArgumentError("give either input 'image' (encoded JPEG/PNG) or 'pixel_values', not both");
  }
  if (!plan.images && !plan.pixel_values) {
    return absl::InvalidArgumentError(absl::StrCat("the request has no image: give input 'image' (BYTES [N], "
                                                   "encoded JPEG or PNG) or 'pixel_values' (FP32 [N,3,",
                                                   d.image_height, ",", d.image_width, "])"));
  }
  if (plan.images) {
    const std::vector<int64_t>& s = plan.images->shape;
    if (s.empty() || s.size() > 2 || (s.size() == 2 && s[1] != 1) || s[0] < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("input 'image' has shape ", ShapeText(s), "; it must be [N] or [N,1] with N >= 1"));
    }
    plan.count = s[0];
    if (static_cast<int64_t>(plan.images->elements.size()) != plan.count) {
      return absl::InvalidArgumentError(absl::StrCat("input 'image' has ", plan.images->elements.size(),
                                                     " elements; its shape ", ShapeText(s), " says ", plan.count));
    }
  } else {
    const std::vector<int64_t>& s = plan.pixel_values->shape;
    if (s.size() != 4 || s[0] < 1 || s[1] != 3 || s[2] != d.image_height || s[3] != d.image_width) {
      return absl::InvalidArgumentError(absl::StrCat("input 'pixel_values' has shape ", ShapeText(s), "; model '",
                                                     d.name, "' takes [N,3,", d.image_height, ",", d.image_width,
                                                     "] with N >= 1"));
    }
    plan.count = s[0];
    if (plan.pixel_values->raw.size() != static_cast<size_t>(plan.count * 3 * s[2] * s[3]) * sizeof(float)) {
      return absl::InvalidArgumentError(absl::StrCat("input 'pixel_values' holds ", plan.pixel_values->raw.size(),
                                                     " bytes; its shape ", ShapeText(s), " needs ",
                                                     plan.count * 3 * s[2] * s[3] * 4));
    }
  }
  if (plan.count > batching.max_queue_size) {
    return absl::ResourceExhaustedError(absl::StrCat("the request holds ", plan.count, " images; a model's queue holds ",
                                                     batching.max_queue_size,
                                                     " (--max-queue-size): send at most that many per request"));
  }

  // Masked image modeling: an explicit mask per image, or BEiT's blockwise masking.
  absl::StatusOr<std::optional<double>> ratio = GetDoubleParameter(request.parameters, "mask_ratio");
  if (!ratio.ok()) return ratio.status();
  absl::StatusOr<std::optional<int64_t>> seed = GetIntParameter(request.parameters, "seed");
  if (!seed.ok()) return seed.status();
  plan.mask_ratio = *ratio;
  plan.seed = seed->value_or(0);
  if (head == Head::kMaskedImageModeling) {
    const int64_t patches = static_cast<int64_t>(d.grid_height()) * d.grid_width();
    if (plan.mask && plan.mask_ratio) {
      return absl::InvalidArgumentError("give either input 'bool_masked_pos' or parameter 'mask_ratio', not both");
    }
    if (!plan.mask && !plan.mask_ratio) {
      return absl::InvalidArgumentError(absl::StrCat("model '", d.name, "' predicts masked patches: give input "
                                                     "'bool_masked_pos' (BOOL [N,", patches,
                                                     "]) or request parameters 'mask_ratio' and 'seed'"));
    }
    if (plan.mask) {
      const std::vector<int64_t>& s = plan.mask->shape;
      if (s.size() != 2 || s[0] != plan.count || s[1] != patches ||
          plan.mask->raw.size() != static_cast<size_t>(plan.count * patches)) {
        return absl::InvalidArgumentError(absl::StrCat("input 'bool_masked_pos' has shape ", ShapeText(s), "; it must be [",
                                                       plan.count, ",", patches, "] (one row per image, ",
                                                       d.grid_height(), "x", d.grid_width(), " patches row-major)"));
      }
    }
  } else if (plan.mask || plan.mask_ratio) {
    return absl::InvalidArgumentError(absl::StrCat("model '", d.name, "' is a ", d.architecture,
                                                   ": 'bool_masked_pos' and 'mask_ratio' are for masked image modeling"));
  }

  // Segmentation output size: as Segment's output_height / output_width.
  absl::StatusOr<std::optional<int64_t>> height = GetIntParameter(request.parameters, "output_height");
  if (!height.ok()) return height.status();
  absl::StatusOr<std::optional<int64_t>> width = GetIntParameter(request.parameters, "output_width");
  if (!width.ok()) return width.status();
  if (height->has_value() != width->has_value()) {
    return absl::InvalidArgumentError("give both parameters output_height and output_width, or neither");
  }
  if (height->has_value()) plan.output_size = std::make_pair(**height, **width);

  const std::vector<OutputKind> offered = OutputsOf(d);
  std::vector<RequestedOutput> requested = request.outputs;
  if (requested.empty()) requested.push_back({offered.front().metadata.name, {}});
  for (const RequestedOutput& r : requested) {
    const OutputKind* kind = nullptr;
    for (const OutputKind& o : offered) {
      if (o.metadata.name == r.name) kind = &o;
    }
    if (!kind) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown output '", r.name, "'; model '", d.name, "' answers ", Names(offered)));
    }
    for (const PlannedOutput& p : plan.outputs) {
      if (p.name == r.name) return absl::InvalidArgumentError(absl::StrCat("output '", r.name, "' is requested twice"));
    }
    PlannedOutput out{r.name, kind->task, 0};
    absl::StatusOr<std::optional<int64_t>> k = GetIntParameter(r.parameters, "classification");
    if (!k.ok()) return absl::InvalidArgumentError(absl::StrCat("output '", r.name, "': ", k.status().message()));
    if (k->has_value()) {
      if (head != Head::kClassification || kind->task != Task::kClassify) {
        return absl::InvalidArgumentError(absl::StrCat("output '", r.name, "': the classification parameter applies "
                                                       "to a classifier's 'probabilities' or 'logits'"));
      }
      if (**k < 1) {
        return absl::InvalidArgumentError(absl::StrCat("output '", r.name, "': classification must be >= 1, not ", **k));
      }
      out.classification = static_cast<int>(std::min<int64_t>(**k, static_cast<int64_t>(d.labels.size())));
    }
    plan.runs[TaskIndex(kind->task)] = true;
    if (r.name == "logits") {
      plan.classify_logits = plan.classify_logits || kind->task == Task::kClassify;
      plan.segment_logits = plan.segment_logits || kind->task == Task::kSegment;
      plan.tokens_logits = plan.tokens_logits || kind->task == Task::kPredictTokens;
    }
    if (kind->task == Task::kClassify) plan.classify_logits = true;  // probabilities come from the logits
    if (r.name == "last_hidden_state") plan.last_hidden_state = true;
    plan.outputs.push_back(out);
  }
  return plan;
}

InferTensor FloatTensor(std::string name, std::vector<int64_t> shape, size_t count) {
  InferTensor t;
  t.name = std::move(name);
  t.datatype = "FP32";
  t.shape = std::move(shape);
  t.raw.resize(count * sizeof(float));
  return t;
}

void PutFloats(InferTensor& t, size_t offset_elements, const float* values, size_t count) {
  if (count > 0) std::memcpy(t.raw.data() + offset_elements * sizeof(float), values, count * sizeof(float));
}

// "score:index:label" of the k best values, best first, ties to the lower index.
void AppendClassification(const std::vector<float>& values, int k, const std::vector<std::string>& labels,
                          std::vector<std::string>* out) {
  for (int index : TopKIndices(values.data(), static_cast<int>(values.size()), k)) {
    out->push_back(absl::StrFormat("%.6f:%d:%s", values[index], index, labels[index]));
  }
}

InferResponse BuildResponse(const Plan& plan, const InferRequest& request, const InferenceResult& g) {
  const ModelDescription& d = plan.model->description();
  const size_t n = static_cast<size_t>(plan.count);
  InferResponse response;
  response.model_name = d.name;
  response.model_version = std::to_string(d.version);
  response.id = request.id;
  for (const PlannedOutput& out : plan.outputs) {
    if (out.task == Task::kClassify) {
      const size_t labels = d.labels.size();
      std::vector<std::vector<float>> values(n);
      for (size_t i = 0; i < n; ++i) {
        const std::vector<float>& logits = g.classify[i].logits;
        values[i] = out.name == "probabilities" ? Softmax(logits.data(), static_cast<int>(logits.size())) : logits;
      }
      if (out.classification > 0) {
        InferTensor t;
        t.name = out.name;
        t.datatype = "BYTES";
        t.shape = {plan.count, out.classification};
        for (size_t i = 0; i < n; ++i) AppendClassification(values[i], out.classification, d.labels, &t.elements);
        response.outputs.push_back(std::move(t));
      } else {
        InferTensor t = FloatTensor(out.name, {plan.count, static_cast<int64_t>(labels)}, n * labels);
        for (size_t i = 0; i < n; ++i) PutFloats(t, i * labels, values[i].data(), labels);
        response.outputs.push_back(std::move(t));
      }
    } else if (out.task == Task::kSegment) {
      if (out.name == "label_map") {
        const LabelMap& first = g.segment[0].label_map;
        InferTensor t;
        t.name = out.name;
        t.datatype = "INT32";
        t.shape = {plan.count, first.dim(0), first.dim(1)};
        const size_t per_image = first.data.size();
        t.raw.resize(n * per_image * sizeof(int32_t));
        for (size_t i = 0; i < n; ++i) {
          std::memcpy(t.raw.data() + i * per_image * sizeof(int32_t), g.segment[i].label_map.data.data(),
                      per_image * sizeof(int32_t));
        }
        response.outputs.push_back(std::move(t));
      } else {
        const Tensor& first = g.segment[0].logits;
        const size_t per_image = first.data.size();
        InferTensor t = FloatTensor(out.name, {plan.count, first.dim(0), first.dim(1), first.dim(2)}, n * per_image);
        for (size_t i = 0; i < n; ++i) PutFloats(t, i * per_image, g.segment[i].logits.ptr(), per_image);
        response.outputs.push_back(std::move(t));
      }
    } else if (out.task == Task::kPredictTokens) {
      const int64_t patches = static_cast<int64_t>(d.grid_height()) * d.grid_width();
      if (out.name == "predicted_tokens") {
        InferTensor t;
        t.name = out.name;
        t.datatype = "INT64";
        t.shape = {plan.count, patches};
        std::vector<int64_t> tokens(n * patches, -1);
        for (size_t i = 0; i < n; ++i) {
          for (const MaskedPatchPrediction& p : g.predict_tokens[i].patches) {
            tokens[i * patches + p.patch_index] = p.predictions.front().token_id;
          }
        }
        t.raw.assign(reinterpret_cast<const char*>(tokens.data()), tokens.size() * sizeof(int64_t));
        response.outputs.push_back(std::move(t));
      } else {
        const size_t per_image = static_cast<size_t>(patches) * d.vocab_size;
        InferTensor t = FloatTensor(out.name, {plan.count, patches, d.vocab_size}, n * per_image);
        for (size_t i = 0; i < n; ++i) PutFloats(t, i * per_image, g.predict_tokens[i].logits.data(), per_image);
        response.outputs.push_back(std::move(t));
      }
    } else {
      if (out.name == "pooler_output") {
        const size_t hidden = static_cast<size_t>(d.hidden_size);
        InferTensor t = FloatTensor(out.name, {plan.count, d.hidden_size}, n * hidden);
        for (size_t i = 0; i < n; ++i) PutFloats(t, i * hidden, g.embed[i].embedding.data(), hidden);
        response.outputs.push_back(std::move(t));
      } else {
        const int64_t tokens = 1 + static_cast<int64_t>(d.grid_height()) * d.grid_width();
        const size_t per_image = static_cast<size_t>(tokens) * d.hidden_size;
        InferTensor t = FloatTensor(out.name, {plan.count, tokens, d.hidden_size}, n * per_image);
        for (size_t i = 0; i < n; ++i) PutFloats(t, i * per_image, g.embed[i].last_hidden_state.data(), per_image);
        response.outputs.push_back(std::move(t));
      }
    }
  }
  return response;
}

}  // namespace

ServerMetadata InferenceExecutor::GetServerMetadata() const {
  return ServerMetadata{"beit-serve", server_version_, {"classification", "binary_tensor_data", "model_repository"}};
}

absl::StatusOr<std::shared_ptr<ServedModel>> InferenceExecutor::FindModel(const std::string& name,
                                                                        const std::string& version) const {
  int64_t number = 0;
  if (!version.empty() && (!absl::SimpleAtoi(version, &number) || number < 1)) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' has no version '", version,
                                            "'; versions are numbers from 1 (or empty for the highest ready)"));
  }
  return models_->Find(name, number);
}

absl::StatusOr<ModelMetadata> InferenceExecutor::GetModelMetadata(const std::string& name,
                                                                  const std::string& version) const {
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindModel(name, version);
  if (!model.ok()) return model.status();
  const ModelDescription& d = (*model)->description();
  ModelMetadata m;
  m.name = d.name;
  for (int64_t v : models_->ReadyVersions(name)) m.versions.push_back(std::to_string(v));
  m.platform = kPlatform;
  m.inputs = InputsOf(d);
  for (const OutputKind& o : OutputsOf(d)) m.outputs.push_back(o.metadata);
  return m;
}

absl::StatusOr<bool> InferenceExecutor::ModelReady(const std::string& name, const std::string& version) const {
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindModel(name, version);
  if (model.status().code() == absl::StatusCode::kUnavailable) return false;  // known, not serving now
  if (!model.ok()) return model.status();
  return ServerReady();
}

namespace {

// The plan as the serving core's request: the images (pointing into `request`), and for each
// task the outputs need, its parameters.
InferenceRequest ToCoreRequest(const Plan& plan) {
  const ModelDescription& d = plan.model->description();
  InferenceRequest core;
  core.model = plan.model;
  core.image_input_name = plan.images ? "image" : "pixel_values";
  const size_t n = static_cast<size_t>(plan.count);
  const size_t per_image = 3 * static_cast<size_t>(d.image_height) * d.image_width;
  const int64_t patches = static_cast<int64_t>(d.grid_height()) * d.grid_width();
  for (size_t i = 0; i < n; ++i) {
    ImageInput image;
    if (plan.images) {
      image.encoded = plan.images->elements[i];
    } else {
      image.pixel_shape = {1, 3, d.image_height, d.image_width};
      image.pixel_values = reinterpret_cast<const float*>(plan.pixel_values->raw.data()) + i * per_image;
      image.pixel_count = per_image;
    }
    if (plan.mask) {
      image.patch_mask.assign(plan.mask->raw.begin() + i * patches, plan.mask->raw.begin() + (i + 1) * patches);
      for (uint8_t& m : image.patch_mask) m = m != 0;
    }
    core.images.push_back(std::move(image));
  }
  if (plan.runs[TaskIndex(Task::kClassify)]) {
    core.classify = ClassifyParams{/*top_k=*/0, /*with_predictions=*/false, /*with_logits=*/true};
  }
  if (plan.runs[TaskIndex(Task::kSegment)]) {
    SegmentParams& p = core.segment.emplace();
    if (plan.output_size) std::tie(p.output_height, p.output_width) = *plan.output_size;
    p.with_logits = plan.segment_logits;
  }
  if (plan.runs[TaskIndex(Task::kEmbed)]) core.embed.emplace().with_last_hidden_state = plan.last_hidden_state;
  if (plan.runs[TaskIndex(Task::kPredictTokens)]) {
    PredictTokensParams& p = core.predict_tokens.emplace();
    p.mask_ratio = plan.mask_ratio ? static_cast<float>(*plan.mask_ratio) : 0.f;
    p.seed = static_cast<uint64_t>(plan.seed);
    p.top_k = 1;
    p.with_logits = plan.tokens_logits;
  }
  return core;
}

}  // namespace

void InferenceExecutor::Infer(std::shared_ptr<const InferRequest> request, Clock::time_point deadline,
                              CancellationFlag cancelled, Done done) {
  if (absl::Status accepting = path_.Accepting(); !accepting.ok()) return done(accepting, InferStats{});
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindModel(request->model_name, request->model_version);
  if (!model.ok()) return done(model.status(), InferStats{});
  const BatcherOptions batching = (*model)->batching();
  absl::StatusOr<Plan> planned = MakePlan(std::move(*model), *request, batching);
  if (!planned.ok()) return done(planned.status(), InferStats{});
  auto plan = std::make_shared<const Plan>(std::move(*planned));
  path_.Run(ToCoreRequest(*plan), deadline, std::move(cancelled),
            [plan, request, done](absl::StatusOr<InferenceResult> result, const InferenceStats& served) {
              InferStats stats;
              stats.preprocess_seconds = served.preprocess_seconds;
              stats.queue_seconds = served.queue_seconds();
              stats.batch_size = served.batch_size;
              if (!result.ok()) return done(result.status(), stats);
              absl::StatusOr<InferResponse> response;
              try {
                response = BuildResponse(*plan, *request, *result);
              } catch (const std::exception& e) {
                response = absl::InternalError(std::string("building the response: ") + e.what());
              }
              done(std::move(response), stats);
            });
}

namespace {

absl::Status CheckRepository(const repository::RepositoryManager* manager, const std::string& repository_name) {
  if (!manager) return absl::FailedPreconditionError("this server has no model repository");
  if (!repository_name.empty()) {
    return absl::InvalidArgumentError("repository '" + repository_name +
                                      "': this server has one model repository; leave repository_name empty");
  }
  return absl::OkStatus();
}

absl::Status CheckRepositoryCall(const repository::RepositoryManager* manager, const std::string& repository_name,
                                 const std::string& model, size_t parameters) {
  if (absl::Status s = CheckRepository(manager, repository_name); !s.ok()) return s;
  if (model.empty()) return absl::InvalidArgumentError("the request names no model");
  if (parameters > 0) return absl::InvalidArgumentError("load and unload take no parameters");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<VersionStatus>> InferenceExecutor::RepositoryIndex(const std::string& repository_name,
                                                                              bool ready_only) const {
  if (absl::Status s = CheckRepository(repository_, repository_name); !s.ok()) return s;
  std::vector<VersionStatus> index = repository_->Index();
  if (ready_only) {
    index.erase(std::remove_if(index.begin(), index.end(),
                               [](const VersionStatus& v) { return v.state != VersionState::kReady; }),
                index.end());
  }
  return index;
}

void InferenceExecutor::RepositoryLoad(const std::string& repository_name, const std::string& model,
                                       size_t parameters, std::function<void(absl::Status)> done) {
  if (absl::Status s = CheckRepositoryCall(repository_, repository_name, model, parameters); !s.ok()) return done(s);
  repository_->Load(model, std::move(done));
}

void InferenceExecutor::RepositoryUnload(const std::string& repository_name, const std::string& model,
                                         size_t parameters, std::function<void(absl::Status)> done) {
  if (absl::Status s = CheckRepositoryCall(repository_, repository_name, model, parameters); !s.ok()) return done(s);
  repository_->Unload(model, std::move(done));
}

}  // namespace beit::serving::open_inference
