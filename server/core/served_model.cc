#include "server/core/served_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "absl/cleanup/cleanup.h"
#include "model/ops/cpu_tier.h"
#include "model/image/encoded_image_preprocessing.h"
#include "model/image/image_processor_config.h"
#include "model/model_error.h"
#include "server/core/request_validation.h"

namespace beit::serving {

ServedModel::~ServedModel() { Shutdown(); }

template <typename Input, typename Output>
std::unique_ptr<DynamicBatcher<Input, Output>> ServedModel::MakeBatcher(
    Task task, std::vector<absl::StatusOr<Output>> (*run)(const ModelRunner&, std::vector<Input>&)) {
  const ModelRunner* runner = runner_.get();
  ComputeExecutor* compute = hosting_.compute;
  ServingObserver* observer = hosting_.observer;
  std::shared_ptr<ComputeSlots> slots = slots_;
  const std::string model = description_.name, rpc = TaskName(task);
  return std::make_unique<DynamicBatcher<Input, Output>>(
      model + "/" + rpc, hosting_.batching, [runner, compute, observer, slots, model, rpc, run](std::vector<Input>& batch) {
        std::vector<absl::StatusOr<Output>> results;
        {
          std::unique_lock<std::mutex> lock(slots->mu);
          slots->freed.wait(lock, [&] { return slots->free > 0; });
          --slots->free;
        }
        auto release = absl::MakeCleanup([&] {
          std::lock_guard<std::mutex> lock(slots->mu);
          ++slots->free;
          slots->freed.notify_one();
        });
        compute->Run([&](int instance) {
          if (observer) observer->BatchStarted(model, rpc, instance);
          const auto start = std::chrono::steady_clock::now();
          results = run(*runner, batch);
          if (observer) {
            observer->BatchFinished(model, rpc, instance, static_cast<int>(batch.size()),
                                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
          }
        });
        return results;
      });
}

std::unique_ptr<ServedModel> ServedModel::Load(const std::string& name, const std::string& dir,
                                               const HostingOptions& hosting, std::vector<std::string>* warnings,
                                               int64_t version) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<ServedModel> m(new ServedModel());
  m->hosting_ = hosting;
  m->slots_->free = std::max(1, hosting.batching.concurrent_batches);
  RunOnOwnThread([&] { m->runner_ = ModelRunner::Load(dir, warnings, hosting.precision, hosting.weights_format); },
                 hosting.compute->threads_per_instance());
  const std::string processor_path = dir + "/preprocessor_config.json";
  ImageProcessorConfig processor_config;
  if (std::filesystem::exists(processor_path)) {
    processor_config = LoadImageProcessorConfig(processor_path);
  } else if (warnings) {
    warnings->push_back(dir + ": no preprocessor_config.json; using BeitImageProcessor's defaults");
  }
  m->processor_ = std::make_unique<ImageProcessor>(processor_config);

  const BeitConfig& c = m->runner_->config();
  ModelDescription& d = m->description_;
  d.name = name;
  d.version = version;
  d.path = dir;
  d.architecture = m->runner_->architecture();
  d.pooling = EmbeddingPooling(*m->runner_);
  d.has_pooler = m->runner_->has_pooler();
  d.precision = PrecisionName(hosting.precision);
  d.cpu_tier = CpuTierName(EffectiveCpuTier());
  d.image_height = c.image_height;
  d.image_width = c.image_width;
  d.patch_size = c.patch_size;
  d.hidden_size = c.hidden_size;
  d.num_layers = c.num_hidden_layers;
  d.num_heads = c.num_attention_heads;
  if (processor_config.output_height() != c.image_height || processor_config.output_width() != c.image_width) {
    throw ModelError(processor_path + ": the processor produces " + std::to_string(processor_config.output_height()) +
                     "x" + std::to_string(processor_config.output_width()) + " images but the model expects " +
                     std::to_string(c.image_height) + "x" + std::to_string(c.image_width));
  }

  const ModelHead head = m->runner_->head();
  if (head == ModelHead::kImageClassification || head == ModelHead::kSemanticSegmentation) {
    for (int i = 0; i < c.num_labels; ++i) {
      const auto it = c.id2label.find(i);
      d.labels.push_back(it == c.id2label.end() ? "LABEL_" + std::to_string(i) : it->second);
    }
  }
  if (head == ModelHead::kImageClassification) {
    d.tasks.push_back(Task::kClassify);
    m->classify_ = m->MakeBatcher(Task::kClassify, &RunClassifyBatch);
  } else if (head == ModelHead::kSemanticSegmentation) {
    d.tasks.push_back(Task::kSegment);
    m->segment_ = m->MakeBatcher(Task::kSegment, &RunSegmentBatch);
  } else if (head == ModelHead::kMaskedImageModeling) {
    d.vocab_size = c.vocab_size;
    d.tasks.push_back(Task::kPredictTokens);
    m->predict_tokens_ = m->MakeBatcher(Task::kPredictTokens, &RunPredictTokensBatch);
  }
  d.tasks.push_back(Task::kEmbed);
  m->embed_ = m->MakeBatcher(Task::kEmbed, &RunEmbedBatch);
  d.tasks.push_back(Task::kExplain);
  m->explain_ = m->MakeBatcher(Task::kExplain, &RunExplainBatch);
  d.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return m;
}

bool ServedModel::Supports(Task task) const {
  return std::find(description_.tasks.begin(), description_.tasks.end(), task) != description_.tasks.end();
}

absl::StatusOr<PreparedImage> ServedModel::PrepareEncoded(std::string_view bytes) const {
  if (bytes.empty()) return absl::InvalidArgumentError("image.encoded is empty; send JPEG or PNG bytes");
  try {
    PreprocessedImage image = PreprocessEncodedImage(*processor_, reinterpret_cast<const uint8_t*>(bytes.data()),
                                                     bytes.size(), hosting_.decode_limits);
    PreparedImage out;
    out.original_height = image.original_height;
    out.original_width = image.original_width;
    out.pixels = std::move(image.pixels);
    return out;
  } catch (const ImageDecodeError& e) {
    return absl::InvalidArgumentError(std::string("image.encoded: ") + e.what());
  } catch (const ModelError& e) {
    return absl::InvalidArgumentError(std::string("image.encoded: ") + e.what());
  }
}

absl::StatusOr<PreparedImage> ServedModel::PreparePixelValues(const std::vector<int64_t>& shape, const float* data,
                                                              size_t count) const {
  return ValidatePixelValues(description_, shape, data, count);
}

void ServedModel::Warmup() {
  hosting_.compute->RunOnEvery([this](int) { WarmupOnComputeThread(); });
}

void ServedModel::WarmupOnComputeThread() {
  const Tensor zeros({1, 3, description_.image_height, description_.image_width});
  if (classify_) {
    std::vector<ClassifyInput> batch{{zeros, 1}};
    RunClassifyBatch(*runner_, batch);
  }
  if (segment_) {
    std::vector<SegmentInput> batch{{zeros, description_.image_height, description_.image_width, true}};
    RunSegmentBatch(*runner_, batch);
  }
  if (predict_tokens_) {
    std::vector<PredictTokensInput> batch{
        {zeros, std::vector<uint8_t>(description_.grid_height() * description_.grid_width(), 1), 1}};
    RunPredictTokensBatch(*runner_, batch);
  }
  std::vector<EmbedInput> batch(1);
  batch[0].pixels = zeros;
  RunEmbedBatch(*runner_, batch);
  std::vector<ExplainInput> explain(1);
  explain[0].pixels = zeros;
  explain[0].height = description_.grid_height();
  explain[0].width = description_.grid_width();
  RunExplainBatch(*runner_, explain);
}

void ServedModel::Shutdown() {
  if (classify_) classify_->Shutdown();
  if (segment_) segment_->Shutdown();
  if (embed_) embed_->Shutdown();
  if (predict_tokens_) predict_tokens_->Shutdown();
  if (explain_) explain_->Shutdown();
}

std::vector<std::pair<Task, BatcherStats>> ServedModel::Stats() const {
  std::vector<std::pair<Task, BatcherStats>> stats;
  if (classify_) stats.emplace_back(Task::kClassify, classify_->Stats());
  if (segment_) stats.emplace_back(Task::kSegment, segment_->Stats());
  if (embed_) stats.emplace_back(Task::kEmbed, embed_->Stats());
  if (predict_tokens_) stats.emplace_back(Task::kPredictTokens, predict_tokens_->Stats());
  if (explain_) stats.emplace_back(Task::kExplain, explain_->Stats());
  return stats;
}

}  // namespace beit::serving
