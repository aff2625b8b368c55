#include "model/io/checkpoint.h"

#include <filesystem>

#include "model/model_error.h"
#include "model/io/flax_checkpoint.h"
#include "model/io/safetensors_weights.h"
#include "model/io/sharded_weights.h"
#include "model/io/torch_checkpoint.h"

namespace beit {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool IsFile(const std::string& path) {
  std::error_code error;
  return std::filesystem::is_regular_file(path, error);
}

}  // namespace

const char* WeightsFormatName(WeightsFormat format) {
  switch (format) {
    case WeightsFormat::kSafetensors: return "safetensors";
    case WeightsFormat::kPytorch: return "pytorch";
    case WeightsFormat::kFlax: return "flax";
    default: return "auto";
  }
}

bool ParseWeightsFormat(const std::string& name, WeightsFormat* format) {
  for (WeightsFormat f : {WeightsFormat::kAuto, WeightsFormat::kSafetensors, WeightsFormat::kPytorch,
                          WeightsFormat::kFlax}) {
    if (name == WeightsFormatName(f)) {
      *format = f;
      return true;
    }
  }
  return false;
}

Checkpoint::Checkpoint(std::unique_ptr<WeightSource> source) : source_(std::move(source)) {
  for (const std::string& name : source_->Names()) {
    for (const char* prefix : {"beit.", "data2vec_vision."}) {
      if (name.rfind(prefix, 0) == 0) backbone_prefix_ = prefix;
    }
    if (!backbone_prefix_.empty()) break;
  }
}

bool Checkpoint::HasBackbone(const std::string& name) const { return Has(backbone_prefix_ + name); }

Tensor Checkpoint::Take(const std::string& name, const Shape& expected_shape) {
  if (!source_->Has(name)) {
    throw ModelError(path() + ": missing tensor '" + name + "' (expected shape " + ShapeToString(expected_shape) +
                     "); does config.json match these weights?");
  }
  const Shape stored = source_->ShapeOf(name);
  if (stored != expected_shape) {
    throw ModelError(path() + ": tensor '" + name + "' has shape " + ShapeToString(stored) +
                     " but config.json implies " + ShapeToString(expected_shape));
  }
  taken_.insert(name);
  Tensor values = source_->ReadFloat(name);
  source_->Release(name);  // keep peak memory near one copy of the weights while a model loads
  return values;
}

Tensor Checkpoint::TakeBackbone(const std::string& name, const Shape& expected_shape) {
  return Take(backbone_prefix_ + name, expected_shape);
}

std::vector<std::string> Checkpoint::UnusedNames() const {
  std::vector<std::string> unused;
  for (const std::string& name : source_->Names()) {
    if (taken_.count(name)) continue;
    if (EndsWith(name, "num_batches_tracked") || EndsWith(name, "relative_position_index")) continue;
    unused.push_back(name);
  }
  return unused;
}

Checkpoint OpenCheckpoint(const std::string& dir, WeightsFormat format) {
  using Opener = std::unique_ptr<WeightSource> (*)(const std::string& path);
  static const Opener open_safetensors = [](const std::string& path) -> std::unique_ptr<WeightSource> {
    return SafetensorsWeights::Open(path);
  };
  static const Opener open_pytorch = [](const std::string& path) -> std::unique_ptr<WeightSource> {
    return TorchCheckpointFile::Open(path);
  };
  struct Candidate {
    WeightsFormat family;
    const char* file;
    Opener open;
    bool sharded;
  };
  // Transformers' order of preference.
  static const Candidate kCandidates[] = {
      {WeightsFormat::kSafetensors, "model.safetensors", open_safetensors, false},
      {WeightsFormat::kSafetensors, "model.safetensors.index.json", open_safetensors, true},
      {WeightsFormat::kPytorch, "pytorch_model.bin", open_pytorch, false},
      {WeightsFormat::kPytorch, "pytorch_model.bin.index.json", open_pytorch, true},
      {WeightsFormat::kFlax, "flax_model.msgpack",
       [](const std::string& path) -> std::unique_ptr<WeightSource> {
         return std::make_unique<FlaxCheckpointFile>(FlaxCheckpointFile::Open(path));
       },
       false},
  };
  std::string looked_for;
  for (const Candidate& c : kCandidates) {
    if (format != WeightsFormat::kAuto && format != c.family) continue;
    const std::string path = dir + "/" + c.file;
    looked_for += (looked_for.empty() ? "" : ", ") + std::string(c.file);
    if (!IsFile(path)) continue;
    if (c.sharded) return Checkpoint(std::make_unique<ShardedWeights>(path, c.open));
    return Checkpoint(c.open(path));
  }
  throw ModelError(dir + ": no weights file found (looked for " + looked_for + ")");
}

}  // namespace beit
