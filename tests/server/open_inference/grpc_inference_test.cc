// End-to-end: the Open Inference Protocol (KServe v2) on a real beit-server's gRPC port, through
// a client built from the protocol's proto (proto/inference/grpc_predict_v2.proto), not beit.v1.
// Numbers are checked against Transformers' goldens and against the same server's beit.v1 answers.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "beit/v1/beit_service.grpc.pb.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "model/io/safetensors.h"
#include "tests/server/fixture_data.h"
#include "tests/server/server_suite.h"

namespace beit::testing {
namespace {

namespace v2 = inference;
namespace pb = beit::v1;

// Triton's BYTES serialisation: a 4-byte little-endian length before each element.
std::string SerializeBytes(const std::vector<std::string>& elements) {
  std::string out;
  for (const std::string& e : elements) {
    const uint32_t n = static_cast<uint32_t>(e.size());
    out.append(reinterpret_cast<const char*>(&n), 4);
    out += e;
  }
  return out;
}

std::vector<std::string> DeserializeBytes(const std::string& raw) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at + 4 <= raw.size()) {
    uint32_t n;
    std::memcpy(&n, raw.data() + at, 4);
    out.push_back(raw.substr(at + 4, n));
    at += 4 + n;
  }
  EXPECT_EQ(at, raw.size());
  return out;
}

template <typename Repeated>
std::string ShapeText(const Repeated& shape) {
  std::string out;
  for (int64_t d : shape) out += (out.empty() ? "" : ",") + std::to_string(d);
  return out;
}

// How the request carries its inputs, and so how the answer comes back.
enum class Contents { kTyped, kRaw };

v2::ModelInferRequest ImageRequest(const std::string& model, const std::vector<std::string>& images, Contents contents) {
  v2::ModelInferRequest request;
  request.set_model_name(model);
  request.set_id("request-42");
  auto* input = request.add_inputs();
  input->set_name("image");
  input->set_datatype("BYTES");
  input->add_shape(static_cast<int64_t>(images.size()));
  if (contents == Contents::kRaw) {
    request.add_raw_input_contents(SerializeBytes(images));
  } else {
    for (const std::string& image : images) input->mutable_contents()->add_bytes_contents(image);
  }
  return request;
}

// Images [first, first + count) of a [B, 3, H, W] tensor as pixel_values.
v2::ModelInferRequest PixelRequest(const std::string& model, const Tensor& batch, int64_t first, int64_t count,
                                   Contents contents) {
  v2::ModelInferRequest request;
  request.set_model_name(model);
  auto* input = request.add_inputs();
  input->set_name("pixel_values");
  input->set_datatype("FP32");
  input->add_shape(count);
  for (size_t d = 1; d < batch.shape.size(); ++d) input->add_shape(batch.shape[d]);
  const int64_t per_image = batch.numel() / batch.dim(0);
  const float* begin = batch.ptr() + first * per_image;
  const float* end = begin + count * per_image;
  if (contents == Contents::kRaw) {
    request.add_raw_input_contents(std::string(reinterpret_cast<const char*>(begin), (end - begin) * sizeof(float)));
  } else {
    input->mutable_contents()->mutable_fp32_contents()->Add(begin, end);
  }
  return request;
}

void RequestOutput(v2::ModelInferRequest& request, const std::string& name, int64_t classification = 0) {
  auto* out = request.add_outputs();
  out->set_name(name);
  if (classification > 0) (*out->mutable_parameters())["classification"].set_int64_param(classification);
}

// An output of a response, as the client reads either form.
struct Output {
  std::string datatype;
  std::vector<int64_t> shape;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};

