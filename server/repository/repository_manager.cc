#include "server/repository/repository_manager.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <utility>

namespace beit::serving::repository {

const char* ControlModeName(ControlMode mode) {
  switch (mode) {
    case ControlMode::kNone: return "none";
    case ControlMode::kPoll: return "poll";
    case ControlMode::kExplicit: return "explicit";
  }
  return "none";
}

RepositoryManager::RepositoryManager(ModelRepository* models, RepositoryOptions options, RepositoryListener* listener)
    : models_(models), options_(std::move(options)), listener_(listener) {}

RepositoryManager::~RepositoryManager() { Stop(); }

void RepositoryManager::Stop(bool wait) {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    dropped.swap(jobs_);
  }
  wake_.notify_all();
  for (auto& job : dropped) job();  // each answers: the manager is stopping (see Post)
  if (!wait) return;
  std::lock_guard<std::mutex> lock(join_mu_);
  if (thread_.joinable()) thread_.join();
}

bool RepositoryManager::Stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

absl::Status RepositoryManager::Start() {
  if (Stopping()) return absl::UnavailableError("the model repository is stopping");
  absl::Status result;
  if (!options_.root.empty()) {
    std::vector<std::string> names;
    if (options_.mode == ControlMode::kExplicit) {
      for (const std::string& name : options_.startup_models) {
        if (name != "*") {
          names.push_back(name);
          continue;
        }
        absl::StatusOr<std::vector<std::string>> all = ListModelNames(options_.root);
        if (!all.ok()) return all.status();
        names.insert(names.end(), all->begin(), all->end());
      }
    } else {
      std::vector<std::string> notes;
      absl::StatusOr<std::vector<std::string>> all = ListModelNames(options_.root, &notes);
      if (!all.ok()) return all.status();
      for (const std::string& note : notes) NoteOnce("", note);
      names = *all;
    }
    for (const std::string& name : names) {
      const absl::Status loaded =
          Guarded([&] { return LoadModel(name, /*wait_for_stable=*/false, /*retry_failed=*/true); });
      if (!loaded.ok() && options_.mode == ControlMode::kExplicit && result.ok()) {
        result = absl::Status(loaded.code(), "--load-model " + name + ": " + std::string(loaded.message()));
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(join_mu_);
    thread_ = std::thread([this] { Run(); });
    pthread_setname_np(thread_.native_handle(), "beit-repository");  // polls, loads, unloads
  }
  if (listener_) listener_->Changed();
  return result;
}

absl::Status RepositoryManager::RefusedByMode(const char* action) const {
  if (options_.root.empty()) {
    return absl::FailedPreconditionError(std::string("cannot ") + action +
                                         " models: this server has no model repository (start it with "
                                         "--model-repository DIR --model-control-mode explicit)");
  }
  return absl::FailedPreconditionError(
      std::string("cannot ") + action + " models: the model control mode is '" + ControlModeName(options_.mode) + "'" +
      (options_.mode == ControlMode::kPoll ? " (the repository folder decides what is loaded)" : "") +
      "; start beit-server with --model-control-mode explicit to load and unload through the API");
}

void RepositoryManager::Post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      jobs_.push_back(std::move(job));
      wake_.notify_all();
      return;
    }
  }
  job();  // the job sees stopping_ and answers so
}

void RepositoryManager::PostJob(Done done, std::function<absl::Status()> work) {
  Post([this, done = std::move(done), work = std::move(work)] {
    if (Stopping()) return done(absl::UnavailableError("the server is shutting down"));
    absl::Status status = Guarded(work);
    if (listener_) listener_->Changed();
    done(std::move(status));
  });
}

void RepositoryManager::Load(const std::string& name, Done done) {
  if (options_.mode != ControlMode::kExplicit) return done(RefusedByMode("load"));
  if (!ValidModelName(name)) return done(InvalidName(name));
  PostJob(std::move(done), [this, name] { return LoadModel(name, /*wait_for_stable=*/false, /*retry_failed=*/true); });
}

