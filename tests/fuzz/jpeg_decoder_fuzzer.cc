// libFuzzer target: arbitrary bytes through the JPEG decoder (libjpeg-turbo, EXIF orientation,
// CMYK conversion), then the image processor. Errors must be ImageDecodeErrors, nothing else.
// Then differentially: the server's one pass (PreprocessEncodedImage: rows resized as they are
// decoded) must give the whole decode's bits, or its error with the same message, for every input
// (each JPEG the decoder accepts whole, with three components and no EXIF rotation, takes it).
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/image/encoded_image_preprocessing.h"
#include "model/image/jpeg_decoder.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const beit::DecodeLimits limits = beit::FuzzDecodeLimits();
  try {
    const beit::Image8 image = beit::DecodeJpeg(data, size, limits);
    beit::ImageProcessor(beit::FuzzProcessorConfig(size)).Preprocess({&image});
  } catch (const beit::ImageDecodeError&) {
  }

  beit::ImageProcessorConfig config = beit::FuzzProcessorConfig(size);
  config.crop_width = 16;  // inside the resize, and a convolution filter: where the one pass applies
  if (config.resample == beit::ResampleFilter::kNearest) config.resample = beit::ResampleFilter::kBilinear;
  const beit::ImageProcessor processor(config);
  std::string whole_error, one_pass_error;
  beit::Tensor whole, one_pass;
  try {
    const beit::Image8 image = beit::DecodeImage(data, size, limits);
    whole = processor.Preprocess({&image});
  } catch (const beit::ImageDecodeError& e) {
    whole_error = e.what();
  }
  try {
    one_pass = beit::PreprocessEncodedImage(processor, data, size, limits).pixels;
  } catch (const beit::ImageDecodeError& e) {
    one_pass_error = e.what();
  }
  if (whole_error != one_pass_error || whole.shape != one_pass.shape || whole.data != one_pass.data) {
    __builtin_trap();
  }
  return 0;
}
