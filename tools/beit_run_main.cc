// beit-run: the BEiT engine without the server, for users comparing against Transformers and for
// golden tests.
//
//   beit-run --model DIR --inputs IN.safetensors --output OUT.safetensors [--target-size HxW]...
//            [--no-hidden-states] [--no-attentions] [--debug]
//   beit-run --model DIR --image FILE --output OUT.safetensors [--target-size HxW]...
//   beit-run --preprocessor-config CONFIG.json --image FILE --output OUT.safetensors
//   beit-run --cpu-info
//
// With --inputs: reads pixel_values (and bool_masked_pos, head_mask when present), runs
// architectures[0] of DIR/config.json and writes every output (names: model/model_runner.h).
// With --image: decodes the JPEG/PNG and preprocesses it as BeitImageProcessor would (the model
// folder's preprocessor_config.json, or the given one), writes decoded_rgb (uint8 [H,W,3]) and
// pixel_values, and with --model the model outputs too; segmentation maps default to the image's
// own size. --cpu-info prints the CPU tier the engine computes at here (ONEDNN_MAX_CPU_ISA caps
// it), the kernels of our own that tier selects and which precisions it can run. Errors go to
// stderr with exit code 1; usage errors exit 2.
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "model/ops/cpu_tier.h"
#include "model/ops/kernel_policy.h"
#include "model/ops/fused_attention.h"
#include "model/image/image_decoder.h"
#include "model/image/image_processor.h"
#include "model/model_error.h"
#include "model/model_runner.h"
#include "model/io/run_io.h"
#include "tools/command_line/command_line.h"

ABSL_FLAG(std::string, model, "", "Hugging Face BEiT folder");
ABSL_FLAG(std::string, inputs, "", "safetensors with pixel_values");
ABSL_FLAG(std::string, image, "", "a JPEG or PNG");
ABSL_FLAG(std::string, preprocessor_config, "", "preprocessing settings when no --model is given");
ABSL_FLAG(std::string, output, "", "where to write the outputs");
ABSL_FLAG(bool, hidden_states, true, "write hidden_states.N");
ABSL_FLAG(bool, attentions, true, "write attentions.N");
ABSL_FLAG(std::string, weights_format, "auto", "auto, safetensors, pytorch or flax");
ABSL_FLAG(bool, debug, false, "also write debug.* intermediates");
ABSL_FLAG(bool, cpu_info, false, "print the CPU tier, its kernels and precisions");

namespace {

constexpr const char* kUsage =
    "Usage: beit-run --model DIR --inputs IN.safetensors --output OUT.safetensors\n"
    "                [--target-size HxW]... [--no-hidden-states] [--no-attentions] [--debug]\n"
    "       beit-run --model DIR --image FILE --output OUT.safetensors [--target-size HxW]...\n"
    "       beit-run --preprocessor-config CONFIG.json --image FILE --output OUT.safetensors\n"
    "       beit-run --cpu-info\n"
    "\n"
    "  --model DIR          Hugging Face BEiT folder (config.json, model.safetensors,\n"
    "                       preprocessor_config.json for --image)\n"
    "  --inputs FILE        safetensors with pixel_values [B,C,H,W] (+ bool_masked_pos, head_mask)\n"
    "  --image FILE         a JPEG or PNG, decoded and preprocessed like BeitImageProcessor\n"
    "  --preprocessor-config FILE  preprocessing settings when no --model is given\n"
    "  --output FILE        where to write the outputs (safetensors)\n"
    "  --target-size HxW    segmentation: size of semantic_map.K for image K (repeat per image)\n"
    "  --no-hidden-states   skip hidden_states.N\n"
    "  --no-attentions      skip attentions.N\n"
    "  --weights-format F   auto (model.safetensors, shards, pytorch_model.bin, flax_model.msgpack,\n"
    "                       in that order), safetensors, pytorch or flax\n"
    "  --debug              also write debug.* intermediates (relative position bias, fpn features,\n"
    "                       auxiliary head logits)\n"
    "  --cpu-info           print the CPU tier, the kernels it selects and the precisions it runs\n";

bool ParseSize(const std::string& s, std::pair<int64_t, int64_t>* out) {
  long long h = 0, w = 0;
  char x = 0;
  char extra = 0;
  if (std::sscanf(s.c_str(), "%lld%c%lld%c", &h, &x, &w, &extra) != 3 || (x != 'x' && x != 'X') || h < 1 || w < 1 ||
      h > 65535 || w > 65535) {
    return false;
  }
  *out = {h, w};
  return true;
}

// One "key: value" line each; tests and operators read which code paths this CPU (or cap) runs.
void PrintCpuInfo() {
  using dt = dnnl::memory::data_type;
  const char* f32 = beit::FusedAttentionKernel(dt::f32, 64);
  const char* bf16 = beit::FusedAttentionKernel(dt::bf16, 64);
  std::cout << "cpu_tier: " << beit::CpuTierName(beit::EffectiveCpuTier()) << "\n"
            << "fused_attention_f32: " << (f32 ? f32 : "none (oneDNN primitives)") << "\n"
            << "fused_attention_bf16: " << (bf16 ? bf16 : "none (oneDNN primitives)") << "\n"
            << "int8_weight_bits: " << (beit::TierHasVnni(beit::EffectiveCpuTier()) ? 8 : 7) << "\n"
            << "kernel_policy: " << beit::KernelPolicyName() << "\n";
  for (beit::Precision p : {beit::Precision::kF32, beit::Precision::kBF16, beit::Precision::kInt8}) {
    const auto why = beit::PrecisionUnsupportedReason(p);
    std::cout << "precision_" << beit::PrecisionName(p) << ": " << (why ? "no: " + *why : std::string("yes")) << "\n";
  }
}

}  // namespace

