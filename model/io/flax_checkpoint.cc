#include "model/io/flax_checkpoint.h"

#include <limits>
#include <string_view>
#include <tuple>
#include <utility>

#include "model/io/file_bytes.h"
#include "model/io/float_conversion.h"
#include "model/model_error.h"

namespace beit {
namespace {

constexpr int8_t kNdarrayExt = 1;  // flax.serialization's _MsgpackExtType.ndarray

std::string Hex(uint8_t b) {
  static const char kDigits[] = "0123456789abcdef";
  return std::string("0x") + kDigits[b >> 4] + kDigits[b & 15];
}

// numpy's dtype names, as flax writes arr.dtype.name.
bool ParseDTypeName(std::string_view s, DType* out) {
  static const std::pair<const char*, DType> kTable[] = {
      {"float32", DType::kF32}, {"float16", DType::kF16}, {"bfloat16", DType::kBF16},
      {"float64", DType::kF64}, {"int8", DType::kI8},     {"int16", DType::kI16},
      {"int32", DType::kI32},   {"int64", DType::kI64},   {"uint8", DType::kU8},
      {"bool", DType::kBool}};
  for (const auto& [name, dtype] : kTable) {
    if (s == name) {
      *out = dtype;
      return true;
    }
  }
  return false;
}

const char* NumpyName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "float32";
    case DType::kF16: return "float16";
    case DType::kBF16: return "bfloat16";
    case DType::kF64: return "float64";
    case DType::kI8: return "int8";
    case DType::kI16: return "int16";
    case DType::kI32: return "int32";
    case DType::kI64: return "int64";
    case DType::kU8: return "uint8";
    case DType::kBool: return "bool";
  }
  return "?";
}

std::string JoinPath(const std::vector<std::string>& path, char sep) {
  std::string s;
  for (size_t i = 0; i < path.size(); ++i) {
    if (i) s += sep;
    s += path[i];
  }
  return s;
}

