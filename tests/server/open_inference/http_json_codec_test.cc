// The HTTP/REST bodies of the Open Inference Protocol: JSON requests of every datatype the server
// uses, parameters, Triton's binary data extension, every error path, responses in JSON and
// binary form, metadata and error bodies, and the status mapping.
#include "server/open_inference/http_json_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace beit::serving::open_inference {
namespace {

using nlohmann::json;

std::string FloatsRaw(const std::vector<float>& values) {
  std::string raw;
  for (float f : values) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    for (int i = 0; i < 4; ++i) raw.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  }
  return raw;
}

std::string Int64Raw(const std::vector<int64_t>& values) {
  std::string raw;
  for (int64_t v : values) {
    const auto u = static_cast<uint64_t>(v);
    for (int i = 0; i < 8; ++i) raw.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
  return raw;
}

std::string Int32Raw(const std::vector<int32_t>& values) {
  std::string raw;
  for (int32_t v : values) {
    const auto u = static_cast<uint32_t>(v);
    for (int i = 0; i < 4; ++i) raw.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
  return raw;
}

// A BYTES element's 4-byte little-endian length prefix.
std::string Le32(uint32_t n) {
  return {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff), static_cast<char>((n >> 16) & 0xff),
          static_cast<char>(n >> 24)};
}

std::string U16Raw(const std::vector<uint16_t>& values) {
  std::string raw;
  for (uint16_t v : values) {
    raw.push_back(static_cast<char>(v & 0xff));
    raw.push_back(static_cast<char>(v >> 8));
  }
  return raw;
}

absl::StatusOr<InferRequest> Parse(const std::string& body) { return ParseInferRequest(body, std::nullopt); }

// A request of one input with the given datatype, shape and data (as JSON text).
std::string OneInput(const std::string& datatype, const std::string& shape, const std::string& data) {
  return R"({"inputs":[{"name":"x","datatype":")" + datatype + R"(","shape":)" + shape + R"(,"data":)" + data + "}]}";
}

void ExpectInvalid(const absl::StatusOr<InferRequest>& r, const std::string& fragment) {
  ASSERT_FALSE(r.ok()) << "expected an error containing: " << fragment;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_NE(std::string(r.status().message()).find(fragment), std::string::npos)
      << "message: " << r.status().message() << "\nexpected: " << fragment;
}

// ---- JSON requests ----

TEST(HttpJsonCodec, ParsesTheWholeRequest) {
  absl::StatusOr<InferRequest> r = Parse(R"({
    "id": "req-7",
    "parameters": {"mask_ratio": 0.4, "seed": 3, "flag": true, "note": "hi"},
    "inputs": [{"name": "pixel_values", "datatype": "FP32", "shape": [1, 2, 2],
                "parameters": {"p": 1}, "data": [[[1.5, -2], [0.1, 3e2]]]}],
    "outputs": [{"name": "probabilities", "parameters": {"classification": 2}}, {"name": "logits"}],
    "model_name": "ignored"
  })");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "req-7");
  EXPECT_TRUE(r->model_name.empty());
  EXPECT_TRUE(r->model_version.empty());
  EXPECT_EQ(std::get<double>(r->parameters.at("mask_ratio")), 0.4);
  EXPECT_EQ(std::get<int64_t>(r->parameters.at("seed")), 3);
  EXPECT_EQ(std::get<bool>(r->parameters.at("flag")), true);
  EXPECT_EQ(std::get<std::string>(r->parameters.at("note")), "hi");
  ASSERT_EQ(r->inputs.size(), 1u);
  const InferTensor& x = r->inputs[0];
  EXPECT_EQ(x.name, "pixel_values");
  EXPECT_EQ(x.datatype, "FP32");
  EXPECT_EQ(x.shape, (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(std::get<int64_t>(x.parameters.at("p")), 1);
  EXPECT_EQ(x.raw, FloatsRaw({1.5f, -2.f, 0.1f, 300.f}));  // nested, row-major
  EXPECT_TRUE(x.elements.empty());
  ASSERT_EQ(r->outputs.size(), 2u);
  EXPECT_EQ(r->outputs[0].name, "probabilities");
  EXPECT_EQ(std::get<int64_t>(r->outputs[0].parameters.at("classification")), 2);
  EXPECT_EQ(r->outputs[1].name, "logits");
  EXPECT_TRUE(r->outputs[1].parameters.empty());
}

TEST(HttpJsonCodec, IdParametersAndOutputsAreOptional) {
  absl::StatusOr<InferRequest> r = Parse(OneInput("FP32", "[2]", "[1, 2]"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->id.empty());
  EXPECT_TRUE(r->parameters.empty());
  EXPECT_TRUE(r->outputs.empty());
  absl::StatusOr<InferRequest> empty = Parse(R"({"inputs": []})");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->inputs.empty());
}

TEST(HttpJsonCodec, FlatAndNestedDataAreTheSame) {
  absl::StatusOr<InferRequest> flat = Parse(OneInput("FP32", "[2,3]", "[1,2,3,4,5,6]"));
  absl::StatusOr<InferRequest> nested = Parse(OneInput("FP32", "[2,3]", "[[1,2,3],[4,5,6]]"));
  ASSERT_TRUE(flat.ok() && nested.ok());
  EXPECT_EQ(flat->inputs[0].raw, nested->inputs[0].raw);
  EXPECT_EQ(flat->inputs[0].raw, FloatsRaw({1, 2, 3, 4, 5, 6}));
}

TEST(HttpJsonCodec, FP32RoundsDoublesToNearestAndKeepsFloatMax) {
  absl::StatusOr<InferRequest> r = Parse(OneInput("FP32", "[3]", "[0.1, 3.4028235e38, -1e-50]"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inputs[0].raw, FloatsRaw({0.1f, std::numeric_limits<float>::max(), -0.f}));
  ExpectInvalid(Parse(OneInput("FP32", "[1]", "[3.5e38]")), "input 'x': element 0 is out of the range of FP32");
}

TEST(HttpJsonCodec, BytesAreStrings) {
  absl::StatusOr<InferRequest> r = Parse(OneInput("BYTES", "[3]", R"(["abc", "", "h\u00e9\n"])"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inputs[0].elements, (std::vector<std::string>{"abc", "", "h\xc3\xa9\n"}));
  EXPECT_TRUE(r->inputs[0].raw.empty());
  absl::StatusOr<InferRequest> nested = Parse(OneInput("BYTES", "[2,1]", R"([["a"],["b"]])"));
  ASSERT_TRUE(nested.ok()) << nested.status();
  EXPECT_EQ(nested->inputs[0].elements, (std::vector<std::string>{"a", "b"}));
}

TEST(HttpJsonCodec, BoolIsOneByte) {
  absl::StatusOr<InferRequest> r = Parse(OneInput("BOOL", "[1,4]", "[[true, false, false, true]]"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inputs[0].raw, std::string("\x01\x00\x00\x01", 4));
}

TEST(HttpJsonCodec, IntegersInTheirRanges) {
  absl::StatusOr<InferRequest> r =
      Parse(OneInput("INT64", "[4]", "[-1, 0, 9223372036854775807, -9223372036854775808]"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inputs[0].raw, Int64Raw({-1, 0, INT64_MAX, INT64_MIN}));
  absl::StatusOr<InferRequest> i32 = Parse(OneInput("INT32", "[2]", "[-2, 2147483647]"));
  ASSERT_TRUE(i32.ok()) << i32.status();
  EXPECT_EQ(i32->inputs[0].raw, Int32Raw({-2, INT32_MAX}));
  absl::StatusOr<InferRequest> u8 = Parse(OneInput("UINT8", "[2]", "[0, 255]"));
  ASSERT_TRUE(u8.ok()) << u8.status();
  EXPECT_EQ(u8->inputs[0].raw, std::string("\x00\xff", 2));
  absl::StatusOr<InferRequest> u64 = Parse(OneInput("UINT64", "[1]", "[18446744073709551615]"));
  ASSERT_TRUE(u64.ok()) << u64.status();
  EXPECT_EQ(u64->inputs[0].raw, std::string(8, '\xff'));

  ExpectInvalid(Parse(OneInput("INT64", "[1]", "[9223372036854775808]")), "element 0 is out of the range of INT64");
  ExpectInvalid(Parse(OneInput("INT8", "[2]", "[1, 128]")), "input 'x': element 1 is out of the range of INT8");
  ExpectInvalid(Parse(OneInput("INT8", "[1]", "[-129]")), "element 0 is out of the range of INT8");
  ExpectInvalid(Parse(OneInput("UINT8", "[1]", "[-1]")), "element 0 is out of the range of UINT8");
  ExpectInvalid(Parse(OneInput("INT32", "[1]", "[2147483648]")), "out of the range of INT32");
}

TEST(HttpJsonCodec, HalfAndBfloat16RoundToNearestEven) {
  absl::StatusOr<InferRequest> half =
      Parse(OneInput("FP16", "[6]", "[1, -2.5, 65504, 0.000000059604645, 1.00048828125, 0]"));
  ASSERT_TRUE(half.ok()) << half.status();
  // 1.00048828125 is halfway between 1 and 1 + 2^-10: ties to the even mantissa (1).
  EXPECT_EQ(half->inputs[0].raw, U16Raw({0x3c00, 0xc100, 0x7bff, 0x0001, 0x3c00, 0x0000}));
  ExpectInvalid(Parse(OneInput("FP16", "[1]", "[65520]")), "out of the range of FP16");
  absl::StatusOr<InferRequest> bf = Parse(OneInput("BF16", "[3]", "[1, -2.5, 1e38]"));
  ASSERT_TRUE(bf.ok()) << bf.status();
  EXPECT_EQ(bf->inputs[0].raw, U16Raw({0x3f80, 0xc020, 0x7e96}));
  ExpectInvalid(Parse(OneInput("BF16", "[1]", "[3.4e38]")), "out of the range of BF16");
  absl::StatusOr<InferRequest> f64 = Parse(OneInput("FP64", "[1]", "[0.1]"));
  ASSERT_TRUE(f64.ok()) << f64.status();
  double d;
  std::memcpy(&d, f64->inputs[0].raw.data(), 8);
  EXPECT_EQ(d, 0.1);
}

TEST(HttpJsonCodec, ParametersOfEveryType) {
  absl::StatusOr<InferRequest> r = Parse(R"({"parameters": {"b": false, "i": -4, "u": 9223372036854775807,
      "d": 2.5, "s": "x"}, "inputs": [], "outputs": [{"name": "o", "parameters": {"binary_data": true, "k": 1.0}}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(std::get<bool>(r->parameters.at("b")), false);
  EXPECT_EQ(std::get<int64_t>(r->parameters.at("i")), -4);
  EXPECT_EQ(std::get<int64_t>(r->parameters.at("u")), INT64_MAX);
  EXPECT_EQ(std::get<double>(r->parameters.at("d")), 2.5);
  EXPECT_EQ(std::get<std::string>(r->parameters.at("s")), "x");
  EXPECT_EQ(std::get<bool>(r->outputs[0].parameters.at("binary_data")), true);
  EXPECT_EQ(std::get<double>(r->outputs[0].parameters.at("k")), 1.0);

  ExpectInvalid(Parse(R"({"parameters": {"u": 9223372036854775808}, "inputs": []})"),
                "parameter 'u' is beyond the int64 range");
  ExpectInvalid(Parse(R"({"parameters": {"a": [1]}, "inputs": []})"),
                "parameter 'a' must be a bool, a number or a string");
  ExpectInvalid(Parse(R"({"parameters": {"n": null}, "inputs": []})"), "parameter 'n'");
  ExpectInvalid(Parse(R"({"parameters": [], "inputs": []})"), "'parameters' must be a JSON object");
  ExpectInvalid(Parse(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1],
                           "parameters": {"o": {}}}]})"),
                "input 'x': parameter 'o'");
  ExpectInvalid(Parse(R"({"inputs": [], "outputs": [{"name": "o", "parameters": {"binary_data": 1}}]})"),
                "output 'o': parameter 'binary_data' must be a bool");
  ExpectInvalid(Parse(R"({"parameters": {"binary_data_output": "yes"}, "inputs": []})"),
                "the request: parameter 'binary_data_output' must be a bool");
}

// ---- Errors in JSON requests ----

TEST(HttpJsonCodec, RefusesMalformedRequests) {
  ExpectInvalid(Parse(""), "not valid JSON");
  ExpectInvalid(Parse("{\"inputs\": [}"), "not valid JSON");
  ExpectInvalid(Parse("{\"inputs\": []} trailing"), "not valid JSON");
  ExpectInvalid(Parse("[1]"), "must be a JSON object");
  ExpectInvalid(Parse("{}"), "needs 'inputs'");
  ExpectInvalid(Parse(R"({"inputs": {}})"), "needs 'inputs'");
  ExpectInvalid(Parse(R"({"inputs": [3]})"), "inputs[0] must be a JSON object");
  ExpectInvalid(Parse(R"({"id": 5, "inputs": []})"), "'id' must be a string");
  ExpectInvalid(Parse(R"({"inputs": [], "outputs": {}})"), "'outputs' must be an array");
  ExpectInvalid(Parse(R"({"inputs": [], "outputs": [{}]})"), "outputs[0] needs a 'name'");
  ExpectInvalid(Parse(R"({"inputs": [], "outputs": [7]})"), "outputs[0] must be a JSON object");
  // Invalid UTF-8 inside a string.
  ExpectInvalid(Parse(OneInput("BYTES", "[1]", "[\"\xff\"]")), "not valid JSON");
}

TEST(HttpJsonCodec, RefusesInputsWithoutNameShapeOrDatatype) {
  ExpectInvalid(Parse(R"({"inputs": [{"datatype": "FP32", "shape": [1], "data": [1]}]})"), "inputs[0] needs a 'name'");
  ExpectInvalid(Parse(R"({"inputs": [{"name": "", "datatype": "FP32", "shape": [1], "data": [1]}]})"),
                "inputs[0] needs a 'name'");
  ExpectInvalid(Parse(R"({"inputs": [{"name": 3, "datatype": "FP32", "shape": [1], "data": [1]}]})"),
                "inputs[0] needs a 'name'");
  ExpectInvalid(Parse(R"({"inputs": [{"name": "x", "shape": [1], "data": [1]}]})"), "input 'x' needs a 'datatype'");
  ExpectInvalid(Parse(R"({"inputs": [{"name": "x", "datatype": "FP32", "data": [1]}]})"), "input 'x' needs a 'shape'");
  ExpectInvalid(Parse(OneInput("FLOAT", "[1]", "[1]")), "input 'x': unknown datatype 'FLOAT'");
  ExpectInvalid(Parse(OneInput("FP32", "3", "[1]")), "input 'x': 'shape' must be an array of integers");
  ExpectInvalid(Parse(OneInput("FP32", "[1.5]", "[1]")), "input 'x': shape dimension 0 is not an integer");
  ExpectInvalid(Parse(OneInput("FP32", "[1, 9223372036854775808]", "[1]")), "shape dimension 1 is beyond");
  ExpectInvalid(Parse(OneInput("FP32", "[-1]", "[1]")), "negative dimension");
  ExpectInvalid(Parse(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]})"),
                "input 'x' has neither 'data' nor the parameter 'binary_data_size'");
  ExpectInvalid(Parse(OneInput("FP32", "[1]", "1")), "input 'x': 'data' must be an array");
}

TEST(HttpJsonCodec, RefusesDataThatDisagreesWithShapeOrDatatype) {
  ExpectInvalid(Parse(OneInput("FP32", "[2,2]", "[1,2,3]")),
                "input 'x': shape [2,2] needs 4 elements but 'data' holds 3");
  ExpectInvalid(Parse(OneInput("FP32", "[1]", "[[1],[2]]")), "needs 1 elements but 'data' holds 2");
  // A huge shape is compared with the data before anything is allocated for it.
  ExpectInvalid(Parse(OneInput("FP32", "[1000000, 1000000]", "[1]")),
                "needs 1000000000000 elements but 'data' holds 1");
  ExpectInvalid(Parse(OneInput("FP32", "[4194304, 4194304, 4194304]", "[1]")), "more than 2^40");
  ExpectInvalid(Parse(OneInput("FP32", "[2]", R"([1, "2"])")),
                "input 'x': element 1 must be a number for FP32, got a string");
  ExpectInvalid(Parse(OneInput("FP32", "[1]", "[null]")), "element 0 must be a number for FP32, got null");
  ExpectInvalid(Parse(OneInput("FP32", "[1]", "[true]")), "element 0 must be a number for FP32, got a boolean");
  ExpectInvalid(Parse(OneInput("BYTES", "[2]", R"(["a", 1])")),
                "input 'x': element 1 must be a string for BYTES, got an integer");
  ExpectInvalid(Parse(OneInput("BOOL", "[2]", "[true, 1]")), "element 1 must be true or false for BOOL");
  ExpectInvalid(Parse(OneInput("INT64", "[2]", "[1, 2.5]")), "element 1 must be an integer for INT64, got a number");
  ExpectInvalid(Parse(OneInput("INT64", "[1]", "[{}]")), "got an object");
}

TEST(HttpJsonCodec, RefusesDeepNestingBeforeParsing) {
  std::string deep = OneInput("FP32", "[1]", std::string(100, '[') + "1" + std::string(100, ']'));
  ExpectInvalid(Parse(deep), "nests deeper than 64 levels");
  std::string very_deep(1000000, '[');
  ExpectInvalid(Parse(very_deep), "nests deeper than 64 levels");
  // Brackets inside strings do not count.
  std::string in_string = OneInput("BYTES", "[1]", "[\"" + std::string(200, '[') + "\\\"\"]");
  absl::StatusOr<InferRequest> r = Parse(in_string);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inputs[0].elements[0], std::string(200, '[') + "\"");
}

