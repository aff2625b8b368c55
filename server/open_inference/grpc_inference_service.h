// inference.GRPCInferenceService (the Open Inference Protocol, KServe v2) on gRPC's callback API,
// on the same port as beit.v1. Translates messages to InferenceExecutor's types and back.
//
// Contract:
// - ServerLive / ServerReady answer without a token (they are probes, like grpc.health); every
//   other RPC needs the bearer token when one is required (ModelReady, ServerMetadata and
//   ModelMetadata not when `info_exempt`), else UNAUTHENTICATED.
// - ModelInfer inputs: typed contents (bytes_contents for BYTES, fp32_contents for FP32,
//   bool_contents for BOOL, int64_contents / int_contents for integers), or raw_input_contents
//   for every input (then no input has typed contents; BYTES elements carry 4-byte
//   little-endian length prefixes). Counts must match the shapes: INVALID_ARGUMENT naming the
//   tensor otherwise.
// - Response rule: a request that sent raw_input_contents gets raw_output_contents (as Triton
//   always answers); a request with typed contents gets typed contents.
// - The repository extension (RepositoryIndex, RepositoryModelLoad, RepositoryModelUnload) needs
//   the token like ModelInfer (never info-exempt; load and unload the admin token instead when one
//   is set); load answers once the model is READY (or
//   failed), unload once it takes no new requests.
// - Every finished call is reported to each observer with api "v2_grpc".
#pragma once

#include <memory>
#include <vector>

#include "inference/grpc_predict_v2.grpc.pb.h"
#include "server/security/bearer_token_auth.h"
#include "server/open_inference/inference_executor.h"
#include "server/core/serving_observer.h"

namespace beit::serving::open_inference {

// The protocol's messages <-> the executor's types (also used by tests and the fuzzer).
absl::StatusOr<InferRequest> FromProto(const inference::ModelInferRequest& request);
void ToProto(const InferResponse& response, bool raw_contents, inference::ModelInferResponse* out);

class GrpcInferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  GrpcInferenceService(InferenceExecutor* executor, std::vector<ServingObserver*> observers)
      : executor_(executor), observers_(std::move(observers)) {}

  void RequireToken(const BearerTokenAuth* auth, bool info_exempt) {
    auth_ = auth;
    info_exempt_ = info_exempt;
  }
  // Repository load and unload need this token instead (null: the one above).
  void RequireAdminToken(const BearerTokenAuth* admin) { admin_auth_ = admin; }

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context, const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context, const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context, const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* context,
                                            const inference::RepositoryIndexRequest* request,
                                            inference::RepositoryIndexResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelLoad(grpc::CallbackServerContext* context,
                                                const inference::RepositoryModelLoadRequest* request,
                                                inference::RepositoryModelLoadResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelUnload(grpc::CallbackServerContext* context,
                                                  const inference::RepositoryModelUnloadRequest* request,
                                                  inference::RepositoryModelUnloadResponse* response) override;

 private:
  InferenceExecutor* executor_;
  const std::vector<ServingObserver*> observers_;
  const BearerTokenAuth* auth_ = nullptr;
  const BearerTokenAuth* admin_auth_ = nullptr;
  bool info_exempt_ = false;
};

}  // namespace beit::serving::open_inference
