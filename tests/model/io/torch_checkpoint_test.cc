#include "model/io/torch_checkpoint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "model/model_error.h"
#include "model/io/safetensors.h"

namespace beit {
namespace {

using namespace std::string_literals;  // "..."s keeps embedded NUL bytes

const std::string kModels = std::string(BEIT_TEST_DATA_DIR) + "/models/";
const char* const kFixtures[] = {"cls-dit-bin", "cls-relpos-bin-legacy", "cls-bin-views", "d2v-cls-bin"};

// ---------------------------------------------------------------------------------------------
// Builders for hand-made checkpoints.

void AppendLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Pickle opcodes written one by one, as torch.save (protocol 2) writes them.
struct Pickle {
  std::string b;
  Pickle& Raw(const std::string& s) {
    b += s;
    return *this;
  }
  Pickle& Op(char c) {
    b.push_back(c);
    return *this;
  }
  Pickle& Proto(int protocol = 2) {
    b.push_back('\x80');
    b.push_back(static_cast<char>(protocol));
    return *this;
  }
  Pickle& Str(const std::string& s) {
    b.push_back('X');
    AppendLe(&b, s.size(), 4);
    b += s;
    return *this;
  }
  Pickle& Int(int64_t v) {
    if (v >= 0 && v < 256) {
      b.push_back('K');
      AppendLe(&b, static_cast<uint64_t>(v), 1);
    } else if (v >= 0 && v < 65536) {
      b.push_back('M');
      AppendLe(&b, static_cast<uint64_t>(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      b.push_back('J');
      AppendLe(&b, static_cast<uint64_t>(v), 4);
    } else {  // LONG1 of 8 bytes
      b += "\x8a\x08";
      AppendLe(&b, static_cast<uint64_t>(v), 8);
    }
    return *this;
  }
  Pickle& Global(const std::string& module, const std::string& name) {
    b += "c" + module + "\n" + name + "\n";
    return *this;
  }
  Pickle& IntTuple(const std::vector<int64_t>& v) {
    Op('(');
    for (int64_t x : v) Int(x);
    return Op('t');
  }
  Pickle& EmptyOrderedDict() { return Global("collections", "OrderedDict").Op(')').Op('R'); }
};

struct TensorSpec {
  std::string name;
  std::string storage_type;  // "FloatStorage", ...
  std::string key;
  int64_t storage_numel;
  int64_t offset;
  std::vector<int64_t> size, stride;
};

// _rebuild_tensor_v2((persistent storage id), offset, size, stride, False, OrderedDict())
void AppendTensor(Pickle* p, const TensorSpec& t, bool legacy) {
  p->Global("torch._utils", "_rebuild_tensor_v2").Op('(');
  p->Op('(').Str("storage").Global("torch", t.storage_type).Str(t.key).Str("cpu").Int(t.storage_numel);
  if (legacy) p->Op('N');  // view_metadata
  p->Op('t').Op('Q');
  p->Int(t.offset).IntTuple(t.size).IntTuple(t.stride).Op('\x89').EmptyOrderedDict();
  p->Op('t').Op('R');
}

std::string StateDictPickle(const std::vector<TensorSpec>& tensors, bool legacy = false) {
  Pickle p;
  p.Proto().Op('}').Op('(');
  for (const TensorSpec& t : tensors) {
    p.Str(t.name);
    AppendTensor(&p, t, legacy);
  }
  return p.Op('u').Op('.').b;
}

std::string FloatBytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

// A zip archive laid out as torch.save lays it out: stored entries whose contents start on
// 64-byte boundaries (padding in the local header's extra field), optionally with ZIP64 records.
struct ZipSpec {
  struct Item {
    std::string name;
    std::string data;
    uint16_t method = 0;
    bool local = true;              // false: only in the central directory
    int64_t central_offset = -1;    // the local header offset the directory gives (default: real)
  };
  std::vector<Item> items;
  bool zip64 = false;

  ZipSpec& Add(const std::string& name, const std::string& data) {
    items.push_back({name, data});
    return *this;
  }

  static std::string LocalHeader(const std::string& name, size_t size, size_t at, uint16_t method = 0) {
    std::string h;
    AppendLe(&h, 0x04034b50, 4);
    AppendLe(&h, 20, 2);      // version needed
    AppendLe(&h, 0, 2);       // flags
    AppendLe(&h, method, 2);
    AppendLe(&h, 0, 4);       // time, date
    AppendLe(&h, 0, 4);       // crc (not checked by the reader)
    AppendLe(&h, size, 4);
    AppendLe(&h, size, 4);
    AppendLe(&h, name.size(), 2);
    const size_t unpadded = at + 30 + name.size() + 4;
    const size_t pad = (64 - unpadded % 64) % 64;
    AppendLe(&h, 4 + pad, 2);
    h += name;
    AppendLe(&h, 0x4246, 2);  // "FB": torch's padding field
    AppendLe(&h, pad, 2);
    h += std::string(pad, 'Z');
    return h;
  }

  // `data_offsets`, if given, receives where each local item's contents start.
  std::string Build(std::vector<size_t>* data_offsets = nullptr) const {
    std::string out;
    std::vector<size_t> offsets;
    for (const Item& it : items) {
      offsets.push_back(out.size());
      if (!it.local) continue;
      out += LocalHeader(it.name, it.data.size(), out.size(), it.method);
      if (data_offsets) data_offsets->push_back(out.size());
      out += it.data;
    }
    const size_t dir_offset = out.size();
    for (size_t i = 0; i < items.size(); ++i) {
      const Item& it = items[i];
      const uint64_t offset = it.central_offset >= 0 ? static_cast<uint64_t>(it.central_offset) : offsets[i];
      AppendLe(&out, 0x02014b50, 4);
      AppendLe(&out, 0x031e, 2);  // made by
      AppendLe(&out, 45, 2);
      AppendLe(&out, 0, 2);
      AppendLe(&out, it.method, 2);
      AppendLe(&out, 0, 4);
      AppendLe(&out, 0, 4);
      AppendLe(&out, zip64 ? 0xffffffff : it.data.size(), 4);
      AppendLe(&out, zip64 ? 0xffffffff : it.data.size(), 4);
      AppendLe(&out, it.name.size(), 2);
      AppendLe(&out, zip64 ? 28 : 0, 2);
      AppendLe(&out, 0, 2);  // comment
      AppendLe(&out, 0, 2);  // disk
      AppendLe(&out, 0, 2);
      AppendLe(&out, 0, 4);
      AppendLe(&out, zip64 ? 0xffffffff : offset, 4);
      out += it.name;
      if (zip64) {
        AppendLe(&out, 1, 2);
        AppendLe(&out, 24, 2);
        AppendLe(&out, it.data.size(), 8);
        AppendLe(&out, it.data.size(), 8);
        AppendLe(&out, offset, 8);
      }
    }
    const size_t dir_size = out.size() - dir_offset;
    if (zip64) {
      const size_t record = out.size();
      AppendLe(&out, 0x06064b50, 4);
      AppendLe(&out, 44, 8);
      AppendLe(&out, 45, 2);
      AppendLe(&out, 45, 2);
      AppendLe(&out, 0, 4);
      AppendLe(&out, 0, 4);
      AppendLe(&out, items.size(), 8);
      AppendLe(&out, items.size(), 8);
      AppendLe(&out, dir_size, 8);
      AppendLe(&out, dir_offset, 8);
      AppendLe(&out, 0x07064b50, 4);
      AppendLe(&out, 0, 4);
      AppendLe(&out, record, 8);
      AppendLe(&out, 1, 4);
    }
    AppendLe(&out, 0x06054b50, 4);
    AppendLe(&out, 0, 4);
    AppendLe(&out, zip64 ? 0xffff : items.size(), 2);
    AppendLe(&out, zip64 ? 0xffff : items.size(), 2);
    AppendLe(&out, zip64 ? 0xffffffff : dir_size, 4);
    AppendLe(&out, zip64 ? 0xffffffff : dir_offset, 4);
    AppendLe(&out, 0, 2);
    return out;
  }
};

// The legacy (pre-1.6) sequence of pickles followed by the storages, in `storages` order.
std::string LegacyFile(const std::vector<TensorSpec>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& storages,  // key, raw bytes
                       const std::string& magic = std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10)) {
  std::string out = Pickle().Proto().Op('\x8a').Raw(std::string(1, static_cast<char>(magic.size()))).Raw(magic).b + ".";
  out += Pickle().Proto().Int(1001).Op('.').b;
  Pickle info;
  info.Proto().Op('}').Op('(').Str("protocol_version").Int(1001).Str("little_endian").Op('\x88').Op('u').Op('.');
  out += info.b;
  out += StateDictPickle(tensors, /*legacy=*/true);
  Pickle keys;
  keys.Proto().Op(']').Op('(');
  for (const auto& s : storages) keys.Str(s.first);
  out += keys.Op('e').Op('.').b;
  for (const auto& s : storages) {
    const TensorSpec* user = nullptr;
    for (const TensorSpec& t : tensors) {
      if (t.key == s.first) user = &t;
    }
    AppendLe(&out, user ? static_cast<uint64_t>(user->storage_numel) : 0, 8);
    out += s.second;
  }
  return out;
}

std::vector<uint8_t> Bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

std::unique_ptr<TorchCheckpointFile> FromString(const std::string& s) {
  return TorchCheckpointFile::FromBytes("memory.bin", Bytes(s));
}

std::string OpenError(const std::string& s) {
  try {
    FromString(s);
  } catch (const ModelError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("memory.bin", 0), 0u) << message;  // every message names the file
    return message;
  }
  ADD_FAILURE() << "no ModelError";
  return "";
}

// A zip checkpoint with one 6-float storage [0, 1.5, 3, 4.5, 6, 7.5] and `tensors` over it.
std::string ViewsZip(const std::vector<TensorSpec>& tensors, bool zip64 = false,
                     const std::string& folder = "archive") {
  ZipSpec zip;
  zip.zip64 = zip64;
  zip.Add(folder + "/data.pkl", StateDictPickle(tensors))
      .Add(folder + "/byteorder", "little")
      .Add(folder + "/data/0", FloatBytes({0.f, 1.5f, 3.f, 4.5f, 6.f, 7.5f}))
      .Add(folder + "/version", "3\n");
  return zip.Build();
}

std::vector<TensorSpec> SixFloatViews() {
  return {{"rows", "FloatStorage", "0", 6, 0, {2, 3}, {3, 1}},
          {"transposed", "FloatStorage", "0", 6, 0, {3, 2}, {1, 3}},
          {"tail", "FloatStorage", "0", 6, 4, {2}, {1}},
          {"column", "FloatStorage", "0", 6, 1, {2}, {3}},
          {"scalar", "FloatStorage", "0", 6, 2, {}, {}}};
}

// ---------------------------------------------------------------------------------------------
// The fixtures Transformers wrote.

nlohmann::json FixtureJson(const std::string& fixture) {
  return nlohmann::json::parse(std::ifstream(kModels + fixture + "/fixture.json"));
}

std::unique_ptr<TorchCheckpointFile> OpenFixture(const std::string& fixture) {
  return TorchCheckpointFile::Open(kModels + fixture + "/pytorch_model.bin");
}

// Sum and position-weighted sum (catches a transposition), as computed from the raw storages by
// an independent reader (Python's zipfile + struct) when the fixtures were added.
void ExpectSums(const Tensor& t, double sum, double weighted) {
  double s = 0, w = 0;
  for (size_t i = 0; i < t.data.size(); ++i) {
    s += t.data[i];
    w += t.data[i] * static_cast<double>(i + 1);
  }
  EXPECT_NEAR(s, sum, 1e-5 * std::max(1.0, std::fabs(sum)));
  EXPECT_NEAR(w, weighted, 1e-5 * std::max(1.0, std::fabs(weighted)));
}

TEST(TorchCheckpointFixtures, EveryFixtureOpensWithItsStateDict) {
  for (const char* fixture : kFixtures) {
    SCOPED_TRACE(fixture);
    const auto file = OpenFixture(fixture);
    const std::vector<std::string> names = file->Names();
    EXPECT_EQ(names.size(), FixtureJson(fixture)["state_dict_keys"].get<size_t>());
    int64_t parameters = 0;
    for (const std::string& name : names) {
      ASSERT_TRUE(file->Has(name));
      const Shape shape = file->ShapeOf(name);
      const DType dtype = file->DTypeOf(name);
      if (dtype != DType::kF32) {
        EXPECT_EQ(dtype, DType::kI64) << name;
        continue;
      }
      parameters += NumElements(shape);
      const Tensor t = file->ReadFloat(name);
      ASSERT_EQ(t.shape, shape) << name;
      for (float v : t.data) ASSERT_TRUE(std::isfinite(v)) << name;
    }
    EXPECT_EQ(parameters, FixtureJson(fixture)["num_parameters"].get<int64_t>());
  }
}

TEST(TorchCheckpointFixtures, ZipNamesAndShapes) {
  const auto dit = OpenFixture("cls-dit-bin");
  EXPECT_EQ(dit->container(), TorchCheckpointFile::Container::kZip);
  EXPECT_EQ(dit->Names().front(), "beit.embeddings.cls_token");  // file order
  EXPECT_EQ(dit->ShapeOf("beit.embeddings.patch_embeddings.projection.weight"), (Shape{32, 3, 8, 8}));
  EXPECT_EQ(dit->ShapeOf("beit.embeddings.cls_token"), (Shape{1, 1, 32}));
  EXPECT_EQ(dit->ShapeOf("classifier.weight"), (Shape{5, 32}));
  EXPECT_EQ(dit->ShapeOf("classifier.bias"), (Shape{5}));
  ExpectSums(dit->ReadFloat("beit.embeddings.patch_embeddings.projection.weight"), -2.88006533, 2970.50388);
  ExpectSums(dit->ReadFloat("classifier.weight"), -2.02156828, -177.430304);

  const auto d2v = OpenFixture("d2v-cls-bin");
  for (const std::string& name : d2v->Names()) EXPECT_NE(name.rfind("beit.", 0), 0u) << name;
  EXPECT_EQ(d2v->ShapeOf("data2vec_vision.embeddings.patch_embeddings.projection.weight"), (Shape{32, 3, 8, 8}));
  EXPECT_EQ(d2v->ShapeOf("classifier.weight"), (Shape{2, 32}));
  const std::string layer = "data2vec_vision.encoder.layer.";
  EXPECT_TRUE(d2v->Has(layer + "1.attention.attention.relative_position_bias.relative_position_bias_table"));
  ExpectSums(d2v->ReadFloat(layer + "0.attention.attention.query.weight"), -10.9003111, -3423.42146);
  ExpectSums(d2v->ReadFloat("data2vec_vision.embeddings.patch_embeddings.projection.weight"), 10.1731658, 36906.2639);
}

TEST(TorchCheckpointFixtures, LegacyFormatWithIntegerBuffers) {
  const auto file = OpenFixture("cls-relpos-bin-legacy");
  EXPECT_EQ(file->container(), TorchCheckpointFile::Container::kLegacy);
  const std::string index = "beit.encoder.layer.0.attention.attention.relative_position_bias.relative_position_index";
  ASSERT_TRUE(file->Has(index));
  EXPECT_EQ(file->ShapeOf(index), (Shape{17, 17}));
  EXPECT_EQ(file->DTypeOf(index), DType::kI64);
  try {
    file->ReadFloat(index);
    FAIL() << "an I64 tensor read as float";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find(index), std::string::npos) << e.what();
  }
  const Tensor classifier = file->ReadFloat("classifier.weight");
  EXPECT_EQ(classifier.shape, (Shape{2, 32}));
  EXPECT_FLOAT_EQ(classifier.data[0], 0.2541944682598114f);
  EXPECT_FLOAT_EQ(classifier.data[2], 0.09312661737203598f);
  ExpectSums(classifier, 1.51274986, 56.1697748);
  ExpectSums(file->ReadFloat("beit.embeddings.patch_embeddings.projection.weight"), 5.35887961, 16823.8229);
  const std::string table =
      "beit.encoder.layer.0.attention.attention.relative_position_bias.relative_position_bias_table";
  ExpectSums(file->ReadFloat(table), 3.61773818, 256.883903);
}

TEST(TorchCheckpointFixtures, ViewsIntoSharedStorageAndTransposedClassifier) {
  const auto file = OpenFixture("cls-bin-views");
  const std::string layer = "beit.encoder.layer.0.attention.attention.";
  const Tensor q = file->ReadFloat(layer + "query.weight");
  const Tensor k = file->ReadFloat(layer + "key.weight");
  const Tensor v = file->ReadFloat(layer + "value.weight");
  ASSERT_EQ(q.shape, (Shape{32, 32}));
  ASSERT_EQ(k.shape, (Shape{32, 32}));
  EXPECT_NE(q.data, k.data);
  EXPECT_NE(k.data, v.data);
  // One storage of 3072 floats: q at offset 0, k at 1024, v at 2048.
  EXPECT_FLOAT_EQ(q.data[0], 0.001245409483090043f);
  EXPECT_FLOAT_EQ(k.data[0], 0.04305567592382431f);
  EXPECT_FLOAT_EQ(k.data[1], -0.4470919370651245f);
  EXPECT_FLOAT_EQ(v.data[0], -0.4580972194671631f);
  ExpectSums(q, 3.70793083, 1301.44911);
  ExpectSums(k, 5.01179328, -1511.2873);
  ExpectSums(v, -1.28493601, -234.572679);

  // classifier.weight: size (2, 32), stride (1, 2) — the transpose of a contiguous [32, 2].
  const Tensor c = file->ReadFloat("classifier.weight");
  ASSERT_EQ(c.shape, (Shape{2, 32}));
  EXPECT_FLOAT_EQ(c.data[0], -0.2908359169960022f);
  EXPECT_FLOAT_EQ(c.data[1], 0.05499847233295441f);
  EXPECT_FLOAT_EQ(c.data[31], 0.15859530866146088f);
  EXPECT_FLOAT_EQ(c.data[32], 0.11768267303705215f);
  EXPECT_FLOAT_EQ(c.data[33], -0.11758389323949814f);
  ExpectSums(c, 0.392957451, -26.8193054);
}

TEST(TorchCheckpointFixtures, ReleasedTensorsReadAgain) {
  const auto file = OpenFixture("cls-bin-views");
  for (const std::string& name : file->Names()) {
    if (file->DTypeOf(name) != DType::kF32) continue;
    const Tensor before = file->ReadFloat(name);
    file->Release(name);  // drops pages q, k and v share
    EXPECT_EQ(file->ReadFloat(name).data, before.data) << name;
  }
}

TEST(TorchCheckpointFixtures, FromBytesMatchesOpen) {
  for (const char* fixture : kFixtures) {
    SCOPED_TRACE(fixture);
    std::ifstream in(kModels + fixture + "/pytorch_model.bin", std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto from_bytes = TorchCheckpointFile::FromBytes("memory", bytes);
    const auto opened = OpenFixture(fixture);
    ASSERT_EQ(from_bytes->Names(), opened->Names());
    EXPECT_EQ(from_bytes->ReadFloat("classifier.weight").data, opened->ReadFloat("classifier.weight").data);
    from_bytes->Release("classifier.weight");  // nothing mapped: a no-op
  }
}

// ---------------------------------------------------------------------------------------------
// Hand-made archives: the formats' corners.

TEST(TorchCheckpointZip, ViewsOffsetsAndStrides) {
  for (bool zip64 : {false, true}) {
    SCOPED_TRACE(zip64 ? "zip64" : "zip");
    const auto file = FromString(ViewsZip(SixFloatViews(), zip64, zip64 ? "my_model" : "archive"));
    EXPECT_EQ(file->Names(), (std::vector<std::string>{"rows", "transposed", "tail", "column", "scalar"}));
    EXPECT_EQ(file->ReadFloat("rows").data, (std::vector<float>{0.f, 1.5f, 3.f, 4.5f, 6.f, 7.5f}));
    EXPECT_EQ(file->ShapeOf("transposed"), (Shape{3, 2}));
    EXPECT_EQ(file->ReadFloat("transposed").data, (std::vector<float>{0.f, 4.5f, 1.5f, 6.f, 3.f, 7.5f}));
    EXPECT_EQ(file->ReadFloat("tail").data, (std::vector<float>{6.f, 7.5f}));
    EXPECT_EQ(file->ReadFloat("column").data, (std::vector<float>{1.5f, 6.f}));
    const Tensor scalar = file->ReadFloat("scalar");
    EXPECT_EQ(scalar.shape, Shape{});
    EXPECT_EQ(scalar.data, (std::vector<float>{3.f}));
  }
}

TEST(TorchCheckpointZip, EmptyTensorsAndSizeOneDimensions) {
  const auto file = FromString(ViewsZip({{"empty", "FloatStorage", "0", 6, 6, {0, 4}, {4, 1}},
                                         {"ones", "FloatStorage", "0", 6, 5, {1, 1}, {1000000, 77}}}));
  EXPECT_TRUE(file->ReadFloat("empty").data.empty());
  EXPECT_EQ(file->ReadFloat("ones").data, (std::vector<float>{7.5f}));
}

TEST(TorchCheckpointZip, OrderedDictWithMetadataAndNestedStateDicts) {
  // torch.save(model.state_dict()): an OrderedDict whose _metadata is set by BUILD.
  Pickle p;
  p.Proto().EmptyOrderedDict().Op('(').Str("w");
  AppendTensor(&p, {"w", "FloatStorage", "0", 6, 0, {6}, {1}}, false);
  p.Op('u').Op('}').Op('(').Str("_metadata").EmptyOrderedDict().Op('(').Str("").Op('}').Op('(').Str("version");
  p.Int(1).Op('u').Op('u').Op('u').Op('b').Op('.');
  ZipSpec zip;
  zip.Add("archive/data.pkl", p.b).Add("archive/data/0", FloatBytes({1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(FromString(zip.Build())->Names(), std::vector<std::string>{"w"});

  // Training checkpoints: {"epoch": 3, "state_dict": {...}} and {"model": {...}}.
  for (const char* key : {"state_dict", "model"}) {
    Pickle n;
    const std::string lr = "\x3f\x50\x62\x4d\xd2\xf1\xa9\xfc";  // 0.001, big-endian
    n.Proto().Op('}').Op('(').Str("epoch").Int(3).Str("lr").Op('G').Raw(lr);
    n.Str(key).Op('}').Op('(').Str("net.w");
    AppendTensor(&n, {"", "FloatStorage", "0", 6, 1, {2}, {2}}, false);
    n.Op('u').Op('u').Op('.');
    ZipSpec nested;
    nested.Add("archive/data.pkl", n.b).Add("archive/data/0", FloatBytes({1, 2, 3, 4, 5, 6}));
    const auto file = FromString(nested.Build());
    EXPECT_EQ(file->Names(), std::vector<std::string>{"net.w"}) << key;
    EXPECT_EQ(file->ReadFloat("net.w").data, (std::vector<float>{2, 4})) << key;
  }
}

TEST(TorchCheckpointZip, OneTensorUnderTwoNames) {
  // Tied weights: torch.save memoizes the tensor object and refers to it again by BINGET.
  Pickle p;
  p.Proto().Op('}').Op('(').Str("decoder.weight");
  AppendTensor(&p, {"", "FloatStorage", "0", 6, 0, {3, 2}, {2, 1}}, false);
  p.Raw("q\x01").Str("embeddings.weight").Raw("h\x01").Op('u').Op('.');
  ZipSpec zip;
  zip.Add("archive/data.pkl", p.b).Add("archive/data/0", FloatBytes({1, 2, 3, 4, 5, 6}));
  const auto file = FromString(zip.Build());
  EXPECT_EQ(file->Names(), (std::vector<std::string>{"decoder.weight", "embeddings.weight"}));
  EXPECT_EQ(file->ReadFloat("embeddings.weight").data, file->ReadFloat("decoder.weight").data);
}

TEST(TorchCheckpointZip, Protocol4Opcodes) {
  // FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE, BINGET, LONG1 and TUPLE3 as pickle protocol 4 writes them.
  auto short_str = [](const std::string& s) { return std::string("\x8c") + static_cast<char>(s.size()) + s; };
  std::string body = "}\x94(" + short_str("w") + short_str("torch._utils") + short_str("_rebuild_tensor_v2") +
                     "\x93\x94((" + short_str("storage") + short_str("torch") + short_str("HalfStorage") + "\x93\x94" +
                     short_str("k") + short_str("cpu") + "K\x02t\x94Q\x8a\x01\x00K\x02\x85\x94K\x01\x85\x94\x89"s +
                     short_str("collections") + short_str("OrderedDict") + "\x93\x94)R\x94t\x94R\x94u.";
  std::string p = "\x80\x04\x95";
  AppendLe(&p, body.size(), 8);
  p += body;
  ZipSpec zip;
  const uint16_t halves[] = {0x3C00, 0xC000};  // 1, -2
  zip.Add("a/data.pkl", p).Add("a/data/k", std::string(reinterpret_cast<const char*>(halves), 4));
  const auto file = FromString(zip.Build());
  EXPECT_EQ(file->DTypeOf("w"), DType::kF16);
  EXPECT_EQ(file->ReadFloat("w").data, (std::vector<float>{1.f, -2.f}));
}

TEST(TorchCheckpointLegacy, ConvertsHalfBFloat16AndDouble) {
  const uint16_t f16[] = {0x3C00, 0xC000, 0x0001, 0x7BFF};  // 1, -2, smallest subnormal, 65504
  const uint16_t bf16[] = {0x3F80, 0xBF00};                 // 1, -0.5
  const double f64[] = {0.25, -1e10};
  const int64_t counts[] = {7};
  const std::string file = LegacyFile(
      {{"h", "HalfStorage", "1", 4, 0, {4}, {1}},
       {"b", "BFloat16Storage", "2", 2, 0, {2}, {1}},
       {"d", "DoubleStorage", "3", 2, 0, {2, 1}, {1, 1}},
       {"n", "LongStorage", "4", 1, 0, {}, {}}},
      {{"1", std::string(reinterpret_cast<const char*>(f16), 8)},
       {"2", std::string(reinterpret_cast<const char*>(bf16), 4)},
       {"3", std::string(reinterpret_cast<const char*>(f64), 16)},
       {"4", std::string(reinterpret_cast<const char*>(counts), 8)}});
  const auto f = FromString(file);
  EXPECT_EQ(f->container(), TorchCheckpointFile::Container::kLegacy);
  const Tensor h = f->ReadFloat("h");
  EXPECT_EQ(h.data[0], 1.f);
  EXPECT_EQ(h.data[1], -2.f);
  EXPECT_FLOAT_EQ(h.data[2], 5.9604645e-8f);
  EXPECT_EQ(h.data[3], 65504.f);
  EXPECT_EQ(f->ReadFloat("b").data, (std::vector<float>{1.f, -0.5f}));
  EXPECT_EQ(f->ReadFloat("d").data, (std::vector<float>{0.25f, -1e10f}));
  EXPECT_EQ(f->DTypeOf("n"), DType::kI64);
  EXPECT_THROW(f->ReadFloat("n"), ModelError);
}

// ---------------------------------------------------------------------------------------------
// Errors: each a ModelError naming the file and the fault, never a crash.

std::string ZipWithPickle(const std::string& pickle) {
  ZipSpec zip;
  zip.Add("archive/data.pkl", pickle).Add("archive/data/0", FloatBytes({1, 2, 3, 4, 5, 6}));
  return zip.Build();
}

TEST(TorchCheckpointErrors, ForeignGlobalsAreNamedNeverCalled) {
  const std::string os_system =
      OpenError(ZipWithPickle(Pickle().Proto().Global("os", "system").Op('(').Str("echo hi").Op('t').Op('R').b + "."));
  EXPECT_NE(os_system.find("pickle names 'os.system', which a weights file may not"), std::string::npos) << os_system;
  const std::string eval = OpenError(ZipWithPickle("\x80\x04\x8c\x08" "builtins" "\x8c\x04" "eval" "\x93)R."));
  EXPECT_NE(eval.find("'builtins.eval'"), std::string::npos) << eval;
  // A legacy file too: the global is refused inside the state-dict pickle.
  Pickle evil;
  evil.Proto().Op('}').Op('(').Str("w").Global("subprocess", "Popen").Op(')').Op('R').Op('u').Op('.');
  std::string legacy = LegacyFile({}, {});
  const std::string legacy_state = StateDictPickle({}, true);
  legacy.replace(legacy.find(legacy_state), legacy_state.size(), evil.b);
  EXPECT_NE(OpenError(legacy).find("'subprocess.Popen'"), std::string::npos);
  // Allowed globals used in ways torch.save never does.
  const std::string direct = Pickle().Proto().Global("torch", "FloatStorage").Op(')').Op('R').b + ".";
  EXPECT_NE(OpenError(ZipWithPickle(direct)).find("directly"), std::string::npos);
}

TEST(TorchCheckpointErrors, UnknownOpcode) {
  const std::string err = OpenError(ZipWithPickle("\x80\x02}(X\x01\x00\x00\x00wi__main__\nC\n."s));
  EXPECT_NE(err.find("opcode 0x69 'i'"), std::string::npos) << err;
  EXPECT_NE(OpenError(ZipWithPickle("\x80\x02\xff.")).find("opcode 0xff"), std::string::npos);
}

TEST(TorchCheckpointErrors, TruncatedPickle) {
  const std::string full = StateDictPickle(SixFloatViews());
  for (size_t cut : {size_t{1}, size_t{7}, full.size() / 2, full.size() - 1}) {
    const std::string err = OpenError(ZipWithPickle(full.substr(0, cut)));
    EXPECT_NE(err.find("truncated"), std::string::npos) << cut << ": " << err;
  }
}

TEST(TorchCheckpointErrors, MalformedPickles) {
  EXPECT_NE(OpenError(ZipWithPickle("\x80\x02}r\xf0\xff\xff\x0f.")).find("memo"), std::string::npos);  // index 268M
  EXPECT_NE(OpenError(ZipWithPickle("\x80\x02h\x05.")).find("memo"), std::string::npos);  // BINGET of nothing
  EXPECT_NE(OpenError(ZipWithPickle("\x80\x02}}.")).find("STOP"), std::string::npos);
  EXPECT_NE(OpenError(ZipWithPickle("\x80\x02s.")).find("underflow"), std::string::npos);
  EXPECT_NE(OpenError(ZipWithPickle("\x80\x02](K\x01u.")).find("SETITEMS"), std::string::npos);
  EXPECT_NE(OpenError(ZipWithPickle("\x80\x02]K\x01\x85.")).find("STOP"), std::string::npos);
  EXPECT_NE(OpenError(ZipWithPickle("\x80\x02]." )).find("not a state dict"), std::string::npos);
  EXPECT_NE(OpenError(ZipWithPickle("\x80\x02}(X\x01\x00\x00\x00wK\x01u."s)).find("'w' is a int, not a tensor"),
            std::string::npos);
  EXPECT_NE(OpenError(ZipWithPickle("\x80\x09}.")).find("protocol 9"), std::string::npos);
}

TEST(TorchCheckpointErrors, DeepNestingNeedsNoRecursion) {
  // Two hundred thousand lists, each inside the previous: the unpickler must not recurse (nor leak a cycle).
  std::string p = "\x80\x02]";
  for (int i = 0; i < 200000; ++i) p += "(]";
  for (int i = 0; i < 200000; ++i) p += "e";
  p += "h\x00"s;  // not memoized: an error after the nesting was built
  EXPECT_NE(OpenError(ZipWithPickle(p + ".")).find("memo"), std::string::npos);
  const std::string cycle = "\x80\x02]q\x00h\x00"s + "a.";  // a list appended to itself
  EXPECT_NE(OpenError(ZipWithPickle(cycle)).find("not a state dict"), std::string::npos);
}

TEST(TorchCheckpointErrors, ZipRecordOutsideTheFile) {
  ZipSpec zip;
  zip.Add("archive/data.pkl", StateDictPickle(SixFloatViews())).Add("archive/data/0", FloatBytes({1, 2, 3, 4, 5, 6}));
  zip.items[1].central_offset = 1 << 20;
  EXPECT_NE(OpenError(zip.Build()).find("outside"), std::string::npos);
  // Contents running past the data area: a size larger than what follows.
  std::string bytes = ViewsZip(SixFloatViews());
  EXPECT_NE(OpenError(bytes.substr(0, bytes.size() - 30)).find("end-of-central-directory"), std::string::npos);
  ZipSpec big;
  big.zip64 = true;
  big.Add("archive/data.pkl", StateDictPickle(SixFloatViews())).Add("archive/data/0", FloatBytes({1, 2, 3, 4, 5, 6}));
  std::string b = big.Build();
  // The second central entry's ZIP64 sizes (8 bytes each) become 2^40.
  const size_t at = b.rfind("archive/data/0") + std::string("archive/data/0").size() + 4;
  for (size_t i : {at, at + 8}) {
    const uint64_t huge = uint64_t{1} << 40;
    std::memcpy(&b[i], &huge, 8);
  }
  EXPECT_NE(OpenError(b).find("outside"), std::string::npos);
}

TEST(TorchCheckpointErrors, OverlappingZipRecords) {
  // archive/data/0's contents hold a whole second record, which the directory also lists.
  const std::string inner = ZipSpec::LocalHeader("archive/extra", 3, 0) + "xyz";
  ZipSpec zip;
  zip.Add("archive/data.pkl", StateDictPickle(SixFloatViews()))
      .Add("archive/data/0", FloatBytes({1, 2, 3, 4, 5, 6}) + inner);
  std::vector<size_t> data_offsets;
  zip.Build(&data_offsets);
  // The inner header was padded for offset 0; move it where it will sit (after 24 float bytes).
  const std::string moved = ZipSpec::LocalHeader("archive/extra", 3, data_offsets[1] + 24) + "xyz";
  zip.items[1].data = FloatBytes({1, 2, 3, 4, 5, 6}) + moved;
  zip.items.push_back({"archive/extra", "xyz", 0, false, static_cast<int64_t>(data_offsets[1] + 24)});
  const std::string err = OpenError(zip.Build());
  EXPECT_NE(err.find("overlap"), std::string::npos) << err;
}

TEST(TorchCheckpointErrors, CompressedEntry) {
  ZipSpec zip;
  zip.Add("archive/data.pkl", StateDictPickle(SixFloatViews())).Add("archive/data/0", FloatBytes({1, 2, 3, 4, 5, 6}));
  zip.items[1].method = 8;
  const std::string err = OpenError(zip.Build());
  EXPECT_NE(err.find("'archive/data/0' is compressed (method 8)"), std::string::npos) << err;
}

TEST(TorchCheckpointErrors, WrongByteOrder) {
  ZipSpec zip;
  zip.Add("archive/data.pkl", StateDictPickle(SixFloatViews()))
      .Add("archive/byteorder", "big")
      .Add("archive/data/0", FloatBytes({1, 2, 3, 4, 5, 6}));
  const std::string err = OpenError(zip.Build());
  EXPECT_NE(err.find("byteorder entry says 'big'"), std::string::npos) << err;
}

TEST(TorchCheckpointErrors, StorageTooSmallForTheView) {
  // More elements than the storage holds.
  std::string err = OpenError(ViewsZip({{"w", "FloatStorage", "0", 6, 0, {3, 3}, {3, 1}}}));
  EXPECT_NE(err.find("tensor 'w'"), std::string::npos) << err;
  EXPECT_NE(err.find("holds 6"), std::string::npos) << err;
  // An offset or a stride reaching past the end.
  for (const TensorSpec& t : std::vector<TensorSpec>{{"off", "FloatStorage", "0", 6, 1, {2, 3}, {3, 1}},
                                                     {"stride", "FloatStorage", "0", 6, 0, {2, 3}, {1, 3}},
                                                     {"huge", "FloatStorage", "0", 6, 0, {2, 2}, {int64_t{1} << 62, 1}},
                                                     {"scalar", "FloatStorage", "0", 6, 6, {}, {}},
                                                     {"empty", "FloatStorage", "0", 6, 7, {0}, {1}}}) {
    err = OpenError(ViewsZip({t}));
    EXPECT_NE(err.find("reach beyond its storage '0' of 6 elements"), std::string::npos) << err;
  }
  // Shapes whose element count overflows.
  err = OpenError(ViewsZip({{"w", "FloatStorage", "0", 6, 0, {int64_t{1} << 40, int64_t{1} << 40, 0}, {0, 0, 1}}}));
  EXPECT_NE(err.find("too large"), std::string::npos) << err;
  // A storage whose entry is not numel * element size.
  err = OpenError(ViewsZip({{"w", "FloatStorage", "0", 7, 0, {6}, {1}}}));
  EXPECT_NE(err.find("declares 7 elements of F32"), std::string::npos) << err;
  err = OpenError(ViewsZip({{"w", "FloatStorage", "9", 6, 0, {6}, {1}}}));
  EXPECT_NE(err.find("no entry archive/data/9"), std::string::npos) << err;
}

TEST(TorchCheckpointErrors, LegacyBadMagicAndTruncation) {
  const std::vector<TensorSpec> tensors = {{"w", "FloatStorage", "k", 2, 0, {2}, {1}}};
  const std::vector<std::pair<std::string, std::string>> storages = {{"k", FloatBytes({1, 2})}};
  EXPECT_EQ(FromString(LegacyFile(tensors, storages))->ReadFloat("w").data, (std::vector<float>{1, 2}));
  const std::string wrong_magic = "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x18";  // last byte off by one
  std::string err = OpenError(LegacyFile(tensors, storages, wrong_magic));
  EXPECT_NE(err.find("bad magic number"), std::string::npos) << err;
  const std::string good = LegacyFile(tensors, storages);
  err = OpenError(good.substr(0, good.size() - 1));
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;
  err = OpenError(LegacyFile(tensors, {}));
  EXPECT_NE(err.find("not in the file's storage list"), std::string::npos) << err;
  err = OpenError("GIF89a: not a checkpoint at all");
  EXPECT_NE(err.find("not a PyTorch checkpoint"), std::string::npos) << err;
  EXPECT_NE(OpenError("").find("not a PyTorch checkpoint"), std::string::npos);
}

TEST(TorchCheckpointErrors, UnknownNamesAndMissingFiles) {
  const auto file = FromString(ViewsZip(SixFloatViews()));
  try {
    file->ShapeOf("nope");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("memory.bin: no tensor 'nope'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(file->ReadFloat("nope"), ModelError);
  EXPECT_THROW(file->Release("nope"), ModelError);
  try {
    TorchCheckpointFile::Open("/nonexistent/pytorch_model.bin");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/pytorch_model.bin"), std::string::npos);
  }
}

}  // namespace
}  // namespace beit
