// The embeddings of a bulk `beit-client embed` run: a float32 .npy matrix [rows, dim] that grows
// a row per image, and beside it an index file naming each row's image, one path per line
// (line i = row i), so `numpy.load` and a line read give embeddings and their files.
//
// Contract:
// - The .npy is version 1.0 with a fixed 128-byte header rewritten in place after every row, so
//   the file is a valid .npy after each Append (a kill loses at most the row being written).
// - Open without `resume` refuses an existing .npy (FAILED_PRECONDITION). With `resume` it
//   continues the matrix: it must be a '<f4', C-order, 2-D .npy with the 128-byte header written
//   here. The row count is the smallest of the header's, the data's and the index's: a kill
//   leaves at most one row ahead in one file, and that torn tail is cut from both. Files further
//   apart than that (an index deleted or edited, a matrix from elsewhere) are refused rather than
//   cut, so a resume never silently throws rows away.
// - The first row fixes `dim`; a row of another length is INVALID_ARGUMENT. Append is safe to call
//   from several threads and returns the row's index. A path that already has a row keeps it:
//   Append returns that row without writing (so a file re-run on resume, after a kill between its
//   row and its results record, is not in the matrix twice). Paths are stored one per line with
//   backslash, line feed and carriage return escaped as \\, \n and \r, and compared in that form.
// - Without a .npy, an index that names rows is refused (with or without `resume`): its matrix was
//   removed, and starting again would give earlier records' row numbers to other files.
// - A failed write (disk full) leaves the files as a kill would, and every later Append returns
//   the same error (also write_error()), so no row is ever written out of step with its index line.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
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
  int64_t rows() const;
  // OK, or the write failure that ended appending.
  absl::Status write_error() const;

 private:
  EmbeddingMatrix(std::string npy_path, std::string index_path)
      : npy_path_(std::move(npy_path)), index_path_(std::move(index_path)) {}
  absl::Status Continue();
  absl::Status WriteHeader();
  absl::StatusOr<int64_t> AppendLocked(const std::string& stored_path, const std::vector<float>& row);

  std::string npy_path_, index_path_;
  mutable std::mutex mutex_;
  absl::Status broken_;                          // the write failure that ended appending
  std::map<std::string, int64_t> row_of_path_;  // stored path -> row
  FILE* npy_ = nullptr;
  FILE* index_ = nullptr;
  int64_t rows_ = 0;
  int64_t dim_ = 0;  // 0 until the first row
};

// The 128-byte .npy 1.0 header of a float32 [rows, dim] matrix.
std::string NpyMatrixHeader(int64_t rows, int64_t dim);

}  // namespace beit::client
