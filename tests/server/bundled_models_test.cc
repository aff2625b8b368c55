// End-to-end accuracy of the bundled Fashion-MNIST models (tools/train/models) through a real
// beit-server: a fixed sample of 2,000 test images (every fifth of the 10,000, from Debian's
// dataset-fashion-mnist), each sent as a grayscale PNG to all four RPCs.
//
// Measured by this test when the models were trained (tools/train/RESULTS.md); the thresholds sit
// just under those numbers, so a regression anywhere on the path (decode, preprocessing, engine,
// batching, post-processing, the checkpoints themselves) fails it.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "beit/v1/beit_service.grpc.pb.h"
#include "model/ops/cpu_tier.h"
#include "model/image/png_encoder.h"
#include "model/io/safetensors.h"
#include "tests/server/fashion_mnist_sample.h"
#include "tests/server/server_process.h"

namespace beit::testing {
namespace {

namespace pb = beit::v1;

constexpr int kSample = 2000;
constexpr int kStride = 5;
constexpr int kSide = kFashionMnistSide;
constexpr int kPatch = 4;
constexpr int kGrid = kSide / kPatch;
constexpr int kClasses = 10;
constexpr int kForegroundThreshold = kFashionMnistForeground;
// Just under what this test measured on the committed models (tools/train/RESULTS.md).
constexpr double kMinClassifyAccuracy = 0.89;   // measured 0.8985
constexpr double kMinSegmentMiou = 0.775;       // measured 0.7829
constexpr double kMinEmbedKnnAccuracy = 0.845;  // measured 0.8540
constexpr double kMinMaskedTokenAccuracy = 0.46; // measured 0.4684 (commonest token 0.2857)
constexpr double kMinBf16Agreement = 0.995;  // measured 0.9990 (accuracy 0.8985)
constexpr double kMinInt8Agreement = 0.99;   // measured 0.9990 (accuracy 0.8985)
constexpr double kMinSegmentationPixelAgreement = 0.995;  // measured 0.9995 (bf16), 0.9990 (int8)
// Explain: the classifier's last-layer attention head that looks at the garment, chosen on 2,000
// *training* images (share on the garment 57.8 %; the other heads 18-37 %), checked here on test
// images (measured 58.2 % against a foreground area of 44.9 %; share above the image's own
// foreground area on 82 % of them). bench/RESULTS.md has every method's figure.
constexpr int kGarmentHead = 2;
constexpr double kMinGarmentShare = 0.55;
constexpr double kMinGarmentShareOverArea = 0.10;
constexpr double kMinImagesAboveArea = 0.75;

const std::string kModels = BEIT_TRAINED_MODELS_DIR;

using Sample = FashionMnistSample;

Sample LoadSample() { return LoadFashionMnistTestSample(kSample, kStride); }

std::string GrayPng(const std::vector<uint8_t>& pixels) { return FashionMnistPng(pixels); }

// The visual tokenizer the MIM model was pre-trained against: nearest k-means centroid of the
// patch's 16 gray values in [0, 1].
std::vector<int> Tokenize(const std::vector<uint8_t>& pixels, const Tensor& codebook) {
  const int64_t vocab = codebook.dim(0);
  std::vector<int> tokens;
  for (int gy = 0; gy < kGrid; ++gy) {
    for (int gx = 0; gx < kGrid; ++gx) {
      int best = 0;
      double best_d = 1e30;
      for (int64_t k = 0; k < vocab; ++k) {
        double d = 0;
        for (int y = 0; y < kPatch; ++y) {
          for (int x = 0; x < kPatch; ++x) {
            const double v = pixels[(gy * kPatch + y) * kSide + gx * kPatch + x] / 255.0;
            const double c = codebook.data[k * kPatch * kPatch + y * kPatch + x];
            d += (v - c) * (v - c);
          }
        }
        if (d < best_d) best_d = d, best = static_cast<int>(k);
      }
      tokens.push_back(best);
    }
  }
  return tokens;
}

// Runs fn(i) for i in [0, n) on 8 client threads (the server batches the concurrent calls).
template <typename Fn>
void ParallelFor(int n, Fn fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < n; i = next++) fn(i);
    });
  }
  for (auto& t : threads) t.join();
}

class BundledModelsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      sample_ = new Sample(LoadSample());
    } catch (const std::exception& e) {  // reported by every test rather than aborting the binary
      start_error_ = new std::string(e.what());
      return;
    }
    for (const auto& image : sample_->images) pngs_.push_back(GrayPng(image));
    server_ = new ServerProcess();
    std::string error;
    if (!server_->Start({"--model", "cls=" + kModels + "/fashion-mnist-cls", "--model",
                         "seg=" + kModels + "/fashion-mnist-seg", "--model", "mim=" + kModels + "/fashion-mnist-mim",
                         "--max-batch-size", "16"},
                        &error)) {
      start_error_ = new std::string(error);
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete sample_;
    sample_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
    pngs_.clear();
  }
  void SetUp() override {
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    stub_ = pb::BeitService::NewStub(server_->channel());
  }

  static inline ServerProcess* server_ = nullptr;
  static inline Sample* sample_ = nullptr;
  static inline std::vector<std::string> pngs_;
  static inline std::string* start_error_ = nullptr;
  std::unique_ptr<pb::BeitService::Stub> stub_;
};

// Top-1 class of every sample image (-1 where the call failed).
std::vector<int> ClassifyAll(pb::BeitService::Stub& stub, const std::vector<std::string>& pngs) {
  std::vector<int> top1(pngs.size(), -1);
  ParallelFor(static_cast<int>(pngs.size()), [&](int i) {
    pb::ClassifyRequest request;
    request.set_model("cls");
    request.mutable_image()->set_encoded(pngs[i]);
    request.set_top_k(1);
    pb::ClassifyResponse response;
    grpc::ClientContext context;
    if (stub.Classify(&context, request, &response).ok() && response.predictions_size() == 1) {
      top1[i] = response.predictions(0).index();
    }
  });
  return top1;
}

TEST_F(BundledModelsTest, ClassifiesGarments) {
  const std::vector<int> top1 = ClassifyAll(*stub_, pngs_);
  EXPECT_EQ(std::count(top1.begin(), top1.end(), -1), 0);
  int correct = 0;
  for (int i = 0; i < kSample; ++i) correct += top1[i] == sample_->labels[i];
  const double accuracy = double(correct) / kSample;
  std::printf("Classify accuracy on %d test images: %.4f\n", kSample, accuracy);
  EXPECT_GE(accuracy, kMinClassifyAccuracy);
}

// --precision bf16 / int8 on real images: the same answers as f32 for (nearly) every image.
TEST_F(BundledModelsTest, ReducedPrecisionsAgreeWithF32OnRealImages) {
  const std::vector<int> f32 = ClassifyAll(*stub_, pngs_);
  for (const std::string precision : {"bf16", "int8"}) {
    if (PrecisionUnsupportedReason(*ParsePrecision(precision))) continue;  // refused at this tier: cpu_tier_test
    ServerProcess server;
    std::string error;
    ASSERT_TRUE(server.Start({"--model", "cls=" + kModels + "/fashion-mnist-cls", "--precision", precision}, &error))
        << error;
    const std::vector<int> top1 = ClassifyAll(*pb::BeitService::NewStub(server.channel()), pngs_);
    int agree = 0, correct = 0;
    for (int i = 0; i < kSample; ++i) {
      agree += top1[i] == f32[i];
      correct += top1[i] == sample_->labels[i];
    }
    std::printf("%s: top-1 agreement with f32 %.4f, accuracy %.4f on %d test images\n", precision.c_str(),
                double(agree) / kSample, double(correct) / kSample, kSample);
    EXPECT_GE(double(agree) / kSample, precision == "bf16" ? kMinBf16Agreement : kMinInt8Agreement);
  }
}

