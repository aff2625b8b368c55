#include "model/io/torch_checkpoint.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <utility>

#include "model/io/byte_fields.h"
#include "model/io/file_bytes.h"
#include "model/io/float_conversion.h"
#include "model/io/restricted_unpickler.h"
#include "model/io/zip_directory.h"
#include "model/model_error.h"

namespace beit {
namespace {

using pickle::Kind;
using pickle::StateDictTensors;
using pickle::StateTensor;
using pickle::StorageRef;
using pickle::Unpickler;
using pickle::Value;

constexpr uint8_t kLegacyMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr int64_t kLegacyProtocolVersion = 1001;

}  // namespace

// ---------------------------------------------------------------------------------------------

std::unique_ptr<TorchCheckpointFile> TorchCheckpointFile::FromBytes(const std::string& name,
                                                                   std::vector<uint8_t> bytes) {
  return Parse(name, FileBytes::FromMemory(std::move(bytes)));
}

std::unique_ptr<TorchCheckpointFile> TorchCheckpointFile::Open(const std::string& path) {
  return Parse(path, FileBytes::Map(path));
}

std::unique_ptr<TorchCheckpointFile> TorchCheckpointFile::Parse(const std::string& path,
                                                               std::shared_ptr<const FileBytes> contents) {
  std::unique_ptr<TorchCheckpointFile> file(new TorchCheckpointFile());
  file->path_ = path;
  file->bytes_ = contents->data();
  file->size_ = contents->size();
  file->contents_ = std::move(contents);
  if (file->size_ >= 4 && Le32(file->bytes_) == kLocalHeader) {
    file->container_ = Container::kZip;
    file->ParseZip();
  } else {
    file->container_ = Container::kLegacy;
    file->ParseLegacy();
  }
  return file;
}

void TorchCheckpointFile::ParseZip() {
  const std::vector<ZipEntry> zip = ReadZipDirectory(path_, bytes_, size_);
  std::map<std::string, const ZipEntry*> by_name;
  const ZipEntry* pickle = nullptr;
  for (const ZipEntry& e : zip) {
    if (!by_name.emplace(e.name, &e).second) throw ModelError(path_ + ": zip holds '" + Printable(e.name) + "' twice");
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos && slash > 0 && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      if (pickle) {
        throw ModelError(path_ + ": zip holds two archives ('" + Printable(pickle->name) + "' and '" +
                         Printable(e.name) + "'); torch.save writes one");
      }
      pickle = &e;
    }
  }
  if (!pickle) throw ModelError(path_ + ": zip archive without a <folder>/data.pkl entry; not written by torch.save");
  const std::string folder = pickle->name.substr(0, pickle->name.size() - std::string("data.pkl").size());

  const auto order = by_name.find(folder + "byteorder");
  if (order != by_name.end()) {
    const std::string value(reinterpret_cast<const char*>(bytes_ + order->second->data),
                            static_cast<size_t>(order->second->size));
    if (value != "little") {
      throw ModelError(path_ + ": byteorder entry says '" + Printable(value) +
                       "'; only little-endian checkpoints can be read");
    }
  }

  const std::string where = path_ + ": " + Printable(pickle->name);
  Unpickler u(where, bytes_ + pickle->data, static_cast<size_t>(pickle->size));
  const uint32_t top = u.Run();
  for (const StateTensor& t : StateDictTensors(where, u, top)) {
    const StorageRef& s = u.storages()[t.ref->storage];
    const auto record = by_name.find(folder + "data/" + s.key);
    if (record == by_name.end()) {
      throw ModelError(path_ + ": tensor '" + Printable(t.name) + "': storage '" + Printable(s.key) +
                       "' has no entry " + Printable(folder + "data/" + s.key));
    }
    const uint64_t bytes = record->second->size;
    const size_t element = DTypeSize(s.dtype);
    if (static_cast<uint64_t>(s.numel) > bytes / element || static_cast<uint64_t>(s.numel) * element != bytes) {
      throw ModelError(path_ + ": tensor '" + Printable(t.name) + "': storage '" + Printable(s.key) + "' declares " +
                       std::to_string(s.numel) + " elements of " + DTypeName(s.dtype) + " but its entry holds " +
                       std::to_string(bytes) + " bytes");
    }
    Entry e;
    e.name = t.name;
    e.dtype = s.dtype;
    e.shape = t.ref->shape;
    e.stride = t.ref->stride;
    e.offset = t.ref->offset;
    e.storage = bytes_ + record->second->data;
    e.storage_bytes = static_cast<size_t>(bytes);
    Add(std::move(e), s.key, s.numel);
  }
}

