// Test helpers: tensors of the golden fixtures (tests/data/models/*/inputs|outputs.safetensors)
// and the test images (tests/data/preprocess/images/), for the end-to-end server tests.
#pragma once

#include <stdexcept>
#include <string>

#include "beit/v1/beit_service.pb.h"
#include "model/io/safetensors.h"
#include "tests/server/server_process.h"

namespace beit::testing {

// Tensor `name` of a safetensors file, as float; throws when the file has no such tensor.
inline Tensor ReadTensor(const std::string& path, const std::string& name) {
  const SafetensorsFile file = SafetensorsFile::Open(path);
  const TensorInfo* info = file.Find(name);
  if (!info) throw std::runtime_error(path + " has no " + name);
  return file.ReadFloat(*info);
}

// The bytes of tests/data/preprocess/images/FILE.
inline std::string TestImageBytes(const std::string& file) {
  return ReadFileBytes(std::string(BEIT_TEST_DATA_DIR) + "/preprocess/images/" + file);
}

// Image `index` of a [B, 3, H, W] tensor as beit.v1 pixel_values [3, H, W].
inline beit::v1::Image PixelImage(const Tensor& batch, int64_t index) {
  beit::v1::Image image;
  beit::v1::PixelValues* pv = image.mutable_pixel_values();
  const int64_t per_image = batch.numel() / batch.dim(0);
  for (size_t d = 1; d < batch.shape.size(); ++d) pv->add_shape(batch.shape[d]);
  pv->mutable_data()->Add(batch.ptr() + index * per_image, batch.ptr() + (index + 1) * per_image);
  return image;
}

}  // namespace beit::testing