// Label maps of the first `count` images (empty where the call failed).
std::vector<std::vector<int>> SegmentFirst(pb::BeitService::Stub& stub, const std::vector<std::string>& pngs,
                                           int count) {
  std::vector<std::vector<int>> maps(count);
  ParallelFor(count, [&](int i) {
    pb::SegmentRequest request;
    request.set_model("seg");
    request.mutable_image()->set_encoded(pngs[i]);
    pb::SegmentResponse response;
    grpc::ClientContext context;
    if (stub.Segment(&context, request, &response).ok()) {
      maps[i].assign(response.label_map().begin(), response.label_map().end());
    }
  });
  return maps;
}

// Reduced-precision segmentation (bf16 or int8 encoder, bf16 1x1 and transposed convolutions in the
// heads) labels the same pixels.
TEST_F(BundledModelsTest, ReducedPrecisionSegmentationAgreesWithF32) {
  constexpr int kImages = 500;
  const std::vector<std::vector<int>> f32 = SegmentFirst(*stub_, pngs_, kImages);
  for (const std::string precision : {"bf16", "int8"}) {
    if (PrecisionUnsupportedReason(*ParsePrecision(precision))) continue;  // refused at this tier: cpu_tier_test
    ServerProcess server;
    std::string error;
    ASSERT_TRUE(server.Start({"--model", "seg=" + kModels + "/fashion-mnist-seg", "--precision", precision}, &error))
        << error;
    const std::vector<std::vector<int>> maps = SegmentFirst(*pb::BeitService::NewStub(server.channel()), pngs_, kImages);
    int64_t agree = 0, total = 0;
    for (int i = 0; i < kImages; ++i) {
      ASSERT_EQ(maps[i].size(), size_t(kSide * kSide)) << i;
      ASSERT_EQ(f32[i].size(), size_t(kSide * kSide)) << i;
      for (int p = 0; p < kSide * kSide; ++p) agree += maps[i][p] == f32[i][p];
      total += kSide * kSide;
    }
    std::printf("%s: segmentation pixel agreement with f32 %.5f on %d test images\n", precision.c_str(),
                double(agree) / total, kImages);
    EXPECT_GE(double(agree) / total, kMinSegmentationPixelAgreement);
    EXPECT_LT(agree, total) << "the same maps as f32: is the reduced path really running?";
  }
}

TEST_F(BundledModelsTest, SegmentsGarmentsFromBackground) {
  const int classes = kClasses + 1;
  std::vector<int64_t> intersection(classes), union_(classes);
  const std::vector<std::vector<int>> maps = SegmentFirst(*stub_, pngs_, kSample);
  for (int i = 0; i < kSample; ++i) {
    ASSERT_EQ(maps[i].size(), size_t(kSide * kSide)) << i;
    for (int p = 0; p < kSide * kSide; ++p) {
      const int truth = sample_->images[i][p] >= kForegroundThreshold ? sample_->labels[i] + 1 : 0;
      const int predicted = maps[i][p];
      ++union_[truth];
      if (predicted == truth) {
        ++intersection[truth];
      } else if (predicted >= 0 && predicted < classes) {
        ++union_[predicted];
      }
    }
  }
  double sum = 0;
  int present = 0;
  for (int c = 0; c < classes; ++c) {
    if (union_[c] == 0) continue;
    sum += double(intersection[c]) / double(union_[c]);
    ++present;
  }
  const double miou = sum / present;
  std::printf("Segment mIoU on %d test images (11 classes): %.4f\n", kSample, miou);
  EXPECT_GE(miou, kMinSegmentMiou);
}

TEST_F(BundledModelsTest, EmbeddingsPutSameGarmentsNearEachOther) {
  std::vector<std::vector<float>> embeddings(kSample);
  std::atomic<int> failed{0};
  ParallelFor(kSample, [&](int i) {
    pb::EmbedRequest request;
    request.set_model("cls");
    request.mutable_image()->set_encoded(pngs_[i]);
    request.set_l2_normalize(true);
    pb::EmbedResponse response;
    grpc::ClientContext context;
    if (!stub_->Embed(&context, request, &response).ok() || response.embedding_size() == 0) {
      ++failed;
      return;
    }
    embeddings[i].assign(response.embedding().begin(), response.embedding().end());
  });
  ASSERT_EQ(failed, 0);
  int correct = 0;
  for (int i = 0; i < kSample; ++i) {  // leave-one-out nearest neighbour by cosine similarity
    int best = -1;
    double best_sim = -2;
    for (int j = 0; j < kSample; ++j) {
      if (j == i) continue;
      double sim = 0;
      for (size_t k = 0; k < embeddings[i].size(); ++k) sim += double(embeddings[i][k]) * embeddings[j][k];
      if (sim > best_sim) best_sim = sim, best = j;
    }
    correct += sample_->labels[best] == sample_->labels[i];
  }
  const double accuracy = double(correct) / kSample;
  std::printf("Embed 1-nearest-neighbour accuracy on %d test images: %.4f\n", kSample, accuracy);
  EXPECT_GE(accuracy, kMinEmbedKnnAccuracy);
}