// Data usually follows the datatype (and is converted as it is parsed); before it, the values are
// kept until the datatype is known. Both give the same tensors and the same errors.
TEST(HttpJsonCodec, DataBeforeTheDatatypeGivesTheSameTensors) {
  auto data_first = [](const std::string& datatype, const std::string& shape, const std::string& data) {
    return R"({"inputs":[{"data":)" + data + R"(,"name":"x","shape":)" + shape + R"(,"datatype":")" + datatype +
           R"("}]})";
  };
  const struct {
    const char* datatype;
    const char* shape;
    const char* data;
  } cases[] = {{"FP32", "[2,2]", "[[1.5,-2],[0.1,300]]"},
               {"BYTES", "[3]", R"(["abc","","x"])"},
               {"BOOL", "[3]", "[true,false,true]"},
               {"INT64", "[3]", "[-1,0,9223372036854775807]"},
               {"UINT8", "[2]", "[0,255]"},
               {"FP16", "[2]", "[1,-2.5]"},
               {"BF16", "[1]", "[1e38]"},
               {"FP64", "[1]", "[0.1]"}};
  for (const auto& c : cases) {
    absl::StatusOr<InferRequest> usual = Parse(OneInput(c.datatype, c.shape, c.data));
    absl::StatusOr<InferRequest> early = Parse(data_first(c.datatype, c.shape, c.data));
    ASSERT_TRUE(usual.ok()) << usual.status();
    ASSERT_TRUE(early.ok()) << early.status();
    EXPECT_EQ(usual->inputs[0].raw, early->inputs[0].raw) << c.datatype;
    EXPECT_EQ(usual->inputs[0].elements, early->inputs[0].elements) << c.datatype;
  }
  ExpectInvalid(Parse(data_first("FP32", "[2]", R"([1, "2"])")),
                "input 'x': element 1 must be a number for FP32, got a string");
  ExpectInvalid(Parse(data_first("INT8", "[2]", "[1, 300]")), "input 'x': element 1 is out of the range of INT8");
  ExpectInvalid(Parse(data_first("BYTES", "[2]", R"(["a", [{"k": [1, 2]}]])")),
                "input 'x': element 1 must be a string for BYTES, got an object");
  ExpectInvalid(Parse(data_first("FP32", "[3]", "[1, 2]")), "needs 3 elements but 'data' holds 2");
  ExpectInvalid(Parse(data_first("FP64", "[1]", "{}")), "input 'x': 'data' must be an array");
  ExpectInvalid(Parse(data_first("FLOAT", "[1]", "[1]")), "unknown datatype 'FLOAT'");
  // The name after the data: still named in errors.
  ExpectInvalid(Parse(R"({"inputs":[{"datatype":"BOOL","shape":[2],"data":[true,1],"name":"late"}]})"),
                "input 'late': element 1 must be true or false for BOOL, got an integer");
}

