#include "model/io/safetensors_weights.h"

#include "model/model_error.h"

namespace beit {

std::unique_ptr<SafetensorsWeights> SafetensorsWeights::Open(const std::string& path) {
  return std::make_unique<SafetensorsWeights>(SafetensorsFile::Open(path));
}

std::vector<std::string> SafetensorsWeights::Names() const {
  std::vector<std::string> names;
  for (const TensorInfo& t : file_.tensors()) names.push_back(t.name);
  return names;
}

const TensorInfo& SafetensorsWeights::Info(const std::string& name) const {
  const TensorInfo* info = file_.Find(name);
  if (!info) throw ModelError(file_.path() + ": no tensor '" + name + "'");
  return *info;
}

Shape SafetensorsWeights::ShapeOf(const std::string& name) const { return Info(name).shape; }

Tensor SafetensorsWeights::ReadFloat(const std::string& name) const { return file_.ReadFloat(Info(name)); }

void SafetensorsWeights::Release(const std::string& name) const { file_.Release(Info(name)); }

}  // namespace beit
