// The Open Inference Protocol (KServe v2) client without a beit-server: request building and
// response parsing (raw and typed, BYTES length prefixes), the client over an in-process fake
// GRPCInferenceService, and `beit-client --api v2` against that fake on a local port.
#include "client/open_inference_client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "model/image/image_decoder.h"
#include "model/image/png_decoder.h"

namespace beit::client {
namespace {

using nlohmann::json;

std::string Le32(uint32_t v) {
  std::string s(4, '\0');
  for (int b = 0; b < 4; ++b) s[b] = static_cast<char>((v >> (8 * b)) & 0xff);
  return s;
}

std::string Le64(uint64_t v) {
  std::string s(8, '\0');
  for (int b = 0; b < 8; ++b) s[b] = static_cast<char>((v >> (8 * b)) & 0xff);
  return s;
}

std::string LeFloat(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return Le32(bits);
}

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---- Request building ----

InferRequestSpec ClassifySpec() {
  InferRequestSpec spec;
  spec.model = "cls";
  spec.id = "req-1";
  spec.inputs.push_back(ImageInput({std::string("\x89PNG\0data", 9)}));
  spec.outputs.push_back({"probabilities", {{"classification", int64_t{3}}}});
  return spec;
}

TEST(MakeInferRequest, ImageGoesRawWithALengthPrefixByDefault) {
  const inference::ModelInferRequest r = MakeInferRequest(ClassifySpec());
  EXPECT_EQ(r.model_name(), "cls");
  EXPECT_EQ(r.model_version(), "");
  EXPECT_EQ(r.id(), "req-1");
  ASSERT_EQ(r.inputs_size(), 1);
  EXPECT_EQ(r.inputs(0).name(), "image");
  EXPECT_EQ(r.inputs(0).datatype(), "BYTES");
  ASSERT_EQ(r.inputs(0).shape_size(), 1);
  EXPECT_EQ(r.inputs(0).shape(0), 1);
  EXPECT_FALSE(r.inputs(0).has_contents());
  ASSERT_EQ(r.raw_input_contents_size(), 1);
  EXPECT_EQ(r.raw_input_contents(0), Le32(9) + std::string("\x89PNG\0data", 9));
  ASSERT_EQ(r.outputs_size(), 1);
  EXPECT_EQ(r.outputs(0).name(), "probabilities");
  const auto& k = r.outputs(0).parameters().at("classification");
  ASSERT_EQ(k.parameter_choice_case(), inference::InferParameter::kInt64Param);
  EXPECT_EQ(k.int64_param(), 3);
}

TEST(MakeInferRequest, TypedPutsTheBytesInBytesContents) {
  const inference::ModelInferRequest r = MakeInferRequest(ClassifySpec(), TensorEncoding::kTyped);
  EXPECT_EQ(r.raw_input_contents_size(), 0);
  ASSERT_EQ(r.inputs(0).contents().bytes_contents_size(), 1);
  EXPECT_EQ(r.inputs(0).contents().bytes_contents(0), std::string("\x89PNG\0data", 9));
}

TEST(MakeInferRequest, EveryInputOfARequestUsesTheSameForm) {
  InferRequestSpec spec;
  spec.model = "mim";
  spec.inputs.push_back(PixelValuesInput({1, 3, 1, 1}, {1.0f, -2.5f, 0.0f}));
  spec.inputs.push_back(MaskInput({{true, false, true, true}}));
  spec.parameters["seed"] = int64_t{7};
  spec.parameters["mask_ratio"] = 0.4;
  spec.parameters["note"] = std::string("x");
  spec.parameters["flag"] = true;
  inference::ModelInferRequest raw = MakeInferRequest(spec);
  ASSERT_EQ(raw.raw_input_contents_size(), 2);
  EXPECT_EQ(raw.raw_input_contents(0), LeFloat(1.0f) + LeFloat(-2.5f) + LeFloat(0.0f));
  EXPECT_EQ(raw.raw_input_contents(1), std::string("\x01\x00\x01\x01", 4));
  EXPECT_EQ(raw.inputs(1).name(), "bool_masked_pos");
  EXPECT_EQ(raw.inputs(1).datatype(), "BOOL");
  EXPECT_EQ(std::vector<int64_t>(raw.inputs(1).shape().begin(), raw.inputs(1).shape().end()),
            (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(raw.parameters().at("seed").int64_param(), 7);
  EXPECT_EQ(raw.parameters().at("mask_ratio").double_param(), 0.4);
  EXPECT_EQ(raw.parameters().at("note").string_param(), "x");
  EXPECT_TRUE(raw.parameters().at("flag").bool_param());
  EXPECT_EQ(raw.outputs_size(), 0);

  inference::ModelInferRequest typed = MakeInferRequest(spec, TensorEncoding::kTyped);
  EXPECT_EQ(typed.raw_input_contents_size(), 0);
  EXPECT_EQ(std::vector<float>(typed.inputs(0).contents().fp32_contents().begin(),
                               typed.inputs(0).contents().fp32_contents().end()),
            (std::vector<float>{1.0f, -2.5f, 0.0f}));
  EXPECT_EQ(std::vector<bool>(typed.inputs(1).contents().bool_contents().begin(),
                              typed.inputs(1).contents().bool_contents().end()),
            (std::vector<bool>{true, false, true, true}));
}

TEST(MakeInferRequest, IntegersAreLittleEndianOfTheirWidth) {
  InferRequestSpec spec;
  InputTensor t{"ids", "INT64", {2}, {}, {}, {-1, 258}};
  InputTensor u{"small", "INT32", {1}, {}, {}, {-2}};
  spec.inputs = {t, u};
  const inference::ModelInferRequest r = MakeInferRequest(spec);
  EXPECT_EQ(r.raw_input_contents(0), Le64(~uint64_t{0}) + Le64(258));
  EXPECT_EQ(r.raw_input_contents(1), Le32(0xfffffffe));
  const inference::ModelInferRequest typed = MakeInferRequest(spec, TensorEncoding::kTyped);
  EXPECT_EQ(typed.inputs(0).contents().int64_contents(0), -1);
  EXPECT_EQ(typed.inputs(1).contents().int_contents(0), -2);
}

TEST(MakeInferRequest, RefusesAnInputThatDoesNotMatchItsShapeOrDatatype) {
  InferRequestSpec spec;
  spec.inputs.push_back(PixelValuesInput({1, 3, 2, 2}, {1.0f}));
  try {
    MakeInferRequest(spec);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("pixel_values"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("needs 12 elements, got 1"), std::string::npos) << e.what();
  }
  spec.inputs = {InputTensor{"half", "FP16", {1}, {}, {}, {}}};
  EXPECT_THROW(MakeInferRequest(spec), std::invalid_argument);
  EXPECT_THROW(MaskInput({{true}, {true, false}}), std::invalid_argument);
}

// ---- BYTES wire form ----

TEST(BytesElements, JoinAndSplitRoundTrip) {
  const std::vector<std::string> elements = {"abc", "", std::string("\0\xff", 2)};
  const std::string joined = JoinBytesElements(elements);
  EXPECT_EQ(joined, Le32(3) + "abc" + Le32(0) + Le32(2) + std::string("\0\xff", 2));
  const auto split = SplitBytesElements(joined, 3, "t");
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(*split, elements);
  EXPECT_TRUE(SplitBytesElements(joined, -1, "t").ok());
  const auto none = SplitBytesElements("", 0, "t");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(BytesElements, MalformedDataGivesAClearError) {
  // A length that runs past the end.
  auto r = SplitBytesElements(Le32(2) + "ok" + Le32(100) + "short", 2, "probabilities");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(r.status().message(),
            "malformed ModelInferResponse: output 'probabilities': element 1: length prefix says 100 bytes but "
            "only 5 remain");
  // The data ends inside a length.
  r = SplitBytesElements(Le32(1) + "a" + std::string("\x01\x00", 2), -1, "probabilities");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("data ends inside element 1's 4-byte length prefix"),
            std::string::npos)
      << r.status();
  // Fewer elements than the shape says.
  r = SplitBytesElements(Le32(1) + "a", 2, "probabilities");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("holds 1 elements but its shape says 2"), std::string::npos) << r.status();
}

// ---- Response parsing ----

void AddOutput(inference::ModelInferResponse& r, const std::string& name, const std::string& datatype,
               std::vector<int64_t> shape) {
  auto* o = r.add_outputs();
  o->set_name(name);
  o->set_datatype(datatype);
  o->mutable_shape()->Add(shape.begin(), shape.end());
}

inference::ModelInferResponse RawResponse() {
  inference::ModelInferResponse r;
  r.set_model_name("m");
  r.set_model_version("1");
  r.set_id("req-1");
  AddOutput(r, "probabilities", "FP32", {1, 2});
  r.add_raw_output_contents(LeFloat(0.25f) + LeFloat(0.75f));
  AddOutput(r, "label_map", "INT32", {1, 1, 3});
  r.add_raw_output_contents(Le32(0) + Le32(5) + Le32(0xffffffff));
  AddOutput(r, "predicted_tokens", "INT64", {1, 2});
  r.add_raw_output_contents(Le64(~uint64_t{0}) + Le64(8191));
  AddOutput(r, "classes", "BYTES", {1, 2});
  r.add_raw_output_contents(Le32(13) + "0.750000:1:b" + ":" + Le32(12) + "0.250000:0:a");
  AddOutput(r, "bool_masked_pos", "BOOL", {1, 2});
  r.add_raw_output_contents(std::string("\x00\x01", 2));
  return r;
}

inference::ModelInferResponse TypedResponse() {
  inference::ModelInferResponse r;
  r.set_model_name("m");
  r.set_model_version("1");
  r.set_id("req-1");
  AddOutput(r, "probabilities", "FP32", {1, 2});
  r.mutable_outputs(0)->mutable_contents()->add_fp32_contents(0.25f);
  r.mutable_outputs(0)->mutable_contents()->add_fp32_contents(0.75f);
  AddOutput(r, "label_map", "INT32", {1, 1, 3});
  for (int v : {0, 5, -1}) r.mutable_outputs(1)->mutable_contents()->add_int_contents(v);
  AddOutput(r, "predicted_tokens", "INT64", {1, 2});
  for (int64_t v : {int64_t{-1}, int64_t{8191}}) r.mutable_outputs(2)->mutable_contents()->add_int64_contents(v);
  AddOutput(r, "classes", "BYTES", {1, 2});
  r.mutable_outputs(3)->mutable_contents()->add_bytes_contents("0.750000:1:b:");
  r.mutable_outputs(3)->mutable_contents()->add_bytes_contents("0.250000:0:a");
  AddOutput(r, "bool_masked_pos", "BOOL", {1, 2});
  r.mutable_outputs(4)->mutable_contents()->add_bool_contents(false);
  r.mutable_outputs(4)->mutable_contents()->add_bool_contents(true);
  return r;
}

void ExpectTheSameResult(const InferResult& r) {
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.version, "1");
  EXPECT_EQ(r.id, "req-1");
  ASSERT_EQ(r.outputs.size(), 5u);
  const OutputTensor* p = r.Find("probabilities");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(p->fp32, (std::vector<float>{0.25f, 0.75f}));
  EXPECT_EQ(r.Find("label_map")->ints, (std::vector<int64_t>{0, 5, -1}));
  EXPECT_EQ(r.Find("label_map")->ElementCount(), 3);
  EXPECT_EQ(r.Find("predicted_tokens")->ints, (std::vector<int64_t>{-1, 8191}));
  EXPECT_EQ(r.Find("classes")->bytes, (std::vector<std::string>{"0.750000:1:b:", "0.250000:0:a"}));
  EXPECT_EQ(r.Find("bool_masked_pos")->ints, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(r.Find("nope"), nullptr);
}

TEST(ParseInferResponse, RawAndTypedGiveTheSameResult) {
  const auto raw = ParseInferResponse(RawResponse());
  ASSERT_TRUE(raw.ok()) << raw.status();
  ExpectTheSameResult(*raw);
  const auto typed = ParseInferResponse(TypedResponse());
  ASSERT_TRUE(typed.ok()) << typed.status();
  ExpectTheSameResult(*typed);
}

TEST(ParseInferResponse, ReadsEveryIntegerWidthAndFp64) {
  inference::ModelInferResponse r;
  AddOutput(r, "i8", "INT8", {2});
  r.add_raw_output_contents(std::string("\xff\x7f", 2));
  AddOutput(r, "u16", "UINT16", {1});
  r.add_raw_output_contents(std::string("\xff\xff", 2));
  AddOutput(r, "f64", "FP64", {1});
  double d = -0.5;
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  r.add_raw_output_contents(Le64(bits));
  const auto parsed = ParseInferResponse(r);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Find("i8")->ints, (std::vector<int64_t>{-1, 127}));
  EXPECT_EQ(parsed->Find("u16")->ints, (std::vector<int64_t>{65535}));
  EXPECT_EQ(parsed->Find("f64")->fp64, (std::vector<double>{-0.5}));
}

// The message of parsing `r`, which must fail with INTERNAL.
std::string ParseError(const inference::ModelInferResponse& r) {
  const auto parsed = ParseInferResponse(r);
  if (parsed.ok()) return "(parsed)";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInternal);
  return std::string(parsed.status().message());
}

TEST(ParseInferResponse, MalformedResponsesNameTheProblem) {
  inference::ModelInferResponse r = RawResponse();
  r.mutable_raw_output_contents()->RemoveLast();
  EXPECT_EQ(ParseError(r), "malformed ModelInferResponse: 5 outputs but 4 raw_output_contents");

  r = RawResponse();
  r.set_raw_output_contents(0, LeFloat(1.0f));
  EXPECT_EQ(ParseError(r), "malformed ModelInferResponse: output 'probabilities': FP32 [1,2] needs 8 raw bytes, got 4");

  r = RawResponse();
  r.set_raw_output_contents(3, Le32(13) + "0.750000:1:b:" + Le32(40) + "0.250000:0:a");
  EXPECT_EQ(ParseError(r),
            "malformed ModelInferResponse: output 'classes': element 1: length prefix says 40 bytes but only 12 "
            "remain");

  r = RawResponse();
  r.set_raw_output_contents(3, Le32(13) + "0.750000:1:b:");
  EXPECT_EQ(ParseError(r), "malformed ModelInferResponse: output 'classes': holds 1 elements but its shape says 2");

  r = RawResponse();
  r.mutable_outputs(0)->mutable_contents()->add_fp32_contents(1.0f);
  EXPECT_EQ(ParseError(r),
            "malformed ModelInferResponse: output 'probabilities': both typed contents and raw_output_contents");

  r = RawResponse();
  r.mutable_outputs(1)->set_shape(0, -1);
  EXPECT_EQ(ParseError(r), "malformed ModelInferResponse: output 'label_map': bad shape [-1,1,3]");

  r = RawResponse();
  r.mutable_outputs(0)->set_datatype("FP16");
  EXPECT_EQ(ParseError(r),
            "malformed ModelInferResponse: output 'probabilities': datatype 'FP16' is not one this client reads");

  r = TypedResponse();
  r.mutable_outputs(2)->mutable_contents()->add_int64_contents(3);
  EXPECT_EQ(ParseError(r),
            "malformed ModelInferResponse: output 'predicted_tokens': INT64 [1,2] needs 2 elements in "
            "int64_contents, got 3");

  r = TypedResponse();
  r.mutable_outputs(1)->mutable_contents()->add_int64_contents(3);
  EXPECT_EQ(ParseError(r),
            "malformed ModelInferResponse: output 'label_map': INT32 data in int64_contents (expected int_contents)");
}

TEST(ParseClassifications, ReadsScoreIndexAndLabel) {
  OutputTensor o;
  o.name = "probabilities";
  o.datatype = "BYTES";
  o.shape = {2, 2};
  o.bytes = {"0.912345:281:tabby, tabby cat", "0.010000:3:a:b", "1.000000:0:", "0.000000:1:x"};
  const auto images = ParseClassifications(o);
  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_EQ(images->size(), 2u);
  ASSERT_EQ((*images)[0].size(), 2u);
  EXPECT_EQ((*images)[0][0].index, 281);
  EXPECT_EQ((*images)[0][0].label, "tabby, tabby cat");
  EXPECT_DOUBLE_EQ((*images)[0][0].score, 0.912345);
  EXPECT_EQ((*images)[0][1].label, "a:b");
  EXPECT_EQ((*images)[1][0].label, "");
  EXPECT_EQ((*images)[1][1].index, 1);

  o.bytes[2] = "1.0:zero:label";
  auto bad = ParseClassifications(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("element 2 '1.0:zero:label' is not of the form score:index:label"),
            std::string::npos)
      << bad.status();
  o.bytes[2] = "no colons";
  EXPECT_FALSE(ParseClassifications(o).ok());
  o.bytes.pop_back();
  EXPECT_FALSE(ParseClassifications(o).ok());  // 3 elements for [2, 2]
  o.datatype = "FP32";
  EXPECT_FALSE(ParseClassifications(o).ok());
}

// ---- A fake GRPCInferenceService: the client and beit-client --api v2 without beit-server ----

// Answers ModelInfer in the form the request came in (raw or typed), with made-up values:
// `probabilities` + classification K: K strings "0.K00000:i:label i"; `label_map`: INT32
// [1, H, W] (output_height/output_width, else label_height x label_width) of (x + y) % 3;
// `pooler_output`: FP32 [1, 4]; `predicted_tokens`: INT64 [1, P] (P from bool_masked_pos, else
// 4; 100 + i where masked, -1 elsewhere; with mask_ratio every other patch is masked).
class FakeInferenceService final : public inference::GRPCInferenceService::Service {
 public:
  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* response) override {
    response->set_live(true);
    return grpc::Status::OK;
  }
  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* response) override {
    response->set_ready(ready);
    return grpc::Status::OK;
  }
  grpc::Status ModelReady(grpc::ServerContext*, const inference::ModelReadyRequest* request,
                          inference::ModelReadyResponse* response) override {
    if (request->name() != "cls") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no model named '" + request->name() + "'");
    response->set_ready(ready);
    return grpc::Status::OK;
  }
  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* response) override {
    response->set_name("fake");
    response->set_version("0.0.1");
    response->add_extensions("binary_tensor_data");
    return grpc::Status::OK;
  }
  grpc::Status ModelMetadata(grpc::ServerContext* context, const inference::ModelMetadataRequest* request,
                             inference::ModelMetadataResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      const auto it = context->client_metadata().find("authorization");
      authorization = it == context->client_metadata().end() ? "" : std::string(it->second.data(), it->second.size());
    }
    if (request->name() != "cls") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no model named '" + request->name() + "'");
    response->set_name("cls");
    response->add_versions("1");
    response->set_platform("beit");
    auto* in = response->add_inputs();
    in->set_name("image");
    in->set_datatype("BYTES");
    in->add_shape(-1);
    auto* out = response->add_outputs();
    out->set_name("probabilities");
    out->set_datatype("FP32");
    out->add_shape(-1);
    out->add_shape(10);
    return grpc::Status::OK;
  }
  grpc::Status ModelInfer(grpc::ServerContext*, const inference::ModelInferRequest* request,
                          inference::ModelInferResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      last = *request;
      ++infers;
    }
    if (malformed) {
      AddOutput(*response, "probabilities", "BYTES", {1, 1});
      response->add_raw_output_contents(Le32(50) + "short");
      return grpc::Status::OK;
    }
    const bool raw = request->raw_input_contents_size() > 0;
    response->set_model_name(request->model_name());
    response->set_model_version("1");
    response->set_id(request->id());
    int64_t patches = 4;
    std::vector<bool> mask = {false, true, false, true};
    for (int i = 0; i < request->inputs_size(); ++i) {
      if (request->inputs(i).name() != "bool_masked_pos") continue;
      patches = request->inputs(i).shape(1);
      mask.clear();
      for (int64_t p = 0; p < patches; ++p) {
        mask.push_back(raw ? request->raw_input_contents(i)[p] != 0 : request->inputs(i).contents().bool_contents(p));
      }
    }
    for (const auto& requested : request->outputs()) {
      const std::string& name = requested.name();
      auto* o = response->add_outputs();
      o->set_name(name);
      std::string bytes;
      auto* typed = o->mutable_contents();
      if (name == "probabilities") {
        const int64_t k = requested.parameters().at("classification").int64_param();
        o->set_datatype("BYTES");
        o->add_shape(1);
        o->add_shape(k);
        for (int64_t i = 0; i < k; ++i) {
          const std::string text = "0." + std::to_string(k - i) + "00000:" + std::to_string(i) + ":label " + std::to_string(i);
          bytes += Le32(static_cast<uint32_t>(text.size())) + text;
          typed->add_bytes_contents(text);
        }
      } else if (name == "label_map") {
        const auto& p = request->parameters();
        const int64_t h = p.count("output_height") ? p.at("output_height").int64_param() : label_height;
        const int64_t w = p.count("output_width") ? p.at("output_width").int64_param() : label_width;
        o->set_datatype("INT32");
        for (int64_t d : {int64_t{1}, h, w}) o->add_shape(d);
        for (int64_t y = 0; y < h; ++y) {
          for (int64_t x = 0; x < w; ++x) {
            bytes += Le32(static_cast<uint32_t>((x + y) % 3));
            typed->add_int_contents(static_cast<int32_t>((x + y) % 3));
          }
        }
      } else if (name == "pooler_output") {
        o->set_datatype("FP32");
        o->add_shape(1);
        o->add_shape(4);
        for (float v : {0.5f, -1.0f, 2.0f, 0.25f}) {
          bytes += LeFloat(v);
          typed->add_fp32_contents(v);
        }
      } else if (name == "predicted_tokens") {
        o->set_datatype("INT64");
        o->add_shape(1);
        o->add_shape(patches);
        for (int64_t p = 0; p < patches; ++p) {
          const int64_t token = mask[p] ? 100 + p : -1;
          bytes += Le64(static_cast<uint64_t>(token));
          typed->add_int64_contents(token);
        }
      } else {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no output '" + name + "'");
      }
      if (raw) {
        o->clear_contents();
        response->add_raw_output_contents(bytes);
      }
    }
    return grpc::Status::OK;
  }

  std::atomic<bool> ready{true};
  std::atomic<bool> malformed{false};
  int64_t label_height = 2, label_width = 3;
  std::mutex mu;
  inference::ModelInferRequest last;
  int64_t infers = 0;
  std::string authorization;
};

class OpenInferenceClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    service_ = new FakeInferenceService();
    const Image8 image = DecodeImageFile(Image());
    service_->label_height = image.height;
    service_->label_width = image.width;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_);
    server_ = builder.BuildAndStart().release();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }
  static void TearDownTestSuite() {
    server_->Shutdown();
    delete server_;
    delete service_;
  }
  void SetUp() override {
    service_->ready = true;
    service_->malformed = false;
  }

  static std::string Image() { return std::string(BEIT_TEST_DATA_DIR) + "/preprocess/images/tiny_5x3.png"; }

  static OpenInferenceClient Client(OpenInferenceClient::PrepareContext prepare = {}) {
    return OpenInferenceClient(grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials()),
                               std::move(prepare));
  }

  struct Run {
    int exit_code = -1;
    std::string out;  // stdout, then stderr
  };
  // beit-client --api v2 `args` against the fake.
  static Run Cli(const std::string& args, const std::string& api = "--api v2 ") {
    const std::string command = std::string(BEIT_CLIENT_BINARY) + " --server 127.0.0.1:" + std::to_string(port_) +
                                " " + api + args + " 2>&1";
    Run run;
    FILE* pipe = popen(command.c_str(), "r");
    std::array<char, 4096> buffer;
    size_t n;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) run.out.append(buffer.data(), n);
    const int status = pclose(pipe);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
  }
  static json Parsed(const Run& run) {
    try {
      return json::parse(run.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not JSON: " << run.out;
      return json();
    }
  }
  static inference::ModelInferRequest Last() {
    std::lock_guard<std::mutex> lock(service_->mu);
    return service_->last;
  }

  static FakeInferenceService* service_;
  static grpc::Server* server_;
  static int port_;
};
FakeInferenceService* OpenInferenceClientTest::service_ = nullptr;
grpc::Server* OpenInferenceClientTest::server_ = nullptr;
int OpenInferenceClientTest::port_ = 0;

