// What every gRPC service of the server needs from a call: its status in gRPC's terms and its
// deadline on the batcher's clock. Shared by beit.v1 (BeitServiceImpl) and the Open Inference
// Protocol's gRPC service.
//
// Contract:
// - ToGrpc keeps the code and message of an absl::Status (the numeric codes are the same).
// - SteadyDeadline converts the client's deadline (system clock) to a steady-clock time point;
//   no deadline, or one more than a year away, is Clock::time_point::max().
#pragma once

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "server/dynamic_batcher.h"

namespace beit::serving {

grpc::Status ToGrpc(const absl::Status& status);
Clock::time_point SteadyDeadline(const grpc::CallbackServerContext& context);

}  // namespace beit::serving