// A bounds-checked cursor over msgpack bytes. Every read checks the remaining length first, so a
// declared length can never move it past `end`. Messages name the Flax path being read (`path`,
// kept current by the walker) and are built only on failure, so a hostile file of many tiny
// entries under long keys costs no more than its size.
class MsgpackCursor {
 public:
  MsgpackCursor(const std::string& file, const std::vector<std::string>& path, const uint8_t* base,
                size_t begin, size_t end)
      : file_(file), path_(path), base_(base), pos_(begin), end_(end) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return end_ - pos_; }

  [[noreturn]] void Fail(size_t at, const std::string& what) const {
    const std::string where = path_.empty() ? std::string("the top level") : "'" + JoinPath(path_, '/') + "'";
    throw ModelError(file_ + ": at byte " + std::to_string(at) + ": " + where + ": " + what);
  }

  uint8_t Peek(const char* what) const {
    if (pos_ >= end_) Fail(pos_, std::string("truncated: expected ") + what + " but the bytes end here");
    return base_[pos_];
  }

  const uint8_t* Take(uint64_t n, const char* what) {
    if (n > remaining()) {
      Fail(pos_, std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes but only " +
                     std::to_string(remaining()) + " remain");
    }
    const uint8_t* p = base_ + pos_;
    pos_ += static_cast<size_t>(n);
    return p;
  }

  uint64_t BigEndian(int width, const char* what) {
    const uint8_t* p = Take(static_cast<uint64_t>(width), what);
    uint64_t v = 0;
    for (int i = 0; i < width; ++i) v = (v << 8) | p[i];
    return v;
  }

  static bool IsMap(uint8_t tag) { return (tag & 0xf0) == 0x80 || tag == 0xde || tag == 0xdf; }
  static bool IsExt(uint8_t tag) { return (tag >= 0xd4 && tag <= 0xd8) || (tag >= 0xc7 && tag <= 0xc9); }

  // Returns the entry count after checking each entry could still fit (a key and a value take at
  // least one byte each), so a hostile count fails here instead of in a long loop.
  uint64_t MapHeader(const char* what) {
    const size_t at = pos_;
    const uint8_t tag = Take(1, what)[0];
    uint64_t n;
    if ((tag & 0xf0) == 0x80) n = tag & 0x0f;
    else if (tag == 0xde) n = BigEndian(2, what);
    else if (tag == 0xdf) n = BigEndian(4, what);
    else Fail(at, std::string(what) + " is not a msgpack map (type byte " + Hex(tag) + ")");
    if (n > remaining() / 2) {
      Fail(at, std::string("truncated: ") + what + " declares " + std::to_string(n) +
                   " entries but only " + std::to_string(remaining()) + " bytes remain");
    }
    return n;
  }

  uint64_t ArrayHeader(const char* what) {
    const size_t at = pos_;
    const uint8_t tag = Take(1, what)[0];
    uint64_t n;
    if ((tag & 0xf0) == 0x90) n = tag & 0x0f;
    else if (tag == 0xdc) n = BigEndian(2, what);
    else if (tag == 0xdd) n = BigEndian(4, what);
    else Fail(at, std::string(what) + " is not a msgpack array (type byte " + Hex(tag) + ")");
    if (n > remaining()) {
      Fail(at, std::string("truncated: ") + what + " declares " + std::to_string(n) +
                   " elements but only " + std::to_string(remaining()) + " bytes remain");
    }
    return n;
  }

  std::string_view Str(const char* what) {
    const size_t at = pos_;
    const uint8_t tag = Take(1, what)[0];
    uint64_t n;
    if ((tag & 0xe0) == 0xa0) n = tag & 0x1f;
    else if (tag == 0xd9) n = BigEndian(1, what);
    else if (tag == 0xda) n = BigEndian(2, what);
    else if (tag == 0xdb) n = BigEndian(4, what);
    else Fail(at, std::string(what) + " is not a msgpack string (type byte " + Hex(tag) + ")");
    return {reinterpret_cast<const char*>(Take(n, what)), static_cast<size_t>(n)};
  }

  // Returns the offset of the bytes (relative to base) and their count.
  std::pair<size_t, size_t> Bin(const char* what) {
    const size_t at = pos_;
    const uint8_t tag = Take(1, what)[0];
    uint64_t n;
    if (tag == 0xc4) n = BigEndian(1, what);
    else if (tag == 0xc5) n = BigEndian(2, what);
    else if (tag == 0xc6) n = BigEndian(4, what);
    else Fail(at, std::string(what) + " is not msgpack bin (type byte " + Hex(tag) + ")");
    const size_t begin = pos_;
    Take(n, what);
    return {begin, static_cast<size_t>(n)};
  }

  // A non-negative integer in any msgpack integer encoding.
  uint64_t UInt(const char* what) {
    const size_t at = pos_;
    const uint8_t tag = Take(1, what)[0];
    if (tag <= 0x7f) return tag;
    if (tag >= 0xcc && tag <= 0xcf) return BigEndian(1 << (tag - 0xcc), what);
    if (tag >= 0xd0 && tag <= 0xd3) {
      const int width = 1 << (tag - 0xd0);
      const uint64_t v = BigEndian(width, what);
      if (v >> (8 * width - 1)) Fail(at, std::string(what) + " is negative");
      return v;
    }
    if (tag >= 0xe0) Fail(at, std::string(what) + " is negative");
    Fail(at, std::string(what) + " is not a msgpack integer (type byte " + Hex(tag) + ")");
  }

  struct Ext {
    int8_t type;
    size_t begin;  // payload offset relative to base
    size_t size;
  };
  Ext ExtValue(const char* what) {
    const size_t at = pos_;
    const uint8_t tag = Take(1, what)[0];
    uint64_t n;
    if (tag >= 0xd4 && tag <= 0xd8) n = uint64_t{1} << (tag - 0xd4);  // fixext 1..16
    else if (tag == 0xc7) n = BigEndian(1, what);
    else if (tag == 0xc8) n = BigEndian(2, what);
    else if (tag == 0xc9) n = BigEndian(4, what);
    else Fail(at, std::string(what) + " is not a msgpack ext (type byte " + Hex(tag) + ")");
    const auto type = static_cast<int8_t>(Take(1, what)[0]);
    const size_t begin = pos_;
    Take(n, what);
    return {type, begin, static_cast<size_t>(n)};
  }

 private:
  const std::string& file_;
  const std::vector<std::string>& path_;
  const uint8_t* base_;
  size_t pos_;
  size_t end_;
};

