// One log line per finished request (a ServingObserver over Logger).
//
// Contract: successes are logged at debug, failures the client caused (bad input, unknown model,
// full queue, deadline, cancellation, shutdown) at info, server faults (INTERNAL, UNKNOWN,
// DATA_LOSS) at error. Fields: model, rpc, code, ms, and when they apply preprocess_ms, queue_ms,
// batch, error (the status message).
#pragma once

#include "server/observability/logger.h"
#include "server/core/serving_observer.h"

namespace beit::serving {

class RequestLog final : public ServingObserver {
 public:
  explicit RequestLog(Logger* logger) : logger_(logger) {}
  void RequestFinished(const RequestRecord& record) override;
  void BatchStarted(const std::string&, const std::string&, int) override {}
  void BatchFinished(const std::string&, const std::string&, int, int, double) override {}

 private:
  Logger* logger_;
};

}  // namespace beit::serving
