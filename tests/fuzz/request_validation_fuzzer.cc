// libFuzzer target: arbitrary bytes as a request message (the first byte picks Classify, Segment,
// Embed or PredictTokens; the rest is the serialized message), then the server's validation into
// a task input, against a masked-image-modeling-sized model description. Everything a client can
// send must end as a valid input or a status — never a crash, never an exception.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "server/request_validation.h"

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
template <typename Request>
absl::StatusOr<PreparedImage> Image(const Request& request) {
  if (request.image().has_pixel_values()) {
    const auto& pv = request.image().pixel_values();
    return ValidatePixelValues(Model(), std::vector<int64_t>(pv.shape().begin(), pv.shape().end()),
                               pv.data().data(), static_cast<size_t>(pv.data_size()));
  }
  PreparedImage image;
  image.pixels = beit::Tensor({1, 3, 32, 32});
  image.original_height = 1 + static_cast<int64_t>(request.image().encoded().size() % 5000);
  image.original_width = 1 + static_cast<int64_t>(request.image().encoded().size() % 7000);
  return image;
}

template <typename Request, typename Make>
void Validate(const uint8_t* data, size_t size, Make make) {
  Request request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  absl::StatusOr<PreparedImage> image = Image(request);
  if (!image.ok()) return;
  (void)make(Model(), request, std::move(*image));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  switch (data[0] % 4) {
    case 0:
      Validate<beit::v1::ClassifyRequest>(data + 1, size - 1, MakeClassifyInput);
      break;
    case 1:
      Validate<beit::v1::SegmentRequest>(data + 1, size - 1, MakeSegmentInput);
      break;
    case 2:
      Validate<beit::v1::EmbedRequest>(data + 1, size - 1, MakeEmbedInput);
      break;
    default:
      Validate<beit::v1::PredictTokensRequest>(data + 1, size - 1, MakePredictTokensInput);
      break;
  }
  return 0;
}
