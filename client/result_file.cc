#include "client/result_file.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_format.h"

namespace beit::client {
namespace {

using nlohmann::json;

std::string OneLine(const std::string& text) { return absl::StrReplaceAll(text, {{"\r\n", " "}, {"\n", " "}, {"\r", " "}}); }

std::string CsvQuoted(const std::string& raw) {
  const std::string value = OneLine(raw);
  if (value.find_first_of(",\"") == std::string::npos) return value;
  return absl::StrCat("\"", absl::StrReplaceAll(value, {{"\"", "\"\""}}), "\"");
}

std::string CsvValue(const json& value) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {
    return absl::StrJoin(value, " ", [](std::string* out, const json& item) {
      absl::StrAppend(out, item.is_string() ? item.get<std::string>() : item.dump());
    });
  }
  return value.dump();
}

std::string JsonLine(const FileResult& r) {
  // Ordered: path, ok and ms first, then the answer's fields.
  nlohmann::ordered_json record = {{"path", r.path}, {"ok", r.status.ok()}, {"ms", std::round(r.milliseconds * 1000) / 1000}};
  if (r.status.ok()) {
    // Through text, as the two JSON types do not convert; invalid UTF-8 is replaced, not thrown on.
    for (const auto& [key, value] : r.answer.items()) {
      record[key] = nlohmann::ordered_json::parse(value.dump(-1, ' ', false, json::error_handler_t::replace));
    }
  } else {
    record["error"] = {{"code", absl::StatusCodeToString(r.status.code())}, {"message", std::string(r.status.message())}};
  }
  // Invalid UTF-8 in a path is replaced (StoredPath knows it), not thrown on.
  return record.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

std::string FirstCsvField(const std::string& line) {
  if (line.empty() || line[0] != '"') return line.substr(0, line.find(','));
  std::string field;
  for (size_t i = 1; i < line.size(); ++i) {
    if (line[i] != '"') {
      field.push_back(line[i]);
    } else if (i + 1 < line.size() && line[i + 1] == '"') {
      field.push_back('"');
      ++i;
    } else {
      break;
    }
  }
  return field;
}

std::string ResultFile::StoredPath(const std::string& path) const {
  if (csv_) return OneLine(path);
  return json::parse(json(path).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
}

std::optional<bool> ResultFile::Outcome(const std::string& path) const {
  const std::string stored = StoredPath(path);
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = recorded_.find(stored);
  if (found == recorded_.end()) return std::nullopt;
  return found->second;
}

std::string ResultFile::CsvHeader() const {
  std::vector<std::string> names = {"path", "ok", "ms", "error"};
  names.insert(names.end(), csv_columns_.begin(), csv_columns_.end());
  return absl::StrJoin(names, ",");
}

bool ResultFile::Started(const std::string& path) {
  std::error_code error;
  const uintmax_t bytes = std::filesystem::file_size(path, error);
  return !error && bytes > 0;
}

absl::Status ResultFile::CheckCanOpen(const std::string& path, bool resume) {
  if (Started(path) && !resume) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists: pass --resume to continue that run, or remove the file to start again"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ResultFile>> ResultFile::Open(const std::string& path, std::vector<std::string> csv_columns,
                                                             bool resume) {
  if (absl::Status s = CheckCanOpen(path, resume); !s.ok()) return s;
  const bool csv = absl::EndsWith(absl::AsciiStrToLower(path), ".csv");
  std::unique_ptr<ResultFile> file(new ResultFile(path, csv, std::move(csv_columns)));
  if (Started(path)) {
    if (absl::Status s = file->ReadExisting(); !s.ok()) return s;
  }
  file->file_ = std::fopen(path.c_str(), "ab");
  if (file->file_ == nullptr) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open for writing"));
  // Measured after ReadExisting, which may have cut a torn header to nothing.
  if (csv && std::ftell(file->file_) == 0) {
    const std::string header = file->CsvHeader() + "\n";
    std::fwrite(header.data(), 1, header.size(), file->file_);
    std::fflush(file->file_);
  }
  return file;
}

// Collects the recorded paths and cuts a torn last line.
absl::Status ResultFile::ReadExisting() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return absl::PermissionDeniedError(absl::StrCat(path_, ": cannot read it to resume"));
  std::string line;
  uint64_t complete_bytes = 0;  // up to the end of the last complete line
  bool first = true;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no '\n' after it: torn
    ++line_number;
    complete_bytes += line.size() + 1;
    if (csv_) {
      if (first) {
        if (line != CsvHeader()) {
          return absl::FailedPreconditionError(
              absl::StrCat(path_, ": its CSV header is not this command's (", CsvHeader(), "); resume it with the same command"));
        }
        first = false;
        continue;
      }
      const std::string ok_field = FirstCsvField(line.substr(std::min(line.size(), CsvQuoted(FirstCsvField(line)).size() + 1)));
      recorded_[FirstCsvField(line)] = ok_field == "true";
    } else {
      const json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!record.is_object() || !record.contains("path") || !record["path"].is_string()) {
        return absl::FailedPreconditionError(
            absl::StrCat(path_, ": line ", line_number, " is not a beit-client record; cannot resume it"));
      }
      recorded_[record["path"].get<std::string>()] = record.value("ok", false);
    }
  }
  in.close();
  std::error_code error;
  if (std::filesystem::file_size(path_, error) != complete_bytes) {
    std::filesystem::resize_file(path_, complete_bytes, error);
    if (error) return absl::PermissionDeniedError(absl::StrCat(path_, ": cannot cut its torn last line: ", error.message()));
  }
  return absl::OkStatus();
}

ResultFile::~ResultFile() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status ResultFile::Append(const FileResult& r) {
  std::string line;
  if (csv_) {
    std::vector<std::string> values = {CsvQuoted(r.path), r.status.ok() ? "true" : "false",
                                       absl::StrFormat("%.3f", r.milliseconds),
                                       r.status.ok() ? "" : CsvQuoted(absl::StrCat(absl::StatusCodeToString(r.status.code()), ": ",
                                                                                   r.status.message()))};
    for (const std::string& column : csv_columns_) {
      values.push_back(r.status.ok() && r.answer.contains(column) ? CsvQuoted(CsvValue(r.answer[column])) : "");
    }
    line = absl::StrJoin(values, ",");
  } else {
    line = JsonLine(r);
  }
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(mutex_);
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    return absl::DataLossError(absl::StrCat(path_, ": write failed (disk full?)"));
  }
  recorded_[StoredPath(r.path)] = r.status.ok();
  return absl::OkStatus();
}

}  // namespace beit::client
