// Transformers' hidden_act functions expressed as oneDNN eltwise post-ops.
//
// Contract: AppendActivation appends the post-op(s) computing ACT2FN[name] exactly as PyTorch
// defines it (gelu = erf form, gelu_new/gelu_fast/gelu_pytorch_tanh = tanh form, selu = scaled elu,
// silu/swish = x*sigmoid(x), quick_gelu = x*sigmoid(1.702x), ...). "linear" appends nothing.
// Names are validated by IsSupportedActivation (beit_config.h); an unknown name throws ModelError.
#pragma once

#include <string>

#include <oneapi/dnnl/dnnl.hpp>

namespace beit {

void AppendActivation(dnnl::post_ops& ops, const std::string& name);

}  // namespace beit
