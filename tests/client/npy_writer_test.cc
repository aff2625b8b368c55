#include "client/npy_writer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace beit::client {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(WriteNpy, HeaderIsAlignedAndNumpyReadsIt) {
  const std::string path = ::testing::TempDir() + "/npy_writer_test.npy";
  WriteNpy(path, {2, 3}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.5f});
  const std::string bytes = ReadAll(path);
  ASSERT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header = static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8;
  EXPECT_EQ((10 + header) % 64, 0u);
  EXPECT_EQ(bytes.size(), 10 + header + 6 * sizeof(float));
  EXPECT_NE(bytes.find("'shape': (2, 3)"), std::string::npos);
  // NumPy itself (Debian's python3-numpy) reads it back.
  const std::string command = "/usr/bin/python3 -c \"import numpy; a = numpy.load('" + path +
                              "'); assert a.shape == (2, 3) and a.dtype == numpy.float32 and a[1, 2] == 6.5\"";
  EXPECT_EQ(std::system(command.c_str()), 0);
  WriteNpy(path, {4}, {1.f, 2.f, 3.f, 4.f});
  EXPECT_NE(ReadAll(path).find("'shape': (4,)"), std::string::npos);
  std::remove(path.c_str());
}

TEST(WriteNpy, RejectsAShapeThatDoesNotFit) {
  EXPECT_THROW(WriteNpy(::testing::TempDir() + "/bad.npy", {2, 2}, {1.f}), std::runtime_error);
}

}  // namespace
}  // namespace beit::client
