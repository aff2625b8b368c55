// Reading a model repository folder: layouts, notes, problems, fingerprints.
#include "server/repository/repository_folder.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace beit::serving::repository {
namespace {
namespace fs = std::filesystem;

class RepositoryFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("beit-repo-folder-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  fs::path root_;
};

TEST_F(RepositoryFolder, ListsModelFoldersSortedWithoutHiddenOnesOrFiles) {
  fs::create_directories(root_ / "b");
  fs::create_directories(root_ / "a");
  fs::create_directories(root_ / ".staging");
  Write(root_ / "README", "x");
  absl::StatusOr<std::vector<std::string>> names = ListModelNames(root_.string());
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ListModelNames((root_ / "missing").string()).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(RepositoryFolder, NumericVersionFolders) {
  Write(root_ / "m/1/config.json", "{}");
  Write(root_ / "m/12/config.json", "{}");
  fs::create_directories(root_ / "m/latest");
  fs::create_directories(root_ / "m/01");
  fs::create_directories(root_ / "m/99999999999999999999");
  const ModelFolder f = ScanModel(root_.string(), "m");
  EXPECT_TRUE(f.exists);
  EXPECT_TRUE(f.problem.empty()) << f.problem;
  ASSERT_EQ(f.versions.size(), 2u);
  EXPECT_EQ(f.versions.at(12).dir, (root_ / "m/12").string());
  ASSERT_EQ(f.notes.size(), 3u);  // 01, 9999..., latest: not version numbers
  for (const std::string& note : f.notes) EXPECT_NE(note.find("not a version number"), std::string::npos) << note;
}

TEST_F(RepositoryFolder, FilesDirectlyInTheModelFolderAreVersionOne) {
  Write(root_ / "m/config.json", "{}");
  ModelFolder f = ScanModel(root_.string(), "m");
  ASSERT_EQ(f.versions.size(), 1u);
  EXPECT_EQ(f.versions.at(1).dir, (root_ / "m").string());
  EXPECT_TRUE(f.notes.empty());
  // With version folders beside them, the folders win and a note says so.
  Write(root_ / "m/3/config.json", "{}");
  f = ScanModel(root_.string(), "m");
  ASSERT_EQ(f.versions.size(), 1u);
  EXPECT_TRUE(f.versions.count(3));
  ASSERT_EQ(f.notes.size(), 1u);
  EXPECT_NE(f.notes[0].find("the version folders are served"), std::string::npos);
}

TEST_F(RepositoryFolder, ProblemsNameWhatIsWrong) {
  EXPECT_FALSE(ScanModel(root_.string(), "absent").exists);
  EXPECT_FALSE(ScanModel(root_.string(), "../etc").exists);
  fs::create_directories(root_ / "empty");
  ModelFolder f = ScanModel(root_.string(), "empty");
  EXPECT_TRUE(f.exists);
  EXPECT_NE(f.problem.find("no version folders (1/, 2/, ...) and no config.json"), std::string::npos) << f.problem;
  Write(root_ / "bad/1/config.json", "{}");
  Write(root_ / "bad/serving.json", "{\"version_policy\": 3");
  f = ScanModel(root_.string(), "bad");
  EXPECT_NE(f.problem.find("serving.json: not a JSON object"), std::string::npos) << f.problem;
}

TEST_F(RepositoryFolder, SymlinksOutOfTheRepositoryAreNeverLoaded) {
  const fs::path outside = root_.string() + "-outside";
  fs::create_directories(outside / "1");
  std::ofstream(outside / "1/config.json") << "{}";
  Write(root_ / "m/1/config.json", "{}");
  fs::create_directory_symlink(outside / "1", root_ / "m/2");
  fs::create_directory_symlink(outside, root_ / "escaped");
  ModelFolder f = ScanModel(root_.string(), "m");
  ASSERT_EQ(f.versions.size(), 2u);
  EXPECT_TRUE(f.versions.at(1).problem.empty());
  EXPECT_NE(f.versions.at(2).problem.find("resolves outside the model repository"), std::string::npos);
  f = ScanModel(root_.string(), "escaped");
  EXPECT_NE(f.problem.find("resolves outside the model repository"), std::string::npos);
  // A link inside the repository is fine.
  fs::create_directory_symlink(root_ / "m/1", root_ / "m/5");
  f = ScanModel(root_.string(), "m");
  EXPECT_TRUE(f.versions.at(5).problem.empty()) << f.versions.at(5).problem;
  fs::remove_all(outside);
}

TEST_F(RepositoryFolder, FileSymlinksOutOfTheRepositoryAreNeverLoadedEither) {
  const fs::path outside = root_.string() + "-outside";
  fs::create_directories(outside);
  std::ofstream(outside / "model.safetensors") << "weights";
  Write(root_ / "m/1/config.json", "{}");
  fs::create_symlink(outside / "model.safetensors", root_ / "m/1/model.safetensors");
  const ModelFolder f = ScanModel(root_.string(), "m");
  EXPECT_NE(f.versions.at(1).problem.find("m/1/model.safetensors resolves outside the model repository"),
            std::string::npos)
      << f.versions.at(1).problem;
  fs::remove_all(outside);
}

TEST_F(RepositoryFolder, NamesThatAreNotUtf8AreIgnoredWithANoteThatIsPrintable) {
  fs::create_directories(root_ / "ok/1");
  fs::create_directories(root_ / "bad\xFF");
  Write(root_ / "m/1/config.json", "{}");
  fs::create_directories(root_ / "m/versi\xF3n");
  std::vector<std::string> notes;
  absl::StatusOr<std::vector<std::string>> names = ListModelNames(root_.string(), &notes);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"m", "ok"}));
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("bad\\xFF: a model name must be UTF-8 without control characters; ignored"), std::string::npos) << notes[0];
  const ModelFolder f = ScanModel(root_.string(), "m");
  ASSERT_EQ(f.notes.size(), 1u);
  EXPECT_NE(f.notes[0].find("versi\\xF3n: not a version number"), std::string::npos) << f.notes[0];
}

