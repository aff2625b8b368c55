// libFuzzer target: arbitrary bytes as config.json (BeitConfig with Transformers' defaults and
// legacy keys) and as preprocessor_config.json. Errors must be ModelErrors, nothing else.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/io/beit_config.h"
#include "model/image/image_processor_config.h"
#include "model/model_error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const beit::BeitConfig config = beit::ParseBeitConfig(text, "fuzz/config.json");
    (void)config.architecture();
  } catch (const beit::ModelError&) {
  }
  try {
    const beit::ImageProcessorConfig config = beit::ParseImageProcessorConfig(text, "fuzz/preprocessor_config.json");
    (void)config.output_height();
  } catch (const beit::ModelError&) {
  }
  return 0;
}
