// The models a server hosts, by name (`beit-server --model NAME=DIR`).
//
// Contract:
// - Load(specs, ...) loads every model or throws ModelError naming the failing folder; names must
//   be unique and non-empty.
// - Find(name) returns the model or NOT_FOUND listing the hosted names.
// - FindForTask(name, task) also checks the head: FAILED_PRECONDITION saying which hosted models
//   support the task.
// - All models share the server's compute instances (ComputeExecutor: `compute.instances`
//   threads, each an OpenMP team of `compute.threads_per_instance`); a model computes up to
//   ModelSpec::instances batches at once (0: as many as there are instances), never more than
//   there are instances. The weights are loaded once per model, whatever its instances.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/served_model.h"

namespace beit::serving {

struct ModelSpec {
  std::string name;
  std::string dir;
  int instances = 0;  // 0: the server's
};

struct ComputeOptions {
  int instances = 1;
  int threads_per_instance = 0;  // 0: OpenMP's default
};

class ModelRepository {
 public:
  explicit ModelRepository(ComputeOptions compute = {})
      : compute_(compute.instances, compute.threads_per_instance) {}

  void Load(const std::vector<ModelSpec>& specs, const BatcherOptions& batching, const DecodeLimits& limits,
            ServingObserver* observer, std::vector<std::string>* warnings, Precision precision = Precision::kF32,
            WeightsFormat weights_format = WeightsFormat::kAuto);

  absl::StatusOr<ServedModel*> Find(const std::string& name) const;
  absl::StatusOr<ServedModel*> FindForTask(const std::string& name, Task task) const;
  std::vector<const ServedModel*> models() const;  // by name

  const ComputeExecutor& compute() const { return compute_; }

  void WarmupAll();
  void ShutdownAll();

 private:
  std::string HostedNames() const;

  ComputeExecutor compute_;
  std::map<std::string, std::unique_ptr<ServedModel>> models_;
};

}  // namespace beit::serving