struct RawLeaf {
  std::vector<std::string> path;  // Flax module path, as stored
  DType dtype;
  Shape stored_shape;
  size_t offset;
  size_t bytes;
};

// Parses one ext-1 payload: exactly [shape, dtype name, bin]. `path` names the leaf.
RawLeaf ParseLeaf(const std::string& file, const std::vector<std::string>& path, const uint8_t* base,
                  const MsgpackCursor::Ext& ext) {
  MsgpackCursor c(file, path, base, ext.begin, ext.begin + ext.size);
  if (c.ArrayHeader("the array payload") != 3) {
    c.Fail(ext.begin, "the array payload is not [shape, dtype, bytes]");
  }
  RawLeaf leaf;
  leaf.path = path;
  const uint64_t rank = c.ArrayHeader("the shape");
  if (rank > FlaxCheckpointFile::kMaxRank) {
    c.Fail(ext.begin, "has " + std::to_string(rank) + " dimensions; at most " +
                          std::to_string(FlaxCheckpointFile::kMaxRank) + " are read");
  }
  // The element count, and the product of the non-zero dimensions (so a shape holding a zero
  // cannot smuggle dimensions whose product overflows later), both kept far below 2^63.
  constexpr uint64_t kMaxElements = uint64_t{1} << 58;
  uint64_t count = 1, nonzero = 1;
  for (uint64_t i = 0; i < rank; ++i) {
    const uint64_t dim = c.UInt("a shape dimension");
    if (dim != 0) {
      if (nonzero > kMaxElements / dim) c.Fail(ext.begin, "the shape is too large");
      nonzero *= dim;
    }
    count = dim == 0 ? 0 : count * dim;
    leaf.stored_shape.push_back(static_cast<int64_t>(dim));
  }
  const size_t dtype_at = c.pos();
  const std::string_view dtype = c.Str("the dtype");
  if (!ParseDTypeName(dtype, &leaf.dtype)) {
    c.Fail(dtype_at, "unsupported dtype '" + std::string(dtype.substr(0, 64)) +
                         "' (expected float32, float16, bfloat16, float64 or an integer type)");
  }
  const size_t bin_at = c.pos();
  std::tie(leaf.offset, leaf.bytes) = c.Bin("the array data");
  const uint64_t needed = count * DTypeSize(leaf.dtype);
  if (leaf.bytes != needed) {
    c.Fail(bin_at, "holds " + std::to_string(leaf.bytes) + " bytes but shape " +
                       ShapeToString(leaf.stored_shape) + " of " + NumpyName(leaf.dtype) + " needs " +
                       std::to_string(needed));
  }
  if (c.remaining() != 0) {
    c.Fail(c.pos(), std::to_string(c.remaining()) + " bytes follow the array data");
  }
  return leaf;
}

