#include "client/embedding_matrix.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

namespace beit::client {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Paths {
  std::string npy, index;
};

Paths FreshPaths(const std::string& name) {
  // The pid keeps concurrent runs of this test (ctest and a sanitizer pass) apart.
  const std::string stem = ::testing::TempDir() + "/embedding_matrix_test_" + std::to_string(getpid()) + "_" + name;
  Paths p{stem + ".npy", stem + ".index.txt"};
  fs::remove(p.npy);
  fs::remove(p.index);
  return p;
}

// NumPy (Debian's python3-numpy) loads the matrix; `check` is a Python expression on `a`.
void ExpectNumpy(const std::string& npy, const std::string& check) {
  const std::string command =
      "/usr/bin/python3 -c \"import numpy; a = numpy.load('" + npy + "'); assert " + check + ", (a.shape, a)\"";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
}

TEST(EmbeddingMatrix, GrowsARowAtATimeAndIsAValidNpyAfterEach) {
  const Paths p = FreshPaths("grow");
  auto matrix = EmbeddingMatrix::Open(p.npy, p.index, false);
  ASSERT_TRUE(matrix.ok()) << matrix.status();
  ExpectNumpy(p.npy, "a.shape == (0, 0)");
  ASSERT_EQ(*(*matrix)->Append("a.png", {1.f, 2.f, 3.f}), 0);
  ExpectNumpy(p.npy, "a.shape == (1, 3) and a[0, 2] == 3");
  ASSERT_EQ(*(*matrix)->Append("b.png", {4.f, 5.f, 6.5f}), 1);
  ExpectNumpy(p.npy, "a.shape == (2, 3) and a.dtype == numpy.float32 and a[1, 2] == 6.5");
  EXPECT_EQ(ReadAll(p.index), "a.png\nb.png\n");
  EXPECT_EQ(ReadAll(p.npy).size(), 128 + 6 * sizeof(float));
  const auto wrong = (*matrix)->Append("c.png", {1.f});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EmbeddingMatrix, ResumeContinuesAndCutsWhatAKillLeftHalfWritten) {
  const Paths p = FreshPaths("resume");
  {
    auto matrix = EmbeddingMatrix::Open(p.npy, p.index, false);
    ASSERT_TRUE(matrix.ok());
    ASSERT_TRUE((*matrix)->Append("a.png", {1.f, 2.f}).ok());
    ASSERT_TRUE((*matrix)->Append("b.png", {3.f, 4.f}).ok());
  }
  EXPECT_EQ(EmbeddingMatrix::Open(p.npy, p.index, false).status().code(), absl::StatusCode::kFailedPrecondition);
  // A kill after the data of a third row but before its index line, with half a fourth row.
  std::ofstream(p.npy, std::ios::app | std::ios::binary).write("\0\0\x80\x3f\0\0\0\x40\0\0", 10);
  auto matrix = EmbeddingMatrix::Open(p.npy, p.index, true);
  ASSERT_TRUE(matrix.ok()) << matrix.status();
  EXPECT_EQ((*matrix)->rows(), 2);
  ASSERT_EQ(*(*matrix)->Append("c.png", {5.f, 6.f}), 2);
  ExpectNumpy(p.npy, "a.shape == (3, 2) and a[2, 1] == 6 and a[1, 0] == 3");
  EXPECT_EQ(ReadAll(p.index), "a.png\nb.png\nc.png\n");
  EXPECT_EQ((*matrix)->Append("d.png", {1.f, 2.f, 3.f}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EmbeddingMatrix, APathAlreadyInTheMatrixKeepsItsRow) {
  const Paths p = FreshPaths("again");
  {
    auto matrix = EmbeddingMatrix::Open(p.npy, p.index, false);
    ASSERT_TRUE(matrix.ok());
    ASSERT_EQ(*(*matrix)->Append("a.png", {1.f, 2.f}), 0);
    ASSERT_EQ(*(*matrix)->Append("two\nlines.png", {3.f, 4.f}), 1);
  }
  // Resumed after a kill between b's row and its results record: b runs again.
  auto matrix = EmbeddingMatrix::Open(p.npy, p.index, true);
  ASSERT_TRUE(matrix.ok()) << matrix.status();
  EXPECT_EQ(*(*matrix)->Append("two\nlines.png", {3.f, 4.f}), 1);
  EXPECT_EQ(*(*matrix)->Append("c.png", {5.f, 6.f}), 2);
  EXPECT_EQ(*(*matrix)->Append("a.png", {1.f, 2.f}), 0);
  // Paths that differ only in what the index escapes keep rows of their own.
  EXPECT_EQ(*(*matrix)->Append("two lines.png", {7.f, 8.f}), 3);
  EXPECT_EQ(*(*matrix)->Append("two\\nlines.png", {9.f, 0.f}), 4);
  ExpectNumpy(p.npy, "a.shape == (5, 2)");
  EXPECT_EQ(ReadAll(p.index), "a.png\ntwo\\nlines.png\nc.png\ntwo lines.png\ntwo\\\\nlines.png\n");
}

TEST(EmbeddingMatrix, ResumeRefusesFilesFurtherApartThanAKillLeaves) {
  const Paths p = FreshPaths("apart");
  {
    auto matrix = EmbeddingMatrix::Open(p.npy, p.index, false);
    ASSERT_TRUE(matrix.ok());
    for (const char* name : {"a", "b", "c"}) ASSERT_TRUE((*matrix)->Append(name, {1.f}).ok());
  }
  const std::string index = ReadAll(p.index);
  fs::remove(p.index);
  auto refused = EmbeddingMatrix::Open(p.npy, p.index, true);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("index"), std::string::npos) << refused.status();
  EXPECT_NE(refused.status().message().find("missing"), std::string::npos) << refused.status();
  std::ofstream(p.index) << "a\n";  // two lines short
  refused = EmbeddingMatrix::Open(p.npy, p.index, true);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("losing rows"), std::string::npos) << refused.status();
  ExpectNumpy(p.npy, "a.shape == (3, 1)");  // left as it was
  std::ofstream(p.index) << index;
  EXPECT_TRUE(EmbeddingMatrix::Open(p.npy, p.index, true).ok());
  // The matrix removed, its index kept: starting again would renumber the recorded rows.
  fs::remove(p.npy);
  for (const bool resume : {true, false}) {
    refused = EmbeddingMatrix::Open(p.npy, p.index, resume);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(refused.status().message().find("is missing"), std::string::npos) << refused.status();
    EXPECT_EQ(ReadAll(p.index), index) << "the index is left as it was";
    EXPECT_FALSE(fs::exists(p.npy));
  }
}

TEST(EmbeddingMatrix, AFailedWriteEndsAppendingAndResumeCutsItsTail) {
  const Paths p = FreshPaths("full");
  const std::vector<float> row(64, 1.f);  // 256 bytes
  {
    auto matrix = EmbeddingMatrix::Open(p.npy, p.index, false);
    ASSERT_TRUE(matrix.ok());
    ASSERT_TRUE((*matrix)->Append("a", row).ok());
    // The disk fills up: files may not grow past 128 + 1.5 rows.
    rlimit saved{};
    getrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, SIG_IGN);
    rlimit small = saved;
    small.rlim_cur = 128 + 384;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
    const auto failed = (*matrix)->Append("b", row);
    const auto after = (*matrix)->Append("c", {2.f});  // fits, but must not be written
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, SIG_DFL);
    EXPECT_EQ(failed.status().code(), absl::StatusCode::kDataLoss) << failed.status();
    EXPECT_EQ(after.status(), failed.status());
    EXPECT_EQ((*matrix)->write_error(), failed.status());
  }
  auto matrix = EmbeddingMatrix::Open(p.npy, p.index, true);
  ASSERT_TRUE(matrix.ok()) << matrix.status();
  EXPECT_EQ((*matrix)->rows(), 1);
  ASSERT_EQ(*(*matrix)->Append("b", row), 1);
  ExpectNumpy(p.npy, "a.shape == (2, 64)");
  EXPECT_EQ(ReadAll(p.index), "a\nb\n");
}

