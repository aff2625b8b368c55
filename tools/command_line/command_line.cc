#include "tools/command_line/command_line.h"

#include <algorithm>
#include <cstdio>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"

namespace beit::cli {
namespace {

// Whether `arg` is spelled as a flag: "--name..." or "-name..." ("-" alone and "--" are not).
bool LooksLikeFlag(const std::string& arg) { return arg.size() >= 2 && arg[0] == '-' && arg != "--"; }

std::string Underscored(std::string name) {
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

std::string Shown(std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  return "--" + name;
}

absl::CommandLineFlag* Find(const std::string& name) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  // Abseil's own flags (--flagfile, --fromenv, ...) are not ours to take.
  if (flag != nullptr && flag->Filename().find("absl/flags") != std::string::npos) return nullptr;
  return flag;
}

}  // namespace

void SetFlag(const std::string& name, const std::string& text) {
  const std::string underscored = Underscored(name);
  absl::CommandLineFlag* flag = Find(underscored);
  if (flag == nullptr) throw UsageError("unknown flag " + Shown(underscored));
  std::string error;
  if (!flag->ParseFrom(text, &error)) throw UsageError(Shown(underscored) + ": " + error);
}

void ResetToDefaults(const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    absl::CommandLineFlag* flag = Find(Underscored(name));
    std::string error;
    if (flag == nullptr || !flag->ParseFrom(flag->DefaultValue(), &error)) {
      throw std::logic_error("flag " + name + " cannot be reset: " + error);
    }
  }
}

CommandLine ParseCommandLine(const std::vector<std::string>& args, const std::set<std::string>& repeatable,
                             bool apply) {
  CommandLine out;
  for (size_t i = 1; i < args.size() && args[i] != "--"; ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      out.help = true;  // whatever else the line holds
      return out;
    }
  }
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--") {
      out.positional.insert(out.positional.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    if (!LooksLikeFlag(args[i])) {
      out.positional.push_back(args[i]);
      continue;
    }
    const std::string body = args[i].substr(args[i][1] == '-' ? 2 : 1);
    const size_t equals = body.find('=');
    const std::string name = Underscored(body.substr(0, equals));
    const std::string shown = Shown(name);
    auto value_of = [&]() -> std::string {
      if (equals != std::string::npos) return body.substr(equals + 1);
      if (i + 1 >= args.size()) throw UsageError(shown + " needs a value");
      return args[++i];  // the value, as it is
    };
    if (repeatable.count(name)) {
      out.repeated[name].push_back(value_of());
      continue;
    }
    absl::CommandLineFlag* flag = Find(name);
    std::string text;
    std::string flag_name = name;
    if (flag == nullptr) {
      // A negated boolean: --no-debug, --no_debug or --nodebug.
      for (const std::string prefix : {"no_", "no"}) {
        if (flag == nullptr && name.rfind(prefix, 0) == 0) {
          flag = Find(name.substr(prefix.size()));
          flag_name = name.substr(prefix.size());
        }
      }
      if (flag == nullptr || !flag->IsOfType<bool>()) throw UsageError("unknown flag " + shown);
      if (equals != std::string::npos) throw UsageError(shown + " takes no value");
      text = "false";
    } else if (flag->IsOfType<bool>() && equals == std::string::npos) {
      text = "true";
    } else {
      text = value_of();
    }
    // Checked now, whether applied now or later: a bad value is a usage error either way.
    const std::string previous = flag->CurrentValue();
    std::string error;
    if (!flag->ParseFrom(text, &error)) throw UsageError(Shown(flag_name) + ": " + error);
    if (!apply) flag->ParseFrom(previous, &error);
    out.values.emplace_back(flag_name, text);
    out.given.insert(flag_name);
  }
  return out;
}

int RunMain(int argc, char** argv, const char* program, const char* usage, const std::set<std::string>& repeatable,
            int (*body)(const CommandLine& command_line)) {
  try {
    const CommandLine command_line = ParseCommandLine(std::vector<std::string>(argv, argv + argc), repeatable);
    if (command_line.help) {
      std::fputs(usage, stdout);
      return 0;
    }
    return body(command_line);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: %s\n\n%s", program, e.what(), usage);
    return 2;
  }
}

}  // namespace beit::cli
