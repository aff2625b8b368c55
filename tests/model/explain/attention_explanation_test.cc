// Attention maps (rollout and last layer) against a plain double-precision reference computed
// here from Transformers' own attentions (the golden fixtures' attentions.N), fed both from those
// goldens and from our model through RunOptions::attention_observer.
#include "model/explain/attention_explanation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/io/run_io.h"
#include "model/io/safetensors.h"
#include "model/model_runner.h"

namespace beit {
namespace {

const std::string kModels = std::string(BEIT_TEST_DATA_DIR) + "/models/";
constexpr double kTolerance = 1e-4;

// Layer l's probabilities [B, H, N, N] as Transformers returned them.
std::vector<Tensor> GoldenAttentions(const std::string& name) {
  SafetensorsFile golden = SafetensorsFile::Open(kModels + name + "/outputs.safetensors");
  std::vector<Tensor> layers;
  for (int l = 0;; ++l) {
    const TensorInfo* info = golden.Find("attentions." + std::to_string(l));
    if (!info) break;
    layers.push_back(golden.ReadFloat(*info));
  }
  return layers;
}

using Matrix = std::vector<std::vector<double>>;

// Independent reference: the definitions written out with plain loops in double.
std::vector<double> Reference(const std::vector<Tensor>& attentions, int64_t image, const ExplanationRequest& req) {
  const int64_t H = attentions[0].dim(1), N = attentions[0].dim(2);
  auto prob = [&](size_t layer, int64_t h, int64_t i, int64_t j) {
    return static_cast<double>(attentions[layer].data[((image * H + h) * N + i) * N + j]);
  };
  Matrix m(N, std::vector<double>(N, 0.0));
  if (req.method == AttentionMethod::kRollout) {
    for (int64_t i = 0; i < N; ++i) m[i][i] = 1.0;  // R_0 = I
    for (size_t l = 0; l < attentions.size(); ++l) {
      Matrix a(N, std::vector<double>(N, 0.0));
      for (int64_t i = 0; i < N; ++i) {
        double row_sum = 0;
        for (int64_t j = 0; j < N; ++j) {
          double mean = 0;
          for (int64_t h = 0; h < H; ++h) mean += prob(l, h, i, j);
          mean /= static_cast<double>(H);
          a[i][j] = 0.5 * mean + (i == j ? 0.5 : 0.0);
          row_sum += a[i][j];
        }
        for (int64_t j = 0; j < N; ++j) a[i][j] /= row_sum;
      }
      Matrix next(N, std::vector<double>(N, 0.0));
      for (int64_t i = 0; i < N; ++i) {
        for (int64_t j = 0; j < N; ++j) {
          double s = 0;
          for (int64_t k = 0; k < N; ++k) s += a[i][k] * m[k][j];
          next[i][j] = s;
        }
      }
      m = next;
    }
  } else {
    const size_t last = attentions.size() - 1;
    for (int64_t i = 0; i < N; ++i) {
      for (int64_t j = 0; j < N; ++j) {
        if (req.head >= 0) {
          m[i][j] = prob(last, req.head, i, j);
        } else {
          for (int64_t h = 0; h < H; ++h) m[i][j] += prob(last, h, i, j) / static_cast<double>(H);
        }
      }
    }
  }
  std::vector<double> map(N - 1, 0.0);
  for (int64_t j = 1; j < N; ++j) {
    if (req.query == AttentionQuery::kCls) {
      map[j - 1] = m[0][j];
    } else {
      for (int64_t i = 1; i < N; ++i) map[j - 1] += m[i][j] / static_cast<double>(N - 1);
    }
  }
  const double max = *std::max_element(map.begin(), map.end());
  for (double& v : map) v = max > 0 ? v / max : 0.0;
  return map;
}

double MaxAbsError(const std::vector<float>& ours, const std::vector<double>& expected) {
  EXPECT_EQ(ours.size(), expected.size());
  double err = 0;
  for (size_t i = 0; i < std::min(ours.size(), expected.size()); ++i) {
    err = std::max(err, std::fabs(static_cast<double>(ours[i]) - expected[i]));
  }
  return err;
}

std::string Describe(const ExplanationRequest& r) {
  return std::string(r.method == AttentionMethod::kRollout ? "rollout" : "last_layer") + "/" +
         (r.query == AttentionQuery::kCls ? "cls" : "mean_patches") + "/head " + std::to_string(r.head);
}

// Every kind of request; image b of explainer s gets kinds[(b + s) % size], so each batch mixes
// requests and every image meets every kind.
std::vector<ExplanationRequest> Kinds(int64_t heads) {
  using M = AttentionMethod;
  using Q = AttentionQuery;
  return {{M::kRollout, Q::kCls, -1},
          {M::kRollout, Q::kMeanPatches, -1},
          {M::kLastLayer, Q::kCls, -1},
          {M::kLastLayer, Q::kMeanPatches, -1},
          {M::kLastLayer, Q::kCls, static_cast<int>(heads - 1)},
          {M::kLastLayer, Q::kMeanPatches, 0}};
}

std::vector<std::vector<ExplanationRequest>> MixedBatches(int64_t batch, int64_t heads) {
  const std::vector<ExplanationRequest> kinds = Kinds(heads);
  std::vector<std::vector<ExplanationRequest>> out;
  for (size_t s = 0; s < kinds.size(); ++s) {
    std::vector<ExplanationRequest> per_image;
    for (int64_t b = 0; b < batch; ++b) per_image.push_back(kinds[(b + s) % kinds.size()]);
    out.push_back(per_image);
  }
  return out;
}

void ExpectMatchesReference(const std::vector<std::unique_ptr<AttentionExplainer>>& explainers,
                            const std::vector<std::vector<ExplanationRequest>>& batches,
                            const std::vector<Tensor>& golden, const std::string& what) {
  for (size_t s = 0; s < explainers.size(); ++s) {
    ASSERT_TRUE(explainers[s]->complete()) << what;
    for (size_t b = 0; b < batches[s].size(); ++b) {
      const std::vector<double> expected = Reference(golden, static_cast<int64_t>(b), batches[s][b]);
      const double err = MaxAbsError(explainers[s]->Grid(static_cast<int64_t>(b)), expected);
      EXPECT_LE(err, kTolerance) << what << ": image " << b << " " << Describe(batches[s][b]) << " max abs error "
                                 << err;
    }
  }
}

std::vector<std::string> FixturesWithAttentions() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(kModels)) {
    const auto outputs = e.path() / "outputs.safetensors";
    if (!std::filesystem::exists(e.path() / "fixture.json") || !std::filesystem::exists(outputs)) continue;
    if (SafetensorsFile::Open(outputs.string()).Find("attentions.0")) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class AttentionExplanationGolden : public ::testing::TestWithParam<std::string> {};

// (a) Our accumulation from Transformers' attentions equals the reference.
TEST_P(AttentionExplanationGolden, FromGoldenAttentions) {
  const std::vector<Tensor> golden = GoldenAttentions(GetParam());
  ASSERT_FALSE(golden.empty());
  const int64_t B = golden[0].dim(0), H = golden[0].dim(1), N = golden[0].dim(2);
  const auto batches = MixedBatches(B, H);
  std::vector<std::unique_ptr<AttentionExplainer>> explainers;
  for (const auto& per_image : batches) {
    explainers.push_back(
        std::make_unique<AttentionExplainer>(B, H, N, static_cast<int>(golden.size()), per_image));
    for (size_t l = 0; l < golden.size(); ++l) explainers.back()->AddLayer(static_cast<int>(l), golden[l].ptr());
  }
  ExpectMatchesReference(explainers, batches, golden, GetParam() + " (golden attentions)");
}

// (b) The same maps accumulated from our own forward pass through the observer, whatever the head
// (bare model, classifier, MIM with its mask, segmentation), without asking for attentions.
TEST_P(AttentionExplanationGolden, FromModelThroughObserver) {
  const std::string dir = kModels + GetParam();
  const std::vector<Tensor> golden = GoldenAttentions(GetParam());
  ASSERT_FALSE(golden.empty());
  const int64_t B = golden[0].dim(0), H = golden[0].dim(1), N = golden[0].dim(2);
  const int L = static_cast<int>(golden.size());
  auto runner = ModelRunner::Load(dir);
  ASSERT_EQ(runner->config().num_hidden_layers, L);

  const auto batches = MixedBatches(B, H);
  std::vector<std::unique_ptr<AttentionExplainer>> explainers;
  for (const auto& per_image : batches) explainers.push_back(std::make_unique<AttentionExplainer>(B, H, N, L, per_image));
  std::vector<int> layers_seen;
  RunOptions options;
  options.attention_observer = [&](int layer, const float* probs, int64_t batch, int64_t heads, int64_t tokens) {
    layers_seen.push_back(layer);
    EXPECT_EQ(batch, B);
    EXPECT_EQ(heads, H);
    EXPECT_EQ(tokens, N);
    for (auto& e : explainers) e->Observe(layer, probs, batch, heads, tokens);
  };
  RunInputs inputs = ReadRunInputs(dir + "/inputs.safetensors");
  const std::vector<NamedOutput> outputs = runner->Run(inputs, options);
  for (const auto& o : outputs) EXPECT_EQ(o.name.rfind("attentions.", 0), std::string::npos) << o.name;

  std::vector<int> expected_layers(L);
  for (int l = 0; l < L; ++l) expected_layers[l] = l;
  EXPECT_EQ(layers_seen, expected_layers);
  ExpectMatchesReference(explainers, batches, golden, GetParam() + " (observer)");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, AttentionExplanationGolden, ::testing::ValuesIn(FixturesWithAttentions()),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// The fixtures this feature was specified against are among them (so a renamed folder cannot
// silently drop a head type from the suite).
TEST(AttentionExplanationFixtures, CoverEveryHead) {
  const std::vector<std::string> names = FixturesWithAttentions();
  for (const char* needed : {"cls-abspos-clstoken", "cls-relpos-meanpool", "mim-shared-relpos", "seg-upernet",
                             "base-224", "model-headmask-v4"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), needed), names.end()) << needed;
  }
}

// The observer sees exactly the tensors `attentions` returns, once per layer, also for MIM with
// no mask, and asking for both changes neither.
TEST(AttentionObserver, SeesTheAttentionsOutputOncePerLayer) {
  const std::string dir = kModels + "mim-shared-relpos";
  auto runner = ModelRunner::Load(dir);
  RunInputs inputs = ReadRunInputs(dir + "/inputs.safetensors");
  inputs.bool_masked_pos.reset();
  const int64_t L = runner->config().num_hidden_layers, H = runner->config().num_attention_heads;
  const int64_t B = inputs.pixel_values.dim(0);

  std::vector<Tensor> observed;
  RunOptions options;
  options.attentions = true;
  options.attention_observer = [&](int layer, const float* probs, int64_t batch, int64_t heads, int64_t tokens) {
    EXPECT_EQ(layer, static_cast<int>(observed.size()));
    EXPECT_EQ(batch, B);
    EXPECT_EQ(heads, H);
    observed.emplace_back(Shape{batch, heads, tokens, tokens},
                          std::vector<float>(probs, probs + batch * heads * tokens * tokens));
  };
  const std::vector<NamedOutput> outputs = runner->Run(inputs, options);
  ASSERT_EQ(static_cast<int64_t>(observed.size()), L);
  int compared = 0;
  for (const auto& o : outputs) {
    if (o.name.rfind("attentions.", 0) != 0) continue;
    const size_t l = std::stoul(o.name.substr(std::string("attentions.").size()));
    ASSERT_LT(l, observed.size());
    EXPECT_EQ(o.values.shape, observed[l].shape) << o.name;
    EXPECT_EQ(o.values.data, observed[l].data) << o.name;
    ++compared;
  }
  EXPECT_EQ(compared, L);

  // Observer alone: the layers still keep their probabilities for it, and they are the same.
  std::vector<Tensor> with_both = std::move(observed);
  observed.clear();
  options.attentions = false;
  runner->Run(inputs, options);
  ASSERT_EQ(observed.size(), with_both.size());
  for (size_t l = 0; l < observed.size(); ++l) {
    double err = 0;
    for (size_t i = 0; i < observed[l].data.size(); ++i) {
      err = std::max(err, std::fabs(static_cast<double>(observed[l].data[i]) - with_both[l].data[i]));
    }
    EXPECT_LE(err, 1e-6) << "layer " << l;
  }
}

// An exception from the observer ends the run (a caller can abort a request).
TEST(AttentionObserver, ExceptionPropagates) {
  const std::string dir = kModels + "cls-relpos-meanpool";
  auto runner = ModelRunner::Load(dir);
  RunInputs inputs = ReadRunInputs(dir + "/inputs.safetensors");
  RunOptions options;
  int calls = 0;
  options.attention_observer = [&](int, const float*, int64_t, int64_t, int64_t) {
    ++calls;
    throw std::runtime_error("stop");
  };
  EXPECT_THROW(runner->Run(inputs, options), std::runtime_error);
  EXPECT_EQ(calls, 1);
  // The runner still works afterwards.
  options.attention_observer = nullptr;
  EXPECT_FALSE(runner->Run(inputs, options).empty());
}

ExplanationRequest Request(AttentionMethod m, AttentionQuery q, int head) {
  ExplanationRequest r;
  r.method = m;
  r.query = q;
  r.head = head;
  return r;
}

std::string ConstructionError(int64_t batch, int64_t heads, int64_t tokens, int layers,
                              std::vector<ExplanationRequest> per_image) {
  try {
    AttentionExplainer e(batch, heads, tokens, layers, std::move(per_image));
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(AttentionExplainerValidation, RejectsBadRequests) {
  using M = AttentionMethod;
  using Q = AttentionQuery;
  EXPECT_NE(ConstructionError(1, 12, 197, 12, {Request(M::kLastLayer, Q::kCls, 12)}).find("head 12 is out of range"),
            std::string::npos);
  EXPECT_NE(ConstructionError(1, 12, 197, 12, {Request(M::kLastLayer, Q::kCls, -2)}).find("head -2 is out of range"),
            std::string::npos);
  EXPECT_NE(ConstructionError(1, 12, 197, 12, {Request(M::kRollout, Q::kCls, 3)}).find("last-layer method only"),
            std::string::npos);
  EXPECT_NE(ConstructionError(2, 12, 197, 12, {Request(M::kRollout, Q::kCls, -1)}).find("1 requests for a batch of 2"),
            std::string::npos);
  EXPECT_NE(ConstructionError(1, 12, 1, 12, {Request(M::kRollout, Q::kCls, -1)}).find("tokens >= 2"),
            std::string::npos);
  EXPECT_NE(ConstructionError(1, 12, 197, 12, {Request(static_cast<M>(7), Q::kCls, -1)}).find("unknown method"),
            std::string::npos);
  EXPECT_NE(ConstructionError(1, 12, 197, 12, {Request(M::kRollout, static_cast<Q>(7), -1)}).find("unknown query"),
            std::string::npos);
  EXPECT_EQ(ConstructionError(1, 12, 197, 12, {Request(M::kLastLayer, Q::kMeanPatches, 11)}), "");
}

TEST(AttentionExplainerValidation, LayersInOrderAndShapesChecked) {
  const int64_t H = 2, N = 5;
  std::vector<float> probs(H * N * N, 1.f / N);
  AttentionExplainer e(1, H, N, 2, {ExplanationRequest{}});
  EXPECT_THROW(e.Grid(0), std::logic_error);
  EXPECT_THROW(e.AddLayer(1, probs.data()), std::invalid_argument);
  EXPECT_THROW(e.Observe(0, probs.data(), 1, H, N + 1), std::invalid_argument);
  e.AddLayer(0, probs.data());
  EXPECT_FALSE(e.complete());
  e.Observe(1, probs.data(), 1, H, N);
  EXPECT_TRUE(e.complete());
  EXPECT_THROW(e.AddLayer(2, probs.data()), std::invalid_argument);
  EXPECT_THROW(e.Grid(1), std::out_of_range);
  // Uniform attention: every patch alike, so the normalised map is all ones.
  for (float v : e.Grid(0)) EXPECT_NEAR(v, 1.f, 1e-6);
}

// All attention on the CLS column: the patch map's maximum is 0, so it is all zeros (no NaN).
TEST(AttentionExplainerValidation, ZeroMapIsZeros) {
  const int64_t H = 1, N = 4;
  std::vector<float> probs(H * N * N, 0.f);
  for (int64_t i = 0; i < N; ++i) probs[i * N] = 1.f;
  AttentionExplainer e(1, H, N, 1, {Request(AttentionMethod::kLastLayer, AttentionQuery::kCls, -1)});
  e.AddLayer(0, probs.data());
  EXPECT_EQ(e.Grid(0), std::vector<float>(N - 1, 0.f));
}

// BEiT-base's size (N = 197, H = 12, L = 12), random softmax rows: the float accumulation still
// matches the double reference, and the cost per layer is reported.
TEST(AttentionExplainerSpeed, BeitBaseRollout) {
  const int64_t H = 12, N = 197;
  const int L = 12;
  std::mt19937 gen(7);
  std::normal_distribution<float> logit(0.f, 2.f);
  std::vector<Tensor> layers;
  for (int l = 0; l < L; ++l) {
    Tensor t(Shape{1, H, N, N});
    for (int64_t r = 0; r < H * N; ++r) {
      float* row = t.ptr() + r * N;
      double sum = 0;
      for (int64_t j = 0; j < N; ++j) sum += row[j] = std::exp(logit(gen));
      for (int64_t j = 0; j < N; ++j) row[j] = static_cast<float>(row[j] / sum);
    }
    layers.push_back(std::move(t));
  }
  const std::vector<ExplanationRequest> kinds = Kinds(H);
  for (const auto& req : {kinds[0], kinds[1]}) {
    AttentionExplainer e(1, H, N, L, {req});
    for (int l = 0; l < L; ++l) e.AddLayer(l, layers[l].ptr());
    const double err = MaxAbsError(e.Grid(0), Reference(layers, 0, req));
    EXPECT_LE(err, kTolerance) << Describe(req);
  }

  using Clock = std::chrono::steady_clock;
  double best_total = 1e30, best_middle = 1e30;
  for (int rep = 0; rep < 20; ++rep) {
    AttentionExplainer e(1, H, N, L, {kinds[0]});
    const auto t0 = Clock::now();
    e.AddLayer(0, layers[0].ptr());
    const auto t1 = Clock::now();
    e.AddLayer(1, layers[1].ptr());  // a middle layer: head mean + one N^3 product
    const auto t2 = Clock::now();
    for (int l = 2; l < L; ++l) e.AddLayer(l, layers[l].ptr());
    const auto t3 = Clock::now();
    best_total = std::min(best_total, std::chrono::duration<double, std::milli>(t3 - t0).count());
    best_middle = std::min(best_middle, std::chrono::duration<double, std::milli>(t2 - t1).count());
    ASSERT_TRUE(e.complete());
  }
  std::cout << "[ timing   ] rollout N=" << N << " H=" << H << " L=" << L << ", one image: " << best_total
            << " ms for all layers (" << best_total / L << " ms/layer on average), " << best_middle
            << " ms for a middle layer (best of 20)\n";
  RecordProperty("rollout_ms_all_layers", std::to_string(best_total));
  RecordProperty("rollout_ms_middle_layer", std::to_string(best_middle));
}

}  // namespace
}  // namespace beit
