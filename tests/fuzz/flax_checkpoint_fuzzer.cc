// libFuzzer target: arbitrary bytes as a flax_model.msgpack file — the tree walk and leaf
// validation, then reading (converting and transposing) every tensor it indexes. Errors must be
// ModelErrors, nothing else.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/io/flax_checkpoint.h"
#include "model/model_error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const beit::FlaxCheckpointFile file =
        beit::FlaxCheckpointFile::FromBytes("fuzz.msgpack", std::vector<uint8_t>(data, data + size));
    for (const std::string& name : file.Names()) {
      file.FlaxPathOf(name);
      if (beit::NumElements(file.ShapeOf(name)) <= (1 << 20)) {
        try {
          file.ReadFloat(name);
        } catch (const beit::ModelError&) {  // a dtype that is not floating point
        }
      }
      file.Release(name);
    }
  } catch (const beit::ModelError&) {
  }
  return 0;
}
