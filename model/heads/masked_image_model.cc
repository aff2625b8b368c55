#include "model/heads/masked_image_model.h"

#include <vector>

namespace beit {

MaskedImageModel::MaskedImageModel(const BeitConfig& config, Checkpoint& ckpt)
    : backbone_(config, ckpt, /*add_pooling_layer=*/false) {
  const int64_t C = config.hidden_size;
  layernorm_ = LayerNorm(ckpt.Take("layernorm.weight", {C}), ckpt.Take("layernorm.bias", {C}), config.layer_norm_eps);
  Tensor w = ckpt.Take("lm_head.weight", {config.vocab_size, C});
  Tensor b = ckpt.Take("lm_head.bias", {config.vocab_size});
  lm_head_ = Linear(w, &b, {});
}

MaskedImageModelingOutput MaskedImageModel::Forward(dnnl::stream& stream, const BeitModelInputs& inputs,
                                                    const BeitModelRequest& request) const {
  MaskedImageModelingOutput out;
  out.beit = backbone_.Forward(stream, inputs, request);
  const Tensor& seq = out.beit.last_hidden_state;
  const int64_t B = seq.dim(0), N = seq.dim(1), C = seq.dim(2), P = N - 1;
  // LayerNorm is per token, so normalising only the patch tokens equals normalising all, then slicing.
  std::vector<float> patches(B * P * C);
  for (int64_t b = 0; b < B; ++b) {
    std::copy(seq.ptr() + (b * N + 1) * C, seq.ptr() + (b + 1) * N * C, patches.data() + b * P * C);
  }
  layernorm_.Forward(stream, patches.data(), B * P, patches.data());
  out.logits = Tensor({B, P, lm_head_.out_features()});
  lm_head_.Forward(stream, patches.data(), B * P, P, out.logits.ptr());
  stream.wait();
  return out;
}

}  // namespace beit
