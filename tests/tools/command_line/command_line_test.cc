// The command-line conventions every beit binary shares (tools/command_line/command_line.h): the
// parser on flags of its own, then each binary's exit codes for --help, unknown flags and bad
// values.
#include "tools/command_line/command_line.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"

ABSL_FLAG(int, cl_count, 3, "an integer");
ABSL_FLAG(bool, cl_verbose, false, "a boolean");
ABSL_FLAG(std::string, cl_name, "", "a string");
ABSL_FLAG(std::optional<int>, cl_limit, std::nullopt, "an optional integer");

namespace beit::cli {
namespace {

const std::vector<std::string> kOurs = {"cl_count", "cl_verbose", "cl_name", "cl_limit"};

CommandLine Parse(std::vector<std::string> args, const std::set<std::string>& repeatable = {}, bool apply = true) {
  ResetToDefaults(kOurs);
  args.insert(args.begin(), "program");
  return ParseCommandLine(args, repeatable, apply);
}

TEST(CommandLine, SpellingsValuesAndPositionals) {
  CommandLine c = Parse({"--cl-count", "-1", "in.png", "-cl_name=a=b", "--cl-verbose", "--", "--not-a-flag"});
  EXPECT_EQ(absl::GetFlag(FLAGS_cl_count), -1) << "the next argument as it is";
  EXPECT_EQ(absl::GetFlag(FLAGS_cl_name), "a=b");
  EXPECT_TRUE(absl::GetFlag(FLAGS_cl_verbose));
  EXPECT_EQ(c.positional, (std::vector<std::string>{"in.png", "--not-a-flag"}));
  EXPECT_EQ(c.given, (std::set<std::string>{"cl_count", "cl_name", "cl_verbose"}));
  Parse({"--no-cl-verbose"});
  EXPECT_FALSE(absl::GetFlag(FLAGS_cl_verbose));
  Parse({"--cl_limit=4"});
  EXPECT_EQ(absl::GetFlag(FLAGS_cl_limit), 4);
  Parse({});
  EXPECT_EQ(absl::GetFlag(FLAGS_cl_count), 3) << "each parse starts from the defaults";
  EXPECT_EQ(absl::GetFlag(FLAGS_cl_limit), std::nullopt);
}

TEST(CommandLine, RepeatableFlagsKeepEveryValueInOrder) {
  const CommandLine c = Parse({"--model", "a=/x", "--cl-count=5", "--model=b=/y"}, {"model"});
  EXPECT_EQ(c.repeated.at("model"), (std::vector<std::string>{"a=/x", "b=/y"}));
  EXPECT_EQ(absl::GetFlag(FLAGS_cl_count), 5);
}

TEST(CommandLine, WithoutApplyValuesAreCheckedButNotSet) {
  const CommandLine c = Parse({"--cl-count", "9"}, {}, /*apply=*/false);
  EXPECT_EQ(absl::GetFlag(FLAGS_cl_count), 3);
  ASSERT_EQ(c.values.size(), 1u);
  EXPECT_EQ(c.values[0], (std::pair<std::string, std::string>{"cl_count", "9"}));
  EXPECT_THROW(Parse({"--cl-count", "nine"}, {}, /*apply=*/false), UsageError);
  SetFlag("cl-count", "7");
  EXPECT_EQ(absl::GetFlag(FLAGS_cl_count), 7);
}

TEST(CommandLine, UsageErrorsNameTheFlag) {
  auto error = [](std::vector<std::string> args) -> std::string {
    try {
      Parse(std::move(args));
    } catch (const UsageError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(error({"--bogus"}), "unknown flag --bogus");
  EXPECT_EQ(error({"--cl-count"}), "--cl-count needs a value");
  EXPECT_NE(error({"--cl-count", "many"}).find("--cl-count: Illegal value 'many'"), std::string::npos);
  EXPECT_EQ(error({"--no-cl-count"}), "unknown flag --no-cl-count") << "only booleans negate";
  EXPECT_EQ(error({"--no-cl-verbose=1"}), "--no-cl-verbose takes no value");
  EXPECT_EQ(error({"--flagfile=/etc/passwd"}), "unknown flag --flagfile") << "Abseil's own flags are not ours";
  EXPECT_TRUE(Parse({"--bogus", "-h"}).help) << "help wins wherever it is";
  EXPECT_FALSE(Parse({"--", "--help"}).help);
}

// Exit code of `command` run by the shell (its output discarded).
int ExitCode(const std::string& command) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(CommandLine, EveryBinaryAnswersHelpWithZeroAndUsageErrorsWithTwo) {
  for (const std::string binary : {BEIT_SERVER_BINARY, BEIT_RUN_BINARY, BEIT_BENCH_BINARY, BEIT_PREPROCESS_BENCH_BINARY,
                                   BEIT_CLIENT_BINARY}) {
    SCOPED_TRACE(binary);
    EXPECT_EQ(ExitCode(binary + " --help"), 0);
    EXPECT_EQ(ExitCode(binary + " --help | grep -q Usage"), 0) << "the text says Usage";
    EXPECT_EQ(ExitCode(binary + " --no-such-flag 1"), 2);
  }
  EXPECT_EQ(ExitCode(std::string(BEIT_SERVER_BINARY) + " --model a=/nowhere --port many"), 2);
  EXPECT_EQ(ExitCode(std::string(BEIT_RUN_BINARY) + " --target-size 3 --output x"), 2);
  EXPECT_EQ(ExitCode(std::string(BEIT_BENCH_BINARY) + " --model x --batches 1,a"), 2);
  EXPECT_EQ(ExitCode(std::string(BEIT_BENCH_BINARY) + " --model x --min-runs nine"), 2);
  EXPECT_EQ(ExitCode(std::string(BEIT_PREPROCESS_BENCH_BINARY) + " --image x"), 2);
}

}  // namespace
}  // namespace beit::cli