// The share of an Explain map's mass on the garment (gray >= 32), per image, with that image's
// foreground area share.
struct GarmentShare {
  std::vector<double> share, area;
};

GarmentShare ExplainGarmentShare(pb::BeitService::Stub& stub, const Sample& sample, const std::vector<std::string>& pngs,
                                 const std::function<void(pb::ExplainRequest&)>& configure) {
  const int n = static_cast<int>(pngs.size());
  GarmentShare out{std::vector<double>(n, -1), std::vector<double>(n, -1)};
  ParallelFor(n, [&](int i) {
    pb::ExplainRequest request;
    request.set_model("cls");
    request.mutable_image()->set_encoded(pngs[i]);
    configure(request);
    pb::ExplainResponse response;
    grpc::ClientContext context;
    if (!stub.Explain(&context, request, &response).ok() || response.map_size() != kSide * kSide) return;
    double on_garment = 0, total = 0, foreground = 0;
    for (int p = 0; p < kSide * kSide; ++p) {
      const bool garment = sample.images[i][p] >= kForegroundThreshold;
      on_garment += garment ? response.map(p) : 0.0;
      total += response.map(p);
      foreground += garment;
    }
    out.share[i] = on_garment / total;
    out.area[i] = foreground / (kSide * kSide);
  });
  return out;
}

TEST_F(BundledModelsTest, ExplainsLastLayerGarmentHeadPutsMostOfItsMassOnTheGarment) {
  const GarmentShare head = ExplainGarmentShare(*stub_, *sample_, pngs_, [](pb::ExplainRequest& r) {
    r.set_method(pb::EXPLAIN_METHOD_LAST_LAYER);
    r.set_query(pb::EXPLAIN_QUERY_CLS);
    r.set_head(kGarmentHead);
  });
  const GarmentShare rollout = ExplainGarmentShare(*stub_, *sample_, pngs_, [](pb::ExplainRequest&) {});
  double share = 0, area = 0, rollout_share = 0;
  int above = 0;
  for (int i = 0; i < kSample; ++i) {
    ASSERT_GE(head.share[i], 0) << "Explain failed on image " << i;
    ASSERT_GE(rollout.share[i], 0) << "Explain failed on image " << i;
    share += head.share[i] / kSample;
    area += head.area[i] / kSample;
    rollout_share += rollout.share[i] / kSample;
    above += head.share[i] > head.area[i];
  }
  std::printf("Explain on %d test images: last layer, CLS, head %d: %.4f of the mass on the garment (area %.4f; above "
              "the image's own area on %.3f of them); default (rollout, mean of the patches): %.4f\n",
              kSample, kGarmentHead, share, area, double(above) / kSample, rollout_share);
  EXPECT_GE(share, kMinGarmentShare);
  EXPECT_GE(share - area, kMinGarmentShareOverArea);
  EXPECT_GE(double(above) / kSample, kMinImagesAboveArea);
}

