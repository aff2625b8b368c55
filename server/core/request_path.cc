#include "server/core/request_path.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "server/core/request_validation.h"

namespace beit::serving {
namespace {

// Everything one request's entries produced, filled by the batchers' callbacks; whoever brings
// `pending` to zero answers (Finish).
struct Gathered {
  RequestPath::Done done;
  WorkerPool* workers = nullptr;

  std::mutex mu;
  int pending = 0;
  absl::Status first_error;
  InferenceStats stats;
  InferenceResult result;
};

// The answer goes out on the worker pool (or from here when it is full or stopping).
void Finish(const std::shared_ptr<Gathered>& g) {
  auto respond = [g] {
    if (!g->first_error.ok()) return g->done(std::move(g->first_error), g->stats);
    g->done(std::move(g->result), g->stats);
  };
  if (!g->workers->TryPost(respond)) respond();
}

template <typename Input, typename Output>
void SubmitAll(DynamicBatcher<Input, Output>* batcher, std::vector<Input>& inputs, std::vector<Output>* slots,
               Clock::time_point deadline, const CancellationFlag& cancelled, const std::shared_ptr<Gathered>& g) {
  slots->resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    {
      std::lock_guard<std::mutex> lock(g->mu);
      if (!g->first_error.ok()) return;  // no point queueing the rest
      ++g->pending;
    }
    const absl::Status queued = batcher->Submit(
        std::move(inputs[i]), deadline, cancelled, [g, slots, i](absl::StatusOr<Output> result, const BatchInfo& info) {
          bool last = false;
          {
            std::lock_guard<std::mutex> lock(g->mu);
            if (result.ok()) {
              (*slots)[i] = std::move(*result);
            } else if (g->first_error.ok()) {
              g->first_error = result.status();
            }
            if (info.batch_size > 0) {
              g->stats.batch_size = std::max(g->stats.batch_size, info.batch_size);
              g->stats.queue_time_us = std::max(g->stats.queue_time_us, info.queue_time_us);
              g->stats.compute_time_us = std::max(g->stats.compute_time_us, info.compute_time_us);
            }
            last = --g->pending == 0;
          }
          if (last) Finish(g);
        });
    if (!queued.ok()) {
      std::lock_guard<std::mutex> lock(g->mu);
      if (g->first_error.ok()) g->first_error = queued;
      --g->pending;
      return;
    }
  }
}

absl::Status Prefixed(const absl::Status& status, const std::string& prefix) {
  return absl::Status(status.code(), prefix + std::string(status.message()));
}

// 0 x 0: the images' shared original size, else the model's input size.
template <typename Params>
void ResolveOutputSize(Params& params, const std::vector<PreparedImage>& images, const ModelDescription& d) {
  if (params.output_height != 0 || params.output_width != 0) return;
  const bool shared = std::all_of(images.begin(), images.end(), [&](const PreparedImage& im) {
    return im.original_height == images[0].original_height && im.original_width == images[0].original_width;
  });
  params.output_height = shared ? images[0].original_height : d.image_height;
  params.output_width = shared ? images[0].original_width : d.image_width;
}

// The task inputs of every image, or the first validation error.
struct TaskInputs {
  std::vector<ClassifyInput> classify;
  std::vector<SegmentInput> segment;
  std::vector<EmbedInput> embed;
  std::vector<PredictTokensInput> predict_tokens;
  std::vector<ExplainInput> explain;
};

absl::Status Validate(const InferenceRequest& request, const std::vector<PreparedImage>& images, TaskInputs& out) {
  const ModelDescription& d = request.model->description();
  std::optional<SegmentParams> segment = request.segment;
  if (segment) ResolveOutputSize(*segment, images, d);
  std::optional<ExplainParams> explain = request.explain;
  if (explain) ResolveOutputSize(*explain, images, d);
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string prefix = request.image_input_name.empty() ? "" : "image " + std::to_string(i) + ": ";
    auto add = [&](auto made, auto& inputs) {
      if (!made.ok()) return Prefixed(made.status(), prefix);
      inputs.push_back(std::move(*made));
      return absl::OkStatus();
    };
    absl::Status s;
    if (request.classify && s.ok()) s = add(MakeClassifyInput(d, *request.classify, images[i]), out.classify);
    if (segment && s.ok()) s = add(MakeSegmentInput(d, *segment, images[i]), out.segment);
    if (request.embed && s.ok()) s = add(MakeEmbedInput(d, *request.embed, images[i]), out.embed);
    if (request.predict_tokens && s.ok()) {
      s = add(MakePredictTokensInput(d, *request.predict_tokens, request.images[i].patch_mask, images[i]),
              out.predict_tokens);
    }
    if (explain && s.ok()) s = add(MakeExplainInput(d, *explain, images[i]), out.explain);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// A request dropped before it is queued counts in every batcher it would have used.
void CountDroppedBeforeQueue(const InferenceRequest& request, absl::StatusCode code) {
  ServedModel* m = request.model.get();
  if (request.classify) m->classify()->CountDroppedBeforeQueue(code);
  if (request.segment) m->segment()->CountDroppedBeforeQueue(code);
  if (request.embed) m->embed()->CountDroppedBeforeQueue(code);
  if (request.predict_tokens) m->predict_tokens()->CountDroppedBeforeQueue(code);
  if (request.explain) m->explain()->CountDroppedBeforeQueue(code);
}

absl::Status CheckTasks(const InferenceRequest& request) {
  const ServedModel& m = *request.model;
  const std::pair<bool, Task> asked[] = {{request.classify.has_value(), Task::kClassify},
                                         {request.segment.has_value(), Task::kSegment},
                                         {request.embed.has_value(), Task::kEmbed},
                                         {request.predict_tokens.has_value(), Task::kPredictTokens},
                                         {request.explain.has_value(), Task::kExplain}};
  bool any = false;
  for (const auto& [is_asked, task] : asked) {
    if (!is_asked) continue;
    any = true;
    if (!m.Supports(task)) {
      return absl::FailedPreconditionError("model '" + m.description().name + "' (" + m.description().architecture +
                                           ") does not run " + TaskName(task));
    }
  }
  if (!any) return absl::InvalidArgumentError("the request asks for no task");
  if (request.images.empty()) return absl::InvalidArgumentError("the request has no image");
  return absl::OkStatus();
}

// A worker's part: decode and validate every image, then queue each on its batchers. `gathered`
// is set while this job holds the request's entries (an exception then fails them through it).
void Process(const std::shared_ptr<const InferenceRequest>& shared, const std::shared_ptr<RequestPath::Done>& shared_done,
             Clock::time_point deadline, const CancellationFlag& cancelled, WorkerPool* workers,
             std::shared_ptr<Gathered>* gathered) {
  ServedModel* model = shared->model.get();
  // Waited past its deadline or its client for a worker: never decoded, never computed, counted.
  if (Clock::now() >= deadline) {
    CountDroppedBeforeQueue(*shared, absl::StatusCode::kDeadlineExceeded);
    return (*shared_done)(absl::DeadlineExceededError("deadline passed before the image was decoded"), {});
  }
  if (cancelled && cancelled->load()) {
    CountDroppedBeforeQueue(*shared, absl::StatusCode::kCancelled);
    return (*shared_done)(absl::CancelledError("cancelled by the client"), {});
  }
  const Clock::time_point preprocess_start = Clock::now();
  InferenceStats stats;
  std::vector<PreparedImage> images;
  images.reserve(shared->images.size());
  for (size_t i = 0; i < shared->images.size(); ++i) {
    const ImageInput& source = shared->images[i];
    absl::StatusOr<PreparedImage> image =
        source.pixel_values ? model->PreparePixelValues(source.pixel_shape, source.pixel_values, source.pixel_count)
                            : model->PrepareEncoded(source.encoded);
    if (!image.ok()) {
      stats.preprocess_seconds = std::chrono::duration<double>(Clock::now() - preprocess_start).count();
      const std::string prefix = shared->image_input_name.empty()
                                     ? ""
                                     : "input '" + shared->image_input_name + "' element " + std::to_string(i) + ": ";
      return (*shared_done)(Prefixed(image.status(), prefix), stats);
    }
    images.push_back(std::move(*image));
  }
  TaskInputs inputs;
  absl::Status valid = Validate(*shared, images, inputs);
  stats.preprocess_seconds = std::chrono::duration<double>(Clock::now() - preprocess_start).count();
  if (!valid.ok()) return (*shared_done)(std::move(valid), stats);

  auto g = std::make_shared<Gathered>();
  *gathered = g;
  g->done = [shared, shared_done](absl::StatusOr<InferenceResult> result, const InferenceStats& s) {
    (*shared_done)(std::move(result), s);
  };
  g->workers = workers;
  g->stats = stats;
  g->pending = 1;  // held by this job until every entry is queued
  InferenceResult& r = g->result;
  if (shared->classify) SubmitAll(model->classify(), inputs.classify, &r.classify, deadline, cancelled, g);
  if (shared->segment) SubmitAll(model->segment(), inputs.segment, &r.segment, deadline, cancelled, g);
  if (shared->embed) SubmitAll(model->embed(), inputs.embed, &r.embed, deadline, cancelled, g);
  if (shared->predict_tokens) {
    SubmitAll(model->predict_tokens(), inputs.predict_tokens, &r.predict_tokens, deadline, cancelled, g);
  }
  if (shared->explain) SubmitAll(model->explain(), inputs.explain, &r.explain, deadline, cancelled, g);
  bool last;
  {
    std::lock_guard<std::mutex> lock(g->mu);
    last = --g->pending == 0;
  }
  gathered->reset();  // this job's hold is released
  if (last) Finish(g);
}

}  // namespace

absl::Status RequestPath::Accepting() const {
  if (accepting_.load()) return absl::OkStatus();
  return absl::UnavailableError("the server is shutting down; retry on another replica");
}

void RequestPath::Run(InferenceRequest request, Clock::time_point deadline, CancellationFlag cancelled, Done done) {
  if (absl::Status s = Accepting(); !s.ok()) return done(s, InferenceStats{});
  if (absl::Status s = CheckTasks(request); !s.ok()) return done(s, InferenceStats{});
  auto shared = std::make_shared<const InferenceRequest>(std::move(request));
  auto shared_done = std::make_shared<Done>(std::move(done));
  ServedModel* model = shared->model.get();
  WorkerPool* workers = workers_;
  ++model->waiting_for_preprocess;
  const bool posted = workers->TryPost([=] {
    --model->waiting_for_preprocess;
    std::shared_ptr<Gathered> gathered;  // set while this job holds entries queued
    try {
      Process(shared, shared_done, deadline, cancelled, workers, &gathered);
    } catch (const std::exception& e) {  // e.g. out of memory: still one answer, and an honest one
      const absl::Status error = absl::InternalError(std::string("serving the request: ") + e.what());
      if (!gathered) return (*shared_done)(error, {});
      bool last;
      {
        std::lock_guard<std::mutex> lock(gathered->mu);
        if (gathered->first_error.ok()) gathered->first_error = error;
        last = --gathered->pending == 0;
      }
      if (last) Finish(gathered);
    }
  });
  if (!posted) {
    --model->waiting_for_preprocess;
    (*shared_done)(absl::ResourceExhaustedError("too many requests waiting for image decoding; retry later"), {});
  }
}

}  // namespace beit::serving