TEST_F(OpenInferenceClientTest, HealthAndMetadataCalls) {
  const OpenInferenceClient client =
      Client([](grpc::ClientContext& c) { c.AddMetadata("authorization", "Bearer secret"); });
  bool flag = false;
  ASSERT_TRUE(client.ServerLive(&flag).ok());
  EXPECT_TRUE(flag);
  ASSERT_TRUE(client.ServerReady(&flag).ok());
  EXPECT_TRUE(flag);
  service_->ready = false;
  ASSERT_TRUE(client.ModelReady("cls", "", &flag).ok());
  EXPECT_FALSE(flag);
  EXPECT_EQ(client.ModelReady("nope", "", &flag).error_code(), grpc::StatusCode::NOT_FOUND);
  ServerDescription server;
  ASSERT_TRUE(client.ServerMetadata(&server).ok());
  EXPECT_EQ(server.name, "fake");
  EXPECT_EQ(server.extensions, std::vector<std::string>{"binary_tensor_data"});
  ModelDescription model;
  ASSERT_TRUE(client.ModelMetadata("cls", "", &model).ok());
  EXPECT_EQ(model.versions, std::vector<std::string>{"1"});
  ASSERT_EQ(model.outputs.size(), 1u);
  EXPECT_EQ(model.outputs[0].shape, (std::vector<int64_t>{-1, 10}));
  std::lock_guard<std::mutex> lock(service_->mu);
  EXPECT_EQ(service_->authorization, "Bearer secret");  // `prepare` ran on the call's context
}

