// libFuzzer target: arbitrary bytes through the JPEG decoder (libjpeg-turbo, EXIF orientation,
// CMYK conversion), then the image processor. Errors must be ImageDecodeErrors, nothing else.
#include <cstddef>
#include <cstdint>

#include "model/image/jpeg_decoder.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const beit::Image8 image = beit::DecodeJpeg(data, size, beit::FuzzDecodeLimits());
    beit::ImageProcessor(beit::FuzzProcessorConfig(size)).Preprocess({&image});
  } catch (const beit::ImageDecodeError&) {
  }
  return 0;
}
