#include "model/io/safetensors.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <unistd.h>
#include <fstream>

#include "model/model_error.h"

namespace beit {
namespace {

class SafetensorsTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) {
    auto dir = std::filesystem::temp_directory_path() / ("safetensors_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return (dir / name).string();
  }

  // Writes an 8-byte length (declared_len, or the real one), the header text and `data`.
  std::string WriteRaw(const std::string& name, const std::string& header, const std::string& data,
                       int64_t declared_len = -1) {
    std::string path = Path(name);
    std::ofstream out(path, std::ios::binary);
    uint64_t len = declared_len < 0 ? header.size() : static_cast<uint64_t>(declared_len);
    out.write(reinterpret_cast<const char*>(&len), 8);
    out << header << data;
    return path;
  }

  std::string OpenError(const std::string& path) {
    try {
      SafetensorsFile::Open(path);
    } catch (const ModelError& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(SafetensorsTest, RoundTripsF32AndLabels) {
  std::vector<float> values = {1.5f, -2.f, 3.25f, 0.f, 7.f, 8.f};
  std::vector<int32_t> labels = {3, 1};
  std::string path = Path("roundtrip.safetensors");
  WriteSafetensors(path, {{"a", DType::kF32, {2, 3}, values.data()}, {"m", DType::kI32, {2}, labels.data()}});
  SafetensorsFile f = SafetensorsFile::Open(path);
  ASSERT_EQ(f.tensors().size(), 2u);
  Tensor a = f.ReadFloat(*f.Find("a"));
  EXPECT_EQ(a.shape, (Shape{2, 3}));
  EXPECT_EQ(a.data, values);
  std::vector<uint8_t> raw = f.ReadBytes(*f.Find("m"));
  int32_t back[2];
  std::memcpy(back, raw.data(), 8);
  EXPECT_EQ(back[0], 3);
  EXPECT_EQ(back[1], 1);
}

TEST_F(SafetensorsTest, ConvertsF16AndBF16Storage) {
  // F16: 1.0, -2.0, smallest subnormal, 65504; BF16: 1.0, -0.5
  const uint16_t f16[] = {0x3C00, 0xC000, 0x0001, 0x7BFF};
  const uint16_t bf16[] = {0x3F80, 0xBF00};
  std::string data(reinterpret_cast<const char*>(f16), 8);
  data.append(reinterpret_cast<const char*>(bf16), 4);
  std::string path = WriteRaw("halves.safetensors",
                              R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},)"
                              R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}})",
                              data);
  SafetensorsFile f = SafetensorsFile::Open(path);
  Tensor h = f.ReadFloat(*f.Find("h"));
  EXPECT_EQ(h.data[0], 1.f);
  EXPECT_EQ(h.data[1], -2.f);
  EXPECT_FLOAT_EQ(h.data[2], 5.9604645e-8f);
  EXPECT_EQ(h.data[3], 65504.f);
  Tensor b = f.ReadFloat(*f.Find("b"));
  EXPECT_EQ(b.data[0], 1.f);
  EXPECT_EQ(b.data[1], -0.5f);
}

TEST_F(SafetensorsTest, ZeroLengthFileIsTruncated) {
  std::string path = Path("empty.safetensors");
  std::ofstream(path).close();
  EXPECT_NE(OpenError(path).find("truncated"), std::string::npos);
}

TEST_F(SafetensorsTest, HeaderLengthBeyondFileSize) {
  std::string path = WriteRaw("long.safetensors", "{}", "", 1 << 20);
  EXPECT_NE(OpenError(path).find("exceeds the file size"), std::string::npos);
  std::string huge = WriteRaw("huge.safetensors", "{}", "", int64_t{1} << 62);
  EXPECT_NE(OpenError(huge).find("exceeds the file size"), std::string::npos);
}

TEST_F(SafetensorsTest, TruncatedHeaderJson) {
  std::string path = WriteRaw("badjson.safetensors", R"({"a":{"dtype":"F32","sha)", "");
  EXPECT_NE(OpenError(path).find("not valid JSON"), std::string::npos);
}

TEST_F(SafetensorsTest, UnsupportedDtypeNamesTheTensor) {
  std::string path = WriteRaw("dtype.safetensors", R"({"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})",
                              std::string(8, '\0'));
  std::string err = OpenError(path);
  EXPECT_NE(err.find("'w'"), std::string::npos);
  EXPECT_NE(err.find("unsupported dtype"), std::string::npos);
}

TEST_F(SafetensorsTest, DataBeyondTheFileIsAnError) {
  std::string path = WriteRaw("short.safetensors", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                              std::string(8, '\0'));
  std::string err = OpenError(path);
  EXPECT_NE(err.find("'w'"), std::string::npos);
  EXPECT_NE(err.find("outside"), std::string::npos);
}

TEST_F(SafetensorsTest, ShapeAndByteCountMustAgree) {
  std::string path = WriteRaw("size.safetensors", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                              std::string(8, '\0'));
  EXPECT_NE(OpenError(path).find("needs 12"), std::string::npos);
}

TEST_F(SafetensorsTest, OverlappingTensorsAreRejected) {
  std::string path = WriteRaw("overlap.safetensors",
                              R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                              std::string(12, '\0'));
  EXPECT_NE(OpenError(path).find("overlap"), std::string::npos);
}

TEST_F(SafetensorsTest, NegativeDimensionIsRejected) {
  std::string path = WriteRaw("neg.safetensors", R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", "");
  EXPECT_NE(OpenError(path).find("shape"), std::string::npos);
}

TEST_F(SafetensorsTest, IntegerTensorIsNotReadAsFloat) {
  std::string path = WriteRaw("int.safetensors", R"({"n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})",
                              std::string(8, '\0'));
  SafetensorsFile f = SafetensorsFile::Open(path);
  try {
    f.ReadFloat(*f.Find("n"));
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("'n'"), std::string::npos);
  }
}

TEST_F(SafetensorsTest, MissingFileNamesThePath) {
  EXPECT_NE(OpenError("/nonexistent/model.safetensors").find("/nonexistent/model.safetensors"), std::string::npos);
}

}  // namespace
}  // namespace beit

namespace beit {
namespace {

// Found by safetensors_fuzzer: reading a zero-element F32 tensor passed a null pointer to memcpy.
TEST(SafetensorsFromBytes, EmptyTensorsReadAsEmpty) {
  const std::string header = R"({"empty":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]}})";
  std::vector<uint8_t> bytes(8 + header.size());
  const uint64_t length = header.size();
  std::memcpy(bytes.data(), &length, 8);
  std::memcpy(bytes.data() + 8, header.data(), header.size());
  const SafetensorsFile file = SafetensorsFile::FromBytes("memory", bytes);
  const Tensor t = file.ReadFloat(*file.Find("empty"));
  EXPECT_EQ(t.shape, (Shape{0, 4}));
  EXPECT_TRUE(t.data.empty());
}

TEST(SafetensorsFromBytes, ValidatesLikeOpen) {
  EXPECT_THROW(SafetensorsFile::FromBytes("memory", {1, 2, 3}), ModelError);
  std::vector<uint8_t> bytes(8, 0xff);  // a header length far beyond the data
  EXPECT_THROW(SafetensorsFile::FromBytes("memory", bytes), ModelError);
}

}  // namespace
}  // namespace beit
