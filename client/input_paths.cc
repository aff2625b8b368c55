#include "client/input_paths.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace beit::client {
namespace {

namespace fs = std::filesystem;

bool IsImageName(const fs::path& path) {
  const std::string extension = absl::AsciiStrToLower(path.extension().string());
  return extension == ".jpg" || extension == ".jpeg" || extension == ".png";
}

bool IsGlob(absl::string_view spec) { return spec.find_first_of("*?[") != absl::string_view::npos; }

// Appends `path` unless it was seen.
class PathList {
 public:
  void Add(std::string path) {
    if (seen_.insert(path).second) paths_.push_back(std::move(path));
  }
  std::vector<std::string> Take() { return std::move(paths_); }

 private:
  std::set<std::string> seen_;
  std::vector<std::string> paths_;
};

// Follows directory symlinks, but enters each real directory once, so a link cycle (a -> ..)
// ends; an entry that cannot be examined (a dangling link, a vanished file) is skipped, and so
// is a subdirectory the user may not read. The top directory itself must be listable, and a
// listing that fails part-way is an error rather than a shorter list.
absl::Status AddDirectory(const std::string& directory, PathList& out) {
  std::error_code error;
  std::vector<std::string> found;
  auto cannot_list = [&] {
    return absl::InvalidArgumentError(absl::StrCat(directory, ": cannot list the directory: ", error.message()));
  };
  // Opened on its own first: skip_permission_denied below would make an unreadable top
  // directory an empty one.
  fs::directory_iterator top(directory, error);
  if (error) return cannot_list();
  std::set<fs::path> entered = {fs::canonical(directory, error)};
  fs::recursive_directory_iterator it(
      directory, fs::directory_options::follow_directory_symlink | fs::directory_options::skip_permission_denied, error);
  if (error) return cannot_list();
  for (; it != fs::recursive_directory_iterator(); it.increment(error)) {
    std::error_code entry_error;
    if (it->is_directory(entry_error)) {
      const fs::path real = fs::canonical(it->path(), entry_error);
      if (entry_error || !entered.insert(real).second) it.disable_recursion_pending();
    } else if (it->is_regular_file(entry_error) && IsImageName(it->path())) {
      found.push_back(it->path().string());
    }
  }
  // A failed step (a subdirectory removed meanwhile, out of file descriptors) ends the loop with
  // `error` set: the listing would be cut short, so it is the run's error.
  if (error) return cannot_list();
  std::sort(found.begin(), found.end());
  for (std::string& path : found) out.Add(std::move(path));
  return absl::OkStatus();
}

absl::Status AddSpec(const std::string& spec, bool allow_list, PathList& out);

absl::Status AddList(const std::string& list_file, PathList& out) {
  std::ifstream in(list_file);
  if (!in) return absl::NotFoundError(absl::StrCat("@", list_file, ": cannot read the list file"));
  std::string line;
  while (std::getline(in, line)) {
    const std::string entry(absl::StripAsciiWhitespace(line));
    if (entry.empty() || entry[0] == '#') continue;
    if (absl::Status s = AddSpec(entry, /*allow_list=*/false, out); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("@", list_file, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status AddGlob(const std::string& pattern, PathList& out) {
  glob_t matches{};
  const int result = glob(pattern.c_str(), 0, nullptr, &matches);
  std::vector<std::string> paths(matches.gl_pathv, matches.gl_pathv + matches.gl_pathc);
  globfree(&matches);
  if (result == GLOB_NOMATCH) return absl::NotFoundError(absl::StrCat("'", pattern, "' matches no files"));
  if (result != 0) return absl::InvalidArgumentError(absl::StrCat("'", pattern, "': cannot expand the pattern"));
  // glob(3) sorts its matches.
  for (const std::string& path : paths) {
    std::error_code error;
    if (fs::is_directory(path, error)) {
      if (absl::Status s = AddDirectory(path, out); !s.ok()) return s;
    } else {
      out.Add(path);
    }
  }
  return absl::OkStatus();
}

absl::Status AddSpec(const std::string& spec, bool allow_list, PathList& out) {
  if (absl::StartsWith(spec, "@")) {
    if (!allow_list) return absl::InvalidArgumentError(absl::StrCat("'", spec, "': a list file cannot name another"));
    return AddList(spec.substr(1), out);
  }
  std::error_code error;
  if (fs::is_directory(spec, error)) return AddDirectory(spec, out);
  if (IsGlob(spec) && !fs::exists(spec, error)) return AddGlob(spec, out);
  out.Add(spec);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ExpandInputs(const std::vector<std::string>& specs) {
  PathList out;
  for (const std::string& spec : specs) {
    if (absl::Status s = AddSpec(spec, /*allow_list=*/true, out); !s.ok()) return s;
  }
  return out.Take();
}

std::string OutputName(const std::string& path) {
  fs::path relative;
  for (const fs::path& part : fs::path(path).lexically_normal().relative_path()) {
    if (part == ".." || part == "." || part.empty()) continue;
    relative /= part;
  }
  return absl::StrCat(relative.string(), ".png");
}

}  // namespace beit::client
