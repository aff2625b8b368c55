#include "server/grpc/grpc_call_support.h"

#include <chrono>
#include <string>

namespace beit::serving {

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

Clock::time_point SteadyDeadline(const grpc::CallbackServerContext& context) {
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return Clock::time_point::max();
  const auto left = deadline - std::chrono::system_clock::now();
  if (left > std::chrono::hours(24 * 365)) return Clock::time_point::max();
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(left);
}

ObservedCall::ObservedCall(const std::vector<ServingObserver*>& observers, std::string api, std::string rpc,
                           std::string model)
    : cancelled_(std::make_shared<std::atomic<bool>>(false)), observers_(observers), start_(Clock::now()) {
  record_.api = std::move(api);
  record_.rpc = std::move(rpc);
  record_.model = std::move(model);
}

void ObservedCall::FinishWith(const absl::Status& status) {
  record_.code = static_cast<int>(status.code());
  record_.message = std::string(status.message());
  record_.total_seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  for (ServingObserver* o : observers_) o->RequestFinished(record_);
  Finish(ToGrpc(status));
}

bool Unauthenticated(const BearerTokenAuth* auth, bool exempt, const grpc::CallbackServerContext& context,
                     ObservedCall* call) {
  if (!auth || exempt) return false;
  const absl::Status allowed = auth->Check(context.client_metadata());
  if (allowed.ok()) return false;
  call->FinishWith(allowed);
  return true;
}

}  // namespace beit::serving
