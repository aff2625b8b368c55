// Writes float32 arrays as NumPy .npy files (format version 1.0, little-endian, C order), so
// `numpy.load` reads beit-client's embeddings directly.
//
// Contract: WriteNpy(path, shape, values) requires values.size() == product(shape); it throws
// std::runtime_error naming the path on any I/O failure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace beit::client {

void WriteNpy(const std::string& path, const std::vector<int64_t>& shape, const std::vector<float>& values);

}  // namespace beit::client
