// The Open Inference Protocol's protocol-neutral helpers: datatype sizes, element counts, Triton's
// BYTES serialisation, raw tensor contents and typed parameters.
#include "proto/open_inference/inference_types.h"

#include <gtest/gtest.h>

namespace beit::serving::open_inference {
namespace {

// A length prefix as Triton writes it: 4 bytes, little-endian.
std::string Prefix(uint32_t n) {
  return std::string{static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                     static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 24) & 0xff)};
}

void ExpectInvalid(const absl::Status& status, const std::string& a, const std::string& b = "") {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  const std::string message(status.message());
  EXPECT_NE(message.find(a), std::string::npos) << message;
  EXPECT_NE(message.find(b), std::string::npos) << message;
}

TEST(DatatypeTest, Sizes) {
  const std::vector<std::pair<std::string, size_t>> sizes = {
      {"BOOL", 1},  {"UINT8", 1}, {"UINT16", 2}, {"UINT32", 4}, {"UINT64", 8}, {"INT8", 1},  {"INT16", 2},
      {"INT32", 4}, {"INT64", 8}, {"FP16", 2},   {"BF16", 2},   {"FP32", 4},   {"FP64", 8}};
  for (const auto& [name, size] : sizes) {
    EXPECT_EQ(DatatypeSize(name), size) << name;
    EXPECT_TRUE(IsKnownDatatype(name)) << name;
  }
  EXPECT_EQ(DatatypeSize("BYTES"), std::nullopt);
  EXPECT_TRUE(IsKnownDatatype("BYTES"));
  for (const char* unknown : {"fp32", "FLOAT", "STRING", ""}) {
    EXPECT_EQ(DatatypeSize(unknown), std::nullopt) << unknown;
    EXPECT_FALSE(IsKnownDatatype(unknown)) << unknown;
  }
}

TEST(ElementCountTest, Products) {
  EXPECT_EQ(*ElementCount({}, "x"), 1);  // a scalar
  EXPECT_EQ(*ElementCount({1, 3, 224, 224}, "x"), 150528);
  EXPECT_EQ(*ElementCount({4, 0, 7}, "x"), 0);
  EXPECT_EQ(*ElementCount({int64_t{1} << 40}, "x"), int64_t{1} << 40);
  // Zero elements however large the other dimensions are.
  EXPECT_EQ(*ElementCount({int64_t{1} << 62, 0}, "x"), 0);
}

TEST(ElementCountTest, NegativeDimension) {
  ExpectInvalid(ElementCount({2, -1, 3}, "pixel_values").status(), "'pixel_values'", "negative");
}

TEST(ElementCountTest, Overflow) {
  ExpectInvalid(ElementCount({(int64_t{1} << 40) + 1}, "image").status(), "'image'", "2^40");
  ExpectInvalid(ElementCount({1 << 20, 1 << 20, 2}, "image").status(), "'image'", "2^40");
  // Would wrap an int64 if multiplied unchecked.
  ExpectInvalid(ElementCount({int64_t{1} << 32, int64_t{1} << 32, 16}, "image").status(), "2^40");
  ExpectInvalid(ElementCount({INT64_MAX, INT64_MAX}, "image").status(), "2^40");
}

TEST(BytesTest, RoundTrip) {
  const std::string binary("\0\xff\x01\x80 \n", 6);
  const std::vector<std::string> elements = {"", "abc", binary, "", std::string(300, 'z')};
  const std::string data = SerializeBytesElements(elements);
  EXPECT_EQ(data.size(), 5 * 4 + 3 + 6 + 300);
  EXPECT_EQ(data.substr(0, 4), Prefix(0));
  EXPECT_EQ(data.substr(4, 7), Prefix(3) + "abc");
  EXPECT_EQ(data.substr(data.size() - 304, 4), Prefix(300));
  absl::StatusOr<std::vector<std::string>> back = DeserializeBytesElements(data, 5, "x");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, elements);
  EXPECT_EQ(*DeserializeBytesElements(data, -1, "x"), elements);
}

TEST(BytesTest, Empty) {
  EXPECT_EQ(SerializeBytesElements({}), "");
  EXPECT_TRUE(DeserializeBytesElements("", 0, "x")->empty());
  EXPECT_TRUE(DeserializeBytesElements("", -1, "x")->empty());
  EXPECT_EQ(*DeserializeBytesElements(Prefix(0), 1, "x"), std::vector<std::string>{""});
}

TEST(BytesTest, LengthRunsPastTheEnd) {
  const std::string data = Prefix(1) + "a" + Prefix(2) + "bc" + Prefix(5000) + std::string(12, 'q');
  ExpectInvalid(DeserializeBytesElements(data, 3, "image").status(),
                "input 'image': element 2: length prefix says 5000 bytes but only 12 remain");
  // A length that would wrap a 32-bit position.
  ExpectInvalid(DeserializeBytesElements(Prefix(0xffffffffu) + "ab", -1, "image").status(),
                "element 0: length prefix says 4294967295 bytes but only 2 remain");
}

TEST(BytesTest, EndsInsideLengthPrefix) {
  const std::string data = Prefix(0) + Prefix(1) + "a" + Prefix(0) + std::string("\x02\x00", 2);
  ExpectInvalid(DeserializeBytesElements(data, -1, "image").status(),
                "input 'image': data ends inside element 3's 4-byte length prefix");
  ExpectInvalid(DeserializeBytesElements("\x01", -1, "image").status(), "'image'",
                "element 0's 4-byte length prefix");
}

