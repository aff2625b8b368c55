// End-to-end: Explain on a real beit-server. The maps are checked against rollout and last-layer
// maps computed here, independently, from the golden fixtures' `attentions.*` (Transformers' own
// attention probabilities), within 1e-4.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "beit/v1/beit_service.grpc.pb.h"
#include "model/image/image_decoder.h"
#include "model/image/png_encoder.h"
#include "model/io/safetensors.h"
#include "tests/server/fixture_data.h"
#include "tests/server/server_suite.h"

namespace beit::testing {
namespace {

namespace pb = beit::v1;

// The reference, in double precision, straight from the definitions (see ExplainMethod).
struct Reference {
  std::vector<Tensor> attentions;  // per layer [B, H, N, N]
  int64_t H = 0, N = 0;

  explicit Reference(const std::string& dir) {
    for (int l = 0;; ++l) {
      const SafetensorsFile file = SafetensorsFile::Open(dir + "/outputs.safetensors");
      const TensorInfo* info = file.Find("attentions." + std::to_string(l));
      if (!info) break;
      attentions.push_back(file.ReadFloat(*info));
    }
    H = attentions[0].dim(1);
    N = attentions[0].dim(2);
  }
  double A(int l, int64_t b, int64_t h, int64_t i, int64_t j) const {
    return attentions[l].ptr()[((b * H + h) * N + i) * N + j];
  }
  // Rows of the query: {0} for CLS, {1..N-1} for the mean of the patches.
  std::vector<int64_t> QueryRows(bool cls) const {
    std::vector<int64_t> rows;
    for (int64_t i = cls ? 0 : 1; i < (cls ? 1 : N); ++i) rows.push_back(i);
    return rows;
  }
  static std::vector<double> Normalised(std::vector<double> v) {
    const double top = *std::max_element(v.begin(), v.end());
    for (double& x : v) x /= top;
    return v;
  }
  std::vector<double> Rollout(int64_t b, bool cls) const {
    std::vector<double> R(N * N, 0.0);
    for (int64_t i = 0; i < N; ++i) R[i * N + i] = 1.0;
    for (size_t l = 0; l < attentions.size(); ++l) {
      std::vector<double> Ahat(N * N);
      for (int64_t i = 0; i < N; ++i) {
        double row = 0;
        for (int64_t j = 0; j < N; ++j) {
          double mean = 0;
          for (int64_t h = 0; h < H; ++h) mean += A(static_cast<int>(l), b, h, i, j);
          Ahat[i * N + j] = 0.5 * mean / H + (i == j ? 0.5 : 0.0);
          row += Ahat[i * N + j];
        }
        for (int64_t j = 0; j < N; ++j) Ahat[i * N + j] /= row;
      }
      std::vector<double> next(N * N, 0.0);  // Ahat_l * R
      for (int64_t i = 0; i < N; ++i) {
        for (int64_t k = 0; k < N; ++k) {
          for (int64_t j = 0; j < N; ++j) next[i * N + j] += Ahat[i * N + k] * R[k * N + j];
        }
      }
      R = next;
    }
    std::vector<double> map(N - 1, 0.0);
    const std::vector<int64_t> rows = QueryRows(cls);
    for (int64_t i : rows) {
      for (int64_t j = 1; j < N; ++j) map[j - 1] += R[i * N + j] / static_cast<double>(rows.size());
    }
    return Normalised(map);
  }
  std::vector<double> LastLayer(int64_t b, bool cls, int head) const {
    const int l = static_cast<int>(attentions.size()) - 1;
    std::vector<double> map(N - 1, 0.0);
    const std::vector<int64_t> rows = QueryRows(cls);
    for (int64_t h = 0; h < H; ++h) {
      if (head >= 0 && h != head) continue;
      const double heads = head >= 0 ? 1.0 : static_cast<double>(H);
      for (int64_t i : rows) {
        for (int64_t j = 1; j < N; ++j) map[j - 1] += A(l, b, h, i, j) / heads / static_cast<double>(rows.size());
      }
    }
    return Normalised(map);
  }
};

// torch.nn.functional.interpolate(mode="bilinear", align_corners=False) of one plane.
std::vector<double> Bilinear(const std::vector<double>& in, int64_t h, int64_t w, int64_t oh, int64_t ow) {
  std::vector<double> out(oh * ow);
  auto source = [](int64_t o, int64_t in_size, int64_t out_size, int64_t* i0, int64_t* i1, double* t) {
    double x = (o + 0.5) * static_cast<double>(in_size) / static_cast<double>(out_size) - 0.5;
    if (x < 0) x = 0;
    *i0 = std::min<int64_t>(static_cast<int64_t>(x), in_size - 1);
    *i1 = std::min<int64_t>(*i0 + 1, in_size - 1);
    *t = x - *i0;
  };
  for (int64_t y = 0; y < oh; ++y) {
    int64_t y0, y1;
    double ty;
    source(y, h, oh, &y0, &y1, &ty);
    for (int64_t x = 0; x < ow; ++x) {
      int64_t x0, x1;
      double tx;
      source(x, w, ow, &x0, &x1, &tx);
      out[y * ow + x] = (1 - ty) * ((1 - tx) * in[y0 * w + x0] + tx * in[y0 * w + x1]) +
                        ty * ((1 - tx) * in[y1 * w + x0] + tx * in[y1 * w + x1]);
    }
  }
  return out;
}

class ExplainTest : public ServerSuite {
 protected:
  static void SetUpTestSuite() {
    // Images may be wider than the decoder's default limit (16384): the overlay must decode them too.
    StartServer({"--model", "clstoken=" + ModelDir("cls-abspos-clstoken"), "--model",
                "meanpool=" + ModelDir("cls-relpos-meanpool"), "--model", "seg=" + ModelDir("seg-upernet"),
                "--max-image-side", "20000"});
  }
  pb::ExplainResponse Explain(const pb::ExplainRequest& request, grpc::Status* status = nullptr) {
    auto stub = pb::BeitService::NewStub(server_->channel());
    pb::ExplainResponse response;
    grpc::ClientContext context;
    const grpc::Status s = stub->Explain(&context, request, &response);
    if (status) {
      *status = s;
    } else {
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
    return response;
  }
};

void ExpectNear(const google::protobuf::RepeatedField<float>& got, const std::vector<double>& want,
                const std::string& what) {
  ASSERT_EQ(static_cast<size_t>(got.size()), want.size()) << what;
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  EXPECT_LE(worst, 1e-4) << what;
}

TEST_F(ExplainTest, GridsMatchMapsFromTransformersAttentions) {
  for (const auto& [name, dir_name] : {std::pair{"clstoken", "cls-abspos-clstoken"}, std::pair{"meanpool", "cls-relpos-meanpool"}}) {
    const std::string dir = ModelDir(dir_name);
    const Reference ref(dir);
    const Tensor pixels = ReadTensor(dir + "/inputs.safetensors", "pixel_values");
    for (int64_t b = 0; b < pixels.dim(0); ++b) {
      for (auto query : {pb::EXPLAIN_QUERY_CLS, pb::EXPLAIN_QUERY_MEAN_PATCHES}) {
        const bool cls = query == pb::EXPLAIN_QUERY_CLS;
        pb::ExplainRequest request;
        request.set_model(name);
        *request.mutable_image() = PixelImage(pixels, b);
        request.set_query(query);
        const pb::ExplainResponse rollout = Explain(request);
        EXPECT_EQ(static_cast<int64_t>(rollout.grid_height()) * rollout.grid_width(), ref.N - 1);
        ExpectNear(rollout.grid(), ref.Rollout(b, cls), std::string(name) + " rollout, cls=" + std::to_string(cls));
        request.set_method(pb::EXPLAIN_METHOD_LAST_LAYER);
        ExpectNear(Explain(request).grid(), ref.LastLayer(b, cls, -1), std::string(name) + " last layer");
        request.set_head(static_cast<int32_t>(ref.H - 1));
        ExpectNear(Explain(request).grid(), ref.LastLayer(b, cls, static_cast<int>(ref.H - 1)),
                   std::string(name) + " last layer, one head");
      }
    }
  }
}

TEST_F(ExplainTest, DefaultQueryFollowsThePooling) {
  for (const auto& [name, dir_name, cls] : {std::tuple{"clstoken", "cls-abspos-clstoken", true},
                                            std::tuple{"meanpool", "cls-relpos-meanpool", false}}) {
    const std::string dir = ModelDir(dir_name);
    const Reference ref(dir);
    const Tensor pixels = ReadTensor(dir + "/inputs.safetensors", "pixel_values");
    pb::ExplainRequest request;
    request.set_model(name);
    *request.mutable_image() = PixelImage(pixels, 0);
    ExpectNear(Explain(request).grid(), ref.Rollout(0, cls), name);
  }
}

TEST_F(ExplainTest, MapIsTheGridResizedBilinearlyToANonSquareOutput) {
  const std::string dir = ModelDir("cls-relpos-meanpool");
  const Reference ref(dir);
  const Tensor pixels = ReadTensor(dir + "/inputs.safetensors", "pixel_values");
  pb::ExplainRequest request;
  request.set_model("meanpool");
  *request.mutable_image() = PixelImage(pixels, 1);
  request.set_output_height(20);
  request.set_output_width(36);
  const pb::ExplainResponse response = Explain(request);
  ASSERT_EQ(response.height(), 20);
  ASSERT_EQ(response.width(), 36);
  const std::vector<double> grid = ref.Rollout(1, false);
  ExpectNear(response.map(), Bilinear(grid, response.grid_height(), response.grid_width(), 20, 36), "map 20x36");
  // Default size: the image's (for pixel_values, the input's 32 x 32).
  request.clear_output_height();
  request.clear_output_width();
  EXPECT_EQ(Explain(request).map_size(), 32 * 32);
}

TEST_F(ExplainTest, ClassifiersAnswerTooAndThePngIsTheImageWithItsMap) {
  const std::string jpeg = TestImageBytes("chelsea_q90_420.jpg");
  pb::ExplainRequest request;
  request.set_model("clstoken");
  request.mutable_image()->set_encoded(jpeg);
  request.set_return_png(true);
  request.set_top_k(3);
  const pb::ExplainResponse response = Explain(request);
  pb::ClassifyRequest classify;
  classify.set_model("clstoken");
  classify.mutable_image()->set_encoded(jpeg);
  classify.set_top_k(3);
  pb::ClassifyResponse want;
  grpc::ClientContext context;
  ASSERT_TRUE(pb::BeitService::NewStub(server_->channel())->Classify(&context, classify, &want).ok());
  ASSERT_EQ(response.predictions_size(), 3);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(response.predictions(k).index(), want.predictions(k).index());
    EXPECT_NEAR(response.predictions(k).score(), want.predictions(k).score(), 1e-6);
  }
  EXPECT_EQ(response.height(), 300);  // the original image size
  EXPECT_EQ(response.width(), 451);
  const Image8 overlay = DecodeImage(reinterpret_cast<const uint8_t*>(response.png().data()), response.png().size());
  EXPECT_EQ(overlay.width, 451);
  EXPECT_EQ(overlay.height, 300);
  EXPECT_EQ(overlay.channels, 3);
  // Segmentation models explain too (no predictions), and pixel values get a greyscale base.
  const Tensor pixels = ReadTensor(ModelDir("seg-upernet") + "/inputs.safetensors", "pixel_values");
  pb::ExplainRequest seg;
  seg.set_model("seg");
  *seg.mutable_image() = PixelImage(pixels, 0);
  seg.set_return_png(true);
  const pb::ExplainResponse answer = Explain(seg);
  EXPECT_EQ(answer.predictions_size(), 0);
  EXPECT_EQ(answer.grid_height() * answer.grid_width(), 64);
  const Image8 picture = DecodeImage(reinterpret_cast<const uint8_t*>(answer.png().data()), answer.png().size());
  EXPECT_EQ(picture.width, 64);
}

TEST_F(ExplainTest, TheOverlayDecodesWithinTheServersLimits) {
  Image8 wide(16500, 4, 3);
  for (size_t i = 0; i < wide.pixels.size(); ++i) wide.pixels[i] = static_cast<uint8_t>(i % 251);
  pb::ExplainRequest request;
  request.set_model("clstoken");
  request.mutable_image()->set_encoded(EncodeRgbPng(wide));
  request.set_output_height(4);  // the map within its own limit; the overlay is the image's size
  request.set_output_width(1000);
  request.set_return_png(true);
  const pb::ExplainResponse response = Explain(request);
  const Image8 overlay = DecodeImage(reinterpret_cast<const uint8_t*>(response.png().data()), response.png().size(),
                                     DecodeLimits{20000, 20000, 40'000'000});
  EXPECT_EQ(overlay.width, 16500);
  EXPECT_EQ(overlay.height, 4);
}

TEST_F(ExplainTest, BadRequestsAreInvalidArguments) {
  const std::string jpeg = TestImageBytes("chelsea_q90_420.jpg");
  auto base = [&] {
    pb::ExplainRequest r;
    r.set_model("clstoken");
    r.mutable_image()->set_encoded(jpeg);
    return r;
  };
  struct Case {
    std::string what;
    pb::ExplainRequest request;
    std::string message;
  };
  std::vector<Case> cases;
  {
    pb::ExplainRequest r = base();
    r.set_head(0);
    cases.push_back({"head with rollout", r, "LAST_LAYER"});
  }
  {
    pb::ExplainRequest r = base();
    r.set_method(pb::EXPLAIN_METHOD_LAST_LAYER);
    r.set_head(99);
    cases.push_back({"head out of range", r, "head 99"});
  }
  {
    pb::ExplainRequest r = base();
    r.set_output_height(10);
    cases.push_back({"one output side", r, "output_height"});
  }
  {
    pb::ExplainRequest r = base();
    r.set_method(static_cast<pb::ExplainMethod>(7));
    cases.push_back({"unknown method", r, "method 7"});
  }
  for (const Case& c : cases) {
    grpc::Status status;
    Explain(c.request, &status);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_NE(status.error_message().find(c.message), std::string::npos) << c.what << ": " << status.error_message();
  }
}

}  // namespace
}  // namespace beit::testing
