// beit-run: the BEiT engine without the server, for users comparing against Transformers and for
// golden tests.
//
//   beit-run --model DIR --inputs IN.safetensors --output OUT.safetensors [--target-size HxW]...
//            [--no-hidden-states] [--no-attentions] [--debug]
//
// Reads pixel_values (and bool_masked_pos, head_mask when present), runs architectures[0] of
// DIR/config.json and writes every output (see model/model_runner.h for the names). Errors go to
// stderr with exit code 1; usage errors exit 2.
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "model/model_error.h"
#include "model/model_runner.h"
#include "model/run_io.h"

namespace {

constexpr const char* kUsage =
    "usage: beit-run --model DIR --inputs IN.safetensors --output OUT.safetensors\n"
    "                [--target-size HxW]... [--no-hidden-states] [--no-attentions] [--debug]\n"
    "\n"
    "  --model DIR          Hugging Face BEiT folder (config.json, model.safetensors)\n"
    "  --inputs FILE        safetensors with pixel_values [B,C,H,W] (+ bool_masked_pos, head_mask)\n"
    "  --output FILE        where to write the outputs (safetensors)\n"
    "  --target-size HxW    segmentation: size of semantic_map.K for image K (repeat per image)\n"
    "  --no-hidden-states   skip hidden_states.N\n"
    "  --no-attentions      skip attentions.N\n"
    "  --debug              also write debug.* intermediates (relative position bias, fpn features,\n"
    "                       auxiliary head logits)\n";

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

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir, inputs_path, output_path;
  beit::RunOptions options;
  options.hidden_states = true;
  options.attentions = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "beit-run: " << arg << " needs a value\n" << kUsage;
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--model") {
      model_dir = value();
    } else if (arg == "--inputs") {
      inputs_path = value();
    } else if (arg == "--output") {
      output_path = value();
    } else if (arg == "--target-size") {
      std::pair<int64_t, int64_t> size;
      std::string v = value();
      if (!ParseSize(v, &size)) {
        std::cerr << "beit-run: --target-size wants HxW with positive integers, got '" << v << "'\n";
        return 2;
      }
      options.target_sizes.push_back(size);
    } else if (arg == "--no-hidden-states") {
      options.hidden_states = false;
    } else if (arg == "--no-attentions") {
      options.attentions = false;
    } else if (arg == "--debug") {
      options.debug = true;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "beit-run: unknown argument '" << arg << "'\n" << kUsage;
      return 2;
    }
  }
  if (model_dir.empty() || inputs_path.empty() || output_path.empty()) {
    std::cerr << "beit-run: --model, --inputs and --output are required\n" << kUsage;
    return 2;
  }
  try {
    std::vector<std::string> warnings;
    auto runner = beit::ModelRunner::Load(model_dir, &warnings);
    for (const auto& w : warnings) std::cerr << "beit-run: warning: " << w << "\n";
    beit::RunInputs inputs = beit::ReadRunInputs(inputs_path);
    auto outputs = runner->Run(inputs, options);
    beit::WriteNamedOutputs(output_path, outputs);
    std::cerr << "beit-run: " << runner->architecture() << " wrote " << outputs.size() << " tensors to "
              << output_path << "\n";
  } catch (const std::exception& e) {
    std::cerr << "beit-run: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
