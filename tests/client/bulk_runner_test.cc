#include "client/bulk_runner.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>

#include "absl/time/clock.h"

namespace beit::client {
namespace {

std::vector<std::string> Names(int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back("img" + std::to_string(i) + ".png");
  return names;
}

// Records every result; odd-numbered files fail.
struct Recorder {
  std::mutex mutex;
  std::vector<FileResult> results;
  RecordResult Callback() {
    return [this](const FileResult& r) {
      std::lock_guard<std::mutex> lock(mutex);
      results.push_back(r);
      return absl::OkStatus();
    };
  }
};

absl::StatusOr<nlohmann::json> OddFails(const std::string& path) {
  const int i = std::stoi(path.substr(3));
  if (i % 2) return absl::InvalidArgumentError("odd");
  return nlohmann::json{{"i", i}};
}

TEST(RunBulk, EveryFileRunsOnceAndFailuresDoNotStopTheRun) {
  for (int concurrency : {1, 3, 16}) {
    Recorder recorder;
    BulkOptions options;
    options.concurrency = concurrency;
    const auto summary = RunBulk(Names(101), OddFails, recorder.Callback(), options);
    ASSERT_TRUE(summary.ok());
    EXPECT_EQ(summary->ok, 51);
    EXPECT_EQ(summary->failed, 50);
    EXPECT_FALSE(summary->interrupted);
    std::set<std::string> paths;
    for (const FileResult& r : recorder.results) {
      paths.insert(r.path);
      const int i = std::stoi(r.path.substr(3));
      EXPECT_EQ(r.status.ok(), i % 2 == 0) << r.path;
      if (r.status.ok()) {
        EXPECT_EQ(r.answer["i"], i);
      }
      EXPECT_GE(r.milliseconds, 0);
    }
    EXPECT_EQ(paths.size(), 101u) << "concurrency " << concurrency;
  }
}

TEST(RunBulk, StoppingStartsNoNewFileAndRecordsTheOnesInFlight) {
  std::atomic<bool> stop{false};
  std::atomic<int> started{0};
  Recorder recorder;
  BulkOptions options;
  options.concurrency = 4;
  options.stop = &stop;
  const auto summary = RunBulk(
      Names(1000),
      [&](const std::string&) -> absl::StatusOr<nlohmann::json> {
        if (++started == 10) stop = true;  // Ctrl-C while ten files are under way
        absl::SleepFor(absl::Milliseconds(5));
        return nlohmann::json::object();
      },
      recorder.Callback(), options);
  ASSERT_TRUE(summary.ok());
  EXPECT_TRUE(summary->interrupted);
  EXPECT_EQ(summary->ok, started.load()) << "every started file is recorded";
  EXPECT_LE(summary->ok, 10 + options.concurrency);
  EXPECT_EQ(summary->not_started, 1000 - summary->ok);
  EXPECT_EQ(static_cast<int64_t>(recorder.results.size()), summary->ok);
}

TEST(RunBulk, AResultThatCannotBeRecordedStopsTheRunWithThatError) {
  int recorded = 0;
  BulkOptions options;
  options.concurrency = 2;
  const auto summary = RunBulk(
      Names(50), [](const std::string&) -> absl::StatusOr<nlohmann::json> { return nlohmann::json::object(); },
      [&](const FileResult&) {
        return ++recorded < 5 ? absl::OkStatus() : absl::DataLossError("results.jsonl: write failed (disk full?)");
      },
      options);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_LE(recorded, 5 + 1);
}

TEST(RunBulk, AnExceptionIsThatFilesErrorOrARecordFailureNeverAnEscape) {
  Recorder recorder;
  BulkOptions options;
  options.concurrency = 3;
  auto summary = RunBulk(
      Names(9),
      [](const std::string& path) -> absl::StatusOr<nlohmann::json> {
        if (path == "img4.png") throw std::runtime_error("malformed answer");
        return nlohmann::json::object();
      },
      recorder.Callback(), options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->ok, 8);
  EXPECT_EQ(summary->failed, 1);
  for (const FileResult& r : recorder.results) {
    if (r.path != "img4.png") continue;
    EXPECT_EQ(r.status.code(), absl::StatusCode::kInternal);
    EXPECT_NE(r.status.message().find("malformed answer"), std::string::npos) << r.status;
  }
  summary = RunBulk(Names(9), OddFails, [](const FileResult&) -> absl::Status { throw std::runtime_error("no space"); },
                    options);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(summary.status().message().find("no space"), std::string::npos) << summary.status();
}

TEST(RunBulk, ProgressCountsEveryRecordedFile) {
  FILE* sink = std::tmpfile();
  ProgressMeter progress(sink, ProgressStyle::kLines, 20, absl::Hours(1));
  Recorder recorder;
  BulkOptions options;
  options.progress = &progress;
  ASSERT_TRUE(RunBulk(Names(20), OddFails, recorder.Callback(), options).ok());
  progress.Finish();
  std::rewind(sink);
  std::string text(1024, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), sink));
  std::fclose(sink);
  EXPECT_NE(text.find("progress: 20/20 (100.0%)"), std::string::npos) << text;
  EXPECT_NE(text.find("10 errors"), std::string::npos) << text;
}

TEST(RunBulk, NoFilesIsAnEmptyRun) {
  Recorder recorder;
  const auto summary = RunBulk({}, OddFails, recorder.Callback(), BulkOptions());
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->ok + summary->failed + summary->not_started, 0);
  EXPECT_FALSE(summary->interrupted);
}

}  // namespace
}  // namespace beit::client
