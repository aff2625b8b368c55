// beit-preprocess-bench: decode + BeitImageProcessor preprocessing of one encoded image, timed, as
// the server does it (PreprocessEncodedImage, with the server's malloc policy).
//
//   beit-preprocess-bench --image FILE --preprocessor-config CONFIG.json [--min-time S]
//
// Prints one JSON line: {"name": "beit-serve-preprocess", "ms_per_image": median, ..., "one_pass":
// whether the image took the one-pass path}. The median is over repeated runs of the whole path
// (bytes -> pixel_values) after one warm-up.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "model/image/encoded_image_preprocessing.h"
#include "model/image/image_processor.h"
#include "model/ops/memory_reuse.h"
#include "tools/command_line/command_line.h"

ABSL_FLAG(std::string, image, "", "the encoded image");
ABSL_FLAG(std::string, preprocessor_config, "", "preprocessor_config.json");
ABSL_FLAG(double, min_time, 3.0, "seconds to time, at least");

namespace {

constexpr char kUsage[] =
    "Usage: beit-preprocess-bench --image FILE --preprocessor-config CONFIG.json [--min-time S]\n";

int Run(const beit::cli::CommandLine& command_line) {
  const std::string image_path = absl::GetFlag(FLAGS_image), config_path = absl::GetFlag(FLAGS_preprocessor_config);
  const double min_time = absl::GetFlag(FLAGS_min_time);
  if (image_path.empty() || config_path.empty() || !command_line.positional.empty()) {
    throw beit::cli::UsageError("give --image and --preprocessor-config");
  }
  std::ifstream in(image_path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  beit::ImageProcessor processor(beit::LoadImageProcessorConfig(config_path));
  auto once = [&] { return beit::PreprocessEncodedImage(processor, bytes.data(), bytes.size()).pixels; };
  const bool one_pass = beit::PreprocessEncodedImage(processor, bytes.data(), bytes.size()).one_pass;
  std::vector<double> ms;
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < min_time || ms.size() < 5) {
    const auto t0 = std::chrono::steady_clock::now();
    beit::Tensor t = once();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (t.data.empty()) return 1;
  }
  std::sort(ms.begin(), ms.end());
  std::printf("{\"name\": \"beit-serve-preprocess\", \"image\": \"%s\", \"runs\": %zu, \"ms_per_image\": %.3f, "
              "\"ms_p10\": %.3f, \"ms_p90\": %.3f, \"one_pass\": %s}\n",
              image_path.c_str(), ms.size(), ms[ms.size() / 2], ms[ms.size() / 10], ms[ms.size() * 9 / 10],
              one_pass ? "true" : "false");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  beit::ReuseFreedMemory();  // as beit-server does
  return beit::cli::RunMain(argc, argv, "beit-preprocess-bench", kUsage, {}, Run);
}