TEST_F(OpenInferenceClientTest, InferParsesTheAnswerAndRefusesAMalformedOne) {
  const OpenInferenceClient client = Client();
  const inference::ModelInferRequest request = MakeInferRequest(ClassifySpec());
  InferResult result;
  ASSERT_TRUE(client.Infer(request, &result).ok());
  EXPECT_EQ(result.id, "req-1");
  const auto classes = ParseClassifications(*result.Find("probabilities"));
  ASSERT_TRUE(classes.ok()) << classes.status();
  ASSERT_EQ(classes->front().size(), 3u);
  EXPECT_EQ(classes->front()[2].label, "label 2");
  service_->malformed = true;
  const grpc::Status s = client.Infer(request, &result);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_NE(s.error_message().find("element 0: length prefix says 50 bytes"), std::string::npos)
      << s.error_message();
  inference::ModelInferResponse response;
  EXPECT_TRUE(client.ModelInfer(request, &response).ok());  // the RPC alone does not look
}

TEST_F(OpenInferenceClientTest, CliClassifyRawAndTyped) {
  for (const std::string typed : {"", " --typed"}) {
    const Run run = Cli("classify --model cls --image " + Image() + " --top-k 3" + typed);
    ASSERT_EQ(run.exit_code, 0) << run.out;
    const json j = Parsed(run);
    EXPECT_EQ(j["model"], "cls");
    ASSERT_EQ(j["predictions"].size(), 3u);
    EXPECT_EQ(j["predictions"][0]["index"], 0);
    EXPECT_EQ(j["predictions"][0]["label"], "label 0");
    EXPECT_DOUBLE_EQ(j["predictions"][0]["score"].get<double>(), 0.3);
    const inference::ModelInferRequest last = Last();
    EXPECT_EQ(last.inputs(0).name(), "image");
    EXPECT_EQ(last.outputs(0).parameters().at("classification").int64_param(), 3);
    if (typed.empty()) {
      EXPECT_EQ(last.raw_input_contents(0).substr(4), ReadFileBytes(Image()));
    } else {
      EXPECT_EQ(last.inputs(0).contents().bytes_contents(0), ReadFileBytes(Image()));
    }
  }
}

