// The image files a bulk `beit-client` run covers, from what the user typed.
//
// Contract:
// - ExpandInputs takes each spec in order:
//     `@FILE`      every non-empty line of FILE that does not start with '#' (each line is then
//                  expanded like a command-line spec, except that it cannot be another @FILE);
//     a directory  its image files (.jpg, .jpeg, .png, any case), recursively, in sorted order;
//                  directory symlinks are followed but each real directory is entered once (a
//                  link cycle ends), and entries that cannot be examined (dangling links,
//                  unreadable subdirectories) are skipped;
//     a glob       (a spec containing *, ? or [) the paths glob(3) matches, sorted; matched
//                  directories are expanded as above. A glob that matches nothing is an error;
//     anything else is taken as a file path as it is, even if it does not exist: reading it is
//                  that file's own error in the results, not the run's.
//   Paths are returned once each (first occurrence wins) and in the order above.
// - Errors (returned as absl::Status, INVALID_ARGUMENT or NOT_FOUND): an unreadable @FILE, a glob
//   without matches, an unreadable directory (or one whose listing fails part-way; a subdirectory
//   the user may not read is skipped), a nested @FILE.
// - OutputName(path) is where a file's PNG goes below --output-dir: the path made relative and
//   without '..' (leading '/', './' and '../' parts dropped) plus ".png", so "shoes/a.jpg" gives
//   "shoes/a.jpg.png" and two inputs never share a name unless their paths only differ in those
//   dropped parts.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace beit::client {

absl::StatusOr<std::vector<std::string>> ExpandInputs(const std::vector<std::string>& specs);

std::string OutputName(const std::string& path);

}  // namespace beit::client
