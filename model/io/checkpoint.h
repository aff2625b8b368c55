// Strict, named access to a checkpoint's weights while a model is being built, whatever format
// the folder holds.
//
// Contract:
// - OpenCheckpoint(dir, format) picks the weights file of a model folder as Transformers does, in
//   its order of preference: model.safetensors, model.safetensors.index.json (shards),
//   pytorch_model.bin, flax_model.msgpack; `format` forces one family (safetensors: one file or
//   shards). A folder with none of them, or without the forced one, is a ModelError listing what
//   it looked for.
// - Take(name, shape) returns the tensor as float (F32/F16/BF16 storage converted) or throws a
//   ModelError naming the file, the tensor and the expected vs stored shape. A missing tensor is
//   an error, never a silent zero. The source's pages are released once converted, so a load
//   holds about one copy of the weights.
// - Backbone names are given without the backbone's prefix (e.g. "embeddings.cls_token");
//   TakeBackbone adds the prefix the file actually uses — "beit." (BEiT heads), "data2vec_vision."
//   (Data2Vec-Vision heads) or none (a bare model) — so every class loads, as with
//   from_pretrained.
// - UnusedNames() lists tensors never taken, except BatchNorm `num_batches_tracked` and
//   `relative_position_index` buffers, which Transformers also ignores.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model/tensor.h"
#include "model/io/weight_source.h"

namespace beit {

enum class WeightsFormat { kAuto, kSafetensors, kPytorch, kFlax };

const char* WeightsFormatName(WeightsFormat format);
// "auto", "safetensors", "pytorch", "flax"; false for anything else.
bool ParseWeightsFormat(const std::string& name, WeightsFormat* format);

class Checkpoint {
 public:
  explicit Checkpoint(std::unique_ptr<WeightSource> source);

  bool Has(const std::string& name) const { return source_->Has(name); }
  Tensor Take(const std::string& name, const Shape& expected_shape);
  Tensor TakeBackbone(const std::string& name, const Shape& expected_shape);
  bool HasBackbone(const std::string& name) const;

  std::vector<std::string> UnusedNames() const;
  const std::string& path() const { return source_->path(); }

 private:
  std::unique_ptr<WeightSource> source_;
  std::string backbone_prefix_;
  std::set<std::string> taken_;
};

Checkpoint OpenCheckpoint(const std::string& dir, WeightsFormat format = WeightsFormat::kAuto);

}  // namespace beit
