#include "server/observability/request_log.h"

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace beit::serving {
namespace {

LogLevel LevelFor(int code) {
  switch (static_cast<grpc::StatusCode>(code)) {
    case grpc::StatusCode::OK:
      return LogLevel::kDebug;
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS:
      return LogLevel::kError;
    default:
      return LogLevel::kInfo;
  }
}

}  // namespace

void RequestLog::RequestFinished(const RequestRecord& r) {
  const LogLevel level = LevelFor(r.code);
  if (!logger_->Enabled(level)) return;
  std::vector<LogField> fields = {{"model", r.model},
                                  {"rpc", r.rpc},
                                  {"api", r.api},
                                  {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(r.code))},
                                  {"ms", r.total_seconds * 1e3}};
  if (r.preprocess_seconds >= 0) fields.push_back({"preprocess_ms", r.preprocess_seconds * 1e3});
  if (r.queue_seconds >= 0) fields.push_back({"queue_ms", r.queue_seconds * 1e3});
  if (r.batch_size > 0) fields.push_back({"batch", static_cast<int64_t>(r.batch_size)});
  if (!r.message.empty()) fields.push_back({"error", r.message});
  logger_->Log(level, "request", fields);
}

}  // namespace beit::serving
