#include "model/io/flax_checkpoint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "model/model_error.h"
#include "model/io/safetensors.h"

namespace beit {
namespace {

const std::string kModels = std::string(BEIT_TEST_DATA_DIR) + "/models/";

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A minimal msgpack writer (smallest encodings, as msgpack-python writes them) for hand-made
// checkpoints and for finding a fixture's raw leaves by their encoded header.
struct Pack {
  std::vector<uint8_t> b;

  Pack& Byte(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Pack& BigEndian(uint64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Pack& Bytes(const std::vector<uint8_t>& v) {
    b.insert(b.end(), v.begin(), v.end());
    return *this;
  }
  Pack& Map(uint32_t n) {
    if (n < 16) return Byte(static_cast<uint8_t>(0x80 | n));
    if (n < 65536) return Byte(0xde).BigEndian(n, 2);
    return Byte(0xdf).BigEndian(n, 4);
  }
  Pack& Arr(uint32_t n) {
    if (n < 16) return Byte(static_cast<uint8_t>(0x90 | n));
    if (n < 65536) return Byte(0xdc).BigEndian(n, 2);
    return Byte(0xdd).BigEndian(n, 4);
  }
  Pack& Str(const std::string& s) {
    if (s.size() < 32) Byte(static_cast<uint8_t>(0xa0 | s.size()));
    else if (s.size() < 256) Byte(0xd9).BigEndian(s.size(), 1);
    else Byte(0xda).BigEndian(s.size(), 2);
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Pack& BinHeader(size_t n) {
    if (n < 256) return Byte(0xc4).BigEndian(n, 1);
    if (n < 65536) return Byte(0xc5).BigEndian(n, 2);
    return Byte(0xc6).BigEndian(n, 4);
  }
  Pack& Bin(const std::vector<uint8_t>& data) { return BinHeader(data.size()).Bytes(data); }
  Pack& UInt(uint64_t v) {
    if (v < 128) return Byte(static_cast<uint8_t>(v));
    if (v < 256) return Byte(0xcc).BigEndian(v, 1);
    if (v < 65536) return Byte(0xcd).BigEndian(v, 2);
    if (v < (uint64_t{1} << 32)) return Byte(0xce).BigEndian(v, 4);
    return Byte(0xcf).BigEndian(v, 8);
  }
  Pack& Ext(int8_t type, const std::vector<uint8_t>& payload) {
    const size_t n = payload.size();
    if (n == 1 || n == 2 || n == 4 || n == 8 || n == 16) {
      Byte(static_cast<uint8_t>(0xd4 + __builtin_ctz(static_cast<unsigned>(n))));
    } else if (n < 256) {
      Byte(0xc7).BigEndian(n, 1);
    } else if (n < 65536) {
      Byte(0xc8).BigEndian(n, 2);
    } else {
      Byte(0xc9).BigEndian(n, 4);
    }
    Byte(static_cast<uint8_t>(type));
    return Bytes(payload);
  }
};

// The start of an ndarray payload: [shape, dtype, bin header].
std::vector<uint8_t> PayloadHeader(const Shape& shape, const std::string& dtype, size_t bytes) {
  Pack p;
  p.Arr(3).Arr(static_cast<uint32_t>(shape.size()));
  for (int64_t d : shape) p.UInt(static_cast<uint64_t>(d));
  p.Str(dtype).BinHeader(bytes);
  return p.b;
}

std::vector<uint8_t> Payload(const Shape& shape, const std::string& dtype, const std::vector<uint8_t>& data) {
  Pack p;
  p.Bytes(PayloadHeader(shape, dtype, data.size())).Bytes(data);
  return p.b;
}

template <typename T>
std::vector<uint8_t> AsBytes(const std::vector<T>& values) {
  std::vector<uint8_t> out(values.size() * sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

Pack& Leaf(Pack& p, const Shape& shape, const std::string& dtype, const std::vector<uint8_t>& data) {
  return p.Ext(1, Payload(shape, dtype, data));
}

Pack& F32Leaf(Pack& p, const Shape& shape, const std::vector<float>& values) {
  return Leaf(p, shape, "float32", AsBytes(values));
}

std::vector<float> Iota(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) + 0.5f;
  return v;
}

// The float32 values of every fixture leaf with this stored shape, found by their encoded header
// in the raw file (independently of the reader), in file order.
std::vector<std::vector<float>> RawLeaves(const std::vector<uint8_t>& file, const Shape& stored_shape) {
  size_t count = 1;
  for (int64_t d : stored_shape) count *= static_cast<size_t>(d);
  const std::vector<uint8_t> header = PayloadHeader(stored_shape, "float32", count * 4);
  std::vector<std::vector<float>> found;
  auto it = file.begin();
  while ((it = std::search(it, file.end(), header.begin(), header.end())) != file.end()) {
    const size_t at = static_cast<size_t>(it - file.begin()) + header.size();
    std::vector<float> values(count);
    if (at + count * 4 <= file.size()) std::memcpy(values.data(), file.data() + at, count * 4);
    found.push_back(values);
    it += static_cast<std::ptrdiff_t>(header.size());
  }
  return found;
}

std::string OpenError(const std::vector<uint8_t>& bytes) {
  try {
    FlaxCheckpointFile::FromBytes("bad.msgpack", bytes);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "(opened)";
}

// Per-name PyTorch shapes of a BEiT checkpoint, from its config.json.
Shape ExpectedShape(const std::string& name, const nlohmann::json& cfg) {
  auto ends = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  const int64_t h = cfg["hidden_size"], i = cfg["intermediate_size"], p = cfg["patch_size"];
  const int64_t c = cfg["num_channels"], heads = cfg["num_attention_heads"];
  const int64_t window = cfg["image_size"].get<int64_t>() / p;
  if (ends("cls_token") || ends("mask_token")) return {1, 1, h};
  if (ends("position_embeddings")) return {1, window * window + 1, h};
  if (ends("projection.weight")) return {h, c, p, p};
  if (ends("relative_position_bias_table")) return {(2 * window - 1) * (2 * window - 1) + 3, heads};
  if (ends("intermediate.dense.weight")) return {i, h};
  if (ends("intermediate.dense.bias")) return {i};
  if (ends("attention.output.dense.weight") || ends("query.weight") || ends("key.weight") ||
      ends("value.weight")) {
    return {h, h};
  }
  if (ends("output.dense.weight")) return {h, i};
  if (ends("classifier.weight")) return {2, h};  // num_labels defaults to 2
  if (ends("classifier.bias")) return {2};
  if (ends("lm_head.weight")) return {cfg["vocab_size"].get<int64_t>(), h};
  if (ends("lm_head.bias")) return {cfg["vocab_size"].get<int64_t>()};
  return {h};  // biases, LayerNorm weights, lambda_1/lambda_2
}

struct FixtureCase {
  const char* flax;       // folder with flax_model.msgpack
  const char* reference;  // a safetensors fixture of the same architecture and depth
};

class FlaxFixtureTest : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(FlaxFixtureTest, NamesAreTransformersNames) {
  const FlaxCheckpointFile file = FlaxCheckpointFile::Open(kModels + GetParam().flax + "/flax_model.msgpack");
  const std::vector<std::string> names = file.Names();
  const std::set<std::string> flax_names(names.begin(), names.end());
  EXPECT_EQ(flax_names.size(), names.size()) << "a name listed twice";

  const SafetensorsFile reference =
      SafetensorsFile::Open(kModels + GetParam().reference + "/model.safetensors");
  std::set<std::string> torch_names;
  for (const TensorInfo& t : reference.tensors()) torch_names.insert(t.name);
  EXPECT_EQ(flax_names, torch_names);

  std::ifstream fixture(kModels + GetParam().flax + "/fixture.json");
  EXPECT_EQ(names.size(), nlohmann::json::parse(fixture)["state_dict_keys"].get<size_t>());
  for (const std::string& name : names) EXPECT_TRUE(file.Has(name)) << name;
  EXPECT_FALSE(file.Has("beit.embeddings.patch_embeddings.projection.kernel"));
}

TEST_P(FlaxFixtureTest, ShapesArePyTorchShapes) {
  const FlaxCheckpointFile file = FlaxCheckpointFile::Open(kModels + GetParam().flax + "/flax_model.msgpack");
  std::ifstream config_in(kModels + GetParam().flax + "/config.json");
  const nlohmann::json config = nlohmann::json::parse(config_in);
  for (const std::string& name : file.Names()) {
    EXPECT_EQ(file.ShapeOf(name), ExpectedShape(name, config)) << name;
    const Tensor t = file.ReadFloat(name);
    EXPECT_EQ(t.shape, file.ShapeOf(name)) << name;
    EXPECT_EQ(t.data.size(), static_cast<size_t>(NumElements(t.shape))) << name;
  }
}

TEST_P(FlaxFixtureTest, OpenAndFromBytesAgreeAndReleaseKeepsValues) {
  const std::string path = kModels + GetParam().flax + "/flax_model.msgpack";
  const FlaxCheckpointFile mapped = FlaxCheckpointFile::Open(path);
  const FlaxCheckpointFile copied = FlaxCheckpointFile::FromBytes("copy", ReadAll(path));
  EXPECT_EQ(mapped.path(), path);
  EXPECT_EQ(copied.path(), "copy");
  ASSERT_EQ(mapped.Names(), copied.Names());
  for (const std::string& name : mapped.Names()) {
    const Tensor before = mapped.ReadFloat(name);
    mapped.Release(name);
    copied.Release(name);
    EXPECT_EQ(mapped.ReadFloat(name).data, before.data) << name;
    EXPECT_EQ(copied.ReadFloat(name).data, before.data) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FlaxFixtureTest,
                         ::testing::Values(FixtureCase{"cls-flax", "cls-relpos-meanpool"},
                                           FixtureCase{"mim-flax", "mim-shared-relpos"}),
                         [](const auto& info) { return std::string(info.param.flax[0] == 'c' ? "Cls" : "Mim"); });

TEST(FlaxCheckpointTest, FlaxPathsFollowTransformersRenaming) {
  const FlaxCheckpointFile cls = FlaxCheckpointFile::Open(kModels + "cls-flax/flax_model.msgpack");
  EXPECT_EQ(cls.FlaxPathOf("beit.pooler.layernorm.weight"), "beit/pooler/layernorm/scale");
  EXPECT_EQ(cls.FlaxPathOf("beit.encoder.layer.1.output.dense.weight"), "beit/encoder/layer/1/output/dense/kernel");
  EXPECT_EQ(cls.FlaxPathOf("beit.embeddings.patch_embeddings.projection.weight"),
            "beit/embeddings/patch_embeddings/projection/kernel");
  EXPECT_EQ(cls.FlaxPathOf("beit.encoder.layer.0.lambda_1"), "beit/encoder/layer/0/lambda_1");
  EXPECT_EQ(cls.FlaxPathOf("classifier.bias"), "classifier/bias");
  const FlaxCheckpointFile mim = FlaxCheckpointFile::Open(kModels + "mim-flax/flax_model.msgpack");
  EXPECT_EQ(mim.FlaxPathOf("layernorm.weight"), "layernorm/scale");
  EXPECT_EQ(mim.FlaxPathOf("beit.encoder.relative_position_bias.relative_position_bias_table"),
            "beit/encoder/relative_position_bias/relative_position_bias_table");
  EXPECT_THROW(mim.FlaxPathOf("classifier.weight"), ModelError);
}

TEST(FlaxCheckpointTest, DenseKernelsAreTransposed) {
  const std::string path = kModels + "cls-flax/flax_model.msgpack";
  const std::vector<uint8_t> raw_file = ReadAll(path);
  const FlaxCheckpointFile file = FlaxCheckpointFile::Open(path);

  // classifier/kernel is the only [32, 2] array: Flax [in, out], PyTorch [out, in].
  const auto classifier = RawLeaves(raw_file, {32, 2});
  ASSERT_EQ(classifier.size(), 1u);
  const Tensor w = file.ReadFloat("classifier.weight");
  ASSERT_EQ(w.shape, (Shape{2, 32}));
  for (int in = 0; in < 32; ++in) {
    for (int out = 0; out < 2; ++out) {
      EXPECT_EQ(w.data[out * 32 + in], classifier[0][in * 2 + out]) << in << "," << out;
    }
  }

  // intermediate/dense/kernel [32, 64]: layer 0's comes first in the file.
  const auto intermediate = RawLeaves(raw_file, {32, 64});
  ASSERT_EQ(intermediate.size(), 2u);
  const Tensor w0 = file.ReadFloat("beit.encoder.layer.0.intermediate.dense.weight");
  const Tensor w1 = file.ReadFloat("beit.encoder.layer.1.intermediate.dense.weight");
  ASSERT_EQ(w0.shape, (Shape{64, 32}));
  for (int in = 0; in < 32; ++in) {
    for (int out = 0; out < 64; ++out) {
      ASSERT_EQ(w0.data[out * 32 + in], intermediate[0][in * 64 + out]);
      ASSERT_EQ(w1.data[out * 32 + in], intermediate[1][in * 64 + out]);
    }
  }
  EXPECT_NE(intermediate[0][1], intermediate[0][64]);  // the check above could tell the layouts apart

  const std::vector<uint8_t> mim_raw = ReadAll(kModels + "mim-flax/flax_model.msgpack");
  const auto lm_head = RawLeaves(mim_raw, {32, 30});
  ASSERT_EQ(lm_head.size(), 1u);
  const Tensor lm = FlaxCheckpointFile::Open(kModels + "mim-flax/flax_model.msgpack").ReadFloat("lm_head.weight");
  ASSERT_EQ(lm.shape, (Shape{30, 32}));
  for (int in = 0; in < 32; ++in) {
    for (int out = 0; out < 30; ++out) EXPECT_EQ(lm.data[out * 32 + in], lm_head[0][in * 30 + out]);
  }
}

TEST(FlaxCheckpointTest, ConvKernelIsHwioToOihw) {
  const std::string path = kModels + "cls-flax/flax_model.msgpack";
  const auto raw = RawLeaves(ReadAll(path), {8, 8, 3, 32});  // [H, W, I, O]
  ASSERT_EQ(raw.size(), 1u);
  const Tensor w = FlaxCheckpointFile::Open(path).ReadFloat("beit.embeddings.patch_embeddings.projection.weight");
  ASSERT_EQ(w.shape, (Shape{32, 3, 8, 8}));  // [O, I, H, W]
  for (int o = 0; o < 32; ++o) {
    for (int i = 0; i < 3; ++i) {
      for (int y = 0; y < 8; ++y) {
        for (int x = 0; x < 8; ++x) {
          ASSERT_EQ(w.data[((o * 3 + i) * 8 + y) * 8 + x], raw[0][((y * 8 + x) * 3 + i) * 32 + o])
              << o << " " << i << " " << y << " " << x;
        }
      }
    }
  }
}

TEST(FlaxCheckpointTest, OtherLeavesKeepTheirLayout) {
  const std::string path = kModels + "cls-flax/flax_model.msgpack";
  const std::vector<uint8_t> raw_file = ReadAll(path);
  const FlaxCheckpointFile file = FlaxCheckpointFile::Open(path);
  const auto cls_token = RawLeaves(raw_file, {1, 1, 32});
  ASSERT_EQ(cls_token.size(), 1u);
  EXPECT_EQ(file.ReadFloat("beit.embeddings.cls_token").data, cls_token[0]);
  const auto tables = RawLeaves(raw_file, {52, 4});
  ASSERT_EQ(tables.size(), 2u);
  EXPECT_EQ(file.ReadFloat("beit.encoder.layer.1.attention.attention.relative_position_bias.relative_position_bias_table").data,
            tables[1]);
}

TEST(FlaxCheckpointTest, ConvertsHalfBfloatAndDoubleStorage) {
  // float16: 1, -2, smallest subnormal, largest subnormal, smallest normal, 65504, -inf
  const std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0xFC00};
  // bfloat16 kernel [in=2, out=3]: 1, -0.5, 2 / 0.25, 3, -1
  const std::vector<uint16_t> bf16 = {0x3F80, 0xBF00, 0x4000, 0x3E80, 0x4040, 0xBF80};
  const std::vector<double> f64 = {1.5, -1e-3};
  Pack p;
  p.Map(1).Str("m").Map(3);
  Leaf(p.Str("halves"), {7}, "float16", AsBytes(f16));
  Leaf(p.Str("dense").Map(1).Str("kernel"), {2, 3}, "bfloat16", AsBytes(bf16));
  Leaf(p.Str("norm").Map(1).Str("scale"), {2}, "float64", AsBytes(f64));
  const FlaxCheckpointFile file = FlaxCheckpointFile::FromBytes("halves.msgpack", p.b);
  EXPECT_EQ(file.Names(), (std::vector<std::string>{"m.halves", "m.dense.weight", "m.norm.weight"}));

  const Tensor h = file.ReadFloat("m.halves");
  EXPECT_EQ(h.data[0], 1.f);
  EXPECT_EQ(h.data[1], -2.f);
  EXPECT_EQ(h.data[2], 5.9604645e-8f);
  EXPECT_EQ(h.data[3], 6.0975552e-5f);
  EXPECT_EQ(h.data[4], 6.1035156e-5f);
  EXPECT_EQ(h.data[5], 65504.f);
  EXPECT_EQ(h.data[6], -std::numeric_limits<float>::infinity());

  const Tensor d = file.ReadFloat("m.dense.weight");
  EXPECT_EQ(d.shape, (Shape{3, 2}));
  EXPECT_EQ(d.data, (std::vector<float>{1.f, 0.25f, -0.5f, 3.f, 2.f, -1.f}));

  const Tensor n = file.ReadFloat("m.norm.weight");
  EXPECT_EQ(n.data, (std::vector<float>{1.5f, static_cast<float>(-1e-3)}));
}

TEST(FlaxCheckpointTest, RenamesLikeTransformers) {
  Pack p;
  p.Map(4);
  F32Leaf(p.Str("embeddings").Map(1).Str("cls_token"), {1, 1, 2}, {1, 2});
  F32Leaf(p.Str("embed").Map(1).Str("embedding"), {4, 2}, Iota(8));      // Embed: no transpose
  F32Leaf(p.Str("general").Map(1).Str("kernel"), {2, 3, 4}, Iota(24));    // numpy .T: axes reversed
  Leaf(p.Str("steps").Map(1).Str("count"), {2}, "int32", AsBytes(std::vector<int32_t>{1, 2}));
  const FlaxCheckpointFile file = FlaxCheckpointFile::FromBytes("renames.msgpack", p.b);
  EXPECT_EQ(file.Names(),
            (std::vector<std::string>{"embeddings.cls_token", "embed.weight", "general.weight", "steps.count"}));
  EXPECT_EQ(file.ReadFloat("embed.weight").data, Iota(8));
  EXPECT_EQ(file.ShapeOf("embed.weight"), (Shape{4, 2}));
  const Tensor g = file.ReadFloat("general.weight");
  ASSERT_EQ(g.shape, (Shape{4, 3, 2}));
  for (int a = 0; a < 2; ++a) {
    for (int b = 0; b < 3; ++b) {
      for (int c = 0; c < 4; ++c) EXPECT_EQ(g.data[(c * 3 + b) * 2 + a], Iota(24)[(a * 3 + b) * 4 + c]);
    }
  }
  // Integer storage is indexed but is not a float tensor.
  EXPECT_EQ(file.ShapeOf("steps.count"), (Shape{2}));
  try {
    file.ReadFloat("steps.count");
    FAIL() << "int32 read as float";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("'steps.count'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("int32"), std::string::npos) << e.what();
  }
  EXPECT_THROW(file.ShapeOf("nope"), ModelError);
  EXPECT_THROW(file.ReadFloat("nope"), ModelError);
  EXPECT_THROW(file.Release("nope"), ModelError);
}

TEST(FlaxCheckpointTest, BatchStatsCollectionsMapToRunningStats) {
  Pack p;
  p.Map(2).Str("params").Map(1).Str("bn").Map(2);
  F32Leaf(p.Str("scale"), {2}, {1, 2});
  F32Leaf(p.Str("bias"), {2}, {3, 4});
  p.Str("batch_stats").Map(1).Str("bn").Map(2);
  F32Leaf(p.Str("mean"), {2}, {5, 6});
  F32Leaf(p.Str("var"), {2}, {7, 8});
  const FlaxCheckpointFile file = FlaxCheckpointFile::FromBytes("bn.msgpack", p.b);
  EXPECT_EQ(file.Names(),
            (std::vector<std::string>{"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}));
  EXPECT_EQ(file.ReadFloat("bn.running_var").data, (std::vector<float>{7, 8}));
  EXPECT_EQ(file.FlaxPathOf("bn.running_mean"), "batch_stats/bn/mean");
}

std::vector<uint8_t> SmallCheckpoint() {
  Pack p;
  p.Map(2).Str("beit").Map(1).Str("layer").Map(1).Str("0").Map(2);
  F32Leaf(p.Str("kernel"), {2, 3}, Iota(6));
  F32Leaf(p.Str("bias"), {3}, {1, 2, 3});
  F32Leaf(p.Str("classifier").Map(1).Str("kernel"), {3, 2}, Iota(6));
  return p.b;
}

TEST(FlaxCheckpointTest, EveryTruncationIsAModelError) {
  const std::vector<uint8_t> whole = SmallCheckpoint();
  ASSERT_EQ(FlaxCheckpointFile::FromBytes("small", whole).Names().size(), 3u);
  for (size_t n = 0; n < whole.size(); ++n) {
    const std::string error = OpenError(std::vector<uint8_t>(whole.begin(), whole.begin() + n));
    EXPECT_NE(error.find("bad.msgpack"), std::string::npos) << n << ": " << error;
  }
  const std::vector<uint8_t> fixture = ReadAll(kModels + "cls-flax/flax_model.msgpack");
  for (size_t n : {size_t{1}, size_t{40}, fixture.size() / 2, fixture.size() - 1}) {
    const std::string error = OpenError(std::vector<uint8_t>(fixture.begin(), fixture.begin() + n));
    EXPECT_NE(error.find("truncated"), std::string::npos) << n << ": " << error;
  }
  EXPECT_NE(OpenError({}).find("empty"), std::string::npos);
}

TEST(FlaxCheckpointTest, LengthsBeyondTheBytesAreErrors) {
  // A bin declaring more bytes than the file holds.
  Pack bin;
  bin.Map(1).Str("w").Byte(0xc7).BigEndian(16, 1).Byte(1).Arr(3).Arr(1).UInt(4).Str("float32").Byte(0xc6).BigEndian(
      0xffffffff, 4);
  EXPECT_NE(OpenError(bin.b).find("truncated"), std::string::npos) << OpenError(bin.b);
  // An ext declaring more than remains.
  Pack ext;
  ext.Map(1).Str("w").Byte(0xc9).BigEndian(0x7fffffff, 4).Byte(1);
  EXPECT_NE(OpenError(ext.b).find("truncated"), std::string::npos) << OpenError(ext.b);
  // A key longer than the file; a map and a shape declaring 2^32-1 entries.
  Pack key;
  key.Map(1).Byte(0xdb).BigEndian(1000, 4).Bytes({'a', 'b'});
  EXPECT_NE(OpenError(key.b).find("truncated"), std::string::npos) << OpenError(key.b);
  Pack map;
  map.Byte(0xdf).BigEndian(0xffffffff, 4).Str("a");
  EXPECT_NE(OpenError(map.b).find("declares 4294967295 entries"), std::string::npos) << OpenError(map.b);
  Pack shape;
  shape.Map(1).Str("w").Ext(1, Pack().Arr(3).Byte(0xdd).BigEndian(0xffffffff, 4).UInt(1).b);
  EXPECT_NE(OpenError(shape.b).find("declares 4294967295 elements"), std::string::npos) << OpenError(shape.b);
  // A payload with bytes after its data, and a file with bytes after the tree.
  Pack extra;
  std::vector<uint8_t> payload = Payload({1}, "float32", AsBytes(std::vector<float>{1}));
  payload.push_back(0xc0);
  extra.Map(1).Str("w").Ext(1, payload);
  EXPECT_NE(OpenError(extra.b).find("1 bytes follow the array data"), std::string::npos) << OpenError(extra.b);
  std::vector<uint8_t> trailing = SmallCheckpoint();
  trailing.push_back(0);
  EXPECT_NE(OpenError(trailing).find("the top level: 1 bytes follow the end of the map"), std::string::npos);
}

TEST(FlaxCheckpointTest, OtherExtTypesAreErrors) {
  Pack p;
  p.Map(1).Str("beit").Map(1).Str("w").Ext(2, Payload({1}, "float32", AsBytes(std::vector<float>{1})));
  const std::string error = OpenError(p.b);
  EXPECT_NE(error.find("'beit/w': a msgpack ext of type 2"), std::string::npos) << error;
  Pack negative;
  negative.Map(1).Str("w").Ext(-1, std::vector<uint8_t>(8, 0));  // a msgpack timestamp
  EXPECT_NE(OpenError(negative.b).find("ext of type -1"), std::string::npos) << OpenError(negative.b);
}

std::vector<uint8_t> Nested(int maps) {
  Pack p;
  for (int i = 0; i < maps; ++i) p.Map(1).Str("a");
  F32Leaf(p, {1}, {1});
  return p.b;
}

TEST(FlaxCheckpointTest, NestingIsBounded) {
  const FlaxCheckpointFile deep = FlaxCheckpointFile::FromBytes("deep", Nested(FlaxCheckpointFile::kMaxDepth));
  ASSERT_EQ(deep.Names().size(), 1u);
  EXPECT_EQ(deep.Names()[0].size(), 2u * FlaxCheckpointFile::kMaxDepth - 1);
  const std::string error = OpenError(Nested(FlaxCheckpointFile::kMaxDepth + 1));
  EXPECT_NE(error.find("deeper than 32"), std::string::npos) << error;
  EXPECT_NE(OpenError(Nested(100000)).find("deeper than 32"), std::string::npos);
}

TEST(FlaxCheckpointTest, LeafSizeMustMatchShapeAndDtype) {
  Pack p;
  p.Map(1).Str("w");
  Leaf(p, {2, 3}, "float16", std::vector<uint8_t>(24, 0));  // float32's size
  const std::string error = OpenError(p.b);
  EXPECT_NE(error.find("'w': holds 24 bytes but shape [2, 3] of float16 needs 12"), std::string::npos) << error;

  Pack big;
  big.Map(1).Str("w");
  Leaf(big, {int64_t{1} << 32, int64_t{1} << 32, 4}, "float32", {});
  EXPECT_NE(OpenError(big.b).find("too large"), std::string::npos) << OpenError(big.b);
  Pack zero;  // a zero dimension does not excuse the others
  zero.Map(1).Str("w");
  Leaf(zero, {0, int64_t{1} << 40, int64_t{1} << 40}, "float32", {});
  EXPECT_NE(OpenError(zero.b).find("too large"), std::string::npos) << OpenError(zero.b);
  Pack empty;  // but an honest empty array is fine
  empty.Map(1).Str("w");
  Leaf(empty, {0, 3}, "float32", {});
  EXPECT_EQ(FlaxCheckpointFile::FromBytes("e", empty.b).ReadFloat("w").shape, (Shape{0, 3}));

  Pack rank;
  rank.Map(1).Str("w");
  Leaf(rank, Shape(9, 1), "float32", {0, 0, 0, 0});
  EXPECT_NE(OpenError(rank.b).find("has 9 dimensions"), std::string::npos) << OpenError(rank.b);

  Pack negative;
  negative.Map(1).Str("w").Ext(1, Pack().Arr(3).Arr(1).Byte(0xff).Str("float32").Bin({}).b);
  EXPECT_NE(OpenError(negative.b).find("negative"), std::string::npos) << OpenError(negative.b);

  Pack two;
  two.Map(1).Str("w").Ext(1, Pack().Arr(2).Arr(0).Str("float32").b);
  EXPECT_NE(OpenError(two.b).find("payload is not [shape, dtype, bytes]"), std::string::npos) << OpenError(two.b);
}

TEST(FlaxCheckpointTest, UnknownDtypeIsAnError) {
  Pack p;
  p.Map(1).Str("w");
  Leaf(p, {1}, "complex64", std::vector<uint8_t>(8, 0));
  const std::string error = OpenError(p.b);
  EXPECT_NE(error.find("unsupported dtype 'complex64'"), std::string::npos) << error;
}

TEST(FlaxCheckpointTest, TopLevelMustBeAMap) {
  Pack array;
  array.Arr(1).UInt(1);
  EXPECT_NE(OpenError(array.b).find("the top level: not a msgpack map"), std::string::npos) << OpenError(array.b);
  Pack leaf;
  F32Leaf(leaf, {1}, {1});
  EXPECT_NE(OpenError(leaf.b).find("not a Flax checkpoint"), std::string::npos);
  const std::vector<uint8_t> safetensors = ReadAll(kModels + "cls-relpos-meanpool/model.safetensors");
  EXPECT_NE(OpenError(safetensors).find("bad.msgpack"), std::string::npos);
}

TEST(FlaxCheckpointTest, MalformedTreesAreErrors) {
  Pack int_key;
  int_key.Map(1).UInt(3);
  F32Leaf(int_key, {1}, {1});
  EXPECT_NE(OpenError(int_key.b).find("is not a msgpack string"), std::string::npos) << OpenError(int_key.b);

  Pack scalar;
  scalar.Map(1).Str("beit").Map(1).Str("step").UInt(7);
  EXPECT_NE(OpenError(scalar.b).find("'beit/step': neither a map nor a Flax array"), std::string::npos)
      << OpenError(scalar.b);

  Pack twice;  // "kernel" and "weight" in one module both become "weight"
  twice.Map(1).Str("dense").Map(2);
  F32Leaf(twice.Str("kernel"), {1, 1}, {1});
  F32Leaf(twice.Str("weight"), {1, 1}, {1});
  EXPECT_NE(OpenError(twice.b).find("both map to the PyTorch name 'dense.weight'"), std::string::npos)
      << OpenError(twice.b);

  Pack chunked;
  chunked.Map(1).Str("table").Map(1).Str("__msgpack_chunked_array__").Byte(0xc3);
  EXPECT_NE(OpenError(chunked.b).find("chunked array"), std::string::npos) << OpenError(chunked.b);

  Pack many;
  many.Map(FlaxCheckpointFile::kMaxTensors + 1);
  for (size_t i = 0; i <= FlaxCheckpointFile::kMaxTensors; ++i) F32Leaf(many.Str(std::to_string(i)), {}, {1});
  EXPECT_NE(OpenError(many.b).find("more than 16384 arrays"), std::string::npos) << OpenError(many.b);

  Pack long_name;
  long_name.Map(1).Str(std::string(2000, 'x'));
  F32Leaf(long_name, {1}, {1});
  EXPECT_NE(OpenError(long_name.b).find("longer than 512 bytes"), std::string::npos) << OpenError(long_name.b);
}

// The fuzzer's hand-made seed (every dtype, a Conv and a Dense kernel, batch_stats) stays valid.
TEST(FlaxCheckpointTest, SmallFuzzSeedOpens) {
  const FlaxCheckpointFile file = FlaxCheckpointFile::Open(
      std::string(BEIT_TEST_DATA_DIR) + "/../fuzz/seeds/flax/small-all-dtypes.msgpack");
  EXPECT_EQ(file.Names(), (std::vector<std::string>{"beit.conv.weight", "beit.conv.bias", "beit.layer.0.weight",
                                                    "beit.layer.0.n", "beit.norm.weight", "bn.running_mean",
                                                    "bn.running_var"}));
  EXPECT_EQ(file.ShapeOf("beit.conv.weight"), (Shape{2, 2, 1, 2}));
  // HWIO [1, 2, 2, 2] holding 0..7: element (h=0, w, i, o) is w*4 + i*2 + o.
  EXPECT_EQ(file.ReadFloat("beit.conv.weight").data, (std::vector<float>{0, 4, 2, 6, 1, 5, 3, 7}));
  EXPECT_EQ(file.ReadFloat("bn.running_mean").shape, Shape{});
  EXPECT_EQ(file.ReadFloat("bn.running_mean").data, (std::vector<float>{1}));
}

TEST(FlaxCheckpointTest, MissingFileIsAModelError) {
  try {
    FlaxCheckpointFile::Open(kModels + "no-such-model/flax_model.msgpack");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-model/flax_model.msgpack: cannot open"), std::string::npos);
  }
}

}  // namespace
}  // namespace beit
