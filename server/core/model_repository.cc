#include "server/core/model_repository.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>

#include "model/model_error.h"
#include "model/ops/memory_reuse.h"

namespace beit::serving {

const char* VersionStateName(VersionState state) {
  switch (state) {
    case VersionState::kLoading: return "LOADING";
    case VersionState::kReady: return "READY";
    case VersionState::kUnloading: return "UNLOADING";
    case VersionState::kUnavailable: return "UNAVAILABLE";
  }
  return "UNAVAILABLE";
}

ModelRepository::ModelRepository(ComputeOptions compute)
    : compute_(compute.instances, compute.threads_per_instance), releaser_([this] { ReleaseRetired(); }) {
  pthread_setname_np(releaser_.native_handle(), "beit-release");  // frees unloaded versions
}

ModelRepository::~ModelRepository() {
  ShutdownAll();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  retired_changed_.notify_all();
  releaser_.join();
}

void ModelRepository::SetDefaults(const HostingDefaults& defaults) {
  std::lock_guard<std::mutex> lock(mu_);
  defaults_ = defaults;
}

HostingOptions ModelRepository::HostingFor(const ModelSpec& spec) {
  HostingOptions hosting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hosting.batching = defaults_.batching;
    hosting.decode_limits = defaults_.decode_limits;
    hosting.precision = defaults_.precision;
    hosting.weights_format = defaults_.weights_format;
    hosting.observer = defaults_.observer;
  }
  hosting.compute = &compute_;
  if (spec.precision) hosting.precision = *spec.precision;
  if (spec.max_batch_size) hosting.batching.max_batch_size = *spec.max_batch_size;
  if (spec.max_queue_delay_us) hosting.batching.max_queue_delay_us = *spec.max_queue_delay_us;
  if (spec.max_queue_size) hosting.batching.max_queue_size = *spec.max_queue_size;
  const int instances = spec.instances > 0 ? spec.instances : compute_.instances();
  hosting.batching.concurrent_batches = std::min(instances, compute_.instances());
  return hosting;
}

void ModelRepository::Load(const std::vector<ModelSpec>& specs, const BatcherOptions& batching,
                           const DecodeLimits& limits, ServingObserver* observer,
                           std::vector<std::string>* warnings, Precision precision,
                           WeightsFormat weights_format) {
  SetDefaults({batching, limits, precision, weights_format, observer});
  for (const ModelSpec& spec : specs) {
    if (spec.name.empty()) throw ModelError("--model " + spec.dir + ": the model needs a name (NAME=DIR)");
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (models_.count(spec.name)) throw ModelError("--model " + spec.name + ": the name is used twice");
    }
    std::shared_ptr<ServedModel> loaded;
    try {
      loaded = ServedModel::Load(spec.name, spec.dir, HostingFor(spec), warnings, spec.version);
    } catch (const ModelError& e) {
      throw ModelError("--model " + spec.name + "=" + spec.dir + ": " + e.what());
    }
    std::lock_guard<std::mutex> lock(mu_);
    Model& m = models_[spec.name];
    m.pinned = true;
    m.versions[spec.version] = Version{VersionState::kReady, "", std::move(loaded)};
  }
}

absl::Status ModelRepository::LoadVersion(const ModelSpec& spec, std::vector<std::string>* warnings) {
  if (spec.name.empty()) return absl::InvalidArgumentError("a model needs a name");
  if (spec.version < 1) return absl::InvalidArgumentError("model versions are numbers from 1");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (const auto m = models_.find(spec.name); m != models_.end() && m->second.pinned) {
      return absl::FailedPreconditionError("model '" + spec.name + "' was given with --model and is not replaced");
    }
    Version& v = models_[spec.name].versions[spec.version];
    if (v.state != VersionState::kReady) {
      v.state = VersionState::kLoading;
      v.reason = "loading from " + spec.dir;
    }
  }
  std::shared_ptr<ServedModel> loaded;
  std::string error;
  try {
    loaded = ServedModel::Load(spec.name, spec.dir, HostingFor(spec), warnings, spec.version);
    loaded->Warmup();
  } catch (const std::exception& e) {  // ModelError, or out of memory
    error = e.what();
  }
  std::lock_guard<std::mutex> lock(mu_);
  Version& v = models_[spec.name].versions[spec.version];
  if (!error.empty()) {
    if (loaded) Retire(spec.name, spec.version, std::move(loaded), "");
    if (v.state != VersionState::kReady) {
      v.state = VersionState::kUnavailable;
      v.reason = "load failed: " + error;
    }
    return absl::InvalidArgumentError("model '" + spec.name + "' version " + std::to_string(spec.version) +
                                      " did not load from " + spec.dir + ": " + error);
  }
  if (v.model) Retire(spec.name, spec.version, std::move(v.model), "");  // replaced by the reload
  v = Version{VersionState::kReady, "", std::move(loaded)};
  return absl::OkStatus();
}