TEST_F(BundledModelsTest, PredictsMaskedVisualTokensFarAboveTheCommonestToken) {
  const SafetensorsFile tokenizer = SafetensorsFile::Open(kModels + "/fashion-mnist-mim/visual_tokenizer.safetensors");
  const Tensor codebook = tokenizer.ReadFloat(*tokenizer.Find("codebook"));
  std::vector<std::vector<int>> tokens;
  std::vector<int64_t> counts(codebook.dim(0));
  for (const auto& image : sample_->images) {
    tokens.push_back(Tokenize(image, codebook));
    for (int t : tokens.back()) ++counts[t];
  }
  const int commonest = static_cast<int>(std::max_element(counts.begin(), counts.end()) - counts.begin());

  std::atomic<int64_t> masked{0}, correct{0}, baseline{0};
  std::atomic<int> failed{0};
  ParallelFor(kSample, [&](int i) {
    pb::PredictTokensRequest request;
    request.set_model("mim");
    request.mutable_image()->set_encoded(pngs_[i]);
    request.set_mask_ratio(0.4f);
    request.set_seed(i);
    request.set_top_k(1);
    pb::PredictTokensResponse response;
    grpc::ClientContext context;
    if (!stub_->PredictTokens(&context, request, &response).ok() || response.patches_size() == 0) {
      ++failed;
      return;
    }
    for (const auto& patch : response.patches()) {
      const int truth = tokens[i].at(patch.patch_index());
      ++masked;
      correct += patch.predictions(0).token_id() == truth;
      baseline += truth == commonest;
    }
  });
  EXPECT_EQ(failed, 0);
  EXPECT_NEAR(double(masked) / (kSample * kGrid * kGrid), 0.4, 0.02);  // round(0.4 * 49) = 20 per image
  const double accuracy = double(correct) / masked, base = double(baseline) / masked;
  std::printf("PredictTokens masked-token accuracy on %d test images: %.4f (commonest token: %.4f)\n", kSample,
              accuracy, base);
  EXPECT_GE(accuracy, kMinMaskedTokenAccuracy);
  EXPECT_GE(accuracy, base + 0.1);
}

// The PyTorch training code's outputs on 8 test images (tests/data/trained, train.py's export).
struct Golden {
  std::vector<std::vector<uint8_t>> images;
  Tensor logits, pooler;
  std::vector<uint8_t> masks;  // MIM only: [8, 49]
};

Golden ReadGolden(const std::string& name) {
  const std::string dir = std::string(BEIT_TEST_DATA_DIR) + "/trained/fashion-mnist-" + name;
  const SafetensorsFile inputs = SafetensorsFile::Open(dir + "/inputs.safetensors");
  const SafetensorsFile outputs = SafetensorsFile::Open(dir + "/outputs.safetensors");
  Golden g;
  const TensorInfo& images = *inputs.Find("images_u8");
  const std::vector<uint8_t> raw = inputs.ReadBytes(images);
  for (int64_t i = 0; i < images.shape[0]; ++i) {
    g.images.emplace_back(raw.begin() + i * kSide * kSide, raw.begin() + (i + 1) * kSide * kSide);
  }
  g.logits = outputs.ReadFloat(*outputs.Find("logits"));
  if (const TensorInfo* pooler = outputs.Find("beit.pooler_output")) g.pooler = outputs.ReadFloat(*pooler);
  if (const TensorInfo* masks = inputs.Find("bool_masked_pos")) g.masks = inputs.ReadBytes(*masks);
  return g;
}

