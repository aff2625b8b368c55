#include "model/ops/activation.h"

#include "model/model_error.h"

namespace beit {

void AppendActivation(dnnl::post_ops& ops, const std::string& name) {
  using dnnl::algorithm;
  if (name == "gelu") {
    ops.append_eltwise(1.f, algorithm::eltwise_gelu_erf, 0.f, 0.f);
  } else if (name == "gelu_new" || name == "gelu_fast" || name == "gelu_pytorch_tanh") {
    ops.append_eltwise(1.f, algorithm::eltwise_gelu_tanh, 0.f, 0.f);
  } else if (name == "quick_gelu") {
    ops.append_eltwise(1.f, algorithm::eltwise_swish, 1.702f, 0.f);
  } else if (name == "relu") {
    ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
  } else if (name == "selu") {
    // torch.nn.SELU: scale * elu(x, alpha) with the self-normalising constants.
    ops.append_eltwise(1.f, algorithm::eltwise_elu, 1.6732632423543772f, 0.f);
    ops.append_eltwise(1.f, algorithm::eltwise_linear, 1.0507009873554805f, 0.f);
  } else if (name == "silu" || name == "swish") {
    ops.append_eltwise(1.f, algorithm::eltwise_swish, 1.f, 0.f);
  } else if (name == "mish") {
    ops.append_eltwise(1.f, algorithm::eltwise_mish, 0.f, 0.f);
  } else if (name == "tanh") {
    ops.append_eltwise(1.f, algorithm::eltwise_tanh, 0.f, 0.f);
  } else if (name == "sigmoid") {
    ops.append_eltwise(1.f, algorithm::eltwise_logistic, 0.f, 0.f);
  } else if (name != "linear") {
    throw ModelError("unsupported activation '" + name + "'");
  }
}

}  // namespace beit
