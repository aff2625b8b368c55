#include "server/core/model_repository.h"

#include <algorithm>

#include "model/model_error.h"

namespace beit::serving {

void ModelRepository::Load(const std::vector<ModelSpec>& specs, const BatcherOptions& batching,
                           const DecodeLimits& limits, ServingObserver* observer,
                           std::vector<std::string>* warnings, Precision precision,
                           WeightsFormat weights_format) {
  HostingOptions hosting;
  hosting.batching = batching;
  hosting.decode_limits = limits;
  hosting.compute = &compute_;
  hosting.observer = observer;
  hosting.precision = precision;
  hosting.weights_format = weights_format;
  for (const ModelSpec& spec : specs) {
    if (spec.name.empty()) throw ModelError("--model " + spec.dir + ": the model needs a name (NAME=DIR)");
    if (models_.count(spec.name)) throw ModelError("--model " + spec.name + ": the name is used twice");
    HostingOptions model_hosting = hosting;
    const int instances = spec.instances > 0 ? spec.instances : compute_.instances();
    model_hosting.batching.concurrent_batches = std::min(instances, compute_.instances());
    try {
      models_[spec.name] = ServedModel::Load(spec.name, spec.dir, model_hosting, warnings);
    } catch (const ModelError& e) {
      throw ModelError("--model " + spec.name + "=" + spec.dir + ": " + e.what());
    }
  }
}

std::string ModelRepository::HostedNames() const {
  std::string names;
  for (const auto& [name, model] : models_) names += (names.empty() ? "" : ", ") + name;
  return names.empty() ? "(none)" : names;
}

absl::StatusOr<ServedModel*> ModelRepository::Find(const std::string& name) const {
  if (name.empty()) return absl::InvalidArgumentError("the request names no model; this server hosts: " + HostedNames());
  const auto it = models_.find(name);
  if (it == models_.end()) {
    return absl::NotFoundError("no model named '" + name + "'; this server hosts: " + HostedNames());
  }
  return it->second.get();
}

absl::StatusOr<ServedModel*> ModelRepository::FindForTask(const std::string& name, Task task) const {
  absl::StatusOr<ServedModel*> model = Find(name);
  if (!model.ok() || (*model)->Supports(task)) return model;
  std::string capable;
  for (const auto& [other, m] : models_) {
    if (m->Supports(task)) capable += (capable.empty() ? "" : ", ") + other;
  }
  return absl::FailedPreconditionError("model '" + name + "' (" + (*model)->description().architecture +
                                       ") does not support " + TaskName(task) + "; models that do: " +
                                       (capable.empty() ? "none on this server" : capable));
}

std::vector<const ServedModel*> ModelRepository::models() const {
  std::vector<const ServedModel*> out;
  for (const auto& [name, model] : models_) out.push_back(model.get());
  return out;
}

void ModelRepository::WarmupAll() {
  for (auto& [name, model] : models_) model->Warmup();
}

void ModelRepository::ShutdownAll() {
  for (auto& [name, model] : models_) model->Shutdown();
}

}  // namespace beit::serving
