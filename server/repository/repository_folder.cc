#include "server/repository/repository_folder.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <system_error>

namespace beit::serving::repository {
namespace fs = std::filesystem;
namespace {

// Folder names reach logs, JSON and protobuf strings, which all need well-formed UTF-8 (no
// overlong forms, no surrogates, nothing above U+10FFFF).
bool ValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    unsigned char low = 0x80, high = 0xBF;  // the second byte's range
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c == 0xE0) {
      n = 3;
      low = 0xA0;
    } else if (c == 0xED) {
      n = 3;
      high = 0x9F;
    } else if (c >= 0xE1 && c <= 0xEF) {
      n = 3;
    } else if (c == 0xF0) {
      n = 4;
      low = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      n = 4;
    } else if (c == 0xF4) {
      n = 4;
      high = 0x8F;
    } else {
      return false;
    }
    if (s.size() - i < n) return false;
    const unsigned char second = static_cast<unsigned char>(s[i + 1]);
    if (second < low || second > high) return false;
    for (size_t k = 2; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

}  // namespace

std::string Printable(const std::string& s) {
  const bool readable = ValidUtf8(s) && std::none_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
  });
  if (readable) return s;
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02X", c);
      out += hex;
    }
  }
  return out;
}

bool ValidModelName(const std::string& name) {
  if (name.empty() || name[0] == '.' || name.find('/') != std::string::npos) return false;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7F) return false;  // control bytes: NUL ends C paths, newlines split logs
  }
  return ValidUtf8(name);
}

