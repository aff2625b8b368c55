// libFuzzer target: arbitrary bytes through the PNG decoder (libspng: every colour type, bit
// depth, interlacing, eXIf) and the label-map PNG path, then the image processor.
// Errors must be ImageDecodeErrors, nothing else.
#include <cstddef>
#include <cstdint>

#include "model/image/png_decoder.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const beit::DecodeLimits limits = beit::FuzzDecodeLimits();
  try {
    const beit::Image8 image = beit::DecodePng(data, size, limits);
    beit::ImageProcessor(beit::FuzzProcessorConfig(size)).Preprocess({&image});
  } catch (const beit::ImageDecodeError&) {
  }
  try {
    const beit::Image8 labels = beit::DecodeLabelMapPng(data, size, limits);
    beit::ImageProcessorConfig config = beit::FuzzProcessorConfig(size);
    config.do_reduce_labels = true;
    beit::ImageProcessor(config).PreprocessLabels(labels);
  } catch (const beit::ImageDecodeError&) {
  }
  return 0;
}
