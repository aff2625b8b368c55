#include "client/embedding_matrix.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace beit::client {
namespace {

constexpr size_t kHeaderBytes = 128;  // magic 6 + version 2 + length 2 + dict padded to 118

// Rows in a file of `bytes` bytes whose rows are `dim` floats.
int64_t WholeRows(uintmax_t bytes, int64_t dim) {
  if (bytes < kHeaderBytes || dim <= 0) return 0;
  return static_cast<int64_t>((bytes - kHeaderBytes) / (static_cast<uintmax_t>(dim) * sizeof(float)));
}

// The complete ('\n'-ended) lines of the index file; none when there is no file.
absl::StatusOr<std::vector<std::string>> IndexLines(const std::string& path) {
  std::vector<std::string> lines;
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return lines;
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot read it to resume"));
  std::string line;
  while (std::getline(in, line) && !in.eof()) lines.push_back(line);
  return lines;
}

// A path as one index line holds it: backslash, line feed and carriage return escaped as \\, \n
// and \r, so that every path has its own line and no two paths share one.
std::string StoredPath(const std::string& path) {
  return absl::StrReplaceAll(path, {{"\\", "\\\\"}, {"\n", "\\n"}, {"\r", "\\r"}});
}

}  // namespace

std::string NpyMatrixHeader(int64_t rows, int64_t dim) {
  std::string dict = absl::StrCat("{'descr': '<f4', 'fortran_order': False, 'shape': (", rows, ", ", dim, "), }");
  dict.resize(kHeaderBytes - 10 - 1, ' ');
  dict.push_back('\n');
  const uint16_t length = static_cast<uint16_t>(dict.size());
  return absl::StrCat(absl::string_view("\x93NUMPY\x01\x00", 8), std::string(1, static_cast<char>(length & 0xff)),
                      std::string(1, static_cast<char>(length >> 8)), dict);
}

absl::StatusOr<std::unique_ptr<EmbeddingMatrix>> EmbeddingMatrix::Open(const std::string& npy_path,
                                                                       const std::string& index_path, bool resume) {
  std::unique_ptr<EmbeddingMatrix> matrix(new EmbeddingMatrix(npy_path, index_path));
  std::error_code error;
  const bool exists = std::filesystem::exists(npy_path, error);
  if (exists && !resume) {
    return absl::FailedPreconditionError(
        absl::StrCat(npy_path, " exists: pass --resume to continue that run, or remove it (and ", index_path, ")"));
  }
  if (exists) {
    if (absl::Status s = matrix->Continue(); !s.ok()) return s;
    return matrix;
  }
  // No matrix, but an index that names rows: its matrix was removed (or never ours). Starting
  // again would give earlier records' row numbers to other files.
  const absl::StatusOr<std::vector<std::string>> lines = IndexLines(index_path);
  if (!lines.ok()) return lines.status();
  if (!lines->empty()) {
    return absl::FailedPreconditionError(absl::StrCat(index_path, " names ", lines->size(), " rows but ", npy_path,
                                                      " is missing: remove the index and the results file to start again"));
  }
  matrix->npy_ = std::fopen(npy_path.c_str(), "w+b");
  matrix->index_ = std::fopen(index_path.c_str(), "wb");
  if (matrix->npy_ == nullptr || matrix->index_ == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", npy_path, " and ", index_path));
  }
  if (absl::Status s = matrix->WriteHeader(); !s.ok()) return s;
  return matrix;
}

