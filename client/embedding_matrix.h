// The embeddings of a bulk `beit-client embed` run: a float32 .npy matrix [rows, dim] that grows
// a row per image, and beside it an index file naming each row's image, one path per line
// (line i = row i), so `numpy.load` and a line read give embeddings and their files.
//
// Contract:
// - The .npy is version 1.0 with a fixed 128-byte header rewritten in place after every row, so
//   the file is a valid .npy after each Append (a kill loses at most the row being written).
// - Open without `resume` refuses an existing .npy (FAILED_PRECONDITION). With `resume` it
//   continues the matrix: its dtype must be '<f4' and 2-D; the row count is the smallest of the
//   header's, the data's and the index's (a torn tail from a kill is cut from both files).
// - The first row fixes `dim`; a row of another length is INVALID_ARGUMENT. Append is safe to call
//   from several threads and returns the row's index.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace beit::client {

class EmbeddingMatrix {
 public:
  static absl::StatusOr<std::unique_ptr<EmbeddingMatrix>> Open(const std::string& npy_path, const std::string& index_path,
                                                               bool resume);
  ~EmbeddingMatrix();
  EmbeddingMatrix(const EmbeddingMatrix&) = delete;
  EmbeddingMatrix& operator=(const EmbeddingMatrix&) = delete;

  absl::StatusOr<int64_t> Append(const std::string& image_path, const std::vector<float>& row);
  int64_t rows() const { return rows_; }

 private:
  EmbeddingMatrix(std::string npy_path, std::string index_path)
      : npy_path_(std::move(npy_path)), index_path_(std::move(index_path)) {}
  absl::Status Continue();
  absl::Status WriteHeader();

  std::string npy_path_, index_path_;
  std::mutex mutex_;
  FILE* npy_ = nullptr;
  FILE* index_ = nullptr;
  int64_t rows_ = 0;
  int64_t dim_ = 0;  // 0 until the first row
};

// The 128-byte .npy 1.0 header of a float32 [rows, dim] matrix.
std::string NpyMatrixHeader(int64_t rows, int64_t dim);

}  // namespace beit::client