TEST_F(OpenInferenceClientTest, CliSegmentCountsClassesAndWritesPngs) {
  const std::string png = ::testing::TempDir() + "/v2_labels.png";
  const std::string overlay = ::testing::TempDir() + "/v2_overlay.png";
  Run run = Cli("segment --model seg --image " + Image() + " --png " + png + " --overlay " + overlay);
  ASSERT_EQ(run.exit_code, 0) << run.out;
  json j = Parsed(run);
  const int64_t h = service_->label_height, w = service_->label_width;
  EXPECT_EQ(j["height"], h);
  EXPECT_EQ(j["width"], w);
  const std::string bytes = ReadFileBytes(png);
  const Image8 labels = DecodeLabelMapPng(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), DecodeLimits());
  ASSERT_EQ(labels.width, w);
  ASSERT_EQ(labels.height, h);
  EXPECT_EQ(labels.pixels[w + 1], 2);  // (1 + 1) % 3
  int64_t total = 0, previous = h * w;
  for (const auto& c : j["class_counts"]) {
    EXPECT_FALSE(c.contains("label"));
    EXPECT_LE(c["pixels"].get<int64_t>(), previous);  // most pixels first
    previous = c["pixels"].get<int64_t>();
    EXPECT_EQ(std::count(labels.pixels.begin(), labels.pixels.end(), c["index"].get<int>()), previous);
    total += previous;
  }
  EXPECT_EQ(total, h * w);
  EXPECT_EQ(DecodeImageFile(overlay).width, w);

  run = Cli("segment --model seg --image " + Image() + " --size 4x7");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  j = Parsed(run);
  EXPECT_EQ(j["height"], 4);
  EXPECT_EQ(j["width"], 7);
  EXPECT_EQ(Last().parameters().at("output_height").int64_param(), 4);
  EXPECT_EQ(Last().parameters().at("output_width").int64_param(), 7);
}