// Walks the map at the cursor; `path` holds the keys above it (and is restored on return).
// Notes a top-level "batch_stats" key.
void WalkMap(MsgpackCursor& c, const std::string& file, const uint8_t* base, std::vector<std::string>& path,
             size_t path_bytes, int depth, std::vector<RawLeaf>& leaves, bool* batch_stats) {
  const uint8_t first = c.Peek("a map");
  if (!MsgpackCursor::IsMap(first)) {
    c.Fail(c.pos(), "not a msgpack map (type byte " + Hex(first) +
                        (path.empty() ? "); not a Flax checkpoint" : ")"));
  }
  const uint64_t n = c.MapHeader("the map");
  for (uint64_t i = 0; i < n; ++i) {
    const size_t key_at = c.pos();
    const std::string_view key = c.Str("a key");
    if (key == "__msgpack_chunked_array__") {
      c.Fail(key_at, "a chunked array (Flax splits arrays over 1 GiB); not supported");
    }
    if (path_bytes + key.size() + 1 > FlaxCheckpointFile::kMaxNameBytes) {
      c.Fail(key_at, "a key makes the path longer than " +
                         std::to_string(FlaxCheckpointFile::kMaxNameBytes) + " bytes");
    }
    if (path.empty() && key == "batch_stats") *batch_stats = true;
    path.emplace_back(key);
    const size_t value_at = c.pos();
    const uint8_t tag = c.Peek("a value");
    if (MsgpackCursor::IsMap(tag)) {
      if (depth + 1 > FlaxCheckpointFile::kMaxDepth) {
        c.Fail(value_at, "maps nest deeper than " + std::to_string(FlaxCheckpointFile::kMaxDepth) + " levels");
      }
      WalkMap(c, file, base, path, path_bytes + key.size() + 1, depth + 1, leaves, batch_stats);
    } else if (MsgpackCursor::IsExt(tag)) {
      const MsgpackCursor::Ext ext = c.ExtValue("the array");
      if (ext.type != kNdarrayExt) {
        c.Fail(value_at, "a msgpack ext of type " + std::to_string(ext.type) + "; Flax arrays are type 1");
      }
      if (leaves.size() >= FlaxCheckpointFile::kMaxTensors) {
        c.Fail(value_at, "more than " + std::to_string(FlaxCheckpointFile::kMaxTensors) + " arrays");
      }
      leaves.push_back(ParseLeaf(file, path, base, ext));
    } else {
      c.Fail(value_at, "neither a map nor a Flax array (type byte " + Hex(tag) + ")");
    }
    path.pop_back();
  }
}

// Transformers' Flax -> PyTorch renaming (load_flax_weights_in_pytorch_model): returns the last
// name and fills `perm` (PyTorch axis k is stored axis perm[k]) when the layout changes.
std::string PyTorchLeafName(const std::string& last, size_t rank, std::vector<size_t>* perm) {
  if (last == "kernel") {
    if (rank == 4) {
      *perm = {3, 2, 0, 1};  // Conv: HWIO -> OIHW
    } else if (rank >= 2) {
      for (size_t k = 0; k < rank; ++k) perm->push_back(rank - 1 - k);  // numpy's .T
    }
    return "weight";
  }
  if (last == "scale" || last == "embedding") return "weight";
  if (last == "mean") return "running_mean";
  if (last == "var") return "running_var";
  return last;
}

}  // namespace

FlaxCheckpointFile FlaxCheckpointFile::FromBytes(const std::string& name, std::vector<uint8_t> bytes) {
  return Parse(name, FileBytes::FromMemory(std::move(bytes)));
}

FlaxCheckpointFile FlaxCheckpointFile::Open(const std::string& path) { return Parse(path, FileBytes::Map(path)); }