TEST(BytesTest, CountDiffersFromShape) {
  const std::string two = SerializeBytesElements({"a", "b"});
  ExpectInvalid(DeserializeBytesElements(two, 3, "image").status(),
                "input 'image': holds 2 elements but its shape says 3");
  ExpectInvalid(DeserializeBytesElements(two, 1, "image").status(), "holds 2 elements but its shape says 1");
  ExpectInvalid(DeserializeBytesElements("", 1, "image").status(), "holds 0 elements but its shape says 1");
}

TEST(SetTensorFromRawTest, Fp32) {
  InferTensor t{"pixel_values", "FP32", {1, 3, 2, 2}, {}, {}, {}};
  const std::string raw(48, '\x01');
  ASSERT_TRUE(SetTensorFromRaw(t, raw).ok());
  EXPECT_EQ(t.raw, raw);
  EXPECT_TRUE(t.elements.empty());
  EXPECT_EQ(TensorToRaw(t), raw);

  InferTensor big{"pixel_values", "FP32", {1, 3, 224, 224}, {}, {}, {}};
  ExpectInvalid(SetTensorFromRaw(big, std::string(100, '\0')),
                "input 'pixel_values': FP32 [1,3,224,224] needs 602112 bytes, got 100");
  EXPECT_TRUE(big.raw.empty());  // left untouched on failure
  ExpectInvalid(SetTensorFromRaw(t, std::string(52, '\0')), "needs 48 bytes, got 52");
}

TEST(SetTensorFromRawTest, Bool) {
  InferTensor t{"bool_masked_pos", "BOOL", {1, 4}, {}, {}, {}};
  const std::string good("\0\1\1\0", 4);
  ASSERT_TRUE(SetTensorFromRaw(t, good).ok());
  EXPECT_EQ(t.raw, good);
  ExpectInvalid(SetTensorFromRaw(t, std::string("\0\1", 2)), "'bool_masked_pos'", "needs 4 bytes, got 2");
  ExpectInvalid(SetTensorFromRaw(t, std::string("\0\1\2\0", 4)), "'bool_masked_pos'", "element 2 is byte 2");
  EXPECT_EQ(t.raw, good);
}

TEST(SetTensorFromRawTest, Bytes) {
  InferTensor t{"image", "BYTES", {2, 1}, {}, {}, {}};
  const std::string data = SerializeBytesElements({"jpeg", std::string("\x89PNG\0", 5)});
  ASSERT_TRUE(SetTensorFromRaw(t, data).ok());
  EXPECT_EQ(t.elements, (std::vector<std::string>{"jpeg", std::string("\x89PNG\0", 5)}));
  EXPECT_TRUE(t.raw.empty());
  EXPECT_EQ(TensorToRaw(t), data);

  ExpectInvalid(SetTensorFromRaw(t, SerializeBytesElements({"a", "b", "c"})),
                "input 'image': holds 3 elements but its shape says 2");
  ExpectInvalid(SetTensorFromRaw(t, data.substr(0, data.size() - 1)), "'image': element 1: length prefix");
}

TEST(SetTensorFromRawTest, BadDatatypeOrShape) {
  InferTensor t{"pixel_values", "FLOAT32", {1}, {}, {}, {}};
  ExpectInvalid(SetTensorFromRaw(t, "abcd"), "'pixel_values'", "FLOAT32");
  ExpectInvalid(SetTensorFromRaw(t, "abcd"), "FP32");  // the known datatypes are listed
  ExpectInvalid(SetTensorFromRaw(t, "abcd"), "BYTES");
  InferTensor negative{"pixel_values", "FP32", {-1, 3}, {}, {}, {}};
  ExpectInvalid(SetTensorFromRaw(negative, ""), "'pixel_values'", "negative");
}

TEST(ParameterTest, Getters) {
  const InferParameters p = {{"seed", int64_t{7}}, {"ratio", 0.5}, {"flag", true}, {"name", std::string("x")}};
  EXPECT_EQ(*GetIntParameter(p, "seed"), 7);
  EXPECT_EQ(*GetDoubleParameter(p, "ratio"), 0.5);
  EXPECT_EQ(*GetDoubleParameter(p, "seed"), 7.0);  // an int64 serves where a double is asked
  EXPECT_EQ(*GetBoolParameter(p, "flag"), true);
  EXPECT_EQ(*GetIntParameter(p, "absent"), std::nullopt);
  EXPECT_EQ(*GetDoubleParameter(p, "absent"), std::nullopt);
  EXPECT_EQ(*GetBoolParameter(p, "absent"), std::nullopt);

  const InferParameters wrong = {{"seed", std::string("7")}};
  ExpectInvalid(GetIntParameter(wrong, "seed").status(), "parameter 'seed' must be an int64, got a string");
  ExpectInvalid(GetIntParameter(p, "ratio").status(), "parameter 'ratio' must be an int64, got a double");
  ExpectInvalid(GetDoubleParameter(p, "flag").status(), "parameter 'flag' must be a double, got a bool");
  ExpectInvalid(GetBoolParameter(p, "seed").status(), "parameter 'seed' must be a bool, got an int64");
}

}  // namespace
}  // namespace beit::serving::open_inference
