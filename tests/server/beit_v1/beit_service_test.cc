// End-to-end: a real beit-server on a free port, called over gRPC. Numbers are checked against
// Transformers' goldens (pixel_values inputs) and against beit-run (encoded images).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "beit/v1/beit_service.grpc.pb.h"
#include "model/io/safetensors.h"
#include "tests/model/ops/cpu_tier_testing.h"
#include "tests/server/fixture_data.h"
#include "tests/server/server_suite.h"

namespace beit::testing {
namespace {

namespace pb = beit::v1;

pb::Image EncodedImage(const std::string& file) {
  pb::Image image;
  image.set_encoded(ReadFileBytes(std::string(BEIT_TEST_DATA_DIR) + "/preprocess/images/" + file));
  return image;
}

std::vector<double> Softmax(const float* logits, int n) {
  double top = logits[0], sum = 0.0;
  for (int i = 1; i < n; ++i) top = std::max<double>(top, logits[i]);
  std::vector<double> p(n);
  for (int i = 0; i < n; ++i) sum += p[i] = std::exp(logits[i] - top);
  for (double& x : p) x /= sum;
  return p;
}

// Runs beit-run on an image; returns the path of its output safetensors.
std::string RunBeitRun(const std::string& model, const std::string& image, const std::string& extra) {
  const std::string out = ::testing::TempDir() + "/beit_service_test_" + model + "_" + image + ".safetensors";
  const std::string command = std::string(BEIT_RUN_BINARY) + " --model " + ModelDir(model) + " --image " +
                              BEIT_TEST_DATA_DIR + "/preprocess/images/" + image + " --output " + out + " " + extra +
                              " --no-attentions > /dev/null";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return out;
}

// id2label of cls-relpos-meanpool's config.json.
std::vector<std::string> ReadLabels(const std::string& model) {
  const std::string config = ReadFileBytes(ModelDir(model) + "/config.json");
  std::vector<std::string> labels;
  for (int i = 0;; ++i) {
    const std::string key = "\"" + std::to_string(i) + "\": \"";
    const size_t at = config.find(key);
    if (at == std::string::npos) break;
    const size_t start = at + key.size();
    labels.push_back(config.substr(start, config.find('"', start) - start));
  }
  return labels;
}
const std::vector<std::string> kClsLabels = ReadLabels("cls-relpos-meanpool");

class BeitServiceTest : public ServerSuite {
 protected:
  static void SetUpTestSuite() {
    StartServer({"--model", "cls=" + ModelDir("cls-relpos-meanpool"), "--model",
                "abs=" + ModelDir("cls-abspos-clstoken"), "--model", "seg=" + ModelDir("seg-upernet"),
                "--model", "mim=" + ModelDir("mim-shared-relpos"), "--model",
                "base=" + ModelDir("model-gelu-new"), "--max-batch-size", "8",
                "--max-queue-delay-us", "20000"});
  }
  std::unique_ptr<pb::BeitService::Stub> Stub() { return pb::BeitService::NewStub(server_->channel()); }
};

TEST_F(BeitServiceTest, ClassifyPixelValuesMatchesTransformers) {
  const std::string dir = ModelDir("cls-relpos-meanpool");
  const Tensor pixels = ReadTensor(dir + "/inputs.safetensors", "pixel_values");
  const Tensor logits = ReadTensor(dir + "/outputs.safetensors", "logits");
  for (int64_t i = 0; i < 2; ++i) {
    pb::ClassifyRequest request;
    request.set_model("cls");
    *request.mutable_image() = PixelImage(pixels, i);
    request.set_top_k(3);
    pb::ClassifyResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(Stub()->Classify(&context, request, &response).ok());
    const std::vector<double> p = Softmax(logits.ptr() + i * 5, 5);
    ASSERT_EQ(response.predictions_size(), 3);
    EXPECT_EQ(response.model(), "cls");
    double previous = 2.0;
    for (const pb::ClassPrediction& prediction : response.predictions()) {
      EXPECT_NEAR(prediction.score(), p[prediction.index()], 1e-5);
      EXPECT_LE(prediction.score(), previous);
      previous = prediction.score();
      for (int j = 0; j < 5; ++j) {
        if (p[j] > prediction.score() + 1e-5) {
          bool listed = false;
          for (const auto& other : response.predictions()) listed |= other.index() == j;
          EXPECT_TRUE(listed) << "class " << j << " beats a listed prediction";
        }
      }
    }
    EXPECT_EQ(response.predictions(0).label(), kClsLabels[response.predictions(0).index()]);
    EXPECT_GE(response.stats().batch_size(), 1);
  }
}

TEST_F(BeitServiceTest, ClassifyJpegMatchesBeitRun) {
  for (const char* image : {"chelsea_q90_420.jpg", "astronaut_96x64_exif6.jpg", "logo_240_rgba.png"}) {
    const Tensor logits = ReadTensor(RunBeitRun("cls-abspos-clstoken", image, ""), "logits");
    pb::ClassifyRequest request;
    request.set_model("abs");
    *request.mutable_image() = EncodedImage(image);
    request.set_top_k(7);
    pb::ClassifyResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(Stub()->Classify(&context, request, &response).ok()) << image;
    const std::vector<double> p = Softmax(logits.ptr(), 7);
    ASSERT_EQ(response.predictions_size(), 7);
    for (const auto& prediction : response.predictions()) EXPECT_NEAR(prediction.score(), p[prediction.index()], 1e-6);
  }
}

TEST_F(BeitServiceTest, SegmentMatchesTransformersAndBeitRun) {
  const std::string dir = ModelDir("seg-upernet");
  const Tensor pixels = ReadTensor(dir + "/inputs.safetensors", "pixel_values");
  const SafetensorsFile outputs = SafetensorsFile::Open(dir + "/outputs.safetensors");
  const std::vector<uint8_t> golden_bytes = outputs.ReadBytes(*outputs.Find("semantic_map.0"));
  std::vector<int32_t> golden(golden_bytes.size() / 4);
  std::memcpy(golden.data(), golden_bytes.data(), golden_bytes.size());

  pb::SegmentRequest request;
  request.set_model("seg");
  *request.mutable_image() = PixelImage(pixels, 0);
  request.set_output_height(50);
  request.set_output_width(70);
  request.set_return_png(true);
  request.set_return_scores(true);
  pb::SegmentResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(Stub()->Segment(&context, request, &response).ok());
  ASSERT_EQ(response.height(), 50);
  ASSERT_EQ(response.width(), 70);
  EXPECT_EQ(std::vector<int32_t>(response.label_map().begin(), response.label_map().end()), golden);
  int64_t counted = 0;
  for (const auto& c : response.class_counts()) {
    EXPECT_EQ(c.pixels(), std::count(golden.begin(), golden.end(), c.index()));
    counted += c.pixels();
  }
  EXPECT_EQ(counted, 50 * 70);
  ASSERT_EQ(response.scores_size(), 50 * 70);
  for (float s : response.scores()) {
    EXPECT_GE(s, 1.0f / 6 - 1e-6f);
    EXPECT_LE(s, 1.0f);
  }
  EXPECT_EQ(response.label_map_png().substr(1, 3), "PNG");

  // An encoded image comes back at its original size, as beit-run's post-processing gives it.
  const SafetensorsFile run = SafetensorsFile::Open(RunBeitRun("seg-upernet", "chelsea_seg_q90_420.jpg", "--target-size 300x451"));
  const std::vector<uint8_t> expected_bytes = run.ReadBytes(*run.Find("semantic_map.0"));
  std::vector<int32_t> expected(expected_bytes.size() / 4);
  std::memcpy(expected.data(), expected_bytes.data(), expected_bytes.size());
  pb::SegmentRequest encoded;
  encoded.set_model("seg");
  *encoded.mutable_image() = EncodedImage("chelsea_seg_q90_420.jpg");
  pb::SegmentResponse segmented;
  grpc::ClientContext context2;
  ASSERT_TRUE(Stub()->Segment(&context2, encoded, &segmented).ok());
  EXPECT_EQ(segmented.height(), 300);
  EXPECT_EQ(segmented.width(), 451);
  EXPECT_EQ(std::vector<int32_t>(segmented.label_map().begin(), segmented.label_map().end()), expected);
}

TEST_F(BeitServiceTest, EmbedMatchesTransformersPoolerAndHiddenStates) {
  const std::string dir = ModelDir("cls-relpos-meanpool");
  const Tensor pixels = ReadTensor(dir + "/inputs.safetensors", "pixel_values");
  const Tensor pooler = ReadTensor(dir + "/outputs.safetensors", "beit.pooler_output");  // [2, 32]
  const Tensor hidden1 = ReadTensor(dir + "/outputs.safetensors", "hidden_states.1");    // [2, 17, 32]
  pb::EmbedRequest request;
  request.set_model("cls");
  *request.mutable_image() = PixelImage(pixels, 1);
  request.add_layers(1);
  request.set_include_cls(true);
  request.set_include_mean(true);
  request.set_include_patches(true);
  pb::EmbedResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(Stub()->Embed(&context, request, &response).ok());
  EXPECT_EQ(response.pooling(), "mean");
  ASSERT_EQ(response.embedding_size(), 32);
  for (int d = 0; d < 32; ++d) EXPECT_NEAR(response.embedding(d), pooler.data[32 + d], 1e-4);
  ASSERT_EQ(response.layers_size(), 1);
  const pb::LayerTokens& layer = response.layers(0);
  const float* tokens = hidden1.ptr() + 17 * 32;
  ASSERT_EQ(layer.patches_size(), 16 * 32);
  for (int d = 0; d < 32; ++d) {
    EXPECT_NEAR(layer.cls(d), tokens[d], 1e-4);
    double mean = 0;
    for (int t = 1; t < 17; ++t) mean += tokens[t * 32 + d] / 16.0;
    EXPECT_NEAR(layer.mean(d), mean, 1e-4);
  }
  for (int k = 0; k < 16 * 32; ++k) EXPECT_NEAR(layer.patches(k), tokens[32 + k], 1e-4);

  // L2 normalisation, and CLS pooling on a use_mean_pooling=false model.
  pb::EmbedRequest cls_request;
  cls_request.set_model("abs");
  const Tensor abs_pixels = ReadTensor(ModelDir("cls-abspos-clstoken") + "/inputs.safetensors", "pixel_values");
  const Tensor abs_pooler = ReadTensor(ModelDir("cls-abspos-clstoken") + "/outputs.safetensors", "beit.pooler_output");
  *cls_request.mutable_image() = PixelImage(abs_pixels, 0);
  cls_request.set_l2_normalize(true);
  pb::EmbedResponse cls_response;
  grpc::ClientContext context2;
  ASSERT_TRUE(Stub()->Embed(&context2, cls_request, &cls_response).ok());
  EXPECT_EQ(cls_response.pooling(), "cls");
  double norm = 0;
  for (int d = 0; d < 48; ++d) norm += double(abs_pooler.data[d]) * abs_pooler.data[d];
  norm = std::sqrt(norm);
  for (int d = 0; d < 48; ++d) EXPECT_NEAR(cls_response.embedding(d), abs_pooler.data[d] / norm, 1e-5);
}

TEST_F(BeitServiceTest, PredictTokensMatchesTransformersOnTheFixtureMask) {
  const std::string dir = ModelDir("mim-shared-relpos");
  const SafetensorsFile inputs = SafetensorsFile::Open(dir + "/inputs.safetensors");
  const Tensor pixels = inputs.ReadFloat(*inputs.Find("pixel_values"));
  const std::vector<uint8_t> mask = inputs.ReadBytes(*inputs.Find("bool_masked_pos"));  // [2, 64]
  const Tensor logits = ReadTensor(dir + "/outputs.safetensors", "logits");                 // [2, 64, 96]
  pb::PredictTokensRequest request;
  request.set_model("mim");
  *request.mutable_image() = PixelImage(pixels, 1);
  for (int p = 0; p < 64; ++p) request.add_mask(mask[64 + p] != 0);
  request.set_top_k(3);
  pb::PredictTokensResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(Stub()->PredictTokens(&context, request, &response).ok());
  int masked = 0;
  for (int p = 0; p < 64; ++p) masked += mask[64 + p];
  ASSERT_EQ(response.patches_size(), masked);
  for (const pb::MaskedPatch& patch : response.patches()) {
    ASSERT_TRUE(mask[64 + patch.patch_index()]);
    const std::vector<double> p = Softmax(logits.ptr() + (64 + patch.patch_index()) * 96, 96);
    ASSERT_EQ(patch.predictions_size(), 3);
    const double best = *std::max_element(p.begin(), p.end());
    EXPECT_NEAR(patch.predictions(0).probability(), best, 1e-5);
    for (const auto& t : patch.predictions()) EXPECT_NEAR(t.probability(), p[t.token_id()], 1e-5);
  }

  // mask_ratio: BEiT's blockwise masking, reproducible from the seed.
  pb::PredictTokensRequest ratio;
  ratio.set_model("mim");
  *ratio.mutable_image() = PixelImage(pixels, 0);
  ratio.set_mask_ratio(0.4f);
  ratio.set_seed(11);
  pb::PredictTokensResponse first, second;
  grpc::ClientContext c1, c2;
  ASSERT_TRUE(Stub()->PredictTokens(&c1, ratio, &first).ok());
  ASSERT_TRUE(Stub()->PredictTokens(&c2, ratio, &second).ok());
  EXPECT_EQ(first.patches_size(), 26);  // round(0.4 * 64)
  EXPECT_EQ(std::count(first.mask().begin(), first.mask().end(), true), 26);
  first.clear_stats();
  second.clear_stats();
  EXPECT_EQ(first.SerializeAsString(), second.SerializeAsString());
}

TEST_F(BeitServiceTest, ConcurrentCallsBatchAndEqualTheirUnbatchedAnswers) {
  const Tensor pixels = ReadTensor(ModelDir("cls-relpos-meanpool") + "/inputs.safetensors", "pixel_values");
  constexpr int kCalls = 64;
  auto request_for = [&](int i) {
    pb::ClassifyRequest request;
    request.set_model("cls");
    pb::Image image = PixelImage(pixels, i % 2);
    for (int k = 0; k < image.pixel_values().data_size(); k += 7) {  // a distinct image per call
      image.mutable_pixel_values()->set_data(k, image.pixel_values().data(k) + 0.01f * i);
    }
    *request.mutable_image() = image;
    request.set_top_k(5);
    return request;
  };
  std::vector<pb::ClassifyResponse> alone(kCalls), together(kCalls);
  for (int i = 0; i < kCalls; i += 9) {  // a sample of them one at a time
    grpc::ClientContext context;
    ASSERT_TRUE(Stub()->Classify(&context, request_for(i), &alone[i]).ok());
    EXPECT_EQ(alone[i].stats().batch_size(), 1);
  }
  std::vector<std::thread> threads;
  std::vector<grpc::Status> statuses(kCalls);
  auto stub = Stub();
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      grpc::ClientContext context;
      statuses[i] = stub->Classify(&context, request_for(i), &together[i]);
    });
  }
  for (auto& t : threads) t.join();
  int largest = 0;
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    largest = std::max(largest, together[i].stats().batch_size());
    if (i % 9 == 0) {
      ASSERT_EQ(together[i].predictions_size(), 5);
      for (int k = 0; k < 5; ++k) {
        EXPECT_EQ(together[i].predictions(k).index(), alone[i].predictions(k).index());
        ExpectSameAnswerAsAlone(together[i].predictions(k).score(), alone[i].predictions(k).score());
      }
    }
  }
  EXPECT_GT(largest, 1) << "64 concurrent calls never shared a batch";
  EXPECT_LE(largest, 8);
}

