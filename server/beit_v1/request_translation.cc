#include "server/beit_v1/request_translation.h"

namespace beit::serving::beit_v1 {
namespace {

namespace pb = beit::v1;

absl::Status AddImage(const pb::Image& image, InferenceRequest* out) {
  ImageInput in;
  switch (image.source_case()) {
    case pb::Image::kEncoded:
      in.encoded = image.encoded();
      break;
    case pb::Image::kPixelValues: {
      const auto& pv = image.pixel_values();
      in.pixel_shape.assign(pv.shape().begin(), pv.shape().end());
      in.pixel_values = pv.data().data();
      in.pixel_count = static_cast<size_t>(pv.data_size());
      break;
    }
    default:
      return absl::InvalidArgumentError("the request has no image: set image.encoded (JPEG or PNG bytes) or "
                                        "image.pixel_values");
  }
  out->images.push_back(std::move(in));
  return absl::OkStatus();
}

}  // namespace

absl::Status Translate(const pb::ClassifyRequest& request, InferenceRequest* out) {
  ClassifyParams& p = out->classify.emplace();
  p.top_k = request.top_k();
  return AddImage(request.image(), out);
}

absl::Status Translate(const pb::SegmentRequest& request, InferenceRequest* out) {
  SegmentParams& p = out->segment.emplace();
  p.output_height = request.output_height();
  p.output_width = request.output_width();
  p.with_scores = request.return_scores();
  return AddImage(request.image(), out);
}

absl::Status Translate(const pb::EmbedRequest& request, InferenceRequest* out) {
  EmbedParams& p = out->embed.emplace();
  p.l2_normalize = request.l2_normalize();
  p.layers.assign(request.layers().begin(), request.layers().end());
  p.include_cls = request.include_cls();
  p.include_mean = request.include_mean();
  p.include_patches = request.include_patches();
  return AddImage(request.image(), out);
}

absl::Status Translate(const pb::PredictTokensRequest& request, InferenceRequest* out) {
  PredictTokensParams& p = out->predict_tokens.emplace();
  p.mask_ratio = request.mask_ratio();
  p.seed = request.seed();
  p.top_k = request.top_k();
  if (absl::Status s = AddImage(request.image(), out); !s.ok()) return s;
  out->images.back().patch_mask.assign(request.mask().begin(), request.mask().end());
  return absl::OkStatus();
}

absl::Status Translate(const pb::ExplainRequest& request, InferenceRequest* out) {
  ExplainParams p;
  switch (request.method()) {
    case pb::EXPLAIN_METHOD_ATTENTION_ROLLOUT:
      p.method = AttentionMethod::kRollout;
      break;
    case pb::EXPLAIN_METHOD_LAST_LAYER:
      p.method = AttentionMethod::kLastLayer;
      break;
    default:
      return absl::InvalidArgumentError("method " + std::to_string(request.method()) +
                                        " is not one of ATTENTION_ROLLOUT, LAST_LAYER");
  }
  switch (request.query()) {
    case pb::EXPLAIN_QUERY_UNSPECIFIED:  // the model's own pooling
      break;
    case pb::EXPLAIN_QUERY_CLS:
      p.query = AttentionQuery::kCls;
      break;
    case pb::EXPLAIN_QUERY_MEAN_PATCHES:
      p.query = AttentionQuery::kMeanPatches;
      break;
    default:
      return absl::InvalidArgumentError("query " + std::to_string(request.query()) + " is not one of CLS, MEAN_PATCHES");
  }
  if (request.has_head()) p.head = request.head();
  p.output_height = request.output_height();
  p.output_width = request.output_width();
  p.top_k = request.top_k();
  out->explain = p;
  return AddImage(request.image(), out);
}

}  // namespace beit::serving::beit_v1
