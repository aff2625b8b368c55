#include "server/repository/repository_folder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace beit::serving::repository {
namespace fs = std::filesystem;
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
std::string Fingerprint(const fs::path& dir) {
  std::vector<std::string> entries;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    std::error_code stat_error;
    const fs::file_status status = fs::status(it->path(), stat_error);  // follows symlinks
    if (stat_error || !fs::is_regular_file(status)) continue;
    const auto size = fs::file_size(it->path(), stat_error);
    const auto time = fs::last_write_time(it->path(), stat_error);
    if (stat_error) continue;
    std::ostringstream line;
    line << fs::relative(it->path(), dir).string() << ':' << size << ':' << time.time_since_epoch().count();
    entries.push_back(line.str());
  }
  if (ec) entries.push_back("unreadable:" + ec.message());
  std::sort(entries.begin(), entries.end());
  std::string out = "contents:\n";  // never empty, even for an empty folder (empty means "not seen")
  for (const std::string& e : entries) out += e + '\n';
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ListModelNames(const std::string& root) {
  std::error_code ec;
  std::vector<std::string> names;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code dir_error;
    if (name.empty() || name[0] == '.' || !fs::is_directory(it->path(), dir_error)) continue;
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
  if (name.empty() || name[0] == '.' || name.find('/') != std::string::npos || !fs::is_directory(model_dir, ec)) {
    return folder;
  }
  folder.exists = true;
  if (!Inside(root_path, model_dir)) {
    folder.problem = model_dir.string() + " resolves outside the model repository (a symlink out of it); not loaded";
    return folder;
  }

  const fs::path settings_path = model_dir / "serving.json";
  if (fs::exists(settings_path, ec)) {
    std::ifstream in(settings_path);
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<ServingSettings> settings = ParseServingSettings(text.str(), settings_path.string());
    if (!settings.ok()) {
      folder.problem = std::string(settings.status().message());
    } else {
      folder.settings = *settings;
    }
  }

  std::vector<std::string> ignored;
  for (fs::directory_iterator it(model_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code dir_error;
    if (!fs::is_directory(it->path(), dir_error)) continue;
    const std::string entry = it->path().filename().string();
    int64_t version = 0;
    if (!ParseVersion(entry, &version)) {
      if (!entry.empty() && entry[0] != '.') ignored.push_back(entry);
      continue;
    }
    VersionFolder v;
    v.dir = it->path().string();
    if (!Inside(root_path, it->path())) {
      v.problem = v.dir + " resolves outside the model repository (a symlink out of it); not loaded";
    } else {
      v.fingerprint = Fingerprint(it->path());
    }
    folder.versions[version] = std::move(v);
  }
  std::sort(ignored.begin(), ignored.end());
  for (const std::string& entry : ignored) {
    folder.notes.push_back(model_dir.string() + "/" + entry +
                           ": not a version number (version folders are named 1, 2, ...); ignored");
  }
  const bool has_config = fs::exists(model_dir / "config.json", ec);
  if (folder.versions.empty() && has_config) {
    VersionFolder v;
    v.dir = model_dir.string();
    v.fingerprint = Fingerprint(model_dir);
    folder.versions[1] = std::move(v);
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
