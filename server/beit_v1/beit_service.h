// beit.v1.BeitService on gRPC's callback API.
//
// Contract:
// - With a token required (RequireToken), a call without it ends UNAUTHENTICATED first.
// - Each task RPC: look up the model (NOT_FOUND / FAILED_PRECONDITION), translate the message
//   (request_translation.h), then the serving core's request path (server/core/request_path.h):
//   decode, validate, queue, compute, with the client's deadline and cancellation; the response
//   is built on the worker pool.
// - StopAccepting() makes every new call UNAVAILABLE; calls already accepted still finish.
// - GetModelInfo / ListModels answer inline.
// - Every finished call (any RPC, any status) is reported once to each ServingObserver.
#pragma once

#include <atomic>
#include <vector>

#include "beit/v1/beit_service.grpc.pb.h"
#include "server/security/bearer_token_auth.h"
#include "server/core/model_repository.h"
#include "server/core/serving_observer.h"
#include "server/core/request_path.h"
#include "server/core/worker_pool.h"

namespace beit::serving {

class BeitServiceImpl final : public beit::v1::BeitService::CallbackService {
 public:
  // Every finished call is reported to each of `observers` (metrics, request log).
  BeitServiceImpl(ModelRepository* models, WorkerPool* workers, std::vector<ServingObserver*> observers = {})
      : models_(models), path_(workers), observers_(std::move(observers)) {}

  // With `auth`, every call needs its bearer token (GetModelInfo / ListModels too unless
  // `info_exempt`); others end UNAUTHENTICATED before any work.
  void RequireToken(const BearerTokenAuth* auth, bool info_exempt) {
    auth_ = auth;
    info_exempt_ = info_exempt;
  }

  void StopAccepting() { path_.StopAccepting(); }

  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context, const beit::v1::ClassifyRequest* request,
                                     beit::v1::ClassifyResponse* response) override;
  grpc::ServerUnaryReactor* Segment(grpc::CallbackServerContext* context, const beit::v1::SegmentRequest* request,
                                    beit::v1::SegmentResponse* response) override;
  grpc::ServerUnaryReactor* Embed(grpc::CallbackServerContext* context, const beit::v1::EmbedRequest* request,
                                  beit::v1::EmbedResponse* response) override;
  grpc::ServerUnaryReactor* PredictTokens(grpc::CallbackServerContext* context,
                                          const beit::v1::PredictTokensRequest* request,
                                          beit::v1::PredictTokensResponse* response) override;
  grpc::ServerUnaryReactor* Explain(grpc::CallbackServerContext* context, const beit::v1::ExplainRequest* request,
                                    beit::v1::ExplainResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const beit::v1::GetModelInfoRequest* request,
                                         beit::v1::ModelInfo* response) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const beit::v1::ListModelsRequest* request,
                                       beit::v1::ListModelsResponse* response) override;

 private:
  template <typename Request, typename Response, typename Fill>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context, const Request* request, Response* response,
                                  Task task, Fill fill);

  ModelRepository* models_;
  RequestPath path_;
  const std::vector<ServingObserver*> observers_;
  const BearerTokenAuth* auth_ = nullptr;
  bool info_exempt_ = false;
};

}  // namespace beit::serving