absl::Status ModelRepository::UnloadVersion(const std::string& name, int64_t version, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto m = models_.find(name);
  if (m == models_.end()) return absl::NotFoundError("no model named '" + name + "'");
  if (m->second.pinned) {
    return absl::FailedPreconditionError("model '" + name +
                                         "' was given with --model (or the config file) at startup and stays loaded");
  }
  const auto v = m->second.versions.find(version);
  if (v == m->second.versions.end() || !v->second.model) return absl::OkStatus();  // nothing to unload
  v->second.state = VersionState::kUnloading;
  v->second.reason = reason;
  Retire(name, version, std::move(v->second.model), reason);
  return absl::OkStatus();
}

void ModelRepository::Retire(const std::string& name, int64_t version, std::shared_ptr<ServedModel> model,
                             const std::string& reason) {
  retired_.push_back(Retired{name, version, reason, std::move(model)});
  retired_changed_.notify_all();
}

// A retired version is released once the repository holds its last reference: no request can
// find it any more, so nothing can take a new one. Releasing here, on this thread, keeps a
// batcher from joining itself (its last request's callback may run on its own thread).
void ModelRepository::ReleaseRetired() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (retired_.empty()) {
      if (stopping_) return;
      retired_changed_.wait(lock, [&] { return stopping_ || !retired_.empty(); });
      continue;
    }
    std::vector<Retired> done;
    for (auto it = retired_.begin(); it != retired_.end();) {
      if (it->model.use_count() == 1 || stopping_) {
        done.push_back(std::move(*it));
        it = retired_.erase(it);
      } else {
        ++it;
      }
    }
    if (done.empty()) {  // still held: look again shortly (holders do not signal)
      retired_changed_.wait_for(lock, std::chrono::milliseconds(20));
      continue;
    }
    releasing_ += static_cast<int>(done.size());
    lock.unlock();
    for (Retired& r : done) r.model->Shutdown();  // finishes whatever is still queued
    for (Retired& r : done) r.model.reset();
    ReturnFreedMemory();
    lock.lock();
    for (const Retired& r : done) {
      const auto m = models_.find(r.name);
      if (m == models_.end()) continue;
      const auto v = m->second.versions.find(r.version);
      if (v != m->second.versions.end() && v->second.state == VersionState::kUnloading && !v->second.model) {
        v->second.state = VersionState::kUnavailable;
        v->second.reason = r.reason;
      }
    }
    releasing_ -= static_cast<int>(done.size());
    retired_changed_.notify_all();
  }
}

void ModelRepository::WaitUntilReleased() {
  std::unique_lock<std::mutex> lock(mu_);
  retired_changed_.wait(lock, [&] { return retired_.empty() && releasing_ == 0; });
}

void ModelRepository::NoteVersion(const std::string& name, int64_t version, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  Version& v = models_[name].versions[version];
  if (v.model || v.state == VersionState::kUnloading) return;  // loaded: its state speaks
  v.state = VersionState::kUnavailable;
  v.reason = reason;
}

void ModelRepository::Forget(const std::string& name, int64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto m = models_.find(name);
  if (m == models_.end()) return;
  const auto v = m->second.versions.find(version);
  if (v != m->second.versions.end() && !v->second.model && v->second.state != VersionState::kUnloading) {
    m->second.versions.erase(v);
  }
  if (m->second.versions.empty() && !m->second.pinned) models_.erase(m);
}