TEST(HttpJsonCodec, ObjectsInsideDataAreOneWrongElement) {
  // The object counts as one element, whatever it holds.
  ExpectInvalid(Parse(OneInput("FP32", "[3]", R"([1, {"a": [1, 2, {"b": 3}]}, 3])")),
                "input 'x': element 1 must be a number for FP32, got an object");
  ExpectInvalid(Parse(OneInput("FP32", "[2]", R"([1, {"a": [1, 2]}, 3])")), "needs 2 elements but 'data' holds 3");
  ExpectInvalid(Parse(OneInput("FP32", "[1]", R"({"a": 1})")), "input 'x': 'data' must be an array");
  // Keys named like the request's own inside data objects change nothing.
  ExpectInvalid(Parse(OneInput("FP32", "[1]", R"([{"data": [1], "inputs": []}])")), "got an object");
}

TEST(HttpJsonCodec, RefusesDuplicateKeys) {
  ExpectInvalid(Parse(R"({"inputs": [], "inputs": []})"), "the key 'inputs' twice");
  ExpectInvalid(Parse(R"({"inputs": [{"name": "x", "name": "y", "datatype": "FP32", "shape": [1], "data": [1]}]})"),
                "the key 'name' twice");
  ExpectInvalid(Parse(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1], "data": [2]}]})"),
                "the key 'data' twice");
  ExpectInvalid(Parse(R"({"parameters": {"a": 1, "a": 2}, "inputs": []})"), "the key 'a' twice");
  // The same key in different objects is fine.
  EXPECT_TRUE(Parse(R"({"inputs": [{"name": "a", "datatype": "FP32", "shape": [1], "data": [1]},
                                    {"name": "b", "datatype": "FP32", "shape": [1], "data": [2]}]})")
                  .ok());
}

