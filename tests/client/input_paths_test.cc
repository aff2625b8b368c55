#include "client/input_paths.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace beit::client {
namespace {

namespace fs = std::filesystem;

class InputPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "input_paths_test_" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    for (const char* file : {"b.png", "a.JPG", "notes.txt", "sub/c.jpeg", "sub/deeper/d.png", "other/e.png"}) {
      const fs::path path = fs::path(root_) / file;
      fs::create_directories(path.parent_path());
      std::ofstream(path) << "x";
    }
  }
  std::string Path(const std::string& relative) const { return root_ + "/" + relative; }
  std::string root_;
};

TEST_F(InputPathsTest, DirectoriesGiveTheirImagesRecursivelyInSortedOrder) {
  const auto paths = ExpandInputs({Path("")});
  ASSERT_TRUE(paths.ok()) << paths.status();
  // notes.txt is not an image; the extension check ignores case.
  EXPECT_EQ(*paths, (std::vector<std::string>{Path("a.JPG"), Path("b.png"), Path("other/e.png"), Path("sub/c.jpeg"),
                                              Path("sub/deeper/d.png")}));
}

TEST_F(InputPathsTest, GlobsListsAndPlainPathsKeepTheirOrderAndEachPathComesOnce) {
  {
    std::ofstream list(Path("list.txt"));
    list << "# a comment\n\n  " << Path("b.png") << "  \n" << Path("missing.png") << "\n" << Path("other") << "\n";
  }
  const auto paths = ExpandInputs({Path("sub/*/*.png"), "@" + Path("list.txt"), Path("b.png"), Path("*.png")});
  ASSERT_TRUE(paths.ok()) << paths.status();
  // A path that does not exist is kept: reading it is that file's error in the results.
  EXPECT_EQ(*paths, (std::vector<std::string>{Path("sub/deeper/d.png"), Path("b.png"), Path("missing.png"),
                                              Path("other/e.png")}));
}

TEST_F(InputPathsTest, AGlobMatchingADirectoryExpandsIt) {
  const auto paths = ExpandInputs({Path("su?")});
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_EQ(*paths, (std::vector<std::string>{Path("sub/c.jpeg"), Path("sub/deeper/d.png")}));
}

TEST_F(InputPathsTest, ErrorsNameTheirInput) {
  auto paths = ExpandInputs({Path("*.gif")});
  EXPECT_EQ(paths.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(paths.status().message().find("matches no files"), std::string::npos) << paths.status();
  paths = ExpandInputs({"@" + Path("no-such-list.txt")});
  EXPECT_EQ(paths.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(paths.status().message().find("cannot read the list file"), std::string::npos) << paths.status();
  std::ofstream(Path("nested.txt")) << "@" << Path("list.txt") << "\n";
  paths = ExpandInputs({"@" + Path("nested.txt")});
  EXPECT_EQ(paths.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(paths.status().message().find("cannot name another"), std::string::npos) << paths.status();
}

TEST_F(InputPathsTest, SymlinkCyclesEndAndDanglingLinksAreSkipped) {
  const std::string outside = root_ + "_outside";
  fs::remove_all(outside);
  fs::create_directories(outside);
  std::ofstream(outside + "/f.png") << "x";
  fs::create_directory_symlink("..", Path("sub/loop"));                  // a cycle back to the root
  fs::create_directory_symlink(outside, Path("linked"));                 // a real directory elsewhere
  fs::create_symlink(Path("gone.png"), Path("dangling.png"));            // points at nothing
  const auto paths = ExpandInputs({Path("")});
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_EQ(*paths, (std::vector<std::string>{Path("a.JPG"), Path("b.png"), Path("linked/f.png"), Path("other/e.png"),
                                              Path("sub/c.jpeg"), Path("sub/deeper/d.png")}));
}

TEST(OutputName, IsTheRelativePathPlusPngWithoutDotDot) {
  EXPECT_EQ(OutputName("shoes/a.jpg"), "shoes/a.jpg.png");
  EXPECT_EQ(OutputName("/data/shoes/a.jpg"), "data/shoes/a.jpg.png");
  EXPECT_EQ(OutputName("./x/../../y/b.png"), "y/b.png.png");
  EXPECT_NE(OutputName("a.jpg"), OutputName("a.png"));
}

}  // namespace
}  // namespace beit::client
