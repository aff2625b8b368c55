// The models a server hosts, by name and version, while it serves: loaded at startup
// (`beit-server --model NAME=DIR`, version 1, pinned) and at run time (server/repository/ decides
// what, this class does it).
//
// Contract:
// - Load(specs, ...) at startup loads every spec or throws ModelError naming the failing folder;
//   names must be unique and non-empty. These versions are pinned: UnloadVersion refuses them.
// - LoadVersion(spec) (FAILED_PRECONDITION for a pinned model) loads one version beside whatever serves (LOADING in the index meanwhile),
//   warms it up on every instance, and only then makes it READY (findable). A spec whose version
//   is already loaded is loaded again from its folder and replaces it once READY (the old one is
//   retired as UnloadVersion does). On failure the version is UNAVAILABLE with the error as its
//   reason, the status is returned, and nothing that serves changes.
// - UnloadVersion(name, version) takes a version out of service at once: no new request finds it;
//   what it queued and what holds it (a request keeps its ServedModel alive through
//   InferenceRequest::model) finishes; then, on the repository's own thread, its batchers stop,
//   its memory is freed and returned to the system, and the index shows it UNAVAILABLE with the
//   reason given. UNLOADING until then.
// - NoteVersion(name, version, reason) lists a version that is not loaded (found in a repository
//   folder but excluded, or refused before loading) as UNAVAILABLE with a reason; Forget removes a
//   version that is not loaded from the index (its folder is gone).
// - Find(name, version) returns the version (0: the highest READY one), holding it alive for the
//   caller. Unknown model: NOT_FOUND listing the models with a READY version; unknown version:
//   NOT_FOUND listing the READY ones; a version (or model) that exists but does not serve now:
//   UNAVAILABLE with its state and reason. FindForTask also checks the head: FAILED_PRECONDITION
//   saying which models support the task.
// - models() lists the READY versions, by name then version; Index() every version known.
// - Thread-safe. Loads are not serialised here (server/repository/ does that).
// - All models share the server's compute instances (ComputeExecutor: `compute.instances`
//   threads, each an OpenMP team of `compute.threads_per_instance`); a model computes up to
//   ModelSpec::instances batches at once (0: as many as there are instances), never more than
//   there are instances. The weights are loaded once per version, whatever its instances.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/core/served_model.h"

namespace beit::serving {

struct ModelSpec {
  std::string name;
  std::string dir;
  int instances = 0;  // 0: the server's
  int64_t version = 1;
  std::optional<Precision> precision = std::nullopt;  // unset: the server's
  // Batching knobs of this model (concurrent_batches comes from `instances`); unset: the server's.
  std::optional<int> max_batch_size = std::nullopt;
  std::optional<int64_t> max_queue_delay_us = std::nullopt;
  std::optional<int> max_queue_size = std::nullopt;
};

struct ComputeOptions {
  int instances = 1;
  int threads_per_instance = 0;  // 0: OpenMP's default
};

// What every model gets unless its spec says otherwise.
struct HostingDefaults {
  BatcherOptions batching;
  DecodeLimits decode_limits;
  Precision precision = Precision::kF32;
  WeightsFormat weights_format = WeightsFormat::kAuto;
  ServingObserver* observer = nullptr;
};

// Triton's model states, as the repository index spells them.
enum class VersionState { kLoading, kReady, kUnloading, kUnavailable };
const char* VersionStateName(VersionState state);  // "LOADING", "READY", "UNLOADING", "UNAVAILABLE"

struct VersionStatus {
  std::string name;
  int64_t version = 0;
  VersionState state = VersionState::kUnavailable;
  std::string reason;  // why it is not READY (empty when READY)
};

class ModelRepository {
 public:
  explicit ModelRepository(ComputeOptions compute = {});
  ~ModelRepository();  // shuts every version down

  // Startup (pinned versions). The defaults stay for LoadVersion.
  void Load(const std::vector<ModelSpec>& specs, const BatcherOptions& batching, const DecodeLimits& limits,
            ServingObserver* observer, std::vector<std::string>* warnings, Precision precision = Precision::kF32,
            WeightsFormat weights_format = WeightsFormat::kAuto);
  void SetDefaults(const HostingDefaults& defaults);

  absl::Status LoadVersion(const ModelSpec& spec, std::vector<std::string>* warnings);
  absl::Status UnloadVersion(const std::string& name, int64_t version, const std::string& reason);
  void NoteVersion(const std::string& name, int64_t version, const std::string& reason);
  void Forget(const std::string& name, int64_t version);

  absl::StatusOr<std::shared_ptr<ServedModel>> Find(const std::string& name, int64_t version = 0) const;
  absl::StatusOr<std::shared_ptr<ServedModel>> FindForTask(const std::string& name, Task task,
                                                           int64_t version = 0) const;
  std::vector<std::shared_ptr<const ServedModel>> models() const;
  std::vector<VersionStatus> Index() const;
  // READY versions of `name`, ascending (empty for an unknown model).
  std::vector<int64_t> ReadyVersions(const std::string& name) const;
  bool Pinned(const std::string& name) const;
  // Blocks until every unloaded version's memory is released (tests, benchmarks, shutdown).
  void WaitUntilReleased();

  const ComputeExecutor& compute() const { return compute_; }

  void WarmupAll();
  void ShutdownAll();

 private:
  struct Version {
    VersionState state = VersionState::kUnavailable;
    std::string reason;
    std::shared_ptr<ServedModel> model;  // READY, or LOADING while it replaces a READY one
  };
  struct Model {
    bool pinned = false;
    std::map<int64_t, Version> versions;
  };
  struct Retired {
    std::string name;
    int64_t version;
    std::string reason;
    std::shared_ptr<ServedModel> model;
  };

  HostingOptions HostingFor(const ModelSpec& spec);
  std::string ReadyNames() const;  // requires mu_
  void Retire(const std::string& name, int64_t version, std::shared_ptr<ServedModel> model,
              const std::string& reason);  // requires mu_
  void ReleaseRetired();

  ComputeExecutor compute_;
  HostingDefaults defaults_;
  mutable std::mutex mu_;
  std::condition_variable retired_changed_;
  std::map<std::string, Model> models_;
  std::vector<Retired> retired_;
  int releasing_ = 0;  // taken from retired_, not yet marked UNAVAILABLE
  bool stopping_ = false;
  std::thread releaser_;  // frees retired versions once nothing holds them
};

}  // namespace beit::serving
