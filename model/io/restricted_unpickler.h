// The restricted unpickler for PyTorch weight files: only the opcodes torch.save writes (pickle
// protocols 2 to 5) and only the globals torch.load(weights_only=True) accepts for a state dict
// (collections.OrderedDict, torch._utils._rebuild_tensor_v2 and _rebuild_parameter, the typed
// storages torch.*Storage as persistent ids). Nothing a file names is ever called.
//
// Contract:
// - Unpickler(where, data, size, base).Run() reads one pickle and returns its top object's id;
//   consumed() is how many bytes it used. Anything else than the above is a ModelError naming
//   `where` and the byte (base + offset). Objects live in one arena and refer to each other by
//   index, so a hostile pickle can build cycles or deep nesting without recursion or leaks;
//   memory is linear in the pickle's size.
// - StateDictTensors(where, u, top): the state dict in `top` (itself, or its "state_dict" or
//   "model" entry when it holds no tensor), every value a tensor under a string key, in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "model/io/safetensors.h"  // DType
#include "model/model_error.h"
#include "model/tensor.h"

namespace beit::pickle {

enum class Kind : uint8_t {
  kNone, kBool, kInt, kBigInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kStorage, kTensor
};

const char* KindName(Kind kind);

struct Value {
  Kind kind = Kind::kNone;
  int64_t number = 0;  // bool and int values; for globals the Callable; for storages and tensors
                       // their index in the unpickler's tables
  double real = 0;
  DType dtype = DType::kF32;    // storage types
  std::string text;             // str; an int too large for int64 (little-endian two's complement)
  std::vector<uint32_t> items;  // tuple and list elements; dict keys and values, alternating
};

struct StorageRef {
  std::string key;
  DType dtype;
  int64_t numel;
};

struct TensorRef {
  size_t storage;  // index into the storages
  int64_t offset;
  Shape shape;
  std::vector<int64_t> stride;
};

class Unpickler {
 public:
  // `where` names the pickle in messages ("<path>: archive/data.pkl"); `base` is its offset in
  // the file, so messages give byte positions a hex dump shows.
  Unpickler(std::string where, const uint8_t* data, size_t size, size_t base = 0)
      : where_(std::move(where)), data_(data), size_(size), base_(base) {
    NewValue(Kind::kNone);
    values_[NewValue(Kind::kBool)].number = 0;
    values_[NewValue(Kind::kBool)].number = 1;
  }

  // Reads one pickle up to its STOP; returns the index of the object it builds.
  uint32_t Run();
  size_t consumed() const { return pos_; }
  const Value& value(uint32_t id) const { return values_[id]; }
  const std::vector<StorageRef>& storages() const { return storages_; }
  const TensorRef& tensor(const Value& v) const { return tensors_[static_cast<size_t>(v.number)]; }

 private:
  static constexpr uint32_t kNoneId = 0, kFalseId = 1, kTrueId = 2;
  static constexpr uint32_t kUnset = std::numeric_limits<uint32_t>::max();

  [[noreturn]] void Fail(const std::string& what) const {
    throw ModelError(where_ + " at byte " + std::to_string(base_ + op_pos_) + ": " + what);
  }
  const uint8_t* Take(uint64_t n) {
    if (n > size_ - pos_) Fail("truncated: the pickle ends inside an opcode's argument");
    const uint8_t* p = data_ + pos_;
    pos_ += static_cast<size_t>(n);
    return p;
  }
  uint32_t NewValue(Kind kind) {
    if (values_.size() >= kUnset - 1) Fail("too many objects");
    values_.emplace_back();
    values_.back().kind = kind;
    return static_cast<uint32_t>(values_.size() - 1);
  }
  size_t Floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void Push(uint32_t id) { stack_.push_back(id); }
  uint32_t Pop() {
    if (stack_.size() <= Floor()) Fail("stack underflow");
    const uint32_t id = stack_.back();
    stack_.pop_back();
    return id;
  }
  uint32_t Top() const {
    if (stack_.size() <= Floor()) Fail("stack underflow");
    return stack_.back();
  }
  // Pops everything down to the last MARK (and the mark itself).
  std::vector<uint32_t> PopMark() {
    if (marks_.empty()) Fail("no MARK to pop to");
    const size_t start = marks_.back();
    marks_.pop_back();
    std::vector<uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(start), stack_.end());
    stack_.resize(start);
    return items;
  }
  void PushString(uint64_t length) {
    const uint8_t* p = Take(length);
    const uint32_t id = NewValue(Kind::kString);
    values_[id].text.assign(reinterpret_cast<const char*>(p), static_cast<size_t>(length));
    Push(id);
  }
  void PushInt(int64_t v) {
    const uint32_t id = NewValue(Kind::kInt);
    values_[id].number = v;
    Push(id);
  }
  void PushTuple(std::vector<uint32_t> items) {
    const uint32_t id = NewValue(Kind::kTuple);
    values_[id].items = std::move(items);
    Push(id);
  }
  std::string ReadLine() {
    const void* nl = std::memchr(data_ + pos_, '\n', size_ - pos_);
    if (!nl) Fail("truncated: GLOBAL's name has no end of line");
    const size_t end = static_cast<size_t>(static_cast<const uint8_t*>(nl) - data_);
    std::string line(reinterpret_cast<const char*>(data_ + pos_), end - pos_);
    pos_ = end + 1;
    return line;
  }
  void Memo(uint64_t index, uint32_t id) {
    // A pickler numbers its memo entries in order, so an index beyond the bytes read so far
    // cannot come from torch.save; refusing it keeps a few bytes from claiming gigabytes.
    if (index > pos_) Fail("memo index " + std::to_string(index) + " is beyond the pickle read so far");
    if (index >= memo_.size()) memo_.resize(static_cast<size_t>(index) + 1, kUnset);
    if (memo_[index] == kUnset) ++memo_count_;
    memo_[index] = id;
  }
  uint32_t Recall(uint64_t index) const {
    if (index >= memo_.size() || memo_[index] == kUnset) {
      Fail("memo index " + std::to_string(index) + " was never stored");
    }
    return memo_[index];
  }
  const Value& Expect(uint32_t id, Kind kind, const char* what) const {
    const Value& v = values_[id];
    if (v.kind != kind) Fail(std::string(what) + " is a " + KindName(v.kind) + ", expected a " + KindName(kind));
    return v;
  }
  // By value: the names may live in values_, which PushGlobal grows.
  void PushGlobal(std::string module, std::string name);
  void Reduce();
  void Build();
  void PersistentId();
  uint32_t RebuildTensor(const std::vector<uint32_t>& args);
  std::vector<int64_t> IntTuple(uint32_t id, const char* what) const;

  std::string where_;
  const uint8_t* data_;
  size_t size_;
  size_t base_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  std::vector<Value> values_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::vector<uint32_t> memo_;
  size_t memo_count_ = 0;
  std::vector<StorageRef> storages_;
  std::map<std::string, size_t> storage_by_key_;
  std::vector<TensorRef> tensors_;
};

struct StateTensor {
  std::string name;
  const TensorRef* ref;
};

// The state dict inside `top`: `top` itself, or its "state_dict" / "model" entry when `top`
// holds no tensor (training checkpoints).
std::vector<StateTensor> StateDictTensors(const std::string& where, const Unpickler& u, uint32_t top);

}  // namespace beit::pickle
