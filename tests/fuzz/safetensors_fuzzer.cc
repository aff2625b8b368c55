// libFuzzer target: arbitrary bytes as a model.safetensors file — header validation, then reading
// every tensor the header declares. Errors must be ModelErrors, nothing else.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/model_error.h"
#include "model/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const beit::SafetensorsFile file =
        beit::SafetensorsFile::FromBytes("fuzz.safetensors", std::vector<uint8_t>(data, data + size));
    for (const beit::TensorInfo& info : file.tensors()) {
      file.ReadBytes(info);
      if (info.end - info.begin <= (1u << 20)) {
        try {
          file.ReadFloat(info);
        } catch (const beit::ModelError&) {  // a dtype that is not floating point
        }
      }
    }
  } catch (const beit::ModelError&) {
  }
  return 0;
}
