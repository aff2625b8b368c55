#include "model/io/run_io.h"

#include <cstring>

#include "model/model_error.h"
#include "model/io/safetensors.h"

namespace beit {

RunInputs ReadRunInputs(const std::string& path) {
  SafetensorsFile file = SafetensorsFile::Open(path);
  RunInputs in;
  const TensorInfo* px = file.Find("pixel_values");
  if (!px) throw ModelError(path + ": no tensor named 'pixel_values'");
  in.pixel_values = file.ReadFloat(*px);
  if (const TensorInfo* m = file.Find("bool_masked_pos")) {
    std::vector<uint8_t> raw = file.ReadBytes(*m);
    std::vector<uint8_t> mask(static_cast<size_t>(NumElements(m->shape)));
    if (m->dtype == DType::kBool || m->dtype == DType::kU8) {
      for (size_t i = 0; i < mask.size(); ++i) mask[i] = raw[i] != 0;
    } else if (m->dtype == DType::kI64) {
      for (size_t i = 0; i < mask.size(); ++i) {
        int64_t v;
        std::memcpy(&v, raw.data() + 8 * i, 8);
        mask[i] = v != 0;
      }
    } else {
      throw ModelError(path + ": tensor 'bool_masked_pos' must be BOOL, U8 or I64, not " + DTypeName(m->dtype));
    }
    in.bool_masked_pos = std::move(mask);
  }
  if (const TensorInfo* h = file.Find("head_mask")) in.head_mask = file.ReadFloat(*h);
  return in;
}

void WriteNamedOutputs(const std::string& path, const std::vector<NamedOutput>& outputs,
                       const std::vector<SafetensorsEntry>& extra) {
  std::vector<SafetensorsEntry> entries = extra;
  for (const auto& o : outputs) {
    if (o.is_label_map) {
      entries.push_back({o.name, DType::kI32, o.labels.shape, o.labels.ptr()});
    } else {
      entries.push_back({o.name, DType::kF32, o.values.shape, o.values.ptr()});
    }
  }
  WriteSafetensors(path, entries);
}

}  // namespace beit
