// safetensors files as model inputs and outputs, for beit-run and the golden tests.
//
// Contract:
// - ReadRunInputs reads `pixel_values` (required, float dtypes), `bool_masked_pos` (BOOL, U8 or
//   I64; nonzero = masked) and `head_mask` (float) when present. Errors name the file and tensor.
// - WriteNamedOutputs writes `extra` raw entries first, then float outputs as F32 and label maps
//   as I32, in the given order.
#pragma once

#include <string>
#include <vector>

#include "model/model_runner.h"
#include "model/io/safetensors.h"

namespace beit {

RunInputs ReadRunInputs(const std::string& path);
void WriteNamedOutputs(const std::string& path, const std::vector<NamedOutput>& outputs,
                       const std::vector<SafetensorsEntry>& extra = {});

}  // namespace beit
