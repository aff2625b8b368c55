// Runs Open Inference Protocol (KServe v2) requests on the hosted models, for both transports
// (gRPC: GrpcInferenceService, HTTP: HttpInferenceServer). No gRPC, no HTTP, no oneDNN here.
//
// Contract:
// - Versions are the repository's (server/core/model_repository.h; "1" for --model): an empty
//   version means the highest READY one. A model or version the server does not know: NOT_FOUND;
//   one it knows that is not READY now: UNAVAILABLE (ModelReady answers false). Model metadata
//   lists the READY versions.
// - ServerReady() is true once SetReady(true) was called (after every model's warm-up, the same
//   moment grpc.health turns SERVING) and until StopAccepting().
// - Model metadata lists the tensors below with -1 for dimensions that vary. Inputs: `image`
//   BYTES [-1] (encoded JPEG/PNG, decoded and preprocessed exactly as beit.v1 does; [N] or [N,1]
//   accepted) or `pixel_values` FP32 [-1,3,H,W]; masked image modeling also `bool_masked_pos`
//   BOOL [-1, num_patches] (or request parameters `mask_ratio` + `seed`, as PredictTokens).
//   Outputs by head: classification `probabilities`, `logits` FP32 [-1, num_labels];
//   segmentation `label_map` INT32 [-1,-1,-1], `logits` FP32 [-1, num_labels, h, w] (the model's
//   own resolution); masked image modeling `predicted_tokens` INT64 [-1, num_patches] (argmax
//   token of each masked patch, -1 elsewhere), `logits` FP32 [-1, num_patches, vocab_size];
//   every model with a pooler `pooler_output` FP32 [-1, hidden]; every model
//   `last_hidden_state` FP32 [-1, 1 + num_patches, hidden]. Without requested outputs: the first
//   of `probabilities`, `label_map`, `predicted_tokens`, `pooler_output` the head has.
// - `classification: K` (int64) on a requested `probabilities` or `logits` returns BYTES [N, K]
//   of "score:index:label" (score with 6 decimals), best first, ties to the lower index.
// - Segmentation size: request parameters `output_height` + `output_width` when given (as
//   Segment); else the original image size when all N images share it; else the model's input size.
// - Infer: validates the whole request's tensors first (INVALID_ARGUMENT naming the tensor); a
//   request of more images than a batcher's queue holds is refused whole (RESOURCE_EXHAUSTED).
//   Then the serving core's request path (server/core/request_path.h) runs it, as it runs
//   beit.v1's: each image is one entry of the model's batcher for each task the outputs need,
//   answers kept in order; an image that does not decode is named by its element. Full queue:
//   RESOURCE_EXHAUSTED; StopAccepting(): UNAVAILABLE; deadline, cancellation and drop counting
//   as beit.v1's. `done` is called exactly once, on a worker or batcher thread, or inline when the
//   request is refused before any work.
// - The response echoes the request's id, names the model and the version that computed it.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/core/dynamic_batcher.h"
#include "server/core/model_repository.h"
#include "proto/open_inference/inference_types.h"
#include "server/core/request_path.h"
#include "server/core/worker_pool.h"
#include "server/repository/repository_manager.h"

namespace beit::serving::open_inference {

// How a request was served, for metrics and logs (the largest batch and the longest queue wait
// over its images; -1 / 0 when nothing was computed).
struct InferStats {
  double preprocess_seconds = -1;
  double queue_seconds = -1;
  int batch_size = 0;
};

class InferenceExecutor {
 public:
  using Done = std::function<void(absl::StatusOr<InferResponse>, const InferStats&)>;

  InferenceExecutor(ModelRepository* models, WorkerPool* workers, std::string server_version,
                    repository::RepositoryManager* repository = nullptr)
      : models_(models), path_(workers), server_version_(std::move(server_version)), repository_(repository) {}

  void SetReady(bool ready) { ready_.store(ready); }
  void StopAccepting() {
    path_.StopAccepting();
    ready_.store(false);
  }
  bool ServerLive() const { return true; }
  // After the warm-up, until StopAccepting(), while every required model has a READY version.
  bool ServerReady() const { return ready_.load() && (!repository_ || repository_->RequiredReady()); }

  ServerMetadata GetServerMetadata() const;
  absl::StatusOr<ModelMetadata> GetModelMetadata(const std::string& name, const std::string& version) const;
  // NOT_FOUND for an unknown model or version; else whether it answers now.
  absl::StatusOr<bool> ModelReady(const std::string& name, const std::string& version) const;

  void Infer(std::shared_ptr<const InferRequest> request, Clock::time_point deadline, CancellationFlag cancelled,
             Done done);

  // The model repository extension (repository_manager.h has the rules). `repository_name` must
  // be empty (one repository); load and unload take no parameters (INVALID_ARGUMENT otherwise).
  // Without a RepositoryManager: FAILED_PRECONDITION.
  absl::StatusOr<std::vector<VersionStatus>> RepositoryIndex(const std::string& repository_name, bool ready_only) const;
  void RepositoryLoad(const std::string& repository_name, const std::string& model, size_t parameters,
                      std::function<void(absl::Status)> done);
  void RepositoryUnload(const std::string& repository_name, const std::string& model, size_t parameters,
                        std::function<void(absl::Status)> done);

 private:
  absl::StatusOr<std::shared_ptr<ServedModel>> FindModel(const std::string& name, const std::string& version) const;

  ModelRepository* models_;
  RequestPath path_;
  const std::string server_version_;
  repository::RepositoryManager* repository_;
  std::atomic<bool> ready_{false};
};

}  // namespace beit::serving::open_inference
