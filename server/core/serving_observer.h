// What the service tells metrics and logs: one record per finished request, and the start and end
// of every model forward. Implementations must be thread-safe and quick (they run on gRPC,
// worker and batcher threads).
#pragma once

#include <string>

namespace beit::serving {

struct RequestRecord {
  std::string model;         // as the request named it (may be unknown to the server)
  std::string rpc;           // "Classify", "Segment", ..., "ModelInfer", "ServerReady", ...
  std::string api = "beit";  // "beit" (beit.v1), "v2_grpc" or "v2_http" (Open Inference Protocol)
  int code = 0;              // gRPC status code
  std::string message;       // empty on success
  double total_seconds = 0;  // from the handler being called to the answer
  double preprocess_seconds = -1;  // decode + preprocess; -1 when it did not run
  double queue_seconds = -1;       // waiting in the batcher; -1 when not computed
  int batch_size = 0;              // 0 when not computed
};

class ServingObserver {
 public:
  virtual ~ServingObserver() = default;
  virtual void RequestFinished(const RequestRecord& record) = 0;
  // `instance`: the compute instance (0..instances-1) running the forward.
  virtual void BatchStarted(const std::string& model, const std::string& rpc, int instance) = 0;
  virtual void BatchFinished(const std::string& model, const std::string& rpc, int instance, int batch_size,
                             double seconds) = 0;
};

}  // namespace beit::serving