// ---- Binary data extension ----

TEST(HttpJsonCodec, BinaryInputsComeInInputOrder) {
  const std::string header = R"({"inputs": [
      {"name": "a", "datatype": "FP32", "shape": [1, 2], "parameters": {"binary_data_size": 8, "keep": 1}},
      {"name": "b", "datatype": "INT64", "shape": [1], "data": [7]},
      {"name": "c", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": 13}}]})";
  const std::string bytes = Le32(3) + "abc" + Le32(2) + "de";
  const std::string body = header + FloatsRaw({1.25f, -4.f}) + bytes;
  absl::StatusOr<InferRequest> r = ParseInferRequest(body, header.size());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->inputs.size(), 3u);
  EXPECT_EQ(r->inputs[0].raw, FloatsRaw({1.25f, -4.f}));
  EXPECT_EQ(r->inputs[0].parameters.count("binary_data_size"), 0u);  // consumed
  EXPECT_EQ(std::get<int64_t>(r->inputs[0].parameters.at("keep")), 1);
  EXPECT_EQ(r->inputs[1].raw, Int64Raw({7}));
  EXPECT_EQ(r->inputs[2].elements, (std::vector<std::string>{"abc", "de"}));
}

TEST(HttpJsonCodec, BinaryHeaderLengthCoveringTheWholeBodyIsPlainJson) {
  const std::string body = OneInput("FP32", "[1]", "[2]");
  absl::StatusOr<InferRequest> r = ParseInferRequest(body, body.size());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inputs[0].raw, FloatsRaw({2.f}));
}

