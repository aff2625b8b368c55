// Strict, named access to a checkpoint's weights while a model is being built.
//
// Contract:
// - Take(name, shape) returns the tensor as float (F32/F16/BF16 storage converted) or throws a
//   ModelError naming the file, the tensor and the expected vs stored shape. A missing tensor is
//   an error, never a silent zero.
// - Backbone names are given without the "beit." prefix (e.g. "embeddings.cls_token");
//   TakeBackbone adds the prefix the file actually uses, so a BeitModel checkpoint (no prefix) and
//   a head checkpoint ("beit.*") both load, as with from_pretrained.
// - UnusedNames() lists tensors never taken, except BatchNorm `num_batches_tracked` and
//   `relative_position_index` buffers, which Transformers also ignores.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "model/safetensors.h"
#include "model/tensor.h"

namespace beit {

class Checkpoint {
 public:
  explicit Checkpoint(const std::string& safetensors_path);

  bool Has(const std::string& name) const;
  Tensor Take(const std::string& name, const Shape& expected_shape);
  Tensor TakeBackbone(const std::string& name, const Shape& expected_shape);
  bool HasBackbone(const std::string& name) const;

  std::vector<std::string> UnusedNames() const;
  const std::string& path() const { return file_.path(); }

 private:
  SafetensorsFile file_;
  std::string backbone_prefix_;
  std::set<std::string> taken_;
};

}  // namespace beit
