// beit-client over many images (files, directories, globs, @lists): one record per file in
// --output, PNGs in --output-dir, embeddings in a .npy, --resume, progress, Ctrl-C; returns the
// exit code (0 all answered, 1 some failed, 130 interrupted).
#pragma once

#include <string>
#include <vector>

#include "client/cli_support.h"

namespace beit::client::cli {

// Runs `command` over every input; prints the summary on stderr; returns the exit code.
int RunMany(const Session& s, const std::string& command, const std::vector<std::string>& specs);

}  // namespace beit::client::cli
