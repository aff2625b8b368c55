// libFuzzer target: arbitrary bytes as a request message (the first byte picks Classify, Segment,
// Embed, PredictTokens or Explain; the rest is the serialized message), translated as beit.v1
// does, then the core's validation into a task input, against a masked-image-modeling-sized model
// description. Everything a client can send must end as a valid input or a status — never a
// crash, never an exception.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "server/beit_v1/request_translation.h"
#include "server/core/request_validation.h"

namespace {

using namespace beit::serving;

const ModelDescription& Model() {
  static const ModelDescription model = [] {
    ModelDescription d;
    d.name = "fuzz";
    d.architecture = "BeitForMaskedImageModeling";
    d.image_height = d.image_width = 32;
    d.patch_size = 4;
    d.hidden_size = 32;
    d.num_layers = 2;
    d.labels = {"a", "b", "c"};
    d.vocab_size = 96;
    return d;
  }();
  return model;
}

// The image as the service would prepare it: pixel_values validated, encoded bytes stood in for
// by a decoded image of a size taken from the bytes (decoding has its own fuzzers).
absl::StatusOr<PreparedImage> Image(const ImageInput& input) {
  if (input.pixel_values) {
    return ValidatePixelValues(Model(), input.pixel_shape, input.pixel_values, input.pixel_count);
  }
  PreparedImage image;
  image.pixels = beit::Tensor({1, 3, 32, 32});
  image.original_height = 1 + static_cast<int64_t>(input.encoded.size() % 5000);
  image.original_width = 1 + static_cast<int64_t>(input.encoded.size() % 7000);
  return image;
}

// The message as beit.v1 translates it, then the core's validation of each task it asks.
template <typename Request>
void Validate(const uint8_t* data, size_t size) {
  Request request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  InferenceRequest core;
  if (!beit::serving::beit_v1::Translate(request, &core).ok()) return;
  absl::StatusOr<PreparedImage> image = Image(core.images.at(0));
  if (!image.ok()) return;
  const ModelDescription& d = Model();
  if (core.classify) (void)MakeClassifyInput(d, *core.classify, *image);
  if (core.segment) (void)MakeSegmentInput(d, *core.segment, *image);
  if (core.embed) (void)MakeEmbedInput(d, *core.embed, *image);
  if (core.predict_tokens) (void)MakePredictTokensInput(d, *core.predict_tokens, core.images[0].patch_mask, *image);
  if (core.explain) (void)MakeExplainInput(d, *core.explain, *image);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  switch (data[0] % 5) {
    case 0:
      Validate<beit::v1::ClassifyRequest>(data + 1, size - 1);
      break;
    case 1:
      Validate<beit::v1::SegmentRequest>(data + 1, size - 1);
      break;
    case 2:
      Validate<beit::v1::EmbedRequest>(data + 1, size - 1);
      break;
    case 3:
      Validate<beit::v1::PredictTokensRequest>(data + 1, size - 1);
      break;
    default:
      Validate<beit::v1::ExplainRequest>(data + 1, size - 1);
      break;
  }
  return 0;
}
