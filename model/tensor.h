// Dense host tensors used at the model library's boundary.
//
// Contract: a TypedTensor owns a contiguous row-major buffer whose length always equals the product
// of `shape`. The library never hands out views into internal buffers: outputs are copies the
// caller owns. Shapes use int64_t like PyTorch and safetensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace beit {

using Shape = std::vector<int64_t>;

// Product of the dimensions; 1 for a scalar (empty shape).
int64_t NumElements(const Shape& shape);

// "[2, 3, 224, 224]" — used in error messages.
std::string ShapeToString(const Shape& shape);

template <typename T>
struct TypedTensor {
  Shape shape;
  std::vector<T> data;

  TypedTensor() = default;
  explicit TypedTensor(Shape s) : shape(std::move(s)), data(static_cast<size_t>(NumElements(shape))) {}
  TypedTensor(Shape s, std::vector<T> values) : shape(std::move(s)), data(std::move(values)) {}

  int64_t numel() const { return static_cast<int64_t>(data.size()); }
  int64_t dim(size_t i) const { return shape.at(i); }
  T* ptr() { return data.data(); }
  const T* ptr() const { return data.data(); }
};

using Tensor = TypedTensor<float>;
using LabelMap = TypedTensor<int32_t>;  // segmentation maps, as Transformers' argmax (I32 in goldens)

}  // namespace beit