void RepositoryManager::Unload(const std::string& name, Done done) {
  if (options_.mode != ControlMode::kExplicit) return done(RefusedByMode("unload"));
  if (!ValidModelName(name)) return done(InvalidName(name));
  PostJob(std::move(done), [this, name] {
    if (models_->Pinned(name)) {
      return absl::FailedPreconditionError("model '" + name +
                                           "' was given with --model (or the config file) and cannot be unloaded");
    }
    const std::vector<VersionStatus> index = models_->Index();
    const bool known = std::any_of(index.begin(), index.end(), [&](const VersionStatus& v) { return v.name == name; });
    if (!known) return absl::NotFoundError("no model named '" + name + "' is loaded");
    UnloadModel(name, "unloaded", /*forget=*/false);
    return absl::OkStatus();
  });
}

absl::Status RepositoryManager::InvalidName(const std::string& name) const {
  return absl::InvalidArgumentError(
      "'" + Printable(name.size() > 200 ? name.substr(0, 200) + "..." : name) +
      "' is not a model name (UTF-8 without control characters or '/', not starting with '.')");
}

void RepositoryManager::PollNow(Done done) {
  PostJob(std::move(done), [this] {
    if (options_.mode == ControlMode::kPoll) PollAll();
    return absl::OkStatus();
  });
}

void RepositoryManager::Run() {
  using Clock = std::chrono::steady_clock;
  const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.poll_seconds));
  Clock::time_point next_poll = Clock::now() + interval;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (jobs_.empty()) {
      if (options_.mode == ControlMode::kPoll) {
        wake_.wait_until(lock, next_poll, [&] { return stopping_ || !jobs_.empty(); });
      } else {
        wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      }
    }
    if (stopping_) break;
    if (!jobs_.empty()) {
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
      continue;
    }
    if (options_.mode == ControlMode::kPoll && Clock::now() >= next_poll) {
      lock.unlock();
      Guarded([&] {
        PollAll();
        return absl::OkStatus();
      }).IgnoreError();  // an exception is noted by Guarded; the next poll tries again
      if (listener_) listener_->Changed();
      lock.lock();
      next_poll = Clock::now() + interval;
    }
  }
}

void RepositoryManager::NoteOnce(const std::string& name, const std::string& note) {
  if (noted_[name].insert(note).second && listener_) listener_->Note(name, note);
}

absl::Status RepositoryManager::Guarded(const std::function<absl::Status()>& work) {
  try {
    return work();
  } catch (const std::exception& e) {  // e.g. out of memory: the manager keeps running
    const std::string why = std::string("model repository: ") + e.what();
    if (listener_) listener_->Note("", why);
    return absl::InternalError(why);
  }
}

void RepositoryManager::PollAll() {
  std::vector<std::string> notes;
  absl::StatusOr<std::vector<std::string>> names = ListModelNames(options_.root, &notes);
  if (!names.ok()) {  // a transient error must not unload everything
    NoteOnce("", std::string(names.status().message()));
    return;
  }
  for (const std::string& note : notes) NoteOnce("", note);
  for (const std::string& name : *names) {
    if (Stopping()) return;  // the server drains: no more loads
    missing_.erase(name);
    // A failed load is in the index and the log already; polling goes on with the next model.
    LoadModel(name, /*wait_for_stable=*/true, /*retry_failed=*/false).IgnoreError();
  }
  std::set<std::string> absent;
  for (const VersionStatus& v : models_->Index()) {
    if (!std::binary_search(names->begin(), names->end(), v.name) && !models_->Pinned(v.name)) absent.insert(v.name);
  }
  // Gone at two scans in a row: a folder swapped by two renames is not gone.
  for (const std::string& name : absent) {
    if (++missing_[name] < 2) continue;
    missing_.erase(name);
    UnloadModel(name, "unloaded: its folder was removed from the repository", /*forget=*/true);
  }
}

