// One request's way through the serving core, written once for every front door (beit.v1 and the
// Open Inference Protocol translate their messages into an InferenceRequest and the result back):
// admission, decoding and preprocessing, validation, queueing on the model's batchers, deadline
// and cancellation, drop counting, and the answer handed back on a worker.
//
// Contract of RequestPath::Run(request, deadline, cancelled, done):
// - `done(result, stats)` is called exactly once. Refused before any work, it is called inline:
//   after StopAccepting() (UNAVAILABLE), a task the model does not run (FAILED_PRECONDITION), or
//   the workers' queue full or stopping (RESOURCE_EXHAUSTED).
// - The request counts in model->waiting_for_preprocess (the autoscaling gauge) until a worker
//   takes it. Taken after its deadline passed or its client cancelled: DEADLINE_EXCEEDED or
//   CANCELLED, counted as dropped by every batcher the request would have used (as each counts
//   those dropped from its queue); its images are never decoded.
// - On the worker, each image is prepared (decoded and preprocessed, or its pixel values
//   checked) and validated for every task asked; the first failure answers. With
//   `image_input_name` set, the message names the image: "input '<name>' element i: " when it does
//   not prepare, "image i: " when the parameters do not fit it; else no prefix (one image).
// - Segmentation (and explanation) maps of output size 0 x 0: the images' shared original size,
//   else the model's input size (for one image, its original size).
// - Then every image is one entry of the batcher of each task asked; results in image order. A
//   full queue is RESOURCE_EXHAUSTED; the first error answers, after every queued entry is done.
// - `done` runs on a worker (or on the batcher's thread when the pool is full or stopping), so
//   the answer is built off the compute path.
// Images are not owned: the front door keeps their bytes alive until `done`.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/core/dynamic_batcher.h"
#include "server/core/model_tasks.h"
#include "server/core/served_model.h"
#include "server/core/task_parameters.h"
#include "server/core/worker_pool.h"

namespace beit::serving {

// One image of a request and what belongs to it alone.
struct ImageInput {
  // Encoded JPEG or PNG bytes, or (pixel_values set) raw pixel values of pixel_shape.
  std::string_view encoded;
  const float* pixel_values = nullptr;
  size_t pixel_count = 0;
  std::vector<int64_t> pixel_shape;
  std::vector<uint8_t> patch_mask;  // masked image modeling: one per patch, 1 = masked; empty: mask_ratio
};

struct InferenceRequest {
  // Held until `done` has run: a version unloaded meanwhile finishes this request first.
  std::shared_ptr<ServedModel> model;
  std::vector<ImageInput> images;
  std::string image_input_name;  // names images in error messages (see above)
  // The tasks every image runs, with their parameters; at least one.
  std::optional<ClassifyParams> classify;
  std::optional<SegmentParams> segment;
  std::optional<EmbedParams> embed;
  std::optional<PredictTokensParams> predict_tokens;
  std::optional<ExplainParams> explain;
};

// Per task asked, one output per image, in image order.
struct InferenceResult {
  std::vector<ClassifyOutput> classify;
  std::vector<SegmentOutput> segment;
  std::vector<EmbedOutput> embed;
  std::vector<PredictTokensOutput> predict_tokens;
  std::vector<ExplainOutput> explain;
};

// How a request was served: over its entries, the largest batch and the longest queue wait and
// forward (batch_size 0 when nothing was computed; preprocess_seconds -1 when it did not run).
struct InferenceStats {
  double preprocess_seconds = -1;
  int batch_size = 0;
  int64_t queue_time_us = 0;
  int64_t compute_time_us = 0;
  double queue_seconds() const { return batch_size > 0 ? static_cast<double>(queue_time_us) * 1e-6 : -1; }
};

class RequestPath {
 public:
  using Done = std::function<void(absl::StatusOr<InferenceResult>, const InferenceStats&)>;

  explicit RequestPath(WorkerPool* workers) : workers_(workers) {}

  // OK, or UNAVAILABLE once StopAccepting() was called: front doors check it first, so a server
  // shutting down says so before anything else.
  absl::Status Accepting() const;
  void StopAccepting() { accepting_.store(false); }

  void Run(InferenceRequest request, Clock::time_point deadline, CancellationFlag cancelled, Done done);

 private:
  WorkerPool* workers_;
  std::atomic<bool> accepting_{true};
};

}  // namespace beit::serving