TEST(EmbeddingMatrix, ResumeRefusesAFileItDidNotWrite) {
  const Paths p = FreshPaths("foreign");
  std::ofstream(p.npy) << "not an npy file at all, but long enough to hold a header of 128 bytes......................"
                          "..............................................";
  EXPECT_EQ(EmbeddingMatrix::Open(p.npy, p.index, true).status().code(), absl::StatusCode::kFailedPrecondition);
  // A header of ours with a shape no run writes.
  for (const std::string shape : {"(-1, 4)", "(2, -4)", "(2,)", "(x, 4)", "fortran"}) {
    std::string header = NpyMatrixHeader(0, 0);
    if (shape == "fortran") {
      header.replace(header.find("False"), 5, "True ");  // column-major data is not ours to append to
    } else {
      header.replace(header.find("(0, 0)"), 6, shape);
    }
    std::ofstream(p.npy, std::ios::binary) << header;
    EXPECT_EQ(EmbeddingMatrix::Open(p.npy, p.index, true).status().code(), absl::StatusCode::kFailedPrecondition) << shape;
  }
}

TEST(EmbeddingMatrix, ConcurrentAppendsKeepRowsAndIndexInStep) {
  const Paths p = FreshPaths("concurrent");
  auto matrix = EmbeddingMatrix::Open(p.npy, p.index, false);
  ASSERT_TRUE(matrix.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const float v = static_cast<float>(t * 1000 + i);
        ASSERT_TRUE((*matrix)->Append(std::to_string(static_cast<int>(v)), {v, v, v}).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  // Row i's values name the path on line i.
  const std::string command = "/usr/bin/python3 -c \"import numpy; a = numpy.load('" + p.npy + "'); names = open('" +
                              p.index + "').read().split(); assert a.shape == (200, 3) and "
                              "all(int(n) == a[i, 0] == a[i, 2] for i, n in enumerate(names))\"";
  EXPECT_EQ(std::system(command.c_str()), 0);
}

}  // namespace
}  // namespace beit::client
