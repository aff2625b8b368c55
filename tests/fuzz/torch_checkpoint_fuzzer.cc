// libFuzzer target: arbitrary bytes as a pytorch_model.bin — zip directory or legacy pickle
// sequence, the restricted unpickler, view validation, then reading every float tensor it lists.
// Errors must be ModelErrors, nothing else.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/model_error.h"
#include "model/io/torch_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = beit::TorchCheckpointFile::FromBytes("fuzz.bin", std::vector<uint8_t>(data, data + size));
    for (const std::string& name : file->Names()) {
      file->ShapeOf(name);
      try {
        file->ReadFloat(name);  // bounded: a tensor has no more elements than its storage
      } catch (const beit::ModelError&) {  // an integer or bool tensor
      }
      file->Release(name);
    }
  } catch (const beit::ModelError&) {
  }
  return 0;
}
