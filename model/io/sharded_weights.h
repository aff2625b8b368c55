// A checkpoint saved in shards, as one WeightSource (weight_source.h): save_pretrained's
// `model.safetensors.index.json` or `pytorch_model.bin.index.json` beside the shard files.
//
// Contract:
// - ShardedWeights(index_path, open_shard) reads the index's "weight_map" {tensor name: shard
//   file}, opens every shard it names once with `open_shard` (relative to the index's folder; a
//   name with a path separator or "..", a shard that cannot be opened, or a tensor the map places
//   in a shard that does not hold it is a ModelError naming the index), and serves each tensor
//   from its shard. Tensors a shard holds but the map does not list are not served (Transformers
//   loads by the map).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/io/weight_source.h"

namespace beit {

class ShardedWeights : public WeightSource {
 public:
  using ShardOpener = std::function<std::unique_ptr<WeightSource>(const std::string& path)>;
  ShardedWeights(const std::string& index_path, const ShardOpener& open_shard);

  const std::string& path() const override { return index_path_; }
  std::vector<std::string> Names() const override { return names_; }
  bool Has(const std::string& name) const override { return where_.count(name) != 0; }
  Shape ShapeOf(const std::string& name) const override;
  Tensor ReadFloat(const std::string& name) const override;
  void Release(const std::string& name) const override;

 private:
  const WeightSource& ShardOf(const std::string& name) const;
  std::string index_path_;
  std::vector<std::unique_ptr<WeightSource>> shards_;
  std::map<std::string, size_t> where_;  // tensor name -> shard
  std::vector<std::string> names_;
};

}  // namespace beit