namespace {

// "1", "42": a version number as Triton spells it (no sign, no leading zero, fits int64).
bool ParseVersion(const std::string& name, int64_t* version) {
  if (name.empty() || name.size() > 18 || name[0] == '0') return false;
  if (!std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  *version = std::stoll(name);
  return true;
}

// Whether `path` resolves inside `root` (both resolved: symlinks followed).
bool Inside(const fs::path& root, const fs::path& path) {
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(path, ec);
  if (ec) return false;
  const auto [end, unused] = std::mismatch(root.begin(), root.end(), resolved.begin(), resolved.end());
  return end == root.end();
}

// Every file's relative path, size and modification time, sorted: changes when anything changes.
// `escaped` names the first file that resolves outside `root` (a symlink out of the repository).
std::string Fingerprint(const fs::path& root, const fs::path& dir, std::string* escaped) {
  std::vector<std::string> entries;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    std::error_code stat_error;
    const fs::file_status status = fs::status(it->path(), stat_error);  // follows symlinks
    if (stat_error || !fs::is_regular_file(status)) continue;
    if (escaped->empty() && fs::is_symlink(it->symlink_status(stat_error)) && !Inside(root, it->path())) {
      *escaped = it->path().string();
    }
    const auto size = fs::file_size(it->path(), stat_error);
    const auto time = fs::last_write_time(it->path(), stat_error);
    if (stat_error) continue;
    std::ostringstream line;
    line << it->path().lexically_relative(dir).string() << ':' << size << ':' << time.time_since_epoch().count();
    entries.push_back(line.str());
  }
  if (ec) entries.push_back("unreadable:" + ec.message());
  std::sort(entries.begin(), entries.end());
  std::string out = "contents:\n";  // never empty, even for an empty folder (empty means "not seen")
  for (const std::string& e : entries) out += e + '\n';
  return out;
}

std::string OutsideTheRepository(const std::string& path) {
  return Printable(path) + " resolves outside the model repository (a symlink out of it); not loaded";
}

// One version folder: its fingerprint (with serving.json's text: a settings change reloads it),
// or why it is never loaded.
VersionFolder ReadVersionFolder(const fs::path& root, const fs::path& dir, const std::string& settings_text) {
  VersionFolder v;
  v.dir = dir.string();
  std::string escaped = Inside(root, dir) ? "" : v.dir;
  if (escaped.empty()) v.fingerprint = Fingerprint(root, dir, &escaped) + "serving.json:" + settings_text;
  if (!escaped.empty()) v.problem = OutsideTheRepository(escaped);
  return v;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ListModelNames(const std::string& root, std::vector<std::string>* notes) {
  std::error_code ec;
  std::vector<std::string> names;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code dir_error;
    if (name.empty() || name[0] == '.') continue;
    const bool directory = fs::is_directory(it->path(), dir_error);
    if (dir_error) {  // e.g. ESTALE on NFS: not knowing must not read as removed
      return absl::UnavailableError("model repository " + root + ": " + Printable(name) + ": " + dir_error.message());
    }
    if (!directory) continue;
    if (!ValidModelName(name)) {
      if (notes) {
        notes->push_back(root + "/" + Printable(name) +
                         ": a model name must be UTF-8 without control characters; ignored");
      }
      continue;
    }
    names.push_back(name);
  }
  if (ec) return absl::UnavailableError("model repository " + root + ": " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

ModelFolder ScanModel(const std::string& root, const std::string& name) {
  ModelFolder folder;
  folder.name = name;
  std::error_code ec;
  const fs::path root_path = fs::weakly_canonical(root, ec);
  const fs::path model_dir = fs::path(root) / name;
  if (!ValidModelName(name) || !fs::is_directory(model_dir, ec)) return folder;
  folder.exists = true;
  if (!Inside(root_path, model_dir)) {
    folder.problem = OutsideTheRepository(model_dir.string());
    return folder;
  }

  const fs::path settings_path = model_dir / "serving.json";
  std::string settings_text;  // part of every version's fingerprint: a change reloads them
  if (fs::exists(fs::symlink_status(settings_path, ec))) {
    constexpr uintmax_t kMaxSettingsBytes = 1 << 20;
    std::error_code size_error;
    const uintmax_t size = fs::file_size(settings_path, size_error);  // fails for FIFOs, folders
    if (!Inside(root_path, settings_path)) {
      folder.problem = OutsideTheRepository(settings_path.string());
    } else if (!fs::is_regular_file(settings_path, ec) || size_error) {
      folder.problem = settings_path.string() + ": not a regular file";
    } else if (size > kMaxSettingsBytes) {
      folder.problem = settings_path.string() + ": larger than 1 MiB";
    } else {
      std::ifstream in(settings_path, std::ios::binary);
      std::stringstream text;
      text << in.rdbuf();
      settings_text = text.str();
      absl::StatusOr<ServingSettings> settings = ParseServingSettings(settings_text, settings_path.string());
      if (!settings.ok()) {
        folder.problem = std::string(settings.status().message());
      } else {
        folder.settings = *settings;
      }
    }
  }

  std::vector<std::string> ignored;
  std::error_code list_error;
  for (fs::directory_iterator it(model_dir, list_error), end; !list_error && it != end; it.increment(list_error)) {
    std::error_code dir_error;
    if (!fs::is_directory(it->path(), dir_error)) continue;
    const std::string entry = it->path().filename().string();
    int64_t version = 0;
    if (!ParseVersion(entry, &version)) {
      if (!entry.empty() && entry[0] != '.') ignored.push_back(entry);
      continue;
    }
    folder.versions[version] = ReadVersionFolder(root_path, it->path(), settings_text);
  }
  if (list_error) {  // a partial listing must not read as versions removed
    folder.scan_failed = true;
    folder.problem = model_dir.string() + ": cannot list: " + list_error.message();
    return folder;
  }
  std::sort(ignored.begin(), ignored.end());
  for (const std::string& entry : ignored) {
    folder.notes.push_back(model_dir.string() + "/" + Printable(entry) +
                           ": not a version number (version folders are named 1, 2, ...); ignored");
  }
  const bool has_config = fs::exists(model_dir / "config.json", ec);
  if (folder.versions.empty() && has_config) {
    folder.versions[1] = ReadVersionFolder(root_path, model_dir, settings_text);
  } else if (!folder.versions.empty() && has_config) {
    folder.notes.push_back(model_dir.string() +
                           ": has both version folders and model files; the version folders are served");
  }
  if (folder.versions.empty() && folder.problem.empty()) {
    folder.problem = model_dir.string() + ": no version folders (1/, 2/, ...) and no config.json";
  }
  return folder;
}

}  // namespace beit::serving::repository