int Run(const beit::cli::CommandLine& command_line) {
  if (!command_line.positional.empty()) {
    throw beit::cli::UsageError("unexpected argument '" + command_line.positional.front() + "'");
  }
  if (absl::GetFlag(FLAGS_cpu_info)) {
    try {
      PrintCpuInfo();
    } catch (const std::exception& e) {  // e.g. a BEIT_KERNEL_POLICY it does not know
      std::cerr << "beit-run: " << e.what() << "\n";
      return 1;
    }
    return 0;
  }
  const std::string model_dir = absl::GetFlag(FLAGS_model), inputs_path = absl::GetFlag(FLAGS_inputs),
                    output_path = absl::GetFlag(FLAGS_output), image_path = absl::GetFlag(FLAGS_image),
                    preprocessor_path = absl::GetFlag(FLAGS_preprocessor_config);
  beit::WeightsFormat weights_format = beit::WeightsFormat::kAuto;
  if (!beit::ParseWeightsFormat(absl::GetFlag(FLAGS_weights_format), &weights_format)) {
    throw beit::cli::UsageError("--weights-format wants auto, safetensors, pytorch or flax, got '" +
                                absl::GetFlag(FLAGS_weights_format) + "'");
  }
  beit::RunOptions options;
  options.hidden_states = absl::GetFlag(FLAGS_hidden_states);
  options.attentions = absl::GetFlag(FLAGS_attentions);
  options.debug = absl::GetFlag(FLAGS_debug);
  const auto sizes = command_line.repeated.find("target_size");
  if (sizes != command_line.repeated.end()) {
    for (const std::string& v : sizes->second) {
      std::pair<int64_t, int64_t> size;
      if (!ParseSize(v, &size)) throw beit::cli::UsageError("--target-size wants HxW with positive integers, got '" + v + "'");
      options.target_sizes.push_back(size);
    }
  }
  const bool image_mode = !image_path.empty();
  if (output_path.empty() || image_mode == !inputs_path.empty() || (model_dir.empty() && preprocessor_path.empty()) ||
      (!inputs_path.empty() && model_dir.empty())) {
    throw beit::cli::UsageError("give --output and either --inputs (with --model) or --image (with --model or "
                                "--preprocessor-config)");
  }
  try {
    std::unique_ptr<beit::ModelRunner> runner;
    if (!model_dir.empty()) {
      std::vector<std::string> warnings;
      runner = beit::ModelRunner::Load(model_dir, &warnings, beit::Precision::kF32, weights_format);
      for (const auto& w : warnings) std::cerr << "beit-run: warning: " << w << "\n";
    }
    beit::RunInputs inputs;
    beit::Image8 decoded;
    if (image_mode) {
      decoded = beit::DecodeImageFile(image_path);
      const std::string config_path =
          preprocessor_path.empty() ? model_dir + "/preprocessor_config.json" : preprocessor_path;
      beit::ImageProcessor processor(beit::LoadImageProcessorConfig(config_path));
      inputs.pixel_values = processor.Preprocess({&decoded});
      if (options.target_sizes.empty()) options.target_sizes.push_back({decoded.height, decoded.width});
    } else {
      inputs = beit::ReadRunInputs(inputs_path);
    }
    std::vector<beit::NamedOutput> outputs;
    if (runner) {
      if (image_mode && runner->head() != beit::ModelHead::kSemanticSegmentation) options.target_sizes.clear();
      outputs = runner->Run(inputs, options);
    }
    if (image_mode) {
      beit::NamedOutput px;
      px.name = "pixel_values";
      px.values = std::move(inputs.pixel_values);
      outputs.insert(outputs.begin(), std::move(px));
    }
    std::vector<beit::SafetensorsEntry> extra;
    if (image_mode) {
      extra.push_back({"decoded_rgb", beit::DType::kU8, {decoded.height, decoded.width, 3}, decoded.pixels.data()});
    }
    beit::WriteNamedOutputs(output_path, outputs, extra);
    std::cerr << "beit-run: " << (runner ? runner->architecture() : std::string("preprocessing")) << " wrote "
              << outputs.size() + extra.size() << " tensors to " << output_path << "\n";
  } catch (const std::exception& e) {
    std::cerr << "beit-run: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  return beit::cli::RunMain(argc, argv, "beit-run", kUsage, {"target_size"}, Run);
}
