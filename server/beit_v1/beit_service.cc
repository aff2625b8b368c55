#include "server/beit_v1/beit_service.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <numeric>
#include <optional>
#include <utility>

#include "model/image/heatmap_overlay.h"
#include "model/image/image_decoder.h"
#include "model/image/png_encoder.h"
#include "model/ops/interpolate.h"
#include "model/model_error.h"
#include "server/grpc/grpc_call_support.h"
#include "server/beit_v1/request_translation.h"

namespace beit::serving {
namespace {

namespace pb = beit::v1;



void FillStats(const InferenceStats& served, pb::ServingStats* stats) {
  stats->set_batch_size(served.batch_size);
  stats->set_queue_time_us(served.queue_time_us);
  stats->set_compute_time_us(served.compute_time_us);
}

// ---- responses (on the worker pool) ----

void FillClassify(const ServedModel&, const pb::ClassifyRequest&, InferenceResult& result,
                  pb::ClassifyResponse* response) {
  const ClassifyOutput& out = result.classify.at(0);
  for (const ClassScore& s : out.predictions) {
    pb::ClassPrediction* p = response->add_predictions();
    p->set_index(s.index);
    p->set_label(s.label);
    p->set_score(s.score);
  }
}

void FillSegment(const ServedModel& model, const pb::SegmentRequest& request, InferenceResult& result,
                 pb::SegmentResponse* response) {
  const SegmentOutput& out = result.segment.at(0);
  const LabelMap& map = out.label_map;
  response->set_height(static_cast<int32_t>(map.dim(0)));
  response->set_width(static_cast<int32_t>(map.dim(1)));
  response->mutable_label_map()->Add(map.data.begin(), map.data.end());
  const std::vector<std::string>& labels = model.description().labels;
  std::vector<int64_t> counts(labels.size(), 0);
  for (int32_t label : map.data) ++counts[label];
  std::vector<int> order(counts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return counts[a] > counts[b]; });
  for (int index : order) {
    if (counts[index] == 0) break;
    pb::ClassPixelCount* c = response->add_class_counts();
    c->set_index(index);
    c->set_label(labels[index]);
    c->set_pixels(counts[index]);
  }
  if (request.return_png()) response->set_label_map_png(EncodeLabelMapPng(map));
  if (request.return_scores()) response->mutable_scores()->Add(out.scores.data.begin(), out.scores.data.end());
}

void FillEmbed(const ServedModel& model, const pb::EmbedRequest&, InferenceResult& result, pb::EmbedResponse* response) {
  const EmbedOutput& out = result.embed.at(0);
  const ModelDescription& d = model.description();
  response->mutable_embedding()->Add(out.embedding.begin(), out.embedding.end());
  response->set_pooling(d.pooling);
  response->set_num_patches(d.grid_height() * d.grid_width());
  response->set_hidden_size(d.hidden_size);
  for (const LayerTokens& t : out.layers) {
    pb::LayerTokens* l = response->add_layers();
    l->set_layer(t.layer);
    l->mutable_cls()->Add(t.cls.begin(), t.cls.end());
    l->mutable_mean()->Add(t.mean.begin(), t.mean.end());
    l->mutable_patches()->Add(t.patches.begin(), t.patches.end());
  }
}

void FillPredictTokens(const ServedModel&, const pb::PredictTokensRequest&, InferenceResult& result,
                       pb::PredictTokensResponse* response) {
  const PredictTokensOutput& out = result.predict_tokens.at(0);
  for (const MaskedPatchPrediction& patch : out.patches) {
    pb::MaskedPatch* p = response->add_patches();
    p->set_patch_index(patch.patch_index);
    for (const TokenScore& t : patch.predictions) {
      pb::TokenPrediction* tp = p->add_predictions();
      tp->set_token_id(t.token_id);
      tp->set_probability(t.probability);
    }
  }
  for (uint8_t m : out.mask) response->add_mask(m != 0);
}

// The overlay is drawn on the image as sent (decoded again, within the limits it was decoded
// under: the request holds the bytes), or on a greyscale picture of the pixel values.
std::string ExplainOverlayPng(const pb::Image& source, const DecodeLimits& limits, const PreparedImage* pixels_only,
                              const ExplainOutput& out) {
  const Image8 image = source.source_case() == pb::Image::kEncoded
                           ? DecodeImage(reinterpret_cast<const uint8_t*>(source.encoded().data()),
                                         source.encoded().size(), limits)
                           : GreyscaleFromPixels(pixels_only->pixels);
  std::vector<float> map(static_cast<size_t>(image.height * image.width));
  ResizeBilinear(out.grid.data(), 1, out.grid_height, out.grid_width, map.data(), image.height, image.width);
  return EncodeRgbPng(HeatmapOverlay(image, map));
}

void FillExplain(const ServedModel& model, const pb::ExplainRequest& request, InferenceResult& result,
                 pb::ExplainResponse* response) {
  const ExplainOutput& out = result.explain.at(0);
  response->set_grid_height(static_cast<int32_t>(out.grid_height));
  response->set_grid_width(static_cast<int32_t>(out.grid_width));
  response->mutable_grid()->Add(out.grid.begin(), out.grid.end());
  response->set_height(static_cast<int32_t>(out.height));
  response->set_width(static_cast<int32_t>(out.width));
  response->mutable_map()->Add(out.map.begin(), out.map.end());
  for (const ClassScore& s : out.predictions) {
    pb::ClassPrediction* p = response->add_predictions();
    p->set_index(s.index);
    p->set_label(s.label);
    p->set_score(s.score);
  }
  if (request.return_png()) {
    std::optional<PreparedImage> pixels_only;
    if (request.image().source_case() == pb::Image::kPixelValues) {
      const auto& pv = request.image().pixel_values();
      absl::StatusOr<PreparedImage> prepared = model.PreparePixelValues(
          std::vector<int64_t>(pv.shape().begin(), pv.shape().end()), pv.data().data(), pv.data_size());
      if (prepared.ok()) pixels_only = std::move(*prepared);
    }
    response->set_png(
        ExplainOverlayPng(request.image(), model.decode_limits(), pixels_only ? &*pixels_only : nullptr, out));
  }
}

pb::Task ToProto(Task task) {
  switch (task) {
    case Task::kClassify:
      return pb::TASK_CLASSIFY;
    case Task::kSegment:
      return pb::TASK_SEGMENT;
    case Task::kEmbed:
      return pb::TASK_EMBED;
    case Task::kPredictTokens:
      return pb::TASK_PREDICT_TOKENS;
    case Task::kExplain:
      return pb::TASK_EXPLAIN;
  }
  return pb::TASK_UNSPECIFIED;
}

void FillModelInfo(const ServedModel& model, pb::ModelInfo* info) {
  const ModelDescription& d = model.description();
  info->set_name(d.name);
  info->set_architecture(d.architecture);
  for (Task t : d.tasks) info->add_tasks(ToProto(t));
  for (const auto& [task, s] : model.Stats()) {
    pb::TaskStats* out = info->add_stats();
    out->set_task(ToProto(task));
    out->set_batches(s.batches);
    out->set_requests_computed(s.requests_computed);
    out->set_rejected_queue_full(s.rejected_queue_full);
    out->set_expired(s.expired);
    out->set_cancelled(s.cancelled);
    out->set_largest_batch(s.largest_batch);
    out->set_queued(s.queued);
  }
  info->set_image_height(d.image_height);
  info->set_image_width(d.image_width);
  info->set_patch_size(d.patch_size);
  info->set_hidden_size(d.hidden_size);
  info->set_num_layers(d.num_layers);
  info->set_num_labels(static_cast<int32_t>(d.labels.size()));
  for (const std::string& label : d.labels) info->add_labels(label);
  info->set_vocab_size(d.vocab_size);
  info->set_pooling(d.pooling);
  info->set_path(d.path);
  info->set_max_batch_size(model.batching().max_batch_size);
  info->set_precision(d.precision);
  info->set_cpu_tier(d.cpu_tier);
  info->set_version(d.version);
  info->set_state(VersionStateName(VersionState::kReady));
}

}  // namespace