TEST_F(OpenInferenceClientTest, CliEmbedAndPredictTokens) {
  const std::string npy = ::testing::TempDir() + "/v2_embedding.npy";
  Run run = Cli("embed --model cls --image " + Image() + " --npy " + npy);
  ASSERT_EQ(run.exit_code, 0) << run.out;
  EXPECT_EQ(Parsed(run)["embedding"], json({0.5, -1.0, 2.0, 0.25}));
  EXPECT_EQ(Last().outputs(0).name(), "pooler_output");
  const std::string npy_bytes = ReadFileBytes(npy);
  ASSERT_GT(npy_bytes.size(), 16u);
  EXPECT_EQ(npy_bytes.substr(npy_bytes.size() - 16), LeFloat(0.5f) + LeFloat(-1.0f) + LeFloat(2.0f) + LeFloat(0.25f));

  run = Cli("predict-tokens --model mim --image " + Image() + " --mask 1,0,0,1,1 --typed");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  json j = Parsed(run);
  EXPECT_EQ(j["mask"], json({1, 0, 0, 1, 1}));
  EXPECT_EQ(j["predicted_tokens"], json({100, -1, -1, 103, 104}));
  EXPECT_EQ(Last().inputs(1).name(), "bool_masked_pos");

  run = Cli("predict-tokens --model mim --image " + Image() + " --mask-ratio 0.5 --seed 9");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  j = Parsed(run);
  EXPECT_EQ(j["mask"], json({0, 1, 0, 1}));
  EXPECT_EQ(Last().parameters().at("mask_ratio").double_param(), 0.5);
  EXPECT_EQ(Last().parameters().at("seed").int64_param(), 9);
}

