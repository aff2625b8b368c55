// What a model repository folder holds, read from disk: `--model-repository DIR`, each subfolder a
// model named by the folder, holding either numeric version folders (`1/`, `2/`, ...) each with a
// model as `save_pretrained` writes it, or the model files directly (version 1), and optionally a
// `serving.json` (serving_settings.h).
//
// Contract:
// - ListModelNames(root, notes) lists the subfolders of root (sorted; hidden ones skipped; names
//   ValidModelName refuses skipped with a note), or UNAVAILABLE when root, or an entry's type,
//   cannot be read (not knowing is not "removed").
// - ScanModel of a name ValidModelName refuses: `exists` false.
// - ScanModel(root, name) reads one model folder without loading anything:
//   * `exists` false when root/name is not a folder (removed, or never there);
//   * versions: each numeric subfolder (decimal, no leading zero, at most 18 digits) with its
//     path and a fingerprint of its contents (every file's relative path, size and modification
//     time, files reached through symlinks included, and the text of serving.json) that changes
//     when anything in it changes; a version folder, the model folder or a file in them that
//     resolves outside the repository (a symlink out of it) gets `problem` set and is never loaded;
//   * with no numeric subfolder but a config.json, version 1 is the model folder itself;
//   * notes: subfolders that are not version numbers (ignored), and numeric folders winning over
//     files directly in the model folder; a person-readable sentence each;
//   * problem: why the model cannot load at all: no version and no config.json, or serving.json
//     not a regular file, above 1 MiB or invalid (its error). `settings` are the defaults then.
//   * scan_failed: the model folder could not be listed (problem says why); nothing else is set,
//     and nothing should be concluded from the versions (they are not known).
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
  bool scan_failed = false;
  std::vector<std::string> notes;
};

// `s` as a person can read it, for notes and errors: itself when it is UTF-8 without control
// characters, else with every byte outside printable ASCII as \xNN.
std::string Printable(const std::string& s);

// A model name a repository may hold: UTF-8, no control characters, no '/', not starting with '.'.
bool ValidModelName(const std::string& name);

absl::StatusOr<std::vector<std::string>> ListModelNames(const std::string& root,
                                                        std::vector<std::string>* notes = nullptr);
ModelFolder ScanModel(const std::string& root, const std::string& name);

}  // namespace beit::serving::repository
