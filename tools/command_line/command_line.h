// Every beit binary's command line, on Abseil flags (ABSL_FLAG), with one set of conventions:
// - `--help` or `-h` anywhere before `--`: the caller prints its usage text and exits 0.
// - Flag names with dashes (as usage texts spell them) or underscores (Abseil's spelling), one
//   dash or two; `--name=value` or `--name value` (the next argument as it is, e.g. `-1`); a
//   boolean alone means true and `--no-name` / `--noname` false.
// - An unknown flag, a missing value, or a value its flag cannot take is a UsageError naming the
//   flag (the caller prints it with its usage and exits 2, not Abseil's exit 1).
// - Repeatable flags (e.g. beit-server's --model NAME=DIR) are not Abseil flags: every occurrence
//   is kept in order in `repeated`.
// - Parsing is re-entrant (tests parse many command lines in one process): ResetToDefaults puts
//   the named flags back first.
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace beit::cli {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct CommandLine {
  bool help = false;
  std::vector<std::string> positional;  // in order, after the program name
  std::map<std::string, std::vector<std::string>> repeated;  // by name as given in `repeatable`
  std::vector<std::pair<std::string, std::string>> values;   // Abseil flag name, text: in order
  std::set<std::string> given;                                // Abseil names of the flags given
};

// `args` includes the program name. With `apply`, every value is set on its Abseil flag (else the
// caller applies them, e.g. after a config file, with SetFlag). Throws UsageError.
CommandLine ParseCommandLine(const std::vector<std::string>& args, const std::set<std::string>& repeatable = {},
                             bool apply = true);

// Sets the Abseil flag `name` ('-' or '_') from text; throws UsageError naming it (as --name).
void SetFlag(const std::string& name, const std::string& text);

// Puts each named Abseil flag back to its default value.
void ResetToDefaults(const std::vector<std::string>& names);

// main() for a binary: parses, prints `usage` for --help (exit 0), runs `body`, and turns a
// UsageError from parsing or from `body` into "PROGRAM: message", the usage text on stderr and
// exit 2.
int RunMain(int argc, char** argv, const char* program, const char* usage, const std::set<std::string>& repeatable,
            int (*body)(const CommandLine& command_line));

}  // namespace beit::cli