template <typename Request, typename Response, typename Fill>
grpc::ServerUnaryReactor* BeitServiceImpl::Serve(grpc::CallbackServerContext* context, const Request* request,
                                                 Response* response, Task task, Fill fill) {
  auto* call = new ObservedCall(observers_, "beit", TaskName(task), request->model());
  if (absl::Status accepting = path_.Accepting(); !accepting.ok()) {
    call->FinishWith(accepting);
    return call;
  }
  if (Unauthenticated(auth_, /*exempt=*/false, *context, call)) return call;
  absl::StatusOr<std::shared_ptr<ServedModel>> found = models_->FindForTask(request->model(), task, request->version());
  if (!found.ok()) {
    call->FinishWith(found.status());
    return call;
  }
  std::shared_ptr<ServedModel> model = *found;  // the answer is built from the version that computed it
  InferenceRequest inference;
  inference.model = std::move(*found);
  if (absl::Status translated = beit_v1::Translate(*request, &inference); !translated.ok()) {
    call->FinishWith(translated);
    return call;
  }
  path_.Run(std::move(inference), SteadyDeadline(*context), call->cancelled(),
            [=](absl::StatusOr<InferenceResult> result, const InferenceStats& stats) {
              call->record().preprocess_seconds = stats.preprocess_seconds;
              if (stats.batch_size > 0) {
                call->record().batch_size = stats.batch_size;
                call->record().queue_seconds = stats.queue_seconds();
              }
              if (!result.ok()) return call->FinishWith(result.status());
              try {
                fill(*model, *request, *result, response);
              } catch (const std::exception& e) {
                return call->FinishWith(absl::InternalError(std::string("building the response: ") + e.what()));
              }
              response->set_model(model->description().name);
              response->set_model_version(model->description().version);
              FillStats(stats, response->mutable_stats());
              call->FinishWith(absl::OkStatus());
            });
  return call;
}