FlaxCheckpointFile FlaxCheckpointFile::Parse(const std::string& path, std::shared_ptr<const FileBytes> bytes) {
  if (bytes->size() == 0) throw ModelError(path + ": empty file (expected a Flax msgpack checkpoint)");
  std::vector<std::string> keys;
  MsgpackCursor c(path, keys, bytes->data(), 0, bytes->size());
  std::vector<RawLeaf> raw;
  // Models with BatchNorm write {"params": ..., "batch_stats": ...}; the names start below.
  bool has_collections = false;
  WalkMap(c, path, bytes->data(), keys, 0, 1, raw, &has_collections);
  if (c.remaining() != 0) {
    c.Fail(c.pos(), std::to_string(c.remaining()) + " bytes follow the end of the map");
  }

  FlaxCheckpointFile file;
  file.path_ = path;
  file.bytes_ = std::move(bytes);
  file.leaves_.reserve(raw.size());
  for (RawLeaf& r : raw) {
    Leaf leaf;
    leaf.flax_path = JoinPath(r.path, '/');
    if (has_collections) {
      if (r.path.size() < 2) {
        throw ModelError(path + ": array '" + leaf.flax_path +
                         "' lies outside the params/batch_stats collections");
      }
      r.path.erase(r.path.begin());
    }
    r.path.back() = PyTorchLeafName(r.path.back(), r.stored_shape.size(), &leaf.perm);
    leaf.name = JoinPath(r.path, '.');
    leaf.dtype = r.dtype;
    leaf.stored_shape = std::move(r.stored_shape);
    leaf.shape = leaf.stored_shape;
    for (size_t k = 0; k < leaf.perm.size(); ++k) leaf.shape[k] = leaf.stored_shape[leaf.perm[k]];
    leaf.offset = r.offset;
    leaf.bytes = r.bytes;
    auto [it, inserted] = file.index_.emplace(leaf.name, file.leaves_.size());
    if (!inserted) {
      throw ModelError(path + ": arrays '" + file.leaves_[it->second].flax_path + "' and '" +
                       leaf.flax_path + "' both map to the PyTorch name '" + leaf.name + "'");
    }
    file.leaves_.push_back(std::move(leaf));
  }
  return file;
}

const FlaxCheckpointFile::Leaf& FlaxCheckpointFile::Find(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw ModelError(path_ + ": no tensor '" + name + "'");
  return leaves_[it->second];
}

std::vector<std::string> FlaxCheckpointFile::Names() const {
  std::vector<std::string> names;
  names.reserve(leaves_.size());
  for (const Leaf& leaf : leaves_) names.push_back(leaf.name);
  return names;
}

bool FlaxCheckpointFile::Has(const std::string& name) const { return index_.count(name) != 0; }

Shape FlaxCheckpointFile::ShapeOf(const std::string& name) const { return Find(name).shape; }

std::string FlaxCheckpointFile::FlaxPathOf(const std::string& name) const { return Find(name).flax_path; }

Tensor FlaxCheckpointFile::ReadFloat(const std::string& name) const {
  const Leaf& leaf = Find(name);
  if (!IsFloatDType(leaf.dtype)) {
    throw ModelError(path_ + ": tensor '" + name + "' (Flax '" + leaf.flax_path + "') has dtype " +
                     NumpyName(leaf.dtype) + "; expected float32, float16, bfloat16 or float64");
  }
  Tensor stored(leaf.stored_shape);
  const size_t n = stored.data.size();
  ConvertToFloat(leaf.dtype, bytes_->data() + leaf.offset, DTypeSize(leaf.dtype), n, stored.ptr());
  if (leaf.perm.empty()) return stored;

  // Permute: walk the PyTorch layout in order, stepping through the stored one by its strides.
  const size_t rank = leaf.shape.size();
  std::vector<size_t> stored_stride(rank, 1);
  for (size_t k = rank - 1; k > 0; --k) {
    stored_stride[k - 1] = stored_stride[k] * static_cast<size_t>(leaf.stored_shape[k]);
  }
  std::vector<size_t> step(rank);  // stored stride of each PyTorch axis
  for (size_t k = 0; k < rank; ++k) step[k] = stored_stride[leaf.perm[k]];
  Tensor out(leaf.shape);
  std::vector<size_t> index(rank, 0);
  size_t from = 0;
  for (size_t i = 0; i < n; ++i) {
    out.data[i] = stored.data[from];
    for (size_t k = rank; k-- > 0;) {  // odometer over the PyTorch index
      from += step[k];
      if (++index[k] < static_cast<size_t>(leaf.shape[k])) break;
      from -= step[k] * index[k];
      index[k] = 0;
    }
  }
  return out;
}

void FlaxCheckpointFile::Release(const std::string& name) const {
  const Leaf& leaf = Find(name);
  bytes_->Release(bytes_->data() + leaf.offset, leaf.bytes);
}

}  // namespace beit