std::string ModelRepository::ReadyNames() const {
  std::string names;
  for (const auto& [name, model] : models_) {
    for (const auto& [version, v] : model.versions) {
      if (v.state != VersionState::kReady) continue;
      names += (names.empty() ? "" : ", ") + name;
      break;
    }
  }
  return names.empty() ? "(none)" : names;
}

absl::StatusOr<std::shared_ptr<ServedModel>> ModelRepository::Find(const std::string& name, int64_t version) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (name.empty()) return absl::InvalidArgumentError("the request names no model; this server serves: " + ReadyNames());
  const auto m = models_.find(name);
  if (m == models_.end()) {
    return absl::NotFoundError("no model named '" + name + "'; this server serves: " + ReadyNames());
  }
  const auto& versions = m->second.versions;
  if (version == 0) {
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      if (it->second.state == VersionState::kReady) return it->second.model;
    }
    std::string states;
    for (const auto& [number, v] : versions) {
      states += (states.empty() ? "" : "; ") + std::to_string(number) + " " + VersionStateName(v.state) +
                (v.reason.empty() ? "" : " (" + v.reason + ")");
    }
    return absl::UnavailableError("model '" + name + "' has no version ready" +
                                  (states.empty() ? std::string() : ": " + states));
  }
  const auto v = versions.find(version);
  if (v == versions.end()) {
    std::string ready;
    for (const auto& [number, other] : versions) {
      if (other.state == VersionState::kReady) ready += (ready.empty() ? "" : ", ") + std::to_string(number);
    }
    return absl::NotFoundError("model '" + name + "' has no version " + std::to_string(version) +
                               "; versions ready: " + (ready.empty() ? "none" : ready));
  }
  if (v->second.state != VersionState::kReady) {
    return absl::UnavailableError("model '" + name + "' version " + std::to_string(version) + " is " +
                                  VersionStateName(v->second.state) +
                                  (v->second.reason.empty() ? "" : " (" + v->second.reason + ")"));
  }
  return v->second.model;
}

absl::StatusOr<std::shared_ptr<ServedModel>> ModelRepository::FindForTask(const std::string& name, Task task,
                                                                          int64_t version) const {
  absl::StatusOr<std::shared_ptr<ServedModel>> model = Find(name, version);
  if (!model.ok() || (*model)->Supports(task)) return model;
  std::vector<std::string> capable_names;  // models() is by name: versions of one model are adjacent
  for (const auto& other : models()) {
    const std::string& n = other->description().name;
    if (other->Supports(task) && (capable_names.empty() || capable_names.back() != n)) capable_names.push_back(n);
  }
  std::string capable;
  for (const std::string& n : capable_names) capable += (capable.empty() ? "" : ", ") + n;
  return absl::FailedPreconditionError("model '" + name + "' (" + (*model)->description().architecture +
                                       ") does not support " + TaskName(task) + "; models that do: " +
                                       (capable.empty() ? "none on this server" : capable));
}

std::vector<std::shared_ptr<const ServedModel>> ModelRepository::models() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<const ServedModel>> out;
  for (const auto& [name, model] : models_) {
    for (const auto& [version, v] : model.versions) {
      if (v.state == VersionState::kReady) out.push_back(v.model);
    }
  }
  return out;
}

std::vector<VersionStatus> ModelRepository::Index() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<VersionStatus> out;
  for (const auto& [name, model] : models_) {
    for (const auto& [version, v] : model.versions) out.push_back({name, version, v.state, v.reason});
  }
  return out;
}

std::vector<int64_t> ModelRepository::ReadyVersions(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> out;
  const auto m = models_.find(name);
  if (m == models_.end()) return out;
  for (const auto& [version, v] : m->second.versions) {
    if (v.state == VersionState::kReady) out.push_back(version);
  }
  return out;
}

bool ModelRepository::Pinned(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto m = models_.find(name);
  return m != models_.end() && m->second.pinned;
}

void ModelRepository::WarmupAll() {
  for (const auto& model : models()) std::const_pointer_cast<ServedModel>(model)->Warmup();
}

void ModelRepository::ShutdownAll() {
  for (const auto& model : models()) std::const_pointer_cast<ServedModel>(model)->Shutdown();
}

}  // namespace beit::serving