TEST(HttpJsonCodec, BinaryErrors) {
  auto input = [](const std::string& datatype, const std::string& shape, int64_t size) {
    return R"({"inputs": [{"name": "x", "datatype": ")" + datatype + R"(", "shape": )" + shape +
           R"(, "parameters": {"binary_data_size": )" + std::to_string(size) + "}}]}";
  };
  const std::string fp = input("FP32", "[2]", 8);
  // Too few bytes for binary_data_size.
  ExpectInvalid(ParseInferRequest(fp + std::string(4, '\0'), fp.size()),
                "input 'x': binary_data_size is 8 but only 4 bytes of binary data remain");
  // Bytes left over.
  ExpectInvalid(ParseInferRequest(fp + std::string(12, '\0'), fp.size()),
                "binary_data_size add up to 8 bytes but the body has 12 bytes of binary data");
  // Binary data without any input claiming it.
  const std::string json_only = OneInput("FP32", "[1]", "[1]");
  ExpectInvalid(ParseInferRequest(json_only + "xx", json_only.size()), "add up to 0 bytes but the body has 2");
  // binary_data_size without the header: no binary section.
  ExpectInvalid(Parse(fp), "only 0 bytes of binary data remain");
  // The header length beyond the body.
  ExpectInvalid(ParseInferRequest(fp, fp.size() + 1), "Inference-Header-Content-Length is");
  // The size disagrees with the shape (SetTensorFromRaw).
  const std::string short_fp = input("FP32", "[2]", 4);
  ExpectInvalid(ParseInferRequest(short_fp + std::string(4, '\0'), short_fp.size()), "input 'x'");
  // BYTES whose prefixes run past binary_data_size.
  const std::string by = input("BYTES", "[1]", 6);
  ExpectInvalid(ParseInferRequest(by + Le32(5) + "ab", by.size()), "input 'x'");
  // BOOL bytes other than 0 and 1.
  const std::string bo = input("BOOL", "[1]", 1);
  ExpectInvalid(ParseInferRequest(bo + "\x02", bo.size()), "input 'x'");
  // Negative, non-integer, and combined with data.
  const std::string negative = input("FP32", "[0]", -1);
  ExpectInvalid(ParseInferRequest(negative, negative.size()), "input 'x': binary_data_size is negative");
  ExpectInvalid(Parse(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1],
                          "parameters": {"binary_data_size": "4"}}]})"),
                "input 'x': parameter 'binary_data_size' must be an int64");
  ExpectInvalid(Parse(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1],
                          "parameters": {"binary_data_size": 4}}]})"),
                "input 'x' has both 'data' and the parameter 'binary_data_size'");
  // The JSON part itself broken by a wrong split.
  ExpectInvalid(ParseInferRequest(fp + std::string(8, '\0'), fp.size() - 1), "not valid JSON");
}