void TorchCheckpointFile::ParseLegacy() {
  size_t pos = 0;
  // Each pickle starts where the previous one stopped, with a memo of its own.
  auto next = [&](const char* what) {
    return std::make_unique<Unpickler>(path_ + ": legacy " + what + " pickle", bytes_ + pos, size_ - pos, pos);
  };
  if (size_ < 2 || bytes_[0] != 0x80) {
    throw ModelError(path_ + ": not a PyTorch checkpoint: neither a zip archive (torch.save since 1.6) nor a "
                     "legacy torch.save pickle");
  }
  {
    auto magic = next("magic number");
    const Value& v = magic->value(magic->Run());
    if (v.kind != Kind::kBigInt || v.text.size() != sizeof(kLegacyMagic) ||
        std::memcmp(v.text.data(), kLegacyMagic, sizeof(kLegacyMagic)) != 0) {
      throw ModelError(path_ + ": bad magic number: the first pickle is not torch.save's 0x1950a86a20f9469cfc6c "
                       "(not a PyTorch checkpoint)");
    }
    pos += magic->consumed();
  }
  {
    auto version = next("protocol version");
    const Value& v = version->value(version->Run());
    if (v.kind != Kind::kInt || v.number != kLegacyProtocolVersion) {
      throw ModelError(path_ + ": legacy protocol version is not 1001; unsupported torch.save format");
    }
    pos += version->consumed();
  }
  {
    auto info = next("system info");
    const Value& v = info->value(info->Run());
    if (v.kind != Kind::kDict) throw ModelError(path_ + ": legacy system info is not a dict");
    for (size_t i = 0; i + 1 < v.items.size(); i += 2) {
      const Value& k = info->value(v.items[i]);
      const Value& little = info->value(v.items[i + 1]);
      if (k.kind == Kind::kString && k.text == "little_endian" && !(little.kind == Kind::kBool && little.number)) {
        throw ModelError(path_ + ": saved on a big-endian machine; only little-endian checkpoints can be read");
      }
    }
    pos += info->consumed();
  }
  auto state = next("state dict");
  const uint32_t top = state->Run();
  const std::vector<StateTensor> tensors = StateDictTensors(path_ + ": legacy state dict", *state, top);
  pos += state->consumed();

  auto keys = next("storage keys");
  const Value& list = keys->value(keys->Run());
  if (list.kind != Kind::kList) throw ModelError(path_ + ": legacy storage keys are not a list");
  pos += keys->consumed();

  // Storages follow in the listed order: element count, then the raw elements.
  std::map<std::string, size_t> storage_index;
  for (size_t i = 0; i < state->storages().size(); ++i) storage_index[state->storages()[i].key] = i;
  std::vector<const uint8_t*> data(state->storages().size(), nullptr);
  for (uint32_t item : list.items) {
    const Value& key = keys->value(item);
    if (key.kind != Kind::kString) {
      throw ModelError(path_ + ": legacy storage key is a " + std::string(KindName(key.kind)));
    }
    const auto it = storage_index.find(key.text);
    if (it == storage_index.end()) {
      throw ModelError(path_ + ": legacy storage '" + Printable(key.text) + "' is listed but no tensor uses it");
    }
    if (data[it->second]) throw ModelError(path_ + ": legacy storage '" + Printable(key.text) + "' is listed twice");
    const StorageRef& s = state->storages()[it->second];
    if (size_ - pos < 8) {
      throw ModelError(path_ + ": truncated: legacy storage '" + Printable(s.key) + "' is missing at byte " +
                       std::to_string(pos));
    }
    const uint64_t count = Le64(bytes_ + pos);
    if (count != static_cast<uint64_t>(s.numel)) {
      throw ModelError(path_ + ": legacy storage '" + Printable(s.key) + "' holds " + std::to_string(count) +
                       " elements but the state dict says " + std::to_string(s.numel));
    }
    pos += 8;
    const size_t element = DTypeSize(s.dtype);
    if (count > (size_ - pos) / element) {
      throw ModelError(path_ + ": truncated: legacy storage '" + Printable(s.key) + "' (" + std::to_string(count) +
                       " elements of " + DTypeName(s.dtype) + ") runs past the end of the file");
    }
    data[it->second] = bytes_ + pos;
    pos += static_cast<size_t>(count) * element;
  }
  for (const StateTensor& t : tensors) {
    const StorageRef& s = state->storages()[t.ref->storage];
    if (!data[t.ref->storage]) {
      throw ModelError(path_ + ": tensor '" + Printable(t.name) + "': legacy storage '" + Printable(s.key) +
                       "' is not in the file's storage list");
    }
    Entry e;
    e.name = t.name;
    e.dtype = s.dtype;
    e.shape = t.ref->shape;
    e.stride = t.ref->stride;
    e.offset = t.ref->offset;
    e.storage = data[t.ref->storage];
    e.storage_bytes = static_cast<size_t>(s.numel) * DTypeSize(s.dtype);
    Add(std::move(e), s.key, s.numel);
  }
}