std::vector<double> Softmax(const float* logits, int n) {
  const double top = *std::max_element(logits, logits + n);
  std::vector<double> p(n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += p[i] = std::exp(logits[i] - top);
  for (double& x : p) x /= sum;
  return p;
}

TEST_F(BundledModelsTest, ServedAnswersEqualThePyTorchModels) {
  const Golden cls = ReadGolden("cls");
  for (size_t i = 0; i < cls.images.size(); ++i) {
    pb::ClassifyRequest request;
    request.set_model("cls");
    request.mutable_image()->set_encoded(GrayPng(cls.images[i]));
    request.set_top_k(kClasses);
    pb::ClassifyResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->Classify(&context, request, &response).ok());
    const std::vector<double> expected = Softmax(cls.logits.ptr() + i * kClasses, kClasses);
    ASSERT_EQ(response.predictions_size(), kClasses);
    for (const auto& p : response.predictions()) EXPECT_NEAR(p.score(), expected[p.index()], 1e-4) << i;

    pb::EmbedRequest embed;
    embed.set_model("cls");
    embed.mutable_image()->set_encoded(GrayPng(cls.images[i]));
    pb::EmbedResponse embedding;
    grpc::ClientContext embed_context;
    ASSERT_TRUE(stub_->Embed(&embed_context, embed, &embedding).ok());
    const int64_t hidden = cls.pooler.dim(1);
    ASSERT_EQ(embedding.embedding_size(), hidden);
    for (int64_t k = 0; k < hidden; ++k) EXPECT_NEAR(embedding.embedding(k), cls.pooler.data[i * hidden + k], 1e-4);
  }

  const Golden seg = ReadGolden("seg");
  const int classes = static_cast<int>(seg.logits.dim(1));
  for (size_t i = 0; i < seg.images.size(); ++i) {
    pb::SegmentRequest request;
    request.set_model("seg");
    request.mutable_image()->set_encoded(GrayPng(seg.images[i]));
    pb::SegmentResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->Segment(&context, request, &response).ok());
    ASSERT_EQ(response.label_map_size(), kSide * kSide);  // logits are already 28x28: argmax per pixel
    int differ = 0, compared = 0;
    for (int p = 0; p < kSide * kSide; ++p) {
      float best = -1e30f, second = -1e30f;
      int best_class = 0;
      for (int c = 0; c < classes; ++c) {
        const float v = seg.logits.data[(i * classes + c) * kSide * kSide + p];
        if (v > best) second = best, best = v, best_class = c;
        else if (v > second) second = v;
      }
      if (best - second < 1e-3f) continue;  // a near-tie may flip within the 1e-4 tolerance
      ++compared;
      differ += response.label_map(p) != best_class;
    }
    EXPECT_EQ(differ, 0) << "image " << i;
    EXPECT_GT(compared, kSide * kSide * 95 / 100) << "image " << i;
  }

  const Golden mim = ReadGolden("mim");
  const int vocab = static_cast<int>(mim.logits.dim(2)), patches = kGrid * kGrid;
  for (size_t i = 0; i < mim.images.size(); ++i) {
    pb::PredictTokensRequest request;
    request.set_model("mim");
    request.mutable_image()->set_encoded(GrayPng(mim.images[i]));
    for (int p = 0; p < patches; ++p) request.add_mask(mim.masks[i * patches + p] != 0);
    request.set_top_k(1);
    pb::PredictTokensResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->PredictTokens(&context, request, &response).ok());
    ASSERT_GT(response.patches_size(), 0);
    for (const auto& patch : response.patches()) {
      std::vector<double> expected = Softmax(mim.logits.ptr() + (i * patches + patch.patch_index()) * vocab, vocab);
      const int predicted = patch.predictions(0).token_id();
      ASSERT_TRUE(predicted >= 0 && predicted < vocab);
      // The served top token has PyTorch's probability (1e-4) and is PyTorch's top token, or ties it.
      EXPECT_NEAR(patch.predictions(0).probability(), expected[predicted], 1e-4);
      EXPECT_GE(expected[predicted], *std::max_element(expected.begin(), expected.end()) - 1e-4);
    }
  }
}

// tools/train/models/examples: one test image per class, named after its label (the README's example).
TEST_F(BundledModelsTest, ExampleImagesAreRecognised) {
  pb::GetModelInfoRequest info_request;
  info_request.set_model("cls");
  pb::ModelInfo info;
  grpc::ClientContext info_context;
  ASSERT_TRUE(stub_->GetModelInfo(&info_context, info_request, &info).ok());
  ASSERT_EQ(info.labels_size(), kClasses);
  for (const std::string& label : info.labels()) {
    std::string slug = label;
    std::transform(slug.begin(), slug.end(), slug.begin(), [](char ch) {
      return ch == '/' || ch == ' ' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    });
    pb::ClassifyRequest request;
    request.set_model("cls");
    request.mutable_image()->set_encoded(ReadFileBytes(kModels + "/examples/" + slug + ".png"));
    pb::ClassifyResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->Classify(&context, request, &response).ok()) << slug;
    EXPECT_EQ(response.predictions(0).label(), label) << slug;
  }
}

}  // namespace
}  // namespace beit::testing
