// A safetensors file as a WeightSource (weight_source.h): `model.safetensors`, or one shard of a
// sharded checkpoint (sharded_weights.h).
//
// Contract: SafetensorsWeights::Open(path) opens one file, validated by SafetensorsFile; f16, bf16
// and f64 storage converts to float on read.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/io/safetensors.h"
#include "model/io/weight_source.h"

namespace beit {

class SafetensorsWeights : public WeightSource {
 public:
  explicit SafetensorsWeights(SafetensorsFile file) : file_(std::move(file)) {}
  static std::unique_ptr<SafetensorsWeights> Open(const std::string& path);

  const std::string& path() const override { return file_.path(); }
  std::vector<std::string> Names() const override;
  bool Has(const std::string& name) const override { return file_.Find(name) != nullptr; }
  Shape ShapeOf(const std::string& name) const override;
  Tensor ReadFloat(const std::string& name) const override;
  void Release(const std::string& name) const override;

 private:
  const TensorInfo& Info(const std::string& name) const;
  SafetensorsFile file_;
};

}  // namespace beit
