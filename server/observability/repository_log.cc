#include "server/observability/repository_log.h"

#include <utility>

namespace beit::serving {

void RepositoryLog::VersionLoaded(const std::string& model, int64_t version, const std::string& dir,
                                  const absl::Status& status, double seconds) {
  absl::StatusOr<std::shared_ptr<ServedModel>> loaded =
      status.ok() ? models_->Find(model, version) : absl::StatusOr<std::shared_ptr<ServedModel>>(status);
  if (metrics_) metrics_->ModelLoadFinished(model, status.ok(), seconds, loaded.ok() ? &(*loaded)->description() : nullptr);
  if (!status.ok()) {
    log_->Log(LogLevel::kError, "model version load failed",
              {{"model", model}, {"version", version}, {"path", dir}, {"error", std::string(status.message())}});
    return;
  }
  std::vector<LogField> fields = {{"model", model}, {"version", version}, {"path", dir}, {"load_ms", seconds * 1e3}};
  if (loaded.ok()) {
    const ModelDescription& d = (*loaded)->description();
    fields.push_back({"architecture", d.architecture});
    fields.push_back({"precision", d.precision});
  }
  log_->Log(LogLevel::kInfo, "model version ready", fields);
}

void RepositoryLog::VersionUnloaded(const std::string& model, int64_t version, const std::string& reason) {
  log_->Log(LogLevel::kInfo, "model version unloading", {{"model", model}, {"version", version}, {"reason", reason}});
}

void RepositoryLog::Note(const std::string& model, const std::string& note) {
  log_->Log(LogLevel::kWarning, "model repository", {{"model", model}, {"note", note}});
}

void RepositoryLog::Changed() {
  if (on_change_) on_change_();
}

}  // namespace beit::serving
