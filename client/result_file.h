// The results file of a bulk `beit-client` run: one record per input file, as JSON lines or CSV.
//
// Contract:
// - The format follows the file name: ".csv" writes CSV (RFC 4180 quoting, a header row), any
//   other name JSON lines.
// - A JSON-lines record is {"path", "ok", "ms", then either the task's answer fields or
//   "error": {"code": "NOT_FOUND", "message": "..."}}. A CSV record has the columns
//   path, ok, ms, error (the status code and message), then the caller's `csv_columns`, each the
//   answer's field of that name (arrays joined with spaces, objects as JSON, absent ones empty).
//   Line breaks inside values become spaces, so every record is one line.
// - Open without `resume` refuses a file that exists and is not empty (FAILED_PRECONDITION), so a
//   finished run is never overwritten by accident. With `resume` an existing file is continued:
//   Outcome(path) says whether a complete record of that path is in it and whether it was answered
//   (the last record of a path wins, so a retried file counts as its latest outcome); a torn last
//   line (the process was killed mid-write) is cut off, and a CSV's header must match.
// - Paths are stored as the format can hold them: JSON replaces invalid UTF-8 with U+FFFD, CSV
//   turns line breaks into spaces. Outcome() compares in that stored form, so such a path is still
//   found on resume (two paths that differ only there share one record).
// - Append writes one record and flushes it, so what is in the file survives a kill; it is safe to
//   call from several threads.
#pragma once

#include <cstdio>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace beit::client {

// One input file's outcome.
struct FileResult {
  std::string path;
  absl::Status status;       // OK: `answer` holds the task's answer
  nlohmann::json answer;     // a JSON object
  double milliseconds = 0;   // the file's wall time: read, call, outputs written
};

class ResultFile {
 public:
  static absl::StatusOr<std::unique_ptr<ResultFile>> Open(const std::string& path,
                                                          std::vector<std::string> csv_columns, bool resume);
  // Whether `path` is a file with something in it: a run to continue (or to refuse to overwrite).
  static bool Started(const std::string& path);
  // Open's refusal of an existing file without `resume`, without creating anything.
  static absl::Status CheckCanOpen(const std::string& path, bool resume);
  ~ResultFile();
  ResultFile(const ResultFile&) = delete;
  ResultFile& operator=(const ResultFile&) = delete;

  // Answered (true) or failed (false) by the file's records and this run's appends; nullopt when
  // the path has no record.
  std::optional<bool> Outcome(const std::string& path) const;
  absl::Status Append(const FileResult& result);

 private:
  ResultFile(std::string path, bool csv, std::vector<std::string> csv_columns)
      : path_(std::move(path)), csv_(csv), csv_columns_(std::move(csv_columns)) {}
  absl::Status ReadExisting();
  std::string CsvHeader() const;
  std::string StoredPath(const std::string& path) const;

  std::string path_;
  bool csv_;
  std::vector<std::string> csv_columns_;
  std::map<std::string, bool> recorded_;  // stored path -> answered
  mutable std::mutex mutex_;  // guards file_ and recorded_
  FILE* file_ = nullptr;
};

// The first field of a CSV line (unquoted as RFC 4180 says).
std::string FirstCsvField(const std::string& line);

}  // namespace beit::client
