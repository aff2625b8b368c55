// The live model repository: what loads, when, and by whose word. It reads the repository folder
// (repository_folder.h), applies each model's version policy, and loads and unloads versions in
// the serving core's ModelRepository, which keeps serving throughout (server/core/model_repository.h).
// No protocol here: the front doors translate Triton's repository extension into these calls.
//
// Contract:
// - Control modes (`--model-control-mode`): kNone loads the repository once at Start and never
//   changes it; kPoll does the same, then rescans every poll interval: new and changed versions
//   load, removed ones unload, per each model's policy; kExplicit loads only `startup_models` at
//   Start ("*": all), then only Load / Unload change anything.
// - Poll: a version folder is considered only once its fingerprint (contents, sizes, times and
//   serving.json) is the same at two scans one interval apart, so a copy that keeps writing is
//   not loaded half-written (one that pauses longer than the interval can look finished: copy to
//   a dot-name and rename); a complete folder renamed into place loads at the next scan but one.
//   Start loads what is there; a version whose folder changed while or after it loaded (a copy
//   still going on) loads again once unchanged for one interval (its loaded fingerprint is the
//   one scanned before the load). A version whose load failed is not
//   retried until its contents change. A model folder is unloaded once it is absent at two scans in a row (a swap by two
//   renames is not a removal); a folder that cannot be listed changes nothing.
// - Loading a model's versions: every version the policy selects that is not loaded with these
//   contents loads beside what serves (a changed one reloads), each READY before it takes
//   requests; then loaded versions the policy no longer selects (or whose folder is gone) are
//   unloaded, but only once a selected version is READY: a failed load never leaves a model with
//   nothing serving (when polling, a version folder counts as gone at its second absent scan). Versions not selected are listed UNAVAILABLE with the policy as the reason.
// - Load(name, done): kExplicit only (else FAILED_PRECONDITION naming the mode); INVALID_ARGUMENT
//   for a name no folder can have (repository_folder.h: ValidModelName); NOT_FOUND when the
//   repository has no such model folder; INVALID_ARGUMENT with the reason when no selected version
//   loads (a model already loaded is rescanned: new versions load, changed ones reload). `done` is
//   called once every selected version is READY or failed.
// - Unload(name, done): kExplicit only; FAILED_PRECONDITION for a model given with --model;
//   NOT_FOUND for a model the server does not know. `done` is called once no version of it takes
//   new requests (what they queued finishes; the memory is returned afterwards).
// - Jobs (Start, each poll, Load, Unload) run one at a time on the manager's own thread, in the
//   order asked; `done` runs there. Index() answers from the caller's thread: every version the
//   core knows plus, in explicit mode, versions found in the folder and not loaded.
// - RequiredReady(): a model is required from when it first serves (--model, Start, Load) until it
//   is unloaded on purpose (Unload, its folder removed); true while every required model has a
//   READY version. Events (loads, unloads, notes, state changes) go to the listener.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "server/core/model_repository.h"
#include "server/repository/repository_folder.h"

namespace beit::serving::repository {

enum class ControlMode { kNone, kPoll, kExplicit };
const char* ControlModeName(ControlMode mode);  // "none", "poll", "explicit"

struct RepositoryOptions {
  std::string root;  // empty: no repository folder (Load finds nothing)
  ControlMode mode = ControlMode::kNone;
  double poll_seconds = 15;
  std::vector<std::string> startup_models;  // kExplicit: names, or "*" for every model
};

class RepositoryListener {
 public:
  virtual ~RepositoryListener() = default;
  // A version finished loading (ok) or failed (the status says why), after `seconds`.
  virtual void VersionLoaded(const std::string& model, int64_t version, const std::string& dir,
                             const absl::Status& status, double seconds) = 0;
  virtual void VersionUnloaded(const std::string& model, int64_t version, const std::string& reason) = 0;
  // Something about the folder an operator should read once (ignored folders, bad serving.json).
  virtual void Note(const std::string& model, const std::string& note) = 0;
  // After every job: readiness may have changed.
  virtual void Changed() = 0;
};

class RepositoryManager {
 public:
  using Done = std::function<void(absl::Status)>;

  RepositoryManager(ModelRepository* models, RepositoryOptions options, RepositoryListener* listener);
  ~RepositoryManager();  // Stop()

  // Loads what the mode says at startup, on the calling thread; then polling starts (kPoll).
  // The error of the first `startup_models` entry that does not load (kExplicit); repository
  // models that fail in kNone / kPoll are only listed with their reason.
  absl::Status Start();
  // No job or poll after this: queued Load / Unload calls answer UNAVAILABLE, a running poll
  // starts no further load, and with `wait` the running job (it may be a load) finishes and the
  // thread ends. Idempotent; the server calls Stop(false) when it starts draining (the grace
  // period is for requests) and Stop() once the doors are shut.
  void Stop(bool wait = true);

  void Load(const std::string& name, Done done);
  void Unload(const std::string& name, Done done);
  std::vector<VersionStatus> Index() const;
  bool RequiredReady() const;
  ControlMode mode() const { return options_.mode; }
  const std::string& root() const { return options_.root; }

  // Runs one poll now (tests); kPoll only does anything.
  void PollNow(Done done);

 private:
  struct Seen {
    std::string pending;  // fingerprint at the last poll, waiting to be stable
    std::string loaded;   // fingerprint of the loaded contents
    std::string failed;   // fingerprint that failed to load
    int missing = 0;      // polls in a row its loaded folder was absent
  };

  void Post(std::function<void()> job);
  // A job answering `done` with work's status (UNAVAILABLE once stopping), then telling the listener.
  void PostJob(Done done, std::function<absl::Status()> work);
  void Run();
  void PollAll();
  absl::Status LoadModel(const std::string& name, bool wait_for_stable, bool retry_failed);
  // Every loaded version of `name` out of service; `forget`: drop its unloaded versions from the
  // index (its folder is gone), else they stay listed UNAVAILABLE with `reason`.
  void UnloadModel(const std::string& name, const std::string& reason, bool forget);
  absl::Status RefusedByMode(const char* action) const;
  absl::Status InvalidName(const std::string& name) const;
  bool Stopping() const;
  void NoteOnce(const std::string& name, const std::string& note);
  // Runs a job's work; an exception (out of memory, a file system error) becomes INTERNAL and a
  // note instead of ending the manager's thread.
  absl::Status Guarded(const std::function<absl::Status()>& work);

  ModelRepository* models_;
  const RepositoryOptions options_;
  RepositoryListener* listener_;

  // Only the manager's thread (and Start, before it runs jobs) touches these.
  std::map<std::string, std::map<int64_t, Seen>> seen_;
  std::map<std::string, std::set<std::string>> noted_;
  std::map<std::string, int> missing_;  // scans in a row a loaded model's folder was absent

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  std::set<std::string> required_;
  bool stopping_ = false;
  std::mutex join_mu_;  // Stop() from two threads joins once
  std::thread thread_;
};

}  // namespace beit::serving::repository