TEST_F(OpenInferenceClientTest, CliInfoAndHealth) {
  Run run = Cli("info --model cls");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  json j = Parsed(run);
  EXPECT_EQ(j["inputs"][0], json({{"name", "image"}, {"datatype", "BYTES"}, {"shape", {-1}}}));
  run = Cli("info");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  EXPECT_EQ(Parsed(run)["name"], "fake");
  run = Cli("info --model nope");
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_NE(run.out.find("NOT_FOUND: no model named 'nope'"), std::string::npos) << run.out;

  run = Cli("health");
  EXPECT_EQ(run.exit_code, 0) << run.out;
  EXPECT_EQ(Parsed(run), json({{"ready", true}}));
  run = Cli("health --model cls");
  EXPECT_EQ(run.exit_code, 0) << run.out;
  service_->ready = false;
  run = Cli("health");
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_EQ(Parsed(run), json({{"ready", false}}));
}

TEST_F(OpenInferenceClientTest, CliBenchDrivesModelInfer) {
  const int64_t before = [] {
    std::lock_guard<std::mutex> lock(service_->mu);
    return service_->infers;
  }();
  const Run run = Cli("bench --model cls --image " + Image() + " --concurrency 1,2 --duration-s 0.3 --warmup-s 0.05");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  std::istringstream lines(run.out);
  std::string line;
  int levels = 0;
  while (std::getline(lines, line)) {
    const json j = json::parse(line);
    EXPECT_EQ(j["api"], "v2");
    EXPECT_EQ(j["task"], "classify");
    EXPECT_GT(j["ok"].get<int>(), 0);
    EXPECT_EQ(j["ok"], j["calls"]);
    ++levels;
  }
  EXPECT_EQ(levels, 2);
  const inference::ModelInferRequest last = Last();
  EXPECT_EQ(last.outputs(0).name(), "probabilities");
  EXPECT_EQ(last.outputs(0).parameters().at("classification").int64_param(), 5);
  EXPECT_EQ(last.raw_input_contents_size(), 1);
  std::lock_guard<std::mutex> lock(service_->mu);
  EXPECT_GT(service_->infers, before);
}

