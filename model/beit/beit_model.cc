#include "model/beit/beit_model.h"

#include "model/ops/op_profile.h"

#include <algorithm>

#include "model/model_error.h"

namespace beit {

BeitModel::BeitModel(const BeitConfig& config, Checkpoint& ckpt, bool add_pooling_layer)
    : config_(config), embeddings_(config, ckpt) {
  const int64_t C = config.hidden_size;
  for (int l = 0; l < config.num_hidden_layers; ++l) {
    layers_.push_back(std::make_unique<BeitLayer>(config, ckpt, "encoder.layer." + std::to_string(l) + "."));
  }
  if (config.use_shared_relative_position_bias) {
    const int64_t wh = config.patch_grid_height(), ww = config.patch_grid_width();
    shared_bias_ = std::make_unique<RelativePositionBias>(
        ckpt.TakeBackbone("encoder.relative_position_bias.relative_position_bias_table",
                          {RelativePositionBias::TableRows(wh, ww), config.num_attention_heads}),
        wh, ww, config.num_attention_heads);
  }
  if (!config.use_mean_pooling) {
    final_layernorm_ = true;
    layernorm_ = LayerNorm(ckpt.TakeBackbone("layernorm.weight", {C}), ckpt.TakeBackbone("layernorm.bias", {C}),
                           config.layer_norm_eps);
  }
  pooler_ = add_pooling_layer;
  if (pooler_ && config.use_mean_pooling) {
    pooler_layernorm_ = LayerNorm(ckpt.TakeBackbone("pooler.layernorm.weight", {C}),
                                  ckpt.TakeBackbone("pooler.layernorm.bias", {C}), config.layer_norm_eps);
  }
}

const Tensor* BeitModel::RelativePositionBiasFor(int layer, int64_t grid_h, int64_t grid_w) const {
  if (shared_bias_) return &shared_bias_->ForWindow(grid_h, grid_w);
  const RelativePositionBias* own = layers_.at(layer)->relative_position_bias();
  return own ? &own->ForWindow(grid_h, grid_w) : nullptr;
}

BeitModelOutput BeitModel::Forward(dnnl::stream& stream, const BeitModelInputs& in,
                                   const BeitModelRequest& request) const {
  if (!in.pixel_values) throw ModelError("pixel_values is required");
  const int64_t L = config_.num_hidden_layers, H = config_.num_attention_heads, C = config_.hidden_size;

  std::vector<float> head_mask;  // [L, H]
  if (in.head_mask) {
    const Shape& s = in.head_mask->shape;
    if (s == Shape{H}) {
      for (int64_t l = 0; l < L; ++l) head_mask.insert(head_mask.end(), in.head_mask->data.begin(), in.head_mask->data.end());
    } else if (s == Shape{L, H}) {
      head_mask = in.head_mask->data;
    } else {
      throw ModelError("head_mask must have shape [" + std::to_string(H) + "] or [" + std::to_string(L) + ", " +
                       std::to_string(H) + "]; got " + ShapeToString(s));
    }
  }

  ScopedOpTimer encoder_timer(OpClass::kOther);  // the encoder's own glue; its ops time themselves
  BeitModelOutput out;
  std::vector<float> x;
  {
    ScopedOpTimer timer(OpClass::kEmbeddingsAndHeads);
    std::tie(out.grid_h, out.grid_w) = embeddings_.Forward(stream, *in.pixel_values, in.bool_masked_pos, x);
  }
  const int64_t B = in.pixel_values->shape[0], N = out.grid_h * out.grid_w + 1;
  const Shape hidden_shape{B, N, C};

  std::vector<bool> keep(L + 1, request.hidden_states);
  for (int idx : request.keep_hidden_states) {
    if (idx >= 0 && idx <= L) keep[idx] = true;
  }
  out.hidden_states.resize(request.hidden_states || !request.keep_hidden_states.empty() ? L + 1 : 0);
  auto snapshot = [&](int idx) {
    if (keep[idx]) out.hidden_states[idx] = Tensor(hidden_shape, x);
  };
  snapshot(0);

  // Working memory kept per calling thread: allocating and zeroing these few MB anew for every
  // batch cost about 2 % of a BEiT-base forward. Above kKeptScratchBytes (BEiT-base batch 8 needs
  // about 66 MB) it is given back after the layers, so a large input (640x640: 120 MB of scores)
  // does not stay pinned to each thread that ran one.
  constexpr int64_t kKeptScratchBytes = int64_t{128} << 20;
  thread_local LayerScratch scratch;
  const bool keep_probs = request.attentions || static_cast<bool>(request.attention_observer);
  for (int64_t l = 0; l < L; ++l) {
    const Tensor* bias = RelativePositionBiasFor(static_cast<int>(l), out.grid_h, out.grid_w);
    layers_[l]->Forward(stream, x.data(), B, N, bias ? bias->ptr() : nullptr,
                        head_mask.empty() ? nullptr : head_mask.data() + l * H, keep_probs, scratch);
    stream.wait();
    if (request.attentions) out.attentions.emplace_back(Shape{B, H, N, N}, scratch.probs);
    if (request.attention_observer) request.attention_observer(static_cast<int>(l), scratch.probs.data(), B, H, N);
    snapshot(static_cast<int>(l + 1));
  }
  if (scratch.bytes() > kKeptScratchBytes) scratch = LayerScratch();

  out.last_hidden_state = Tensor(hidden_shape);
  if (final_layernorm_) {
    layernorm_.Forward(stream, x.data(), B * N, out.last_hidden_state.ptr());
    stream.wait();
  } else {
    out.last_hidden_state.data = std::move(x);
  }

  if (pooler_) {
    out.pooler_output = Tensor({B, C});
    const float* last = out.last_hidden_state.ptr();
    if (config_.use_mean_pooling) {
      std::vector<float> mean(B * C, 0.f);
      for (int64_t b = 0; b < B; ++b) {
        for (int64_t t = 1; t < N; ++t) {
          const float* row = last + (b * N + t) * C;
          for (int64_t c = 0; c < C; ++c) mean[b * C + c] += row[c];
        }
        for (int64_t c = 0; c < C; ++c) mean[b * C + c] /= static_cast<float>(N - 1);
      }
      pooler_layernorm_.Forward(stream, mean.data(), B, out.pooler_output.ptr());
      stream.wait();
    } else {
      for (int64_t b = 0; b < B; ++b) std::copy(last + b * N * C, last + b * N * C + C, out.pooler_output.ptr() + b * C);
    }
  }
  return out;
}

}  // namespace beit