grpc::ServerUnaryReactor* BeitServiceImpl::Classify(grpc::CallbackServerContext* context,
                                                    const pb::ClassifyRequest* request, pb::ClassifyResponse* response) {
  return Serve(context, request, response, Task::kClassify, FillClassify);
}

grpc::ServerUnaryReactor* BeitServiceImpl::Segment(grpc::CallbackServerContext* context,
                                                   const pb::SegmentRequest* request, pb::SegmentResponse* response) {
  return Serve(context, request, response, Task::kSegment, FillSegment);
}

grpc::ServerUnaryReactor* BeitServiceImpl::Embed(grpc::CallbackServerContext* context, const pb::EmbedRequest* request,
                                                 pb::EmbedResponse* response) {
  return Serve(context, request, response, Task::kEmbed, FillEmbed);
}

grpc::ServerUnaryReactor* BeitServiceImpl::PredictTokens(grpc::CallbackServerContext* context,
                                                         const pb::PredictTokensRequest* request,
                                                         pb::PredictTokensResponse* response) {
  return Serve(context, request, response, Task::kPredictTokens, FillPredictTokens);
}

grpc::ServerUnaryReactor* BeitServiceImpl::Explain(grpc::CallbackServerContext* context,
                                                   const pb::ExplainRequest* request, pb::ExplainResponse* response) {
  return Serve(context, request, response, Task::kExplain, FillExplain);
}

grpc::ServerUnaryReactor* BeitServiceImpl::GetModelInfo(grpc::CallbackServerContext* context,
                                                        const pb::GetModelInfoRequest* request, pb::ModelInfo* response) {
  auto* call = new ObservedCall(observers_, "beit", "GetModelInfo", request->model());
  if (Unauthenticated(auth_, info_exempt_, *context, call)) return call;
  absl::StatusOr<std::shared_ptr<ServedModel>> model = models_->Find(request->model(), request->version());
  if (model.ok()) FillModelInfo(**model, response);
  call->FinishWith(model.status());
  return call;
}

grpc::ServerUnaryReactor* BeitServiceImpl::ListModels(grpc::CallbackServerContext* context, const pb::ListModelsRequest*,
                                                      pb::ListModelsResponse* response) {
  auto* call = new ObservedCall(observers_, "beit", "ListModels", "");
  if (Unauthenticated(auth_, info_exempt_, *context, call)) return call;
  // Every version known, in the index's order; the READY ones described in full.
  const std::vector<std::shared_ptr<const ServedModel>> ready = models_->models();
  for (const VersionStatus& v : models_->Index()) {
    const auto served = std::find_if(ready.begin(), ready.end(), [&](const auto& m) {
      return m->description().name == v.name && m->description().version == v.version;
    });
    pb::ModelInfo* info = response->add_models();
    if (v.state == VersionState::kReady && served != ready.end()) {
      FillModelInfo(**served, info);
      continue;
    }
    info->set_name(v.name);
    info->set_version(v.version);
    info->set_state(VersionStateName(v.state));
    info->set_state_reason(v.reason);
  }
  call->FinishWith(absl::OkStatus());
  return call;
}

}  // namespace beit::serving