TEST_F(OpenInferenceClientTest, CliUsageErrorsExitTwo) {
  const std::string image = " --image " + Image();
  for (const std::string& args : std::vector<std::string>{
           "segment --model seg --scores" + image, "embed --model cls --l2" + image, "embed --model cls --layers 1" + image,
        "predict-tokens --model mim --mask-ratio 0.5 --top-k 3" + image, "health --service x", "info --typed",
        "bench --model cls --task nope" + image, "classify --model cls --no-such-flag" + image,
        "classify --model cls --top-k many" + image, "explain --model cls" + image}) {
    const Run run = Cli(args);
    EXPECT_EQ(run.exit_code, 2) << args << "\n" << run.out;
    EXPECT_NE(run.out.find("Usage:"), std::string::npos) << run.out;
  }
  Run run = Cli("segment --model seg --scores" + image);
  EXPECT_NE(run.out.find("--scores is not available with --api v2 segment"), std::string::npos) << run.out;
  run = Cli("classify --model cls --no-such-flag 1" + image);
  EXPECT_NE(run.out.find("unknown flag --no-such-flag"), std::string::npos) << run.out;
  run = Cli("classify --model cls --top-k many" + image);
  EXPECT_NE(run.out.find("--top-k: "), std::string::npos) << run.out;
  // One dash works as two (as Abseil reads it), and is checked the same way.
  run = Cli("classify -model cls -top-k many" + image);
  EXPECT_EQ(run.exit_code, 2) << run.out;
  EXPECT_NE(run.out.find("--top-k: "), std::string::npos) << run.out;
  run = Cli("classify --model cls -no-such-flag" + image);
  EXPECT_EQ(run.exit_code, 2) << run.out;
  EXPECT_NE(run.out.find("unknown flag --no-such-flag"), std::string::npos) << run.out;
  // Abseil reads anything after one dash as a flag; an input named so is a usage error, not a crash.
  run = Cli("classify --model cls -5.png");
  EXPECT_EQ(run.exit_code, 2) << run.out;
  EXPECT_NE(run.out.find("unknown flag --5.png"), std::string::npos) << run.out;
  // A boolean is negated with --no-NAME (or Abseil's --noNAME), which takes no value.
  run = Cli("segment --model seg --no-scores" + image);
  EXPECT_EQ(run.exit_code, 0) << run.out;
  run = Cli("segment --model seg --noscores -no_scores" + image);
  EXPECT_EQ(run.exit_code, 0) << run.out;
  run = Cli("segment --model seg --no-scores=1" + image);
  EXPECT_EQ(run.exit_code, 2) << run.out;
  EXPECT_NE(run.out.find("--no-scores takes no value"), std::string::npos) << run.out;
  run = Cli("classify --model cls --typed" + image, "");
  EXPECT_EQ(run.exit_code, 2) << run.out;
  EXPECT_NE(run.out.find("--typed needs --api v2"), std::string::npos) << run.out;
  run = Cli("classify --model cls" + image, "--api v3 ");
  EXPECT_EQ(run.exit_code, 2) << run.out;
  EXPECT_NE(run.out.find("--api: expected beit or v2"), std::string::npos) << run.out;
  // A malformed answer is an error (exit 1) naming the problem.
  service_->malformed = true;
  run = Cli("classify --model cls" + image);
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_NE(run.out.find("INTERNAL: malformed ModelInferResponse"), std::string::npos) << run.out;
}

}  // namespace
}  // namespace beit::client