TEST(HttpJsonCodec, ParsesHeaderLengths) {
  EXPECT_EQ(*ParseJsonHeaderLength("0"), 0u);
  EXPECT_EQ(*ParseJsonHeaderLength("12345"), 12345u);
  for (const char* bad : {"", "-1", "+1", "1x", " 1", "0x10", "99999999999999999999999"}) {
    absl::StatusOr<size_t> r = ParseJsonHeaderLength(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

// ---- Responses ----

InferTensor Tensor(const std::string& name, const std::string& datatype, std::vector<int64_t> shape, std::string raw) {
  InferTensor t;
  t.name = name;
  t.datatype = datatype;
  t.shape = std::move(shape);
  t.raw = std::move(raw);
  return t;
}

InferResponse SampleResponse() {
  InferResponse response;
  response.model_name = "cls";
  response.model_version = "1";
  response.id = "r1";
  response.outputs.push_back(Tensor("probabilities", "FP32", {1, 3}, FloatsRaw({0.1f, 0.25f, -1e20f})));
  response.outputs.push_back(Tensor("label_map", "INT32", {1, 1, 2}, Int32Raw({-3, 7})));
  response.outputs.push_back(Tensor("predicted_tokens", "INT64", {2}, Int64Raw({-1, INT64_MAX})));
  InferTensor classes;
  classes.name = "classes";
  classes.datatype = "BYTES";
  classes.shape = {1, 2};
  classes.elements = {"0.700000:1:cat", "0.300000:0:d\"og"};
  response.outputs.push_back(classes);
  return response;
}

TEST(HttpJsonCodec, SerializesJsonResponses) {
  absl::StatusOr<HttpResponseBody> r = SerializeInferResponse(SampleResponse(), InferRequest());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_FALSE(r->json_header_length.has_value());
  EXPECT_EQ(r->body,
            R"({"model_name":"cls","model_version":"1","id":"r1","outputs":[)"
            R"({"name":"probabilities","datatype":"FP32","shape":[1,3],"data":[0.1,0.25,-1e+20]},)"
            R"({"name":"label_map","datatype":"INT32","shape":[1,1,2],"data":[-3,7]},)"
            R"({"name":"predicted_tokens","datatype":"INT64","shape":[2],"data":[-1,9223372036854775807]},)"
            R"({"name":"classes","datatype":"BYTES","shape":[1,2],"data":["0.700000:1:cat","0.300000:0:d\"og"]}]})");
  EXPECT_TRUE(json::accept(r->body));
}

