// What a model repository folder holds, read from disk: `--model-repository DIR`, each subfolder a
// model named by the folder, holding either numeric version folders (`1/`, `2/`, ...) each with a
// model as `save_pretrained` writes it, or the model files directly (version 1), and optionally a
// `serving.json` (serving_settings.h).
//
// Contract:
// - ListModelNames(root) lists the subfolders of root (sorted; hidden ones skipped), or the error
//   reading it.
// - ScanModel(root, name) reads one model folder without loading anything:
//   * `exists` false when root/name is not a folder (removed, or never there);
//   * versions: each numeric subfolder (decimal, no leading zero, below 2^63) with its path and
//     a fingerprint of its contents (every file's relative path, size and modification time,
//     files reached through symlinks included) that changes when anything in it changes; a
//     version folder, or the model folder, that resolves outside the repository (a symlink out
//     of it) gets `problem` set and is never loaded;
//   * with no numeric subfolder but a config.json, version 1 is the model folder itself;
//   * notes: subfolders that are not version numbers (ignored), and numeric folders winning over
//     files directly in the model folder; a person-readable sentence each;
//   * problem: why the model cannot load at all: no version and no config.json, or serving.json
//     unreadable or invalid (its error). `settings` are the defaults then.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/repository/serving_settings.h"

namespace beit::serving::repository {

struct VersionFolder {
  std::string dir;
  std::string fingerprint;
  std::string problem;  // set: never loaded, and why
};

struct ModelFolder {
  std::string name;
  bool exists = false;
  std::map<int64_t, VersionFolder> versions;
  ServingSettings settings;
  std::string problem;
  std::vector<std::string> notes;
};

absl::StatusOr<std::vector<std::string>> ListModelNames(const std::string& root);
ModelFolder ScanModel(const std::string& root, const std::string& name);

}  // namespace beit::serving::repository
