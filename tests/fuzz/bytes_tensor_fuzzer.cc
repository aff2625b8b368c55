// libFuzzer target: arbitrary bytes as a BYTES tensor's serialised contents (the first byte picks
// the element count its shape expects: -1 for any, or 0..15), then the same bytes as a BYTES and
// an FP32 tensor's raw contents. Whatever a client sends must end as elements or a status, and
// what deserialises must serialise back to exactly the bytes it came from.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proto/open_inference/inference_types.h"

using namespace beit::serving::open_inference;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int64_t expected = data[0] % 17 == 16 ? -1 : data[0] % 17;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);

  absl::StatusOr<std::vector<std::string>> elements = DeserializeBytesElements(bytes, expected, "fuzz");
  if (elements.ok()) {
    if (expected >= 0 && static_cast<int64_t>(elements->size()) != expected) abort();
    if (SerializeBytesElements(*elements) != bytes) abort();
  }

  // The shape as the request would give it: [expected], or [count] for "any".
  const int64_t dim = expected >= 0 ? expected : static_cast<int64_t>(bytes.size() / 4);
  InferTensor text{"image", "BYTES", {dim}, {}, {}, {}};
  if (SetTensorFromRaw(text, bytes).ok() && TensorToRaw(text) != bytes) abort();
  InferTensor floats{"pixel_values", "FP32", {dim}, {}, {}, {}};
  if (SetTensorFromRaw(floats, bytes).ok() && (bytes.size() != static_cast<size_t>(dim) * 4 || floats.raw != bytes)) {
    abort();
  }
  return 0;
}