Output GetOutput(const v2::ModelInferResponse& response, const std::string& name) {
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& t = response.outputs(i);
    if (t.name() != name) continue;
    Output out;
    out.datatype = t.datatype();
    out.shape.assign(t.shape().begin(), t.shape().end());
    if (response.raw_output_contents_size() > 0) {
      const std::string& raw = response.raw_output_contents(i);
      if (t.datatype() == "FP32") {
        out.floats.resize(raw.size() / 4);
        std::memcpy(out.floats.data(), raw.data(), raw.size());
      } else if (t.datatype() == "INT32") {
        std::vector<int32_t> v(raw.size() / 4);
        std::memcpy(v.data(), raw.data(), raw.size());
        out.ints.assign(v.begin(), v.end());
      } else if (t.datatype() == "INT64") {
        out.ints.resize(raw.size() / 8);
        std::memcpy(out.ints.data(), raw.data(), raw.size());
      } else if (t.datatype() == "BYTES") {
        out.strings = DeserializeBytes(raw);
      }
    } else {
      const auto& c = t.contents();
      out.floats.assign(c.fp32_contents().begin(), c.fp32_contents().end());
      if (t.datatype() == "INT32") out.ints.assign(c.int_contents().begin(), c.int_contents().end());
      if (t.datatype() == "INT64") out.ints.assign(c.int64_contents().begin(), c.int64_contents().end());
      out.strings.assign(c.bytes_contents().begin(), c.bytes_contents().end());
    }
    return out;
  }
  ADD_FAILURE() << "no output " << name;
  return {};
}

class GrpcInferenceTest : public ServerSuite {
 protected:
  static void SetUpTestSuite() {
    StartServer({"--model", "cls=" + ModelDir("cls-relpos-meanpool"), "--model",
                "abs=" + ModelDir("cls-abspos-clstoken"), "--model", "seg=" + ModelDir("seg-upernet"),
                "--model", "mim=" + ModelDir("mim-shared-relpos"), "--model",
                "base=" + ModelDir("model-gelu-new"), "--max-batch-size", "8", "--max-queue-size", "4"});
  }
  std::unique_ptr<v2::GRPCInferenceService::Stub> V2() { return v2::GRPCInferenceService::NewStub(server_->channel()); }
  std::unique_ptr<pb::BeitService::Stub> V1() { return pb::BeitService::NewStub(server_->channel()); }

  grpc::Status Infer(const v2::ModelInferRequest& request, v2::ModelInferResponse* response) {
    grpc::ClientContext context;
    return V2()->ModelInfer(&context, request, response);
  }
};

TEST_F(GrpcInferenceTest, HealthAndServerMetadata) {
  grpc::ClientContext c1, c2, c3;
  v2::ServerLiveResponse live;
  ASSERT_TRUE(V2()->ServerLive(&c1, v2::ServerLiveRequest(), &live).ok());
  EXPECT_TRUE(live.live());
  v2::ServerReadyResponse ready;
  ASSERT_TRUE(V2()->ServerReady(&c2, v2::ServerReadyRequest(), &ready).ok());
  EXPECT_TRUE(ready.ready());
  v2::ServerMetadataResponse metadata;
  ASSERT_TRUE(V2()->ServerMetadata(&c3, v2::ServerMetadataRequest(), &metadata).ok());
  EXPECT_EQ(metadata.name(), "beit-serve");
  EXPECT_FALSE(metadata.version().empty());
  const std::vector<std::string> extensions(metadata.extensions().begin(), metadata.extensions().end());
  EXPECT_NE(std::find(extensions.begin(), extensions.end(), "classification"), extensions.end());
  EXPECT_NE(std::find(extensions.begin(), extensions.end(), "binary_tensor_data"), extensions.end());
}

