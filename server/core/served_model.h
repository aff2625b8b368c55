// One checkpoint being served: the loaded model, its image processor, and one dynamic batcher per
// task its head supports. No gRPC and no oneDNN in here.
//
// Contract:
// - Load(name, dir, ...) loads dir/config.json, dir/model.safetensors and, when present,
//   dir/preprocessor_config.json (else BeitImageProcessor's defaults). The processor's output
//   size must equal the model's image size; a mismatch is a ModelError at load, not at request.
// - Tasks by architecture: BeitForImageClassification -> Classify; BeitForSemanticSegmentation ->
//   Segment; BeitForMaskedImageModeling -> PredictTokens; every architecture -> Embed and
//   Explain.
// - PrepareEncoded / PreparePixelValues are thread-safe and return [1, 3, H, W] pixels of the
//   model's image size or INVALID_ARGUMENT with a message naming the problem.
// - All batchers of all models run their forwards on one ComputeExecutor (compute_executor.h):
//   each forward on one instance, using every OpenMP thread of its team; the model runs up to
//   batching.concurrent_batches forwards at once (all its batchers together), on one shared ModelRunner (one copy of the
//   weights; its forwards are thread-safe). Every forward is reported to the observer (if any)
//   with its instance. Load reads and prepares the weights on a thread of its own with an
//   instance's thread count (its OpenMP team ends with it). Warmup() runs each supported task
//   once on every instance (unreported), so their teams and working memory are ready before the
//   first request; Shutdown() drains every batcher.
// - waiting_for_preprocess counts requests accepted for this model whose image is not yet being
//   decoded (the service maintains it); with the batchers' queues it makes the pending gauge.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "model/image/image_decoder.h"
#include "model/image/image_processor.h"
#include "model/model_runner.h"
#include "server/core/compute_executor.h"
#include "server/core/dynamic_batcher.h"
#include "server/core/model_description.h"
#include "server/core/model_tasks.h"
#include "server/core/serving_observer.h"

namespace beit::serving {

// What every hosted model shares.
struct HostingOptions {
  BatcherOptions batching;
  DecodeLimits decode_limits;
  Precision precision = Precision::kF32;
  WeightsFormat weights_format = WeightsFormat::kAuto;
  ComputeExecutor* compute = nullptr;  // required: runs every forward
  ServingObserver* observer = nullptr;  // optional
};

class ServedModel {
 public:
  static std::unique_ptr<ServedModel> Load(const std::string& name, const std::string& dir,
                                           const HostingOptions& hosting, std::vector<std::string>* warnings,
                                           int64_t version = 1);
  ~ServedModel();

  const ModelDescription& description() const { return description_; }
  bool Supports(Task task) const;
  const BatcherOptions& batching() const { return hosting_.batching; }
  const DecodeLimits& decode_limits() const { return hosting_.decode_limits; }
  std::atomic<int> waiting_for_preprocess{0};

  absl::StatusOr<PreparedImage> PrepareEncoded(std::string_view bytes) const;
  absl::StatusOr<PreparedImage> PreparePixelValues(const std::vector<int64_t>& shape, const float* data,
                                                   size_t count) const;

  // Null when the task is not supported.
  DynamicBatcher<ClassifyInput, ClassifyOutput>* classify() { return classify_.get(); }
  DynamicBatcher<SegmentInput, SegmentOutput>* segment() { return segment_.get(); }
  DynamicBatcher<EmbedInput, EmbedOutput>* embed() { return embed_.get(); }
  DynamicBatcher<PredictTokensInput, PredictTokensOutput>* predict_tokens() { return predict_tokens_.get(); }
  DynamicBatcher<ExplainInput, ExplainOutput>* explain() { return explain_.get(); }

  void Warmup();
  void Shutdown();
  std::vector<std::pair<Task, BatcherStats>> Stats() const;

 private:
  ServedModel() = default;
  void WarmupOnComputeThread();
  template <typename Input, typename Output>
  std::unique_ptr<DynamicBatcher<Input, Output>> MakeBatcher(
      Task task, std::vector<absl::StatusOr<Output>> (*run)(const ModelRunner&, std::vector<Input>&));

  // The model's share of the compute instances: at most batching.concurrent_batches forwards of
  // this model at once, whichever of its batchers formed them.
  struct ComputeSlots {
    std::mutex mu;
    std::condition_variable freed;
    int free = 1;
  };

  ModelDescription description_;
  HostingOptions hosting_;
  std::shared_ptr<ComputeSlots> slots_ = std::make_shared<ComputeSlots>();
  std::unique_ptr<ModelRunner> runner_;
  std::unique_ptr<ImageProcessor> processor_;
  std::unique_ptr<DynamicBatcher<ClassifyInput, ClassifyOutput>> classify_;
  std::unique_ptr<DynamicBatcher<SegmentInput, SegmentOutput>> segment_;
  std::unique_ptr<DynamicBatcher<EmbedInput, EmbedOutput>> embed_;
  std::unique_ptr<DynamicBatcher<PredictTokensInput, PredictTokensOutput>> predict_tokens_;
  std::unique_ptr<DynamicBatcher<ExplainInput, ExplainOutput>> explain_;
};

}  // namespace beit::serving