TEST(HttpJsonCodec, SerializesOtherDatatypesAndOmitsAnEmptyId) {
  InferResponse response;
  response.model_name = "m";
  response.model_version = "1";
  response.outputs.push_back(Tensor("b", "BOOL", {2}, std::string("\x01\x00", 2)));
  response.outputs.push_back(Tensor("h", "FP16", {2}, U16Raw({0x3c00, 0xc100})));
  response.outputs.push_back(Tensor("bf", "BF16", {1}, U16Raw({0x3f80})));
  response.outputs.push_back(Tensor("u8", "UINT8", {1}, "\xff"));
  response.outputs.push_back(Tensor("i8", "INT8", {1}, "\xff"));
  response.outputs.push_back(Tensor(
      "f", "FP32", {2}, FloatsRaw({std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()})));
  response.outputs.back().parameters["note"] = std::string("x");
  absl::StatusOr<HttpResponseBody> r = SerializeInferResponse(response, InferRequest());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, R"({"model_name":"m","model_version":"1","outputs":[)"
                     R"({"name":"b","datatype":"BOOL","shape":[2],"data":[true,false]},)"
                     R"({"name":"h","datatype":"FP16","shape":[2],"data":[1,-2.5]},)"
                     R"({"name":"bf","datatype":"BF16","shape":[1],"data":[1]},)"
                     R"({"name":"u8","datatype":"UINT8","shape":[1],"data":[255]},)"
                     R"({"name":"i8","datatype":"INT8","shape":[1],"data":[-1]},)"
                     R"({"name":"f","datatype":"FP32","shape":[2],"parameters":{"note":"x"},"data":[null,null]}]})");
}

TEST(HttpJsonCodec, SerializedJsonParsesBackToTheSameTensors) {
  const InferResponse response = SampleResponse();
  absl::StatusOr<HttpResponseBody> r = SerializeInferResponse(response, InferRequest());
  ASSERT_TRUE(r.ok());
  // The outputs as inputs of a request: the same bytes come back.
  json j = json::parse(r->body);
  json request = {{"inputs", j["outputs"]}};
  absl::StatusOr<InferRequest> back = Parse(request.dump());
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->inputs.size(), response.outputs.size());
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    EXPECT_EQ(back->inputs[i].raw, response.outputs[i].raw) << response.outputs[i].name;
    EXPECT_EQ(back->inputs[i].elements, response.outputs[i].elements) << response.outputs[i].name;
  }
}

TEST(HttpJsonCodec, BinaryOutputsFollowTheJsonInOutputOrder) {
  InferRequest request;
  RequestedOutput probabilities{"probabilities", {{"binary_data", true}}};
  RequestedOutput label_map{"label_map", {}};
  RequestedOutput classes{"classes", {{"binary_data", true}}};
  request.outputs = {probabilities, label_map, classes};
  const InferResponse response = SampleResponse();
  absl::StatusOr<HttpResponseBody> r = SerializeInferResponse(response, request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->content_type, "application/octet-stream");
  ASSERT_TRUE(r->json_header_length.has_value());
  const std::string header = r->body.substr(0, *r->json_header_length);
  const std::string binary = r->body.substr(*r->json_header_length);
  json j = json::parse(header);
  ASSERT_EQ(j["outputs"].size(), 4u);
  EXPECT_FALSE(j["outputs"][0].contains("data"));
  EXPECT_EQ(j["outputs"][0]["parameters"]["binary_data_size"], 12);
  EXPECT_EQ(j["outputs"][1]["data"], json::parse("[-3,7]"));                    // not requested as binary
  EXPECT_EQ(j["outputs"][2]["data"], json::parse("[-1,9223372036854775807]"));  // not requested at all
  const std::string bytes = Le32(14) + "0.700000:1:cat" + Le32(15) + "0.300000:0:d\"og";
  EXPECT_EQ(j["outputs"][3]["parameters"]["binary_data_size"], bytes.size());  // counts the prefixes
  EXPECT_EQ(binary, FloatsRaw({0.1f, 0.25f, -1e20f}) + bytes);
}

