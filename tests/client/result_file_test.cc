#include "client/result_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <unistd.h>

namespace beit::client {
namespace {

using nlohmann::json;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(ReadAll(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string FreshPath(const std::string& name) {
  // The pid keeps concurrent runs of this test (ctest and a sanitizer pass) apart.
  const std::string path = ::testing::TempDir() + "/result_file_test_" + std::to_string(getpid()) + "_" + name;
  std::filesystem::remove(path);
  return path;
}

FileResult Answer(const std::string& path, json answer) { return {path, absl::OkStatus(), std::move(answer), 12.5}; }
FileResult Failure(const std::string& path) {
  return {path, absl::InvalidArgumentError("image.encoded: unrecognised\nimage format"), json::object(), 1.25};
}

TEST(ResultFile, JsonLinesHoldOneRecordPerFileWithPathFirst) {
  const std::string path = FreshPath("a.jsonl");
  auto file = ResultFile::Open(path, {}, /*resume=*/false);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append(Answer("x/a.png", {{"label", "Bag"}, {"score", 0.5}})).ok());
  ASSERT_TRUE((*file)->Append(Failure("x/b.png")).ok());
  const std::vector<std::string> lines = Lines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].rfind("{\"path\":\"x/a.png\",\"ok\":true,\"ms\":12.5,", 0), 0u) << lines[0];
  const json a = json::parse(lines[0]);
  EXPECT_EQ(a["label"], "Bag");
  const json b = json::parse(lines[1]);
  EXPECT_EQ(b["ok"], false);
  EXPECT_EQ(b["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_EQ(b["error"]["message"], "image.encoded: unrecognised\nimage format");
}

TEST(ResultFile, CsvQuotesWhatNeedsItAndKeepsEachRecordOnOneLine) {
  const std::string path = FreshPath("a.csv");
  auto file = ResultFile::Open(path, {"label", "score", "tags"}, false);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append(Answer("dir, with comma/\"q\".png", {{"label", "T-shirt/top"}, {"score", 0.25}, {"tags", {1, 2}}})).ok());
  ASSERT_TRUE((*file)->Append(Failure("b.png")).ok());
  const std::vector<std::string> lines = Lines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "path,ok,ms,error,label,score,tags");
  EXPECT_EQ(lines[1], "\"dir, with comma/\"\"q\"\".png\",true,12.500,,T-shirt/top,0.25,1 2");
  EXPECT_EQ(lines[2], "b.png,false,1.250,INVALID_ARGUMENT: image.encoded: unrecognised image format,,,");
  EXPECT_EQ(FirstCsvField(lines[1]), "dir, with comma/\"q\".png");
  EXPECT_EQ(FirstCsvField(lines[2]), "b.png");
}

TEST(ResultFile, AnExistingFileNeedsResumeWhichReadsItsPathsAndCutsATornLine) {
  for (const std::string name : {"r.jsonl", "r.csv"}) {
    const std::string path = FreshPath(name);
    {
      auto file = ResultFile::Open(path, {"label"}, false);
      ASSERT_TRUE(file.ok()) << file.status();
      ASSERT_TRUE((*file)->Append(Answer("one, 1.png", {{"label", "Bag"}})).ok());
      ASSERT_TRUE((*file)->Append(Failure("two.png")).ok());
    }
    std::ofstream(path, std::ios::app) << "{\"path\":\"three.png\",\"ok\":tr";  // killed mid-write
    const auto refused = ResultFile::Open(path, {"label"}, false);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << name;
    EXPECT_NE(refused.status().message().find("--resume"), std::string::npos);
    auto resumed = ResultFile::Open(path, {"label"}, true);
    ASSERT_TRUE(resumed.ok()) << resumed.status();
    EXPECT_EQ((*resumed)->Outcome("one, 1.png"), true) << name;
    EXPECT_EQ((*resumed)->Outcome("two.png"), false) << name;
    EXPECT_EQ((*resumed)->Outcome("three.png"), std::nullopt) << name << ": its line was torn";
    ASSERT_TRUE((*resumed)->Append(Answer("three.png", {{"label", "Coat"}})).ok());
    const std::vector<std::string> lines = Lines(path);
    ASSERT_EQ(lines.size(), name == "r.csv" ? 4u : 3u) << ReadAll(path);
    EXPECT_NE(lines.back().find("Coat"), std::string::npos) << lines.back();
  }
}

TEST(ResultFile, PathsTheFormatCannotHoldAreStillFoundOnResume) {
  const std::string bad_utf8 = "caf\xe9/\xff.png";  // Latin-1 bytes, as old file systems have them
  const std::string line_break = "two\nlines.png";
  for (const std::string name : {"odd.jsonl", "odd.csv"}) {
    const std::string path = FreshPath(name);
    {
      auto file = ResultFile::Open(path, {"label"}, false);
      ASSERT_TRUE(file.ok()) << file.status();
      ASSERT_TRUE((*file)->Append(Answer(bad_utf8, {{"label", "Bag"}, {"note", "\xfe"}})).ok()) << name;
      ASSERT_TRUE((*file)->Append(Failure(line_break)).ok()) << name;
    }
    auto resumed = ResultFile::Open(path, {"label"}, true);
    ASSERT_TRUE(resumed.ok()) << resumed.status();
    EXPECT_EQ((*resumed)->Outcome(bad_utf8), true) << name;
    EXPECT_EQ((*resumed)->Outcome(line_break), false) << name;
    EXPECT_EQ(Lines(path).size(), name == "odd.csv" ? 3u : 2u) << ReadAll(path);
  }
}

TEST(ResultFile, ACsvWhoseHeaderWasTornGetsItsHeaderBack) {
  const std::string path = FreshPath("torn_header.csv");
  std::ofstream(path) << "path,ok,m";  // killed while writing the header
  auto file = ResultFile::Open(path, {}, true);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append(Answer("a.png", {})).ok());
  const std::vector<std::string> lines = Lines(path);
  ASSERT_EQ(lines.size(), 2u) << ReadAll(path);
  EXPECT_EQ(lines[0], "path,ok,ms,error");
  EXPECT_EQ(FirstCsvField(lines[1]), "a.png");
}

TEST(ResultFile, ResumingWithAnotherCommandsColumnsOrAForeignFileIsRefused) {
  const std::string csv = FreshPath("other.csv");
  ASSERT_TRUE(ResultFile::Open(csv, {"label"}, false).ok());
  { auto file = ResultFile::Open(csv, {"label"}, true); ASSERT_TRUE(file.ok()); ASSERT_TRUE((*file)->Append(Answer("a", {})).ok()); }
  EXPECT_EQ(ResultFile::Open(csv, {"row", "dim"}, true).status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string jsonl = FreshPath("foreign.jsonl");
  std::ofstream(jsonl) << "not json\n";
  const auto foreign = ResultFile::Open(jsonl, {}, true);
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(foreign.status().message().find("not a beit-client record"), std::string::npos) << foreign.status();
}

TEST(ResultFile, ConcurrentAppendsNeverInterleave) {
  const std::string path = FreshPath("concurrent.jsonl");
  auto file = ResultFile::Open(path, {}, false);
  ASSERT_TRUE(file.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE((*file)->Append(Answer(std::to_string(t) + "/" + std::to_string(i), {{"v", std::string(300, 'x')}})).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  const std::vector<std::string> lines = Lines(path);
  ASSERT_EQ(lines.size(), 800u);
  std::set<std::string> paths;
  for (const std::string& line : lines) paths.insert(json::parse(line)["path"].get<std::string>());
  EXPECT_EQ(paths.size(), 800u);
}

}  // namespace
}  // namespace beit::client
