// What the live model repository does, told to the operator: one log line per version loaded,
// failed or unloaded and per note about the folder (ignored folders, a bad serving.json), and the
// metrics of run-time loads (ServerMetrics::ModelLoadFinished). After every repository job,
// `on_change` runs (beit-server updates grpc.health from the repository's readiness there).
#pragma once

#include <functional>
#include <string>

#include "server/core/model_repository.h"
#include "server/observability/logger.h"
#include "server/observability/server_metrics.h"
#include "server/repository/repository_manager.h"

namespace beit::serving {

class RepositoryLog final : public repository::RepositoryListener {
 public:
  // `metrics` may be null (metrics off).
  RepositoryLog(Logger* log, ServerMetrics* metrics, const ModelRepository* models, std::function<void()> on_change)
      : log_(log), metrics_(metrics), models_(models), on_change_(std::move(on_change)) {}

  void VersionLoaded(const std::string& model, int64_t version, const std::string& dir, const absl::Status& status,
                     double seconds) override;
  void VersionUnloaded(const std::string& model, int64_t version, const std::string& reason) override;
  void Note(const std::string& model, const std::string& note) override;
  void Changed() override;

 private:
  Logger* log_;
  ServerMetrics* metrics_;
  const ModelRepository* models_;
  std::function<void()> on_change_;
};

}  // namespace beit::serving