void TorchCheckpointFile::Add(Entry e, const std::string& storage_key, int64_t storage_numel) {
  const std::string where = path_ + ": tensor '" + Printable(e.name) + "'";
  // Element count, refusing shapes whose running product would overflow (NumElements multiplies
  // left to right).
  int64_t numel = 1;
  for (int64_t d : e.shape) {
    if (d != 0 && numel > std::numeric_limits<int64_t>::max() / d) {
      throw ModelError(where + ": shape " + ShapeToString(e.shape) + " is too large");
    }
    numel *= d;
  }
  if (numel > storage_numel) {
    throw ModelError(where + ": shape " + ShapeToString(e.shape) + " has " + std::to_string(numel) +
                     " elements but its storage '" + Printable(storage_key) + "' holds " +
                     std::to_string(storage_numel) + " (expanded views are not supported)");
  }
  // The last element a view addresses: offset + sum((size - 1) * stride), without overflow.
  bool inside = e.offset <= storage_numel;
  if (numel > 0) {
    int64_t last = e.offset;
    inside = last < storage_numel;
    for (size_t i = 0; i < e.shape.size() && inside; ++i) {
      if (e.shape[i] <= 1 || e.stride[i] == 0) continue;
      const int64_t room = storage_numel - 1 - last;
      if (e.shape[i] - 1 > room / e.stride[i]) {
        inside = false;
      } else {
        last += (e.shape[i] - 1) * e.stride[i];
      }
    }
  }
  if (!inside) {
    throw ModelError(where + ": size " + ShapeToString(e.shape) + ", stride " + ShapeToString(e.stride) +
                     " and storage offset " + std::to_string(e.offset) + " reach beyond its storage '" +
                     Printable(storage_key) + "' of " + std::to_string(storage_numel) + " elements");
  }
  // A dimension of size 1 never steps, whatever its stride says; zero keeps ReadFloat's index
  // arithmetic within the storage.
  for (size_t i = 0; i < e.shape.size(); ++i) {
    if (e.shape[i] == 1) e.stride[i] = 0;
  }
  if (!index_.emplace(e.name, entries_.size()).second) throw ModelError(where + " appears twice in the state dict");
  entries_.push_back(std::move(e));
}

std::vector<std::string> TorchCheckpointFile::Names() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const Entry& e : entries_) names.push_back(e.name);
  return names;
}

const TorchCheckpointFile::Entry& TorchCheckpointFile::Find(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) throw ModelError(path_ + ": no tensor '" + name + "'");
  return entries_[it->second];
}

Shape TorchCheckpointFile::ShapeOf(const std::string& name) const { return Find(name).shape; }

DType TorchCheckpointFile::DTypeOf(const std::string& name) const { return Find(name).dtype; }

Tensor TorchCheckpointFile::ReadFloat(const std::string& name) const {
  const Entry& e = Find(name);
  if (!IsFloatDType(e.dtype)) {
    throw ModelError(path_ + ": tensor '" + Printable(name) + "' has dtype " + DTypeName(e.dtype) +
                     "; expected a floating-point dtype (F32, F16, BF16, F64)");
  }
  Tensor out(e.shape);
  const size_t n = out.data.size();
  if (n == 0) return out;
  const size_t element = DTypeSize(e.dtype);
  const uint8_t* base = e.storage + static_cast<size_t>(e.offset) * element;
  const size_t ndim = e.shape.size();
  if (ndim == 0) {
    ConvertToFloat(e.dtype, base, element, 1, out.ptr());
    return out;
  }
  bool contiguous = true;  // row-major, whatever the strides of size-1 dimensions
  for (size_t d = ndim, expected = 1; d-- > 0; expected *= static_cast<size_t>(e.shape[d])) {
    contiguous &= e.shape[d] == 1 || e.stride[d] == static_cast<int64_t>(expected);
  }
  if (contiguous) {
    ConvertToFloat(e.dtype, base, element, n, out.ptr());
    return out;
  }
  // Row by row along the last dimension; an odometer over the others (no recursion).
  const size_t inner = static_cast<size_t>(e.shape.back());
  const size_t step = static_cast<size_t>(e.stride.back()) * element;
  std::vector<int64_t> index(ndim - 1, 0);
  int64_t row = 0;  // element offset of the current row from `base`
  float* dst = out.ptr();
  for (size_t done = 0; done < n; done += inner) {
    ConvertToFloat(e.dtype, base + static_cast<size_t>(row) * element, step, inner, dst + done);
    for (size_t d = ndim - 1; d-- > 0;) {
      row += e.stride[d];
      if (++index[d] < e.shape[d]) break;
      row -= e.stride[d] * e.shape[d];
      index[d] = 0;
    }
  }
  return out;
}

void TorchCheckpointFile::Release(const std::string& name) const {
  const Entry& e = Find(name);
  contents_->Release(e.storage, e.storage_bytes);
}

}  // namespace beit