TEST(HttpJsonCodec, BinaryDataOutputAppliesToEveryOutputUnlessOneSaysOtherwise) {
  InferRequest request;
  request.parameters["binary_data_output"] = true;
  request.outputs = {RequestedOutput{"label_map", {{"binary_data", false}}}};
  absl::StatusOr<HttpResponseBody> r = SerializeInferResponse(SampleResponse(), request);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->json_header_length.has_value());
  json j = json::parse(r->body.substr(0, *r->json_header_length));
  EXPECT_EQ(j["outputs"][0]["parameters"]["binary_data_size"], 12);
  EXPECT_TRUE(j["outputs"][1].contains("data"));
  EXPECT_EQ(j["outputs"][2]["parameters"]["binary_data_size"], 16);
  EXPECT_EQ(r->body.substr(*r->json_header_length, 28), FloatsRaw({0.1f, 0.25f, -1e20f}) + Int64Raw({-1, INT64_MAX}));
  EXPECT_EQ(r->body.size(), *r->json_header_length + 12 + 16 + 4 + 14 + 4 + 15);
}

TEST(HttpJsonCodec, InconsistentOutputsAreInternalErrors) {
  InferResponse response;
  response.outputs.push_back(Tensor("p", "FP32", {1, 3}, FloatsRaw({1, 2})));
  absl::StatusOr<HttpResponseBody> r = SerializeInferResponse(response, InferRequest());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(std::string(r.status().message()).find("output 'p'"), std::string::npos) << r.status();
  response.outputs[0] = Tensor("q", "WHAT", {1}, "");
  EXPECT_EQ(SerializeInferResponse(response, InferRequest()).status().code(), absl::StatusCode::kInternal);
  response.outputs[0] = Tensor("s", "BYTES", {2}, "");
  response.outputs[0].elements = {"one"};
  EXPECT_EQ(SerializeInferResponse(response, InferRequest()).status().code(), absl::StatusCode::kInternal);
  response.outputs[0] = Tensor("n", "FP32", {-1}, "");
  EXPECT_EQ(SerializeInferResponse(response, InferRequest()).status().code(), absl::StatusCode::kInternal);
}

TEST(HttpJsonCodec, InvalidUtf8InOutputsIsReplaced) {
  InferResponse response;
  response.model_name = "m\xff";
  InferTensor t;
  t.name = "s";
  t.datatype = "BYTES";
  t.shape = {1};
  t.elements = {"a\xfe"};
  response.outputs.push_back(t);
  absl::StatusOr<HttpResponseBody> r = SerializeInferResponse(response, InferRequest());
  ASSERT_TRUE(r.ok()) << r.status();
  json j = json::parse(r->body);
  EXPECT_EQ(j["model_name"], "m\xef\xbf\xbd");
  EXPECT_EQ(j["outputs"][0]["data"][0], "a\xef\xbf\xbd");
}

// ---- Metadata, errors, status codes ----

TEST(HttpJsonCodec, MetadataAndErrorBodies) {
  ServerMetadata server{"beit-server", "1.2.3", {"binary_tensor_data"}};
  EXPECT_EQ(json::parse(ServerMetadataJson(server)),
            json::parse(R"({"name":"beit-server","version":"1.2.3","extensions":["binary_tensor_data"]})"));
  ModelMetadata model;
  model.name = "cls";
  model.versions = {"1"};
  model.platform = "beit_onednn";
  model.inputs = {{"image", "BYTES", {-1}}, {"pixel_values", "FP32", {-1, 3, 32, 32}}};
  model.outputs = {{"probabilities", "FP32", {-1, 10}}};
  EXPECT_EQ(json::parse(ModelMetadataJson(model)), json::parse(R"({"name":"cls","versions":["1"],
      "platform":"beit_onednn",
      "inputs":[{"name":"image","datatype":"BYTES","shape":[-1]},
                {"name":"pixel_values","datatype":"FP32","shape":[-1,3,32,32]}],
      "outputs":[{"name":"probabilities","datatype":"FP32","shape":[-1,10]}]})"));
  EXPECT_EQ(ErrorJson("bad \"x\""), R"({"error":"bad \"x\""})");
  EXPECT_EQ(json::parse(ErrorJson("model '\xff'"))["error"], "model '\xef\xbf\xbd'");
}

TEST(HttpJsonCodec, StatusCodesMapToHttp) {
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kFailedPrecondition), 400);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kCancelled), 500);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kUnknown), 500);
}

}  // namespace
}  // namespace beit::serving::open_inference