absl::Status RepositoryManager::LoadModel(const std::string& name, bool wait_for_stable, bool retry_failed) {
  if (models_->Pinned(name)) {
    const std::string why = "a model named '" + name + "' was given with --model; the repository's folder is ignored";
    NoteOnce(name, why);
    return absl::FailedPreconditionError(why);
  }
  const ModelFolder folder = options_.root.empty() ? ModelFolder{} : ScanModel(options_.root, name);
  if (folder.scan_failed) {  // what it holds is unknown: change nothing
    NoteOnce(name, folder.problem);
    return absl::UnavailableError(folder.problem);
  }
  if (!folder.exists) {
    return absl::NotFoundError("the model repository " + (options_.root.empty() ? "(none)" : options_.root) +
                               " has no model '" + name + "'");
  }
  for (const std::string& note : folder.notes) NoteOnce(name, note);
  std::map<int64_t, Seen>& seen = seen_[name];
  if (!folder.problem.empty()) {
    NoteOnce(name, folder.problem);
    for (const auto& [version, v] : folder.versions) models_->NoteVersion(name, version, folder.problem);
    return absl::InvalidArgumentError(folder.problem);
  }
  std::set<int64_t> found;
  for (const auto& [version, v] : folder.versions) found.insert(version);
  const std::set<int64_t> selected = SelectVersions(folder.settings.policy, found);
  const std::string policy = Describe(folder.settings.policy);
  for (int64_t version : found) {
    if (!selected.count(version)) models_->NoteVersion(name, version, "not served: the version policy is " + policy);
  }

  absl::Status first_error;
  // What serves now; loading one version does not change whether another serves.
  const std::vector<int64_t> serving_before = models_->ReadyVersions(name);
  // Scans in a row each loaded version's folder was absent (one may fall between two renames).
  for (int64_t version : serving_before) {
    Seen& s = seen[version];
    s.missing = found.count(version) ? 0 : s.missing + 1;
  }
  for (int64_t version : selected) {
    if (Stopping()) return absl::UnavailableError("the server is shutting down");
    const VersionFolder& v = folder.versions.at(version);
    Seen& s = seen[version];
    if (!v.problem.empty()) {
      models_->NoteVersion(name, version, v.problem);
      NoteOnce(name, v.problem);
      if (first_error.ok()) first_error = absl::InvalidArgumentError(v.problem);
      continue;
    }
    const bool serving = std::find(serving_before.begin(), serving_before.end(), version) != serving_before.end();
    if (serving && s.loaded == v.fingerprint) continue;
    if (wait_for_stable && s.pending != v.fingerprint) {  // new or changed: wait one interval
      s.pending = v.fingerprint;
      continue;
    }
    s.pending = v.fingerprint;
    if (!retry_failed && s.failed == v.fingerprint) continue;
    ModelSpec spec = folder.settings.hosting;
    spec.name = name;
    spec.dir = v.dir;
    spec.version = version;
    std::vector<std::string> warnings;
    const auto start = std::chrono::steady_clock::now();
    const absl::Status status = models_->LoadVersion(spec, &warnings);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (listener_) listener_->VersionLoaded(name, version, v.dir, status, seconds);
    for (const std::string& w : warnings) NoteOnce(name, w);
    if (status.ok()) {
      s.loaded = v.fingerprint;
      s.failed.clear();
    } else {
      s.failed = v.fingerprint;
      if (first_error.ok()) first_error = status;
    }
  }

  // Versions that no longer serve per the policy go, once a selected one serves.
  const std::vector<int64_t> ready = models_->ReadyVersions(name);
  const bool selected_ready =
      std::any_of(ready.begin(), ready.end(), [&](int64_t v) { return selected.count(v) > 0; });
  if (selected_ready) {
    for (int64_t version : ready) {
      if (selected.count(version)) continue;
      // A version folder gone at one scan may be between two renames: polling waits for a second.
      if (!found.count(version) && wait_for_stable && seen[version].missing < 2) continue;
      const std::string reason = found.count(version) ? "unloaded: not served under the version policy " + policy
                                                      : "unloaded: its version folder was removed";
      // Fails only for a model unknown or given with --model, neither of which a scan lists.
      models_->UnloadVersion(name, version, reason).IgnoreError();
      if (listener_) listener_->VersionUnloaded(name, version, reason);
      seen.erase(version);
    }
    std::lock_guard<std::mutex> lock(mu_);
    required_.insert(name);
  }
  // Versions whose folders are gone and that hold nothing leave the index.
  for (const VersionStatus& v : models_->Index()) {
    if (v.name == name && !found.count(v.version) && v.state == VersionState::kUnavailable) {
      models_->Forget(name, v.version);
      seen.erase(v.version);
    }
  }
  if (selected_ready) return absl::OkStatus();
  if (!first_error.ok()) return first_error;
  if (selected.empty()) {
    return absl::InvalidArgumentError("model '" + name + "': the version policy " + policy +
                                      " selects none of the versions found");
  }
  return absl::UnavailableError("model '" + name + "': no version is ready yet");
}