TEST_F(GrpcInferenceTest, ModelReadyAndVersions) {
  for (const char* version : {"", "1"}) {
    v2::ModelReadyRequest request;
    request.set_name("cls");
    request.set_version(version);
    v2::ModelReadyResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(V2()->ModelReady(&context, request, &response).ok());
    EXPECT_TRUE(response.ready());
  }
  for (auto [name, version] : {std::pair{"nope", ""}, std::pair{"cls", "2"}}) {
    v2::ModelReadyRequest request;
    request.set_name(name);
    request.set_version(version);
    v2::ModelReadyResponse response;
    grpc::ClientContext context;
    EXPECT_EQ(V2()->ModelReady(&context, request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
    v2::ModelMetadataRequest m;
    m.set_name(name);
    m.set_version(version);
    v2::ModelMetadataResponse metadata;
    grpc::ClientContext context2;
    EXPECT_EQ(V2()->ModelMetadata(&context2, m, &metadata).error_code(), grpc::StatusCode::NOT_FOUND);
  }
}

TEST_F(GrpcInferenceTest, ModelMetadataListsTheTensorsOfEachHead) {
  auto metadata = [&](const std::string& name) {
    v2::ModelMetadataRequest request;
    request.set_name(name);
    v2::ModelMetadataResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(V2()->ModelMetadata(&context, request, &response).ok());
    std::map<std::string, std::string> tensors;
    for (const auto& t : response.inputs()) {
      tensors["in " + t.name()] = t.datatype() + " " + ShapeText(t.shape());
    }
    for (const auto& t : response.outputs()) {
      tensors["out " + t.name()] = t.datatype() + " " + ShapeText(t.shape());
    }
    EXPECT_EQ(response.name(), name);
    EXPECT_EQ(std::vector<std::string>(response.versions().begin(), response.versions().end()),
              std::vector<std::string>{"1"});
    return std::make_pair(tensors, response.outputs(0).name());
  };
  auto [cls, cls_default] = metadata("cls");
  EXPECT_EQ(cls_default, "probabilities");
  EXPECT_EQ(cls["in image"], "BYTES -1");
  EXPECT_EQ(cls["in pixel_values"], "FP32 -1,3,32,32");
  EXPECT_EQ(cls["out probabilities"], "FP32 -1,5");
  EXPECT_EQ(cls["out logits"], "FP32 -1,5");
  EXPECT_EQ(cls["out pooler_output"], "FP32 -1,32");
  EXPECT_EQ(cls["out last_hidden_state"], "FP32 -1,17,32");
  auto [seg, seg_default] = metadata("seg");
  EXPECT_EQ(seg_default, "label_map");
  EXPECT_EQ(seg["out label_map"], "INT32 -1,-1,-1");
  auto [mim, mim_default] = metadata("mim");
  EXPECT_EQ(mim_default, "predicted_tokens");
  EXPECT_EQ(mim["in bool_masked_pos"], "BOOL -1,64");
  EXPECT_EQ(mim["out predicted_tokens"], "INT64 -1,64");
  EXPECT_EQ(mim["out logits"], "FP32 -1,64,96");
  EXPECT_EQ(mim.count("out pooler_output"), 0u);  // BeitForMaskedImageModeling has no pooler
  auto [base, base_default] = metadata("base");
  EXPECT_EQ(base_default, "pooler_output");
}

TEST_F(GrpcInferenceTest, ClassifyPixelValuesMatchesTransformersTypedAndRaw) {
  const std::string dir = ModelDir("cls-relpos-meanpool");
  const Tensor pixels = ReadTensor(dir + "/inputs.safetensors", "pixel_values");  // [2, 3, 32, 32]
  const Tensor logits = ReadTensor(dir + "/outputs.safetensors", "logits");       // [2, 5]
  for (Contents contents : {Contents::kTyped, Contents::kRaw}) {
    v2::ModelInferRequest request = PixelRequest("cls", pixels, 0, 2, contents);
    request.set_id("golden");
    RequestOutput(request, "logits");
    RequestOutput(request, "probabilities");
    v2::ModelInferResponse response;
    ASSERT_TRUE(Infer(request, &response).ok());
    EXPECT_EQ(response.model_name(), "cls");
    EXPECT_EQ(response.model_version(), "1");
    EXPECT_EQ(response.id(), "golden");
    EXPECT_EQ(response.raw_output_contents_size() > 0, contents == Contents::kRaw);
    const Output got = GetOutput(response, "logits");
    EXPECT_EQ(got.shape, (std::vector<int64_t>{2, 5}));
    ASSERT_EQ(got.floats.size(), 10u);
    for (int i = 0; i < 10; ++i) EXPECT_NEAR(got.floats[i], logits.ptr()[i], 1e-4);
    const Output p = GetOutput(response, "probabilities");
    for (int n = 0; n < 2; ++n) {
      double sum = 0;
      for (int j = 0; j < 5; ++j) sum += p.floats[n * 5 + j];
      EXPECT_NEAR(sum, 1.0, 1e-5);
    }
  }
}

// N = 1 and N = 3 encoded images: probabilities, logits and the classification strings agree
// with beit.v1 Classify of each image alone.
TEST_F(GrpcInferenceTest, EncodedImagesAgreeWithClassify) {
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
  for (Contents contents : {Contents::kTyped, Contents::kRaw}) {
    for (size_t n : {size_t{1}, size_t{3}}) {
      std::vector<std::string> images;
      for (size_t i = 0; i < n; ++i) images.push_back(TestImageBytes(files[i]));
      v2::ModelInferRequest request = ImageRequest("abs", images, contents);
      RequestOutput(request, "probabilities");
      v2::ModelInferResponse response;
      ASSERT_TRUE(Infer(request, &response).ok());
      EXPECT_EQ(response.id(), "request-42");
      const Output p = GetOutput(response, "probabilities");
      ASSERT_EQ(p.shape, (std::vector<int64_t>{static_cast<int64_t>(n), 7}));
      for (size_t i = 0; i < n; ++i) {
        for (const auto& prediction : v1[i].predictions()) {
          EXPECT_NEAR(p.floats[i * 7 + prediction.index()], prediction.score(), 1e-6) << files[i];
        }
      }
      v2::ModelInferRequest strings = ImageRequest("abs", images, contents);
      RequestOutput(strings, "probabilities", 3);
      v2::ModelInferResponse labelled;
      ASSERT_TRUE(Infer(strings, &labelled).ok());
      const Output top = GetOutput(labelled, "probabilities");
      EXPECT_EQ(top.datatype, "BYTES");
      EXPECT_EQ(top.shape, (std::vector<int64_t>{static_cast<int64_t>(n), 3}));
      ASSERT_EQ(top.strings.size(), n * 3);
      for (size_t i = 0; i < n; ++i) {
        for (int k = 0; k < 3; ++k) {
          const auto& want = v1[i].predictions(k);
          const std::string& got = top.strings[i * 3 + k];
          const size_t colon = got.find(':');
          EXPECT_NEAR(std::stod(got.substr(0, colon)), want.score(), 1e-6) << got;
          EXPECT_EQ(got.substr(colon), ":" + std::to_string(want.index()) + ":" + want.label()) << got;
          EXPECT_GE(colon - got.find('.') - 1, 6u) << "at least 6 decimals: " << got;
        }
      }
    }
  }
}

TEST_F(GrpcInferenceTest, ClassificationStringsFromLogits) {
  const std::string dir = ModelDir("cls-relpos-meanpool");
  const Tensor pixels = ReadTensor(dir + "/inputs.safetensors", "pixel_values");
  const Tensor logits = ReadTensor(dir + "/outputs.safetensors", "logits");
  v2::ModelInferRequest request = PixelRequest("cls", pixels, 1, 1, Contents::kTyped);
  RequestOutput(request, "logits", 99);  // more than there are labels: all 5
  v2::ModelInferResponse response;
  ASSERT_TRUE(Infer(request, &response).ok());
  const Output top = GetOutput(response, "logits");
  ASSERT_EQ(top.shape, (std::vector<int64_t>{1, 5}));
  std::vector<int> order = {0, 1, 2, 3, 4};
  std::sort(order.begin(), order.end(), [&](int a, int b) { return logits.ptr()[5 + a] > logits.ptr()[5 + b]; });
  for (int k = 0; k < 5; ++k) {
    const std::string& s = top.strings[k];
    EXPECT_NEAR(std::stod(s.substr(0, s.find(':'))), logits.ptr()[5 + order[k]], 1e-4) << s;
    EXPECT_NE(s.find(":" + std::to_string(order[k]) + ":"), std::string::npos) << s;
  }
}

TEST_F(GrpcInferenceTest, SegmentationLabelMapsEqualSegment) {
  const std::vector<std::string> files = {"chelsea_seg_q90_420.jpg", "astronaut_96x64_exif6.jpg",
                                          "coffee_q90_444.jpg"};
  auto segment = [&](const std::string& file, int h, int w) {
    pb::SegmentRequest request;
    request.set_model("seg");
    request.mutable_image()->set_encoded(TestImageBytes(file));
    request.set_output_height(h);
    request.set_output_width(w);
    pb::SegmentResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(V1()->Segment(&context, request, &response).ok());
    return response;
  };
  // N = 1: the original size, as Segment.
  {
    v2::ModelInferRequest request = ImageRequest("seg", {TestImageBytes(files[1])}, Contents::kRaw);
    v2::ModelInferResponse response;
    ASSERT_TRUE(Infer(request, &response).ok());
    const Output map = GetOutput(response, "label_map");
    const pb::SegmentResponse want = segment(files[1], 0, 0);
    ASSERT_EQ(map.shape, (std::vector<int64_t>{1, want.height(), want.width()}));
    EXPECT_EQ(map.ints, std::vector<int64_t>(want.label_map().begin(), want.label_map().end()));
  }
  // N = 3 of different sizes: the model's input size; with output_height/width: that size.
  for (auto [h, w] : {std::pair{0, 0}, std::pair{20, 36}}) {
    std::vector<std::string> images;
    for (const std::string& f : files) images.push_back(TestImageBytes(f));
    v2::ModelInferRequest request = ImageRequest("seg", images, Contents::kTyped);
    if (h > 0) {
      (*request.mutable_parameters())["output_height"].set_int64_param(h);
      (*request.mutable_parameters())["output_width"].set_int64_param(w);
    }
    RequestOutput(request, "label_map");
    RequestOutput(request, "logits");
    v2::ModelInferResponse response;
    ASSERT_TRUE(Infer(request, &response).ok());
    const Output map = GetOutput(response, "label_map");
    const int64_t H = h > 0 ? h : 64, W = w > 0 ? w : 64;  // seg-upernet takes 64x64
    ASSERT_EQ(map.shape, (std::vector<int64_t>{3, H, W}));
    for (size_t i = 0; i < files.size(); ++i) {
      const pb::SegmentResponse want = segment(files[i], static_cast<int>(H), static_cast<int>(W));
      EXPECT_EQ(std::vector<int64_t>(map.ints.begin() + i * H * W, map.ints.begin() + (i + 1) * H * W),
                std::vector<int64_t>(want.label_map().begin(), want.label_map().end()))
          << files[i];
    }
    const Output logits = GetOutput(response, "logits");
    EXPECT_EQ(logits.shape.size(), 4u);
    EXPECT_EQ(logits.shape[0], 3);
    EXPECT_EQ(logits.floats.size(), static_cast<size_t>(logits.shape[0] * logits.shape[1] * logits.shape[2] *
                                                        logits.shape[3]));
  }
}

TEST_F(GrpcInferenceTest, MaskedImageModelingMatchesTransformersAndPredictTokens) {
  const std::string dir = ModelDir("mim-shared-relpos");
  const SafetensorsFile inputs = SafetensorsFile::Open(dir + "/inputs.safetensors");
  const Tensor pixels = inputs.ReadFloat(*inputs.Find("pixel_values"));                  // [2, 3, 32, 32]
  const std::vector<uint8_t> mask = inputs.ReadBytes(*inputs.Find("bool_masked_pos"));   // [2, 64]
  const Tensor logits = ReadTensor(dir + "/outputs.safetensors", "logits");              // [2, 64, 96]
  for (Contents contents : {Contents::kTyped, Contents::kRaw}) {
    v2::ModelInferRequest request = PixelRequest("mim", pixels, 0, 2, contents);
    auto* m = request.add_inputs();
    m->set_name("bool_masked_pos");
    m->set_datatype("BOOL");
    m->add_shape(2);
    m->add_shape(64);
    if (contents == Contents::kRaw) {
      request.add_raw_input_contents(std::string(mask.begin(), mask.end()));
    } else {
      for (uint8_t b : mask) m->mutable_contents()->add_bool_contents(b != 0);
    }
    RequestOutput(request, "predicted_tokens");
    RequestOutput(request, "logits");
    v2::ModelInferResponse response;
    ASSERT_TRUE(Infer(request, &response).ok());
    const Output tokens = GetOutput(response, "predicted_tokens");
    ASSERT_EQ(tokens.shape, (std::vector<int64_t>{2, 64}));
    const Output got = GetOutput(response, "logits");
    ASSERT_EQ(got.floats.size(), 2u * 64 * 96);
    for (size_t i = 0; i < got.floats.size(); ++i) ASSERT_NEAR(got.floats[i], logits.ptr()[i], 1e-4) << i;
    for (int p = 0; p < 128; ++p) {
      if (!mask[p]) {
        EXPECT_EQ(tokens.ints[p], -1);
        continue;
      }
      const float* row = logits.ptr() + p * 96;
      EXPECT_EQ(tokens.ints[p], std::max_element(row, row + 96) - row);
    }
  }
  // mask_ratio + seed: the same patches and tokens as PredictTokens with that ratio and seed.
  pb::PredictTokensRequest v1_request;
  v1_request.set_model("mim");
  v1_request.mutable_image()->set_encoded(TestImageBytes("chelsea_q90_420.jpg"));
  v1_request.set_mask_ratio(0.4f);
  v1_request.set_seed(11);
  v1_request.set_top_k(1);
  pb::PredictTokensResponse v1;
  grpc::ClientContext context;
  ASSERT_TRUE(V1()->PredictTokens(&context, v1_request, &v1).ok());
  v2::ModelInferRequest request = ImageRequest("mim", {TestImageBytes("chelsea_q90_420.jpg")}, Contents::kRaw);
  (*request.mutable_parameters())["mask_ratio"].set_double_param(0.4);
  (*request.mutable_parameters())["seed"].set_int64_param(11);
  v2::ModelInferResponse response;
  ASSERT_TRUE(Infer(request, &response).ok());
  const Output tokens = GetOutput(response, "predicted_tokens");
  std::vector<int64_t> want(64, -1);
  for (const auto& patch : v1.patches()) want[patch.patch_index()] = patch.predictions(0).token_id();
  EXPECT_EQ(tokens.ints, want);
}

TEST_F(GrpcInferenceTest, PoolerAndLastHiddenStateMatchTransformersAndEmbed) {
  const std::string dir = ModelDir("model-gelu-new");
  const Tensor pixels = ReadTensor(dir + "/inputs.safetensors", "pixel_values");
  const Tensor pooler = ReadTensor(dir + "/outputs.safetensors", "pooler_output");
  const Tensor last = ReadTensor(dir + "/outputs.safetensors", "last_hidden_state");
  v2::ModelInferRequest request = PixelRequest("base", pixels, 0, pixels.dim(0), Contents::kRaw);
  RequestOutput(request, "pooler_output");
  RequestOutput(request, "last_hidden_state");
  v2::ModelInferResponse response;
  ASSERT_TRUE(Infer(request, &response).ok());
  const Output p = GetOutput(response, "pooler_output");
  EXPECT_EQ(p.shape, std::vector<int64_t>(pooler.shape.begin(), pooler.shape.end()));
  ASSERT_EQ(p.floats.size(), pooler.data.size());
  for (size_t i = 0; i < p.floats.size(); ++i) EXPECT_NEAR(p.floats[i], pooler.data[i], 1e-4);
  const Output h = GetOutput(response, "last_hidden_state");
  EXPECT_EQ(h.shape, std::vector<int64_t>(last.shape.begin(), last.shape.end()));
  ASSERT_EQ(h.floats.size(), last.data.size());
  for (size_t i = 0; i < h.floats.size(); ++i) ASSERT_NEAR(h.floats[i], last.data[i], 1e-4) << i;

  // Without outputs: the default, pooler_output, equal to Embed's embedding.
  v2::ModelInferRequest plain = ImageRequest("cls", {TestImageBytes("chelsea_q90_420.jpg")}, Contents::kTyped);
  RequestOutput(plain, "pooler_output");
  v2::ModelInferResponse answer;
  ASSERT_TRUE(Infer(plain, &answer).ok());
  pb::EmbedRequest embed;
  embed.set_model("cls");
  embed.mutable_image()->set_encoded(TestImageBytes("chelsea_q90_420.jpg"));
  pb::EmbedResponse embedded;
  grpc::ClientContext context;
  ASSERT_TRUE(V1()->Embed(&context, embed, &embedded).ok());
  const Output e = GetOutput(answer, "pooler_output");
  ASSERT_EQ(static_cast<int>(e.floats.size()), embedded.embedding_size());
  for (size_t i = 0; i < e.floats.size(); ++i) EXPECT_NEAR(e.floats[i], embedded.embedding(i), 1e-6);
}

TEST_F(GrpcInferenceTest, BadRequestsGetClearStatuses) {
  const std::string jpeg = TestImageBytes("chelsea_q90_420.jpg");
  struct Case {
    std::string what;
    v2::ModelInferRequest request;
    grpc::StatusCode code;
    std::string message;
  };
  std::vector<Case> cases;
  auto base = [&] { return ImageRequest("cls", {jpeg}, Contents::kTyped); };
  {
    v2::ModelInferRequest r = base();
    r.set_model_name("nope");
    cases.push_back({"unknown model", r, grpc::StatusCode::NOT_FOUND, "nope"});
  }
  {
    v2::ModelInferRequest r = base();
    r.set_model_version("7");
    cases.push_back({"unknown version", r, grpc::StatusCode::NOT_FOUND, "version"});
  }
  {
    v2::ModelInferRequest r = base();
    r.mutable_inputs(0)->set_name("picture");
    cases.push_back({"bad tensor name", r, grpc::StatusCode::INVALID_ARGUMENT, "unknown input 'picture'"});
  }
  {
    v2::ModelInferRequest r = base();
    r.mutable_inputs(0)->set_datatype("FP32");
    cases.push_back({"bad datatype", r, grpc::StatusCode::INVALID_ARGUMENT, "'image'"});
  }
  {
    v2::ModelInferRequest r = base();
    r.mutable_inputs(0)->set_shape(0, 2);
    cases.push_back({"shape says 2, one element", r, grpc::StatusCode::INVALID_ARGUMENT, "'image'"});
  }
  {
    v2::ModelInferRequest r = ImageRequest("cls", {jpeg}, Contents::kRaw);
    std::string raw = r.raw_input_contents(0);
    raw[0] = static_cast<char>(raw[0] + 10);  // the length prefix runs past the end
    r.set_raw_input_contents(0, raw);
    cases.push_back({"BYTES prefix", r, grpc::StatusCode::INVALID_ARGUMENT, "'image'"});
  }
  {
    v2::ModelInferRequest r = ImageRequest("cls", {jpeg, "not an image"}, Contents::kTyped);
    cases.push_back({"undecodable image", r, grpc::StatusCode::INVALID_ARGUMENT, "element 1"});
  }
  {
    const Tensor pixels = ReadTensor(ModelDir("cls-relpos-meanpool") + "/inputs.safetensors", "pixel_values");
    v2::ModelInferRequest r = PixelRequest("cls", pixels, 0, 1, Contents::kRaw);
    r.mutable_raw_input_contents(0)->resize(100);
    cases.push_back({"byte count", r, grpc::StatusCode::INVALID_ARGUMENT, "'pixel_values'"});
  }
  {
    v2::ModelInferRequest r = base();
    RequestOutput(r, "label_map");
    cases.push_back({"output of another head", r, grpc::StatusCode::INVALID_ARGUMENT, "unknown output 'label_map'"});
  }
  {
    v2::ModelInferRequest r = ImageRequest("cls", std::vector<std::string>(5, jpeg), Contents::kRaw);
    cases.push_back({"more images than the queue holds", r, grpc::StatusCode::RESOURCE_EXHAUSTED, "--max-queue-size"});
  }
  {
    v2::ModelInferRequest r = ImageRequest("mim", {jpeg}, Contents::kTyped);
    cases.push_back({"masked image modeling without a mask", r, grpc::StatusCode::INVALID_ARGUMENT, "bool_masked_pos"});
  }
  for (const Case& c : cases) {
    v2::ModelInferResponse response;
    const grpc::Status status = Infer(c.request, &response);
    EXPECT_EQ(status.error_code(), c.code) << c.what << ": " << status.error_message();
    EXPECT_NE(status.error_message().find(c.message), std::string::npos) << c.what << ": " << status.error_message();
  }
  // Still healthy and answering.
  v2::ModelInferResponse response;
  EXPECT_TRUE(Infer(base(), &response).ok());
}

}  // namespace
}  // namespace beit::testing
