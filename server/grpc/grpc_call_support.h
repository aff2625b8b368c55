// What every gRPC service of the server needs from a call: its status in gRPC's terms and its
// deadline on the batcher's clock. Shared by beit.v1 (BeitServiceImpl) and the Open Inference
// Protocol's gRPC service.
//
// Contract:
// - ToGrpc keeps the code and message of an absl::Status (the numeric codes are the same).
// - SteadyDeadline converts the client's deadline (system clock) to a steady-clock time point;
//   no deadline, or one more than a year away, is Clock::time_point::max().
// - ObservedCall is a unary call's reactor: it remembers client cancellation (for the batcher),
//   reports the finished call's RequestRecord once to every observer, and deletes itself when
//   gRPC is done with it.
// - Unauthenticated(auth, exempt, context, call): with a token required, the RPC not exempt and
//   the call lacking it, finishes the call UNAUTHENTICATED and returns true.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/security/bearer_token_auth.h"
#include "server/core/dynamic_batcher.h"
#include "server/core/serving_observer.h"

namespace beit::serving {

grpc::Status ToGrpc(const absl::Status& status);
Clock::time_point SteadyDeadline(const grpc::CallbackServerContext& context);

class ObservedCall final : public grpc::ServerUnaryReactor {
 public:
  ObservedCall(const std::vector<ServingObserver*>& observers, std::string api, std::string rpc, std::string model);
  void OnCancel() override { cancelled_->store(true); }
  void OnDone() override { delete this; }
  void FinishWith(const absl::Status& status);
  CancellationFlag cancelled() const { return cancelled_; }
  RequestRecord& record() { return record_; }

 private:
  std::shared_ptr<std::atomic<bool>> cancelled_;
  const std::vector<ServingObserver*>& observers_;
  const Clock::time_point start_;
  RequestRecord record_;
};

bool Unauthenticated(const BearerTokenAuth* auth, bool exempt, const grpc::CallbackServerContext& context,
                     ObservedCall* call);

}  // namespace beit::serving
