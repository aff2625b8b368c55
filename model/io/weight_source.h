// One checkpoint file format's tensors, by name: what Checkpoint (checkpoint.h) reads a model's
// weights through, whatever the folder holds (safetensors, sharded safetensors, pytorch_model.bin,
// flax_model.msgpack).
//
// Contract:
// - Names() lists every tensor under its PyTorch (Transformers) state-dict name, in file order,
//   once each. A format that stores other names or layouts (Flax) maps them back here, so the
//   rest of the engine sees PyTorch names and shapes only.
// - ShapeOf(name) is the tensor's shape as PyTorch has it; ReadFloat(name) its values as float
//   (f32, f16, bf16 and f64 storage converted), contiguous in row-major order whatever the
//   storage's strides. Both throw ModelError naming the file and tensor for a name not in Names()
//   or for storage that cannot be read as float.
// - Release(name) says the tensor was converted and its source pages are not needed again soon,
//   so loading holds about one copy of the weights at a time; reading it again still works.
// - path() names the file (or the index file of shards) in messages.
// - The constructors of implementations validate everything they index before returning: no read
//   outside the file afterwards.
#pragma once

#include <string>
#include <vector>

#include "model/tensor.h"

namespace beit {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual const std::string& path() const = 0;
  virtual std::vector<std::string> Names() const = 0;
  virtual bool Has(const std::string& name) const = 0;
  virtual Shape ShapeOf(const std::string& name) const = 0;
  virtual Tensor ReadFloat(const std::string& name) const = 0;
  virtual void Release(const std::string& name) const = 0;
};

}  // namespace beit
