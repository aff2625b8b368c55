#include "model/checkpoint.h"

#include "model/model_error.h"

namespace beit {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Checkpoint::Checkpoint(const std::string& safetensors_path)
    : file_(SafetensorsFile::Open(safetensors_path)) {
  for (const auto& t : file_.tensors()) {
    if (t.name.rfind("beit.", 0) == 0) {
      backbone_prefix_ = "beit.";
      break;
    }
  }
}

bool Checkpoint::Has(const std::string& name) const { return file_.Find(name) != nullptr; }

bool Checkpoint::HasBackbone(const std::string& name) const { return Has(backbone_prefix_ + name); }

Tensor Checkpoint::Take(const std::string& name, const Shape& expected_shape) {
  const TensorInfo* info = file_.Find(name);
  if (!info) {
    throw ModelError(file_.path() + ": missing tensor '" + name + "' (expected shape " +
                     ShapeToString(expected_shape) + "); does config.json match these weights?");
  }
  if (info->shape != expected_shape) {
    throw ModelError(file_.path() + ": tensor '" + name + "' has shape " + ShapeToString(info->shape) +
                     " but config.json implies " + ShapeToString(expected_shape));
  }
  taken_.insert(name);
  Tensor values = file_.ReadFloat(*info);
  file_.Release(*info);  // keep peak memory near one copy of the weights while a model loads
  return values;
}

Tensor Checkpoint::TakeBackbone(const std::string& name, const Shape& expected_shape) {
  return Take(backbone_prefix_ + name, expected_shape);
}

std::vector<std::string> Checkpoint::UnusedNames() const {
  std::vector<std::string> unused;
  for (const auto& t : file_.tensors()) {
    if (taken_.count(t.name)) continue;
    if (EndsWith(t.name, "num_batches_tracked") || EndsWith(t.name, "relative_position_index")) continue;
    unused.push_back(t.name);
  }
  return unused;
}

}  // namespace beit
