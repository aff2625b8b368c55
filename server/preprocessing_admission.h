// One request's way onto the preprocessing workers, written once for every front door (beit.v1
// and the Open Inference Protocol).
//
// Contract of AdmitToPreprocessing(workers, model, deadline, cancelled, count_drop, refuse, work):
// - The request counts in model->waiting_for_preprocess (the autoscaling gauge) until a worker
//   takes it, or until it is refused.
// - The workers' queue full or stopping: `refuse` gets RESOURCE_EXHAUSTED at once; nothing runs.
// - When a worker takes it after its deadline passed or its client cancelled: count_drop(code)
//   with DEADLINE_EXCEEDED or CANCELLED (each batcher the request would have used counts it as
//   expired or cancelled, as it counts those dropped from its queue), then `refuse` gets that
//   status on the worker; the image is never decoded.
// - Otherwise `work` runs on the worker.
// `cancelled` may be null (never cancelled).
#pragma once

#include <functional>

#include "absl/status/status.h"
#include "server/dynamic_batcher.h"
#include "server/served_model.h"
#include "server/worker_pool.h"

namespace beit::serving {

void AdmitToPreprocessing(WorkerPool* workers, ServedModel* model, Clock::time_point deadline,
                          CancellationFlag cancelled, std::function<void(absl::StatusCode)> count_drop,
                          std::function<void(absl::Status)> refuse, std::function<void()> work);

}  // namespace beit::serving