// Reads the existing matrix's header, cuts torn tails and opens both files for appending.
absl::Status EmbeddingMatrix::Continue() {
  std::ifstream in(npy_path_, std::ios::binary);
  if (!in) return absl::PermissionDeniedError(absl::StrCat(npy_path_, ": cannot read it to resume"));
  std::string header(kHeaderBytes, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(header.size())) || header.compare(0, 6, "\x93NUMPY") != 0) {
    return absl::FailedPreconditionError(absl::StrCat(npy_path_, ": not a .npy written by beit-client; cannot resume it"));
  }
  in.close();
  const size_t shape_at = header.find("'shape': (");
  if (header.find("'descr': '<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos ||
      shape_at == std::string::npos || header.compare(0, 10, NpyMatrixHeader(0, 0), 0, 10) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(npy_path_, ": not a C-order float32 matrix with beit-client's header; cannot resume it"));
  }
  const absl::string_view shape = absl::string_view(header).substr(shape_at + 10);
  int64_t header_rows = 0;
  const std::vector<absl::string_view> dims = absl::StrSplit(shape.substr(0, shape.find(')')), ", ");
  if (dims.size() != 2 || !absl::SimpleAtoi(dims[0], &header_rows) || !absl::SimpleAtoi(dims[1], &dim_) ||
      header_rows < 0 || dim_ < 0) {
    return absl::FailedPreconditionError(absl::StrCat(npy_path_, ": not a 2-D matrix; cannot resume it"));
  }
  std::error_code error;
  const bool index_exists = std::filesystem::exists(index_path_, error);
  const absl::StatusOr<std::vector<std::string>> read_index = IndexLines(index_path_);
  if (!read_index.ok()) return read_index.status();
  const std::vector<std::string>& index_lines = *read_index;
  const int64_t index_rows = static_cast<int64_t>(index_lines.size());
  const int64_t data_rows = WholeRows(std::filesystem::file_size(npy_path_, error), dim_);
  rows_ = dim_ == 0 ? 0 : std::min({header_rows, data_rows, index_rows});
  if (header_rows > 0 && !index_exists) {
    return absl::FailedPreconditionError(absl::StrCat(npy_path_, " has ", header_rows, " rows but its index ", index_path_,
                                                      " is missing; cannot resume without it"));
  }
  if (std::max({header_rows, data_rows, index_rows}) - rows_ > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        npy_path_, " (", header_rows, " rows in its header, ", data_rows, " in its data) and ", index_path_, " (", index_rows,
        " lines) are further apart than a killed run leaves them; cannot resume without losing rows"));
  }
  // Cut what a kill left past the last whole row in either file.
  std::filesystem::resize_file(npy_path_, kHeaderBytes + static_cast<uintmax_t>(rows_ * dim_) * sizeof(float), error);
  if (!error && index_exists) {
    uintmax_t keep = 0;
    for (int64_t i = 0; i < rows_; ++i) keep += index_lines[i].size() + 1;
    std::filesystem::resize_file(index_path_, keep, error);
  }
  if (error) return absl::PermissionDeniedError(absl::StrCat("cannot cut ", npy_path_, " to its whole rows: ", error.message()));
  for (int64_t i = 0; i < rows_; ++i) row_of_path_.emplace(index_lines[i], i);
  npy_ = std::fopen(npy_path_.c_str(), "r+b");
  index_ = std::fopen(index_path_.c_str(), "ab");
  if (npy_ == nullptr || index_ == nullptr) return absl::PermissionDeniedError(absl::StrCat("cannot open ", npy_path_, " to resume"));
  return WriteHeader();
}

absl::Status EmbeddingMatrix::WriteHeader() {
  const std::string header = NpyMatrixHeader(rows_, dim_);
  if (std::fseek(npy_, 0, SEEK_SET) != 0 || std::fwrite(header.data(), 1, header.size(), npy_) != header.size() ||
      std::fseek(npy_, 0, SEEK_END) != 0 || std::fflush(npy_) != 0) {
    return absl::DataLossError(absl::StrCat(npy_path_, ": write failed (disk full?)"));
  }
  return absl::OkStatus();
}

EmbeddingMatrix::~EmbeddingMatrix() {
  if (npy_ != nullptr) std::fclose(npy_);
  if (index_ != nullptr) std::fclose(index_);
}

absl::Status EmbeddingMatrix::write_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return broken_;
}

int64_t EmbeddingMatrix::rows() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rows_;
}

absl::StatusOr<int64_t> EmbeddingMatrix::Append(const std::string& image_path, const std::vector<float>& row) {
  const std::string stored_path = StoredPath(image_path);
  std::lock_guard<std::mutex> lock(mutex_);
  if (!broken_.ok()) return broken_;
  if (const auto found = row_of_path_.find(stored_path); found != row_of_path_.end()) return found->second;
  absl::StatusOr<int64_t> appended = AppendLocked(stored_path, row);
  if (!appended.ok() && appended.status().code() == absl::StatusCode::kDataLoss) broken_ = appended.status();
  return appended;
}

absl::StatusOr<int64_t> EmbeddingMatrix::AppendLocked(const std::string& stored_path, const std::vector<float>& row) {
  if (dim_ == 0) dim_ = static_cast<int64_t>(row.size());
  if (static_cast<int64_t>(row.size()) != dim_ || dim_ == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the embedding has ", row.size(), " values, the matrix's rows have ", dim_));
  }
  // Data, then the header that counts it, then the index line: a kill between them leaves one
  // file a row ahead, which Continue() cuts.
  if (std::fwrite(row.data(), sizeof(float), row.size(), npy_) != row.size()) {
    return absl::DataLossError(absl::StrCat(npy_path_, ": write failed (disk full?)"));
  }
  ++rows_;
  if (absl::Status s = WriteHeader(); !s.ok()) return s;
  const std::string line = absl::StrCat(stored_path, "\n");
  if (std::fwrite(line.data(), 1, line.size(), index_) != line.size() || std::fflush(index_) != 0) {
    return absl::DataLossError(absl::StrCat(index_path_, ": write failed (disk full?)"));
  }
  row_of_path_.emplace(stored_path, rows_ - 1);
  return rows_ - 1;
}

}  // namespace beit::client