void RepositoryManager::UnloadModel(const std::string& name, const std::string& reason, bool forget) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    required_.erase(name);  // first: readiness never waits on what is being unloaded on purpose
  }
  for (int64_t version : models_->ReadyVersions(name)) {
    if (models_->UnloadVersion(name, version, reason).ok() && listener_) {
      listener_->VersionUnloaded(name, version, reason);
    }
  }
  if (forget) {  // its folder is gone: so are its versions that hold nothing
    for (const VersionStatus& v : models_->Index()) {
      if (v.name == name && v.state == VersionState::kUnavailable) models_->Forget(name, v.version);
    }
  }
  seen_.erase(name);
}

std::vector<VersionStatus> RepositoryManager::Index() const {
  std::vector<VersionStatus> index = models_->Index();
  if (options_.root.empty()) return index;
  absl::StatusOr<std::vector<std::string>> names = ListModelNames(options_.root);
  if (!names.ok()) return index;
  const std::string why =
      options_.mode == ControlMode::kExplicit
          ? "not loaded; load it with POST /v2/repository/models/{name}/load or RepositoryModelLoad"
          : options_.mode == ControlMode::kPoll ? "not loaded yet: it loads once its folder stays unchanged for one poll"
                                                : "not loaded: found after startup (model control mode none)";
  for (const std::string& name : *names) {
    if (models_->Pinned(name)) continue;
    const ModelFolder folder = ScanModel(options_.root, name);
    for (const auto& [version, v] : folder.versions) {
      const bool known = std::any_of(index.begin(), index.end(), [&, version = version](const VersionStatus& s) {
        return s.name == name && s.version == version;
      });
      if (known) continue;
      const std::string reason = !v.problem.empty() ? v.problem : !folder.problem.empty() ? folder.problem : why;
      index.push_back({name, version, VersionState::kUnavailable, reason});
    }
    if (folder.versions.empty() && !folder.problem.empty()) {
      const bool known = std::any_of(index.begin(), index.end(), [&](const VersionStatus& s) { return s.name == name; });
      if (!known) index.push_back({name, 0, VersionState::kUnavailable, folder.problem});
    }
  }
  std::sort(index.begin(), index.end(), [](const VersionStatus& a, const VersionStatus& b) {
    return a.name != b.name ? a.name < b.name : a.version < b.version;
  });
  return index;
}

bool RepositoryManager::RequiredReady() const {
  std::set<std::string> required;
  {
    std::lock_guard<std::mutex> lock(mu_);
    required = required_;
  }
  for (const std::string& name : required) {
    if (models_->ReadyVersions(name).empty()) return false;
  }
  return true;
}

}  // namespace beit::serving::repository
