#include "server/preprocessing_admission.h"

#include <memory>
#include <utility>

namespace beit::serving {

void AdmitToPreprocessing(WorkerPool* workers, ServedModel* model, Clock::time_point deadline,
                          CancellationFlag cancelled, std::function<void(absl::StatusCode)> count_drop,
                          std::function<void(absl::Status)> refuse, std::function<void()> work) {
  ++model->waiting_for_preprocess;
  // Shared with the job: TryPost may drop the job without running it, and `refuse` is still needed.
  auto refuse_shared = std::make_shared<std::function<void(absl::Status)>>(std::move(refuse));
  const bool posted = workers->TryPost([=, work = std::move(work), count_drop = std::move(count_drop)] {
    --model->waiting_for_preprocess;
    // Waited past its deadline or its client for a worker: never decoded, never computed, counted.
    if (Clock::now() >= deadline) {
      count_drop(absl::StatusCode::kDeadlineExceeded);
      return (*refuse_shared)(absl::DeadlineExceededError("deadline passed before the image was decoded"));
    }
    if (cancelled && cancelled->load()) {
      count_drop(absl::StatusCode::kCancelled);
      return (*refuse_shared)(absl::CancelledError("cancelled by the client"));
    }
    work();
  });
  if (!posted) {
    --model->waiting_for_preprocess;
    (*refuse_shared)(absl::ResourceExhaustedError("too many requests waiting for image decoding; retry later"));
  }
}

}  // namespace beit::serving
