#include "model/model_runner.h"

#include "model/ops/op_profile.h"

#include "model/beit/beit_model.h"
#include "model/io/checkpoint.h"
#include "model/ops/cpu_tier.h"
#include "model/ops/dnnl_context.h"
#include "model/heads/image_classifier.h"
#include "model/ops/linear.h"
#include "model/heads/masked_image_model.h"
#include "model/model_error.h"
#include "model/heads/semantic_postprocess.h"
#include "model/heads/semantic_segmenter.h"

namespace beit {
namespace {

void AddFloat(std::vector<NamedOutput>& out, std::string name, Tensor t) {
  NamedOutput o;
  o.name = std::move(name);
  o.values = std::move(t);
  out.push_back(std::move(o));
}

void AddLabels(std::vector<NamedOutput>& out, std::string name, LabelMap m) {
  NamedOutput o;
  o.name = std::move(name);
  o.labels = std::move(m);
  o.is_label_map = true;
  out.push_back(std::move(o));
}

// Emits what every architecture shares: hidden states, attentions, debug biases.
void AddBackboneOutputs(std::vector<NamedOutput>& out, const BeitModel& model, BeitModelOutput& beit,
                        const RunOptions& options, const std::string& prefix) {
  if (prefix.empty()) {
    AddFloat(out, "last_hidden_state", std::move(beit.last_hidden_state));
    if (!beit.pooler_output.data.empty()) AddFloat(out, "pooler_output", std::move(beit.pooler_output));
  } else {
    AddFloat(out, prefix + "last_hidden_state", std::move(beit.last_hidden_state));
    if (!beit.pooler_output.data.empty()) AddFloat(out, prefix + "pooler_output", std::move(beit.pooler_output));
  }
  if (options.hidden_states) {
    for (size_t i = 0; i < beit.hidden_states.size(); ++i) {
      AddFloat(out, "hidden_states." + std::to_string(i), std::move(beit.hidden_states[i]));
    }
  }
  if (options.attentions) {
    for (size_t i = 0; i < beit.attentions.size(); ++i) {
      AddFloat(out, "attentions." + std::to_string(i), std::move(beit.attentions[i]));
    }
  }
  if (options.debug) {
    const BeitConfig& c = model.config();
    for (int l = 0; l < c.num_hidden_layers; ++l) {
      const Tensor* bias = model.RelativePositionBiasFor(l, beit.grid_h, beit.grid_w);
      if (!bias) break;
      Tensor b = *bias;
      b.shape.insert(b.shape.begin(), 1);
      AddFloat(out, model.has_shared_relative_position_bias() ? "debug.relative_position_bias.shared"
                                                              : "debug.relative_position_bias." + std::to_string(l),
               std::move(b));
      if (model.has_shared_relative_position_bias()) break;
    }
  }
}

}  // namespace

ModelRunner::~ModelRunner() = default;

std::unique_ptr<ModelRunner> ModelRunner::Load(const std::string& dir, std::vector<std::string>* warnings,
                                               Precision precision, WeightsFormat weights) {
  if (auto why = PrecisionUnsupportedReason(precision)) throw ModelError(*why);
  try {
    return LoadAt(dir, warnings, precision, weights);
  } catch (const dnnl::error& e) {
    // A kernel oneDNN cannot build here: say what was asked of which CPU, not oneDNN's own words.
    throw ModelError(dir + ": this CPU (tier " + std::string(CpuTierName(EffectiveCpuTier())) +
                     ") has no kernel for a layer of this model at precision " + PrecisionName(precision) +
                     "; try --precision f32");
  }
}

std::unique_ptr<ModelRunner> ModelRunner::LoadAt(const std::string& dir, std::vector<std::string>* warnings,
                                                 Precision precision, WeightsFormat weights) {
  const ScopedPrecision scoped_precision(precision);
  std::unique_ptr<ModelRunner> r(new ModelRunner());
  r->precision_ = precision;
  r->config_ = LoadBeitConfig(dir + "/config.json");
  r->architecture_ = r->config_.architecture();
  Checkpoint ckpt = OpenCheckpoint(dir, weights);
  const std::string& a = r->architecture_;
  // Data2Vec-Vision is BEiT's architecture under other class names (and weight prefix, which
  // Checkpoint finds); its bare model has no pooler unless asked, as in Transformers.
  if (a == "BeitModel" || a == "Data2VecVisionModel") {
    r->bare_ = std::make_unique<BeitModel>(r->config_, ckpt, /*add_pooling_layer=*/a == "BeitModel");
  } else if (a == "BeitForImageClassification" || a == "Data2VecVisionForImageClassification") {
    r->classifier_ = std::make_unique<ImageClassifier>(r->config_, ckpt);
  } else if (a == "BeitForMaskedImageModeling") {
    r->mim_ = std::make_unique<MaskedImageModel>(r->config_, ckpt);
  } else if (a == "BeitForSemanticSegmentation" || a == "Data2VecVisionForSemanticSegmentation") {
    r->segmenter_ = std::make_unique<SemanticSegmenter>(r->config_, ckpt);
  } else {
    throw ModelError(dir + "/config.json: architecture '" + a +
                     "' is not supported; expected BeitModel, BeitForImageClassification, "
                     "BeitForMaskedImageModeling, BeitForSemanticSegmentation, Data2VecVisionModel, "
                     "Data2VecVisionForImageClassification or Data2VecVisionForSemanticSegmentation");
  }
  if (warnings) {
    for (const auto& name : ckpt.UnusedNames()) {
      warnings->push_back(ckpt.path() + ": unexpected tensor '" + name + "' ignored (not used by " + a + ")");
    }
  }
  return r;
}

ModelHead ModelRunner::head() const {
  if (classifier_) return ModelHead::kImageClassification;
  if (mim_) return ModelHead::kMaskedImageModeling;
  if (segmenter_) return ModelHead::kSemanticSegmentation;
  return ModelHead::kNone;
}

bool ModelRunner::has_pooler() const { return classifier_ || (bare_ && architecture_ == "BeitModel"); }

std::vector<NamedOutput> ModelRunner::Run(const RunInputs& in, const RunOptions& options) const {
  // Everything a head does outside the encoder and the ops that time themselves.
  ScopedOpTimer timer(OpClass::kEmbeddingsAndHeads);
  dnnl::stream stream(CpuEngine());
  BeitModelInputs inputs;
  inputs.pixel_values = &in.pixel_values;
  if (in.bool_masked_pos) inputs.bool_masked_pos = &*in.bool_masked_pos;
  if (in.head_mask) inputs.head_mask = &*in.head_mask;
  BeitModelRequest request;
  request.hidden_states = options.hidden_states;
  request.attentions = options.attentions;
  request.attention_observer = options.attention_observer;  // every head forwards the request to its backbone

  if (in.bool_masked_pos && !mim_ && !bare_) {
    throw ModelError("bool_masked_pos applies to BeitForMaskedImageModeling (or BeitModel with a mask token), not " +
                     architecture_);
  }

  std::vector<NamedOutput> out;
  if (bare_) {
    BeitModelOutput beit = bare_->Forward(stream, inputs, request);
    AddBackboneOutputs(out, *bare_, beit, options, "");
  } else if (classifier_) {
    ClassificationOutput r = classifier_->Forward(stream, inputs, request);
    AddFloat(out, "logits", std::move(r.logits));
    AddBackboneOutputs(out, classifier_->backbone(), r.beit, options, "beit.");
  } else if (mim_) {
    MaskedImageModelingOutput r = mim_->Forward(stream, inputs, request);
    AddFloat(out, "logits", std::move(r.logits));
    AddBackboneOutputs(out, mim_->backbone(), r.beit, options, "beit.");
  } else {
    const int64_t B = in.pixel_values.shape.empty() ? 0 : in.pixel_values.shape[0];
    if (!options.target_sizes.empty() && static_cast<int64_t>(options.target_sizes.size()) != B) {
      throw ModelError("target sizes: got " + std::to_string(options.target_sizes.size()) + " for a batch of " +
                       std::to_string(B) + " images; give one per image");
    }
    SegmentationOutput r = segmenter_->Forward(stream, inputs, request, options.debug);
    for (size_t k = 0; k < options.target_sizes.size(); ++k) {
      SemanticPrediction p = PredictSemanticAtSize(r.logits, static_cast<int64_t>(k), options.target_sizes[k].first,
                                                   options.target_sizes[k].second, options.semantic_scores);
      AddLabels(out, "semantic_map." + std::to_string(k), std::move(p.map));
      if (options.semantic_scores) AddFloat(out, "semantic_scores." + std::to_string(k), std::move(p.scores));
    }
    AddLabels(out, "semantic_map_native", SemanticMapsNative(r.logits));
    AddFloat(out, "logits", std::move(r.logits));
    r.beit.pooler_output = Tensor();
    AddBackboneOutputs(out, segmenter_->backbone(), r.beit, options, "beit.");
    for (size_t k = 0; k < r.features.size(); ++k) AddFloat(out, "debug.features." + std::to_string(k), std::move(r.features[k]));
    if (!r.auxiliary_logits.data.empty()) AddFloat(out, "debug.auxiliary_logits", std::move(r.auxiliary_logits));
  }
  return out;
}

}  // namespace beit
