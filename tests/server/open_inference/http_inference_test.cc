// End-to-end: the Open Inference Protocol (KServe v2) over HTTP/REST on a real beit-server
// (--http-port), with cpp-httplib's client: every endpoint, JSON and Triton's binary data
// extension, errors, and agreement with the same server's beit.v1 answers.
#include <httplib.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "beit/v1/beit_service.grpc.pb.h"
#include "model/io/safetensors.h"
#include "tests/server/fixture_data.h"
#include "tests/server/server_suite.h"

namespace beit::testing {
namespace {

using json = nlohmann::json;
namespace pb = beit::v1;

std::string LengthPrefixed(const std::string& element) {
  const uint32_t n = static_cast<uint32_t>(element.size());
  return std::string(reinterpret_cast<const char*>(&n), 4) + element;
}

// A binary-extension body: the JSON header, then the binary section.
std::pair<std::string, httplib::Headers> BinaryBody(const json& header, const std::string& binary) {
  const std::string text = header.dump();
  return {text + binary, {{"Inference-Header-Content-Length", std::to_string(text.size())}}};
}

class HttpInferenceTest : public ServerSuite {
 protected:
  static void SetUpTestSuite() {
    StartServer({"--model", "cls=" + ModelDir("cls-relpos-meanpool"), "--model",
                "abs=" + ModelDir("cls-abspos-clstoken"), "--model", "seg=" + ModelDir("seg-upernet"),
                "--model", "mim=" + ModelDir("mim-shared-relpos"), "--max-queue-size", "4"});
    ASSERT_GT(server_->http_port(), 0);
  }
  static httplib::Client Client() {
    httplib::Client client("127.0.0.1", server_->http_port());
    client.set_read_timeout(60, 0);
    return client;
  }
  std::unique_ptr<pb::BeitService::Stub> V1() { return pb::BeitService::NewStub(server_->channel()); }
};

TEST_F(HttpInferenceTest, HealthServerAndModelEndpoints) {
  httplib::Client client = Client();
  auto live = client.Get("/v2/health/live");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  auto ready = client.Get("/v2/health/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  auto server = client.Get("/v2");
  ASSERT_TRUE(server);
  ASSERT_EQ(server->status, 200);
  const json metadata = json::parse(server->body);
  EXPECT_EQ(metadata["name"], "beit-serve");
  EXPECT_NE(std::find(metadata["extensions"].begin(), metadata["extensions"].end(), "binary_tensor_data"),
            metadata["extensions"].end());
  for (const char* path : {"/v2/models/cls", "/v2/models/cls/versions/1"}) {
    auto model = client.Get(path);
    ASSERT_TRUE(model);
    ASSERT_EQ(model->status, 200) << path;
    const json m = json::parse(model->body);
    EXPECT_EQ(m["name"], "cls");
    EXPECT_EQ(m["versions"], json::array({"1"}));
    EXPECT_EQ(m["inputs"][0]["name"], "image");
    EXPECT_EQ(m["outputs"][0]["name"], "probabilities");
    EXPECT_EQ(m["outputs"][0]["shape"], json::array({-1, 5}));
  }
  for (const char* path : {"/v2/models/cls/ready", "/v2/models/cls/versions/1/ready"}) {
    auto r = client.Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << path;
  }
  for (const char* path : {"/v2/models/nope", "/v2/models/nope/ready", "/v2/models/cls/versions/2",
                           "/v2/models/cls/versions/2/ready", "/v2/unknown"}) {
    auto r = client.Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_TRUE(json::parse(r->body).contains("error")) << path << ": " << r->body;
  }
}

TEST_F(HttpInferenceTest, JsonPixelValuesMatchTransformers) {
  const std::string dir = ModelDir("cls-relpos-meanpool");
  const Tensor pixels = ReadTensor(dir + "/inputs.safetensors", "pixel_values");  // [2, 3, 32, 32]
  const Tensor logits = ReadTensor(dir + "/outputs.safetensors", "logits");       // [2, 5]
  json nested = json::array();  // [2][3][32][32] as nested arrays, as JSON clients send them
  for (int n = 0; n < 2; ++n) {
    json image = json::array();
    for (int c = 0; c < 3; ++c) {
      json plane = json::array();
      for (int y = 0; y < 32; ++y) {
        json row = json::array();
        for (int x = 0; x < 32; ++x) row.push_back(pixels.ptr()[((n * 3 + c) * 32 + y) * 32 + x]);
        plane.push_back(row);
      }
      image.push_back(plane);
    }
    nested.push_back(image);
  }
  const json request = {{"id", "json-1"},
                        {"inputs", {{{"name", "pixel_values"}, {"datatype", "FP32"}, {"shape", {2, 3, 32, 32}},
                                     {"data", nested}}}},
                        {"outputs", {{{"name", "logits"}}}}};
  httplib::Client client = Client();
  auto r = client.Post("/v2/models/cls/infer", request.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json answer = json::parse(r->body);
  EXPECT_EQ(answer["id"], "json-1");
  EXPECT_EQ(answer["model_name"], "cls");
  EXPECT_EQ(answer["model_version"], "1");
  const json& out = answer["outputs"][0];
  EXPECT_EQ(out["name"], "logits");
  EXPECT_EQ(out["datatype"], "FP32");
  EXPECT_EQ(out["shape"], json::array({2, 5}));
  ASSERT_EQ(out["data"].size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(out["data"][i].get<double>(), logits.ptr()[i], 1e-4);
}

// Encoded images through the binary extension, N = 1 and N = 3, with binary and JSON outputs:
// the same scores as beit.v1 Classify.
TEST_F(HttpInferenceTest, BinaryImagesAgreeWithClassify) {
  const std::vector<std::string> files = {"chelsea_q90_420.jpg", "astronaut_96x64_exif6.jpg", "logo_240_rgba.png"};
  std::vector<pb::ClassifyResponse> v1(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    pb::ClassifyRequest request;
    request.set_model("abs");
    request.mutable_image()->set_encoded(TestImageBytes(files[i]));
    request.set_top_k(7);
    grpc::ClientContext context;
    ASSERT_TRUE(V1()->Classify(&context, request, &v1[i]).ok());
  }
  httplib::Client client = Client();
  for (size_t n : {size_t{1}, size_t{3}}) {
    std::string binary;
    for (size_t i = 0; i < n; ++i) binary += LengthPrefixed(TestImageBytes(files[i]));
    for (bool binary_output : {false, true}) {
      const json header = {
          {"inputs",
           {{{"name", "image"}, {"datatype", "BYTES"}, {"shape", {n}},
             {"parameters", {{"binary_data_size", binary.size()}}}}}},
          {"outputs", {{{"name", "probabilities"}, {"parameters", {{"binary_data", binary_output}}}},
                       {{"name", "logits"}, {"parameters", {{"classification", 2}}}}}}};
      auto [body, headers] = BinaryBody(header, binary);
      auto r = client.Post("/v2/models/abs/infer", headers, body, "application/octet-stream");
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << r->body.substr(0, 300);
      std::vector<float> probabilities;
      json answer;
      if (binary_output) {
        ASSERT_TRUE(r->has_header("Inference-Header-Content-Length"));
        const size_t length = std::stoul(r->get_header_value("Inference-Header-Content-Length"));
        answer = json::parse(r->body.substr(0, length));
        const json& p = answer["outputs"][0];
        EXPECT_EQ(p["name"], "probabilities");
        const size_t size = p["parameters"]["binary_data_size"];
        ASSERT_EQ(size, n * 7 * sizeof(float));
        probabilities.resize(n * 7);
        std::memcpy(probabilities.data(), r->body.data() + length, size);
        EXPECT_EQ(r->body.size(), length + size);
      } else {
        answer = json::parse(r->body);
        for (const auto& v : answer["outputs"][0]["data"]) probabilities.push_back(v.get<float>());
      }
      ASSERT_EQ(probabilities.size(), n * 7);
      for (size_t i = 0; i < n; ++i) {
        for (const auto& prediction : v1[i].predictions()) {
          EXPECT_NEAR(probabilities[i * 7 + prediction.index()], prediction.score(), 1e-6) << files[i];
        }
      }
      const json& strings = answer["outputs"][1];
      EXPECT_EQ(strings["datatype"], "BYTES");
      EXPECT_EQ(strings["shape"], json::array({n, 2}));
      for (size_t i = 0; i < n; ++i) {
        const std::string best = strings["data"][i * 2];
        EXPECT_NE(best.find(":" + std::to_string(v1[i].predictions(0).index()) + ":" + v1[i].predictions(0).label()),
                  std::string::npos)
            << best;
      }
    }
  }
}

TEST_F(HttpInferenceTest, SegmentationAndMaskedImageModeling) {
  httplib::Client client = Client();
  const std::string image = TestImageBytes("astronaut_96x64_exif6.jpg");
  {
    const std::string binary = LengthPrefixed(image);
    const json header = {{"inputs", {{{"name", "image"}, {"datatype", "BYTES"}, {"shape", {1}},
                                      {"parameters", {{"binary_data_size", binary.size()}}}}}}};
    auto [body, headers] = BinaryBody(header, binary);
    auto r = client.Post("/v2/models/seg/infer", headers, body, "application/octet-stream");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json answer = json::parse(r->body);
    pb::SegmentRequest request;
    request.set_model("seg");
    request.mutable_image()->set_encoded(image);
    pb::SegmentResponse want;
    grpc::ClientContext context;
    ASSERT_TRUE(V1()->Segment(&context, request, &want).ok());
    const json& map = answer["outputs"][0];
    EXPECT_EQ(map["name"], "label_map");
    EXPECT_EQ(map["datatype"], "INT32");
    EXPECT_EQ(map["shape"], json::array({1, want.height(), want.width()}));
    EXPECT_EQ(map["data"].get<std::vector<int>>(), std::vector<int>(want.label_map().begin(), want.label_map().end()));
  }
  {
    // JSON BYTES image element: the protocol's JSON carries BYTES as strings; binary data must
    // use the binary extension, so send the mask as JSON booleans and the image in binary.
    const std::string binary = LengthPrefixed(image);
    std::vector<bool> mask(64, false);
    for (int p : {0, 5, 17, 63}) mask[p] = true;
    const json header = {{"inputs",
                          {{{"name", "image"}, {"datatype", "BYTES"}, {"shape", {1}},
                            {"parameters", {{"binary_data_size", binary.size()}}}},
                           {{"name", "bool_masked_pos"}, {"datatype", "BOOL"}, {"shape", {1, 64}}, {"data", mask}}}}};
    auto [body, headers] = BinaryBody(header, binary);
    auto r = client.Post("/v2/models/mim/infer", headers, body, "application/octet-stream");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json tokens = json::parse(r->body)["outputs"][0];
    EXPECT_EQ(tokens["name"], "predicted_tokens");
    EXPECT_EQ(tokens["datatype"], "INT64");
    for (int p = 0; p < 64; ++p) EXPECT_EQ(tokens["data"][p].get<int64_t>() >= 0, mask[p]) << p;
  }
}

TEST_F(HttpInferenceTest, BadRequestsGetStatusAndJsonError) {
  httplib::Client client = Client();
  const std::string jpeg = TestImageBytes("chelsea_q90_420.jpg");
  auto post = [&](const std::string& path, const std::string& body, const httplib::Headers& headers = {}) {
    auto r = client.Post(path, headers, body, "application/json");
    EXPECT_TRUE(r);
    return r ? std::make_pair(r->status, r->body) : std::make_pair(0, std::string());
  };
  const json good_pixels = {{"inputs", {{{"name", "pixel_values"}, {"datatype", "FP32"}, {"shape", {1, 3, 32, 32}},
                                          {"data", std::vector<float>(3 * 32 * 32, 0.f)}}}}};
  struct Case {
    std::string what, path, body;
    httplib::Headers headers;
    int status;
    std::string message;
  };
  const std::string binary = LengthPrefixed(jpeg);
  auto binary_case = [&](size_t declared) {
    const json header = {{"inputs", {{{"name", "image"}, {"datatype", "BYTES"}, {"shape", {1}},
                                      {"parameters", {{"binary_data_size", declared}}}}}}};
    return BinaryBody(header, binary);
  };
  auto [short_body, short_headers] = binary_case(binary.size() - 10);
  auto [long_body, long_headers] = binary_case(binary.size() + 10);
  json bad_name = good_pixels;
  bad_name["inputs"][0]["name"] = "pictures";
  json bad_type = good_pixels;
  bad_type["inputs"][0]["datatype"] = "INT64";
  json bad_shape = good_pixels;
  bad_shape["inputs"][0]["shape"] = {1, 3, 16, 16};
  bad_shape["inputs"][0]["data"] = std::vector<float>(3 * 16 * 16, 0.f);
  const json not_image = {{"inputs", {{{"name", "image"}, {"datatype", "BYTES"}, {"shape", {1}},
                                       {"data", {"this is not a picture"}}}}}};
  const json too_many = {{"inputs", {{{"name", "image"}, {"datatype", "BYTES"}, {"shape", {5}},
                                      {"data", {"a", "b", "c", "d", "e"}}}}}};
  const std::vector<Case> cases = {
      {"unknown model", "/v2/models/nope/infer", good_pixels.dump(), {}, 404, "nope"},
      {"malformed JSON", "/v2/models/cls/infer", "{\"inputs\": [", {}, 400, ""},
      {"bad tensor name", "/v2/models/cls/infer", bad_name.dump(), {}, 400, "pictures"},
      {"bad datatype", "/v2/models/cls/infer", bad_type.dump(), {}, 400, "pixel_values"},
      {"bad shape", "/v2/models/cls/infer", bad_shape.dump(), {}, 400, "pixel_values"},
      {"undecodable image", "/v2/models/cls/infer", not_image.dump(), {}, 400, "element 0"},
      {"binary section longer than declared", "/v2/models/cls/infer", short_body, short_headers, 400, ""},
      {"binary section shorter than declared", "/v2/models/cls/infer", long_body, long_headers, 400, ""},
      {"more images than the queue holds", "/v2/models/cls/infer", too_many.dump(), {}, 429, "--max-queue-size"},
  };
  for (const Case& c : cases) {
    const auto [status, body] = post(c.path, c.body, c.headers);
    EXPECT_EQ(status, c.status) << c.what << ": " << body;
    json error;
    ASSERT_NO_THROW(error = json::parse(body)) << c.what << ": " << body;
    ASSERT_TRUE(error.contains("error")) << c.what << ": " << body;
    EXPECT_NE(error["error"].get<std::string>().find(c.message), std::string::npos) << c.what << ": " << body;
  }
  const auto [status, body] = post("/v2/models/cls/infer", good_pixels.dump());
  EXPECT_EQ(status, 200) << "still answering: " << body;
}

}  // namespace
}  // namespace beit::testing