TEST_F(BeitServiceTest, BadRequestsGetClearStatusesAndTheServerStaysHealthy) {
  auto stub = Stub();
  auto classify = [&](const pb::ClassifyRequest& request) {
    pb::ClassifyResponse response;
    grpc::ClientContext context;
    return stub->Classify(&context, request, &response);
  };
  pb::ClassifyRequest request;
  request.set_model("nope");
  *request.mutable_image() = EncodedImage("tiny_5x3.png");
  grpc::Status s = classify(request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("abs, base, cls, mim, seg"), std::string::npos) << s.error_message();

  request.set_model("seg");
  s = classify(request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("models that do: abs, cls"), std::string::npos) << s.error_message();

  request.set_model("cls");
  request.mutable_image()->set_encoded("this is not an image");
  s = classify(request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("image.encoded"), std::string::npos) << s.error_message();

  std::string truncated = ReadFileBytes(std::string(BEIT_TEST_DATA_DIR) + "/preprocess/images/chelsea_q90_420.jpg");
  truncated.resize(truncated.size() / 2);
  request.mutable_image()->set_encoded(truncated);
  EXPECT_EQ(classify(request).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // A PNG header declaring 65535 x 65535 pixels: refused before any allocation.
  std::string huge("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\xff\xff\0\0\xff\xff\x08\x02\0\0\0", 29);
  huge += std::string(4, '\0');
  request.mutable_image()->set_encoded(huge);
  EXPECT_EQ(classify(request).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  request.clear_image();
  s = classify(request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("no image"), std::string::npos);

  pb::Image wrong;
  wrong.mutable_pixel_values()->add_shape(3);
  wrong.mutable_pixel_values()->add_shape(16);
  wrong.mutable_pixel_values()->add_shape(16);
  wrong.mutable_pixel_values()->mutable_data()->Resize(3 * 16 * 16, 0.f);
  *request.mutable_image() = wrong;
  s = classify(request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("expected [3, 32, 32]"), std::string::npos) << s.error_message();

  *request.mutable_image() = EncodedImage("tiny_5x3.png");
  request.set_top_k(-1);
  EXPECT_EQ(classify(request).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  pb::EmbedRequest embed;
  embed.set_model("base");
  *embed.mutable_image() = EncodedImage("tiny_5x3.png");
  embed.add_layers(3);
  embed.set_include_cls(true);
  pb::EmbedResponse embedded;
  grpc::ClientContext embed_context;
  s = stub->Embed(&embed_context, embed, &embedded);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("layers 0 (embeddings) to 2"), std::string::npos) << s.error_message();

  pb::PredictTokensRequest tokens;
  tokens.set_model("mim");
  *tokens.mutable_image() = EncodedImage("tiny_5x3.png");
  tokens.add_mask(true);
  pb::PredictTokensResponse predicted;
  grpc::ClientContext tokens_context;
  s = stub->PredictTokens(&tokens_context, tokens, &predicted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("has 64 patches"), std::string::npos) << s.error_message();

  // Still serving, and still right.
  request.set_top_k(1);
  EXPECT_TRUE(classify(request).ok());
}

TEST_F(BeitServiceTest, ModelInfoAndListModels) {
  auto stub = Stub();
  pb::ListModelsResponse list;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->ListModels(&context, pb::ListModelsRequest(), &list).ok());
  ASSERT_EQ(list.models_size(), 5);
  EXPECT_EQ(list.models(0).name(), "abs");
  pb::GetModelInfoRequest request;
  request.set_model("seg");
  pb::ModelInfo info;
  grpc::ClientContext context2;
  ASSERT_TRUE(stub->GetModelInfo(&context2, request, &info).ok());
  EXPECT_EQ(info.architecture(), "BeitForSemanticSegmentation");
  ASSERT_EQ(info.tasks_size(), 3);
  EXPECT_EQ(info.tasks(0), pb::TASK_SEGMENT);
  EXPECT_EQ(info.tasks(1), pb::TASK_EMBED);
  EXPECT_EQ(info.tasks(2), pb::TASK_EXPLAIN);
  EXPECT_EQ(info.image_height(), 64);
  EXPECT_EQ(info.num_labels(), 6);
  EXPECT_EQ(info.labels_size(), 6);
  EXPECT_EQ(info.max_batch_size(), 8);
  EXPECT_EQ(info.stats_size(), 3);
  EXPECT_EQ(info.cpu_tier(), CpuTierName(EffectiveCpuTier()));  // the server inherits this process's cap
  request.set_model("missing");
  grpc::ClientContext context3;
  EXPECT_EQ(stub->GetModelInfo(&context3, request, &info).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(BeitServiceBf16, ServesBf16ModelsCloseToTransformers) {
  BEIT_SKIP_UNLESS_TIER_RUNS(Precision::kBF16);
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--model", "cls=" + ModelDir("cls-relpos-meanpool"), "--precision", "bf16"}, &error)) << error;
  auto stub = pb::BeitService::NewStub(server.channel());
  pb::GetModelInfoRequest info_request;
  info_request.set_model("cls");
  pb::ModelInfo info;
  grpc::ClientContext info_context;
  ASSERT_TRUE(stub->GetModelInfo(&info_context, info_request, &info).ok());
  EXPECT_EQ(info.precision(), "bf16");
  const Tensor pixels = ReadTensor(ModelDir("cls-relpos-meanpool") + "/inputs.safetensors", "pixel_values");
  const Tensor logits = ReadTensor(ModelDir("cls-relpos-meanpool") + "/outputs.safetensors", "logits");
  pb::ClassifyRequest request;
  request.set_model("cls");
  *request.mutable_image() = PixelImage(pixels, 0);
  pb::ClassifyResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->Classify(&context, request, &response).ok());
  const std::vector<double> p = Softmax(logits.ptr(), 5);
  EXPECT_EQ(response.predictions(0).index(), std::max_element(p.begin(), p.end()) - p.begin());
  for (const auto& prediction : response.predictions()) EXPECT_NEAR(prediction.score(), p[prediction.index()], 2e-3);
}


// Every Hub format and the rest of the BEiT family, served: pytorch_model.bin (zip, legacy, views),
// flax_model.msgpack, float16 shards, DiT and Data2Vec-Vision, each answering as Transformers did
// for its fixture (Classify, PredictTokens on the fixture's mask, Embed of a bare model).
TEST(BeitServiceFormats, EveryHubFormatServesTransformersAnswers) {
  const std::vector<std::string> classifiers = {"cls-dit-bin", "cls-relpos-bin-legacy", "cls-bin-views", "cls-flax",
                                                "cls-sharded-f16", "d2v-cls-bin"};
  const std::vector<std::string> mims = {"mim-flax", "mim-abspos"};
  std::vector<std::string> args = {"--model", "d2v-model=" + ModelDir("d2v-model")};
  for (const auto& f : classifiers) args.insert(args.end(), {"--model", f + "=" + ModelDir(f)});
  for (const auto& f : mims) args.insert(args.end(), {"--model", f + "=" + ModelDir(f)});
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start(args, &error)) << error;
  auto stub = pb::BeitService::NewStub(server.channel());

  for (const std::string& f : classifiers) {
    SCOPED_TRACE(f);
    const Tensor pixels = ReadTensor(ModelDir(f) + "/inputs.safetensors", "pixel_values");
    const Tensor logits = ReadTensor(ModelDir(f) + "/outputs.safetensors", "logits");
    const int labels = static_cast<int>(logits.dim(1));
    pb::ClassifyRequest request;
    request.set_model(f);
    *request.mutable_image() = PixelImage(pixels, 0);
    request.set_top_k(labels);
    pb::ClassifyResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(stub->Classify(&context, request, &response).ok());
    const std::vector<double> p = Softmax(logits.ptr(), labels);
    ASSERT_EQ(response.predictions_size(), labels);
    for (const auto& prediction : response.predictions()) EXPECT_NEAR(prediction.score(), p[prediction.index()], 1e-5);
  }

  for (const std::string& f : mims) {
    SCOPED_TRACE(f);
    const SafetensorsFile inputs = SafetensorsFile::Open(ModelDir(f) + "/inputs.safetensors");
    const Tensor pixels = inputs.ReadFloat(*inputs.Find("pixel_values"));
    const std::vector<uint8_t> mask = inputs.ReadBytes(*inputs.Find("bool_masked_pos"));  // [B, P]
    const Tensor logits = ReadTensor(ModelDir(f) + "/outputs.safetensors", "logits");       // [B, P, V]
    const int patches = static_cast<int>(logits.dim(1)), vocab = static_cast<int>(logits.dim(2));
    pb::PredictTokensRequest request;
    request.set_model(f);
    *request.mutable_image() = PixelImage(pixels, 0);
    for (int i = 0; i < patches; ++i) request.add_mask(mask[i] != 0);
    request.set_top_k(2);
    pb::PredictTokensResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(stub->PredictTokens(&context, request, &response).ok());
    ASSERT_GT(response.patches_size(), 0);
    for (const pb::MaskedPatch& patch : response.patches()) {
      const std::vector<double> p = Softmax(logits.ptr() + patch.patch_index() * vocab, vocab);
      for (const auto& t : patch.predictions()) EXPECT_NEAR(t.probability(), p[t.token_id()], 1e-5);
    }
  }

  // Data2VecVisionModel has no pooler: Embed is the mean of the last hidden state's patch tokens.
  const Tensor pixels = ReadTensor(ModelDir("d2v-model") + "/inputs.safetensors", "pixel_values");
  const Tensor last = ReadTensor(ModelDir("d2v-model") + "/outputs.safetensors", "last_hidden_state");  // [B, N, D]
  const int64_t N = last.dim(1), D = last.dim(2);
  pb::EmbedRequest request;
  request.set_model("d2v-model");
  *request.mutable_image() = PixelImage(pixels, 0);
  pb::EmbedResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->Embed(&context, request, &response).ok());
  ASSERT_EQ(response.embedding_size(), D);
  for (int64_t d = 0; d < D; ++d) {
    double mean = 0;
    for (int64_t n = 1; n < N; ++n) mean += last.data[n * D + d];
    EXPECT_NEAR(response.embedding(d), mean / double(N - 1), 1e-4) << d;
  }
  server.Signal(SIGTERM);
  EXPECT_EQ(server.WaitForExit(30), 0);
}

}  // namespace
}  // namespace beit::testing