TEST_F(RepositoryFolder, ModelNamesMustBeWellFormedUtf8WithoutControlCharacters) {
  EXPECT_TRUE(ValidModelName("cls"));
  EXPECT_TRUE(ValidModelName("modèle-ü_2"));
  EXPECT_TRUE(ValidModelName("\xF0\x9F\x98\x80"));  // U+1F600
  for (const std::string& bad : {std::string(""), std::string(".hidden"), std::string("a/b"), std::string("cls\0x", 5),
                                std::string("a\nb"), std::string("a\x7F"), std::string("\xC0\x80"),  // overlong NUL
                                std::string("\xE0\x80\x80"), std::string("\xED\xA0\x80"),    // overlong, surrogate
                                std::string("\xF4\x90\x80\x80"), std::string("\xF5\x80\x80\x80"),  // above U+10FFFF
                                std::string("\xC3"), std::string("\xFF")}) {
    EXPECT_FALSE(ValidModelName(bad)) << Printable(bad);
  }
  EXPECT_EQ(Printable("modèle"), "modèle");
  EXPECT_EQ(Printable(std::string("a\0\xFF\n", 4)), "a\\x00\\xFF\\x0A");
  EXPECT_FALSE(ScanModel(root_.string(), std::string("cls\0x", 5)).exists);
  fs::create_directories(root_ / "cls");
  EXPECT_FALSE(ScanModel(root_.string(), std::string("cls\0x", 5)).exists) << "not read as cls";
}

TEST_F(RepositoryFolder, AServingJsonThatIsNoRegularFileOrTooLargeIsAProblemNotAHang) {
  Write(root_ / "m/1/config.json", "{}");
  ASSERT_EQ(mkfifo((root_ / "m/serving.json").c_str(), 0600), 0);  // opening it would block
  ModelFolder f = ScanModel(root_.string(), "m");
  EXPECT_NE(f.problem.find("serving.json: not a regular file"), std::string::npos) << f.problem;
  fs::remove(root_ / "m/serving.json");
  Write(root_ / "m/serving.json", "{" + std::string(2 << 20, ' ') + "}");
  f = ScanModel(root_.string(), "m");
  EXPECT_NE(f.problem.find("serving.json: larger than 1 MiB"), std::string::npos) << f.problem;
}

TEST_F(RepositoryFolder, ServingJsonIsPartOfEveryVersionsFingerprint) {
  Write(root_ / "m/1/config.json", "{}");
  const std::string before = ScanModel(root_.string(), "m").versions.at(1).fingerprint;
  Write(root_ / "m/serving.json", R"({"max_batch_size": 4})");
  EXPECT_NE(ScanModel(root_.string(), "m").versions.at(1).fingerprint, before) << "a settings change reloads";
}

TEST_F(RepositoryFolder, FingerprintChangesWithContentsAndOnlyThen) {
  Write(root_ / "m/1/config.json", "{}");
  Write(root_ / "m/1/model.safetensors", "abc");
  const std::string first = ScanModel(root_.string(), "m").versions.at(1).fingerprint;
  EXPECT_EQ(ScanModel(root_.string(), "m").versions.at(1).fingerprint, first);
  Write(root_ / "m/1/model.safetensors", "abcd");  // grows, as a copy in progress does
  const std::string second = ScanModel(root_.string(), "m").versions.at(1).fingerprint;
  EXPECT_NE(second, first);
  Write(root_ / "m/1/sub/extra.json", "{}");
  EXPECT_NE(ScanModel(root_.string(), "m").versions.at(1).fingerprint, second);
}

TEST_F(RepositoryFolder, AThousandEmptyVersionFoldersAreAllListed) {
  for (int v = 1; v <= 1000; ++v) fs::create_directories(root_ / "m" / std::to_string(v));
  const ModelFolder f = ScanModel(root_.string(), "m");
  EXPECT_EQ(f.versions.size(), 1000u);
  EXPECT_TRUE(f.problem.empty());
}

}  // namespace
}  // namespace beit::serving::repository
