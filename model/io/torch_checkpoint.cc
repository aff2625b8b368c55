#include "model/io/torch_checkpoint.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <utility>

#include "model/io/file_bytes.h"
#include "model/io/float_conversion.h"
#include "model/model_error.h"

namespace beit {
namespace {

// ---------------------------------------------------------------------------------------------
// Little helpers over raw bytes (every caller has checked the range first).

uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t Le32(const uint8_t* p) { return static_cast<uint32_t>(Le16(p)) | (static_cast<uint32_t>(Le16(p + 2)) << 16); }
uint64_t Le64(const uint8_t* p) { return static_cast<uint64_t>(Le32(p)) | (static_cast<uint64_t>(Le32(p + 4)) << 32); }

// A name from the file, safe to put in a message: control bytes escaped, long names cut.
std::string Printable(const std::string& s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && out.size() < 300; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (out.size() >= 300) out += "...";
  return out;
}

std::string Hex(uint64_t v) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), kHex[v & 15]);
    v >>= 4;
  } while (v);
  return "0x" + s;
}

// ---------------------------------------------------------------------------------------------
// The restricted unpickler. Objects live in one arena and refer to each other by index, so a
// hostile pickle can build cycles or deep nesting without recursion or leaks anywhere.

enum class Kind : uint8_t {
  kNone, kBool, kInt, kBigInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kStorage, kTensor
};

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt:
    case Kind::kBigInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kTuple: return "tuple";
    case Kind::kList: return "list";
    case Kind::kDict: return "dict";
    case Kind::kGlobal: return "class or function";
    case Kind::kStorage: return "storage";
    case Kind::kTensor: return "tensor";
  }
  return "?";
}

// The globals a weights file may name: what torch.load(weights_only=True) allows for a state dict.
enum class Callable : uint8_t { kOrderedDict, kRebuildTensorV2, kRebuildParameter, kStorageType };

struct Global {
  const char* module;
  const char* name;
  Callable callable;
  DType dtype;  // for storage types
};

constexpr Global kAllowedGlobals[] = {
    {"collections", "OrderedDict", Callable::kOrderedDict, DType::kF32},
    {"torch._utils", "_rebuild_tensor_v2", Callable::kRebuildTensorV2, DType::kF32},
    {"torch._utils", "_rebuild_parameter", Callable::kRebuildParameter, DType::kF32},
    {"torch", "FloatStorage", Callable::kStorageType, DType::kF32},
    {"torch", "HalfStorage", Callable::kStorageType, DType::kF16},
    {"torch", "BFloat16Storage", Callable::kStorageType, DType::kBF16},
    {"torch", "DoubleStorage", Callable::kStorageType, DType::kF64},
    {"torch", "LongStorage", Callable::kStorageType, DType::kI64},
    {"torch", "IntStorage", Callable::kStorageType, DType::kI32},
    {"torch", "ShortStorage", Callable::kStorageType, DType::kI16},
    {"torch", "CharStorage", Callable::kStorageType, DType::kI8},
    {"torch", "ByteStorage", Callable::kStorageType, DType::kU8},
    {"torch", "BoolStorage", Callable::kStorageType, DType::kBool},
};

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

uint32_t Unpickler::Run() {
  for (;;) {
    op_pos_ = pos_;
    if (pos_ >= size_) Fail("truncated: the pickle ends before its STOP opcode");
    const uint8_t op = data_[pos_++];
    switch (op) {
      case 0x80: {  // PROTO
        const uint8_t protocol = *Take(1);
        if (protocol < 2 || protocol > 5) Fail("pickle protocol " + std::to_string(protocol) + "; torch.save writes 2");
        break;
      }
      case 0x95: {  // FRAME: a length hint only; the opcodes inside are read as usual
        const uint64_t length = Le64(Take(8));
        if (length > size_ - pos_) Fail("truncated: FRAME longer than the rest of the pickle");
        break;
      }
      case '}': Push(NewValue(Kind::kDict)); break;
      case ']': Push(NewValue(Kind::kList)); break;
      case ')': Push(NewValue(Kind::kTuple)); break;
      case '(': marks_.push_back(stack_.size()); break;
      case 'X': PushString(Le32(Take(4))); break;          // BINUNICODE
      case 0x8c: PushString(*Take(1)); break;              // SHORT_BINUNICODE
      case 0x8d: PushString(Le64(Take(8))); break;         // BINUNICODE8
      case 'J': PushInt(static_cast<int32_t>(Le32(Take(4)))); break;  // BININT
      case 'K': PushInt(*Take(1)); break;                  // BININT1
      case 'M': PushInt(Le16(Take(2))); break;             // BININT2
      case 0x8a: {  // LONG1: little-endian two's complement of n bytes
        const uint8_t n = *Take(1);
        const uint8_t* p = Take(n);
        const bool negative = n > 0 && (p[n - 1] & 0x80);
        bool fits = true;  // bytes past the eighth only repeat the sign
        for (size_t i = 8; i < n; ++i) fits &= p[i] == (negative ? 0xff : 0x00);
        if (n > 8 && fits) fits = ((p[7] & 0x80) != 0) == negative;
        if (fits) {
          uint64_t v = negative ? ~uint64_t{0} : 0;
          for (size_t i = 0; i < n && i < 8; ++i) {
            v &= ~(uint64_t{0xff} << (8 * i));
            v |= static_cast<uint64_t>(p[i]) << (8 * i);
          }
          PushInt(static_cast<int64_t>(v));
        } else {
          const uint32_t id = NewValue(Kind::kBigInt);
          values_[id].text.assign(reinterpret_cast<const char*>(p), n);
          Push(id);
        }
        break;
      }
      case 'G': {  // BINFLOAT: big-endian IEEE double
        const uint8_t* p = Take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
        const uint32_t id = NewValue(Kind::kFloat);
        std::memcpy(&values_[id].real, &bits, 8);
        Push(id);
        break;
      }
      case 0x88: Push(kTrueId); break;
      case 0x89: Push(kFalseId); break;
      case 'N': Push(kNoneId); break;
      case 't': PushTuple(PopMark()); break;
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        std::vector<uint32_t> items(static_cast<size_t>(op - 0x84));
        for (size_t i = items.size(); i-- > 0;) items[i] = Pop();
        PushTuple(std::move(items));
        break;
      }
      case 's': {  // SETITEM
        const uint32_t v = Pop(), k = Pop();
        const uint32_t dict = Top();
        Expect(dict, Kind::kDict, "SETITEM's target");
        values_[dict].items.insert(values_[dict].items.end(), {k, v});
        break;
      }
      case 'u': {  // SETITEMS
        std::vector<uint32_t> items = PopMark();
        if (items.size() % 2) Fail("SETITEMS with an odd number of items");
        const uint32_t dict = Top();
        Expect(dict, Kind::kDict, "SETITEMS's target");
        values_[dict].items.insert(values_[dict].items.end(), items.begin(), items.end());
        break;
      }
      case 'a': {  // APPEND
        const uint32_t v = Pop();
        const uint32_t list = Top();
        Expect(list, Kind::kList, "APPEND's target");
        values_[list].items.push_back(v);
        break;
      }
      case 'e': {  // APPENDS
        std::vector<uint32_t> items = PopMark();
        const uint32_t list = Top();
        Expect(list, Kind::kList, "APPENDS's target");
        values_[list].items.insert(values_[list].items.end(), items.begin(), items.end());
        break;
      }
      case 'q': Memo(*Take(1), Top()); break;         // BINPUT
      case 'r': Memo(Le32(Take(4)), Top()); break;    // LONG_BINPUT
      case 0x94: Memo(memo_count_, Top()); break;     // MEMOIZE
      case 'h': Push(Recall(*Take(1))); break;        // BINGET
      case 'j': Push(Recall(Le32(Take(4)))); break;   // LONG_BINGET
      case 'c': {  // GLOBAL "module\nname\n"
        const std::string module = ReadLine();
        const std::string name = ReadLine();
        PushGlobal(module, name);
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        const uint32_t name = Pop(), module = Pop();
        PushGlobal(Expect(module, Kind::kString, "STACK_GLOBAL's module").text,
                   Expect(name, Kind::kString, "STACK_GLOBAL's name").text);
        break;
      }
      case 'R': Reduce(); break;
      case 'b': Build(); break;
      case 'Q': PersistentId(); break;
      case '.': {  // STOP
        if (!marks_.empty() || stack_.size() != 1) {
          Fail("STOP with " + std::to_string(stack_.size()) + " objects and " + std::to_string(marks_.size()) +
               " marks on the stack; expected one object");
        }
        return stack_[0];
      }
      default: {
        std::string shown = Hex(op);
        if (op >= 0x20 && op < 0x7f) shown += std::string(" '") + static_cast<char>(op) + "'";
        Fail("opcode " + shown + " is not one torch.save writes for a state dict");
      }
    }
  }
}

void Unpickler::PushGlobal(std::string module, std::string name) {
  for (const Global& g : kAllowedGlobals) {
    if (module == g.module && name == g.name) {
      const uint32_t id = NewValue(Kind::kGlobal);
      values_[id].number = static_cast<int64_t>(g.callable);
      values_[id].dtype = g.dtype;
      values_[id].text = module + "." + name;
      Push(id);
      return;
    }
  }
  Fail("pickle names '" + Printable(module + "." + name) +
       "', which a weights file may not (only OrderedDict, torch._utils._rebuild_tensor_v2 and torch's typed "
       "storages; torch.load(weights_only=True) refuses it too)");
}

void Unpickler::Reduce() {
  const uint32_t args_id = Pop(), fn_id = Pop();
  const Value& fn = values_[fn_id];
  if (fn.kind != Kind::kGlobal) Fail(std::string("REDUCE calls a ") + KindName(fn.kind) + ", not an allowed global");
  const std::vector<uint32_t> args = Expect(args_id, Kind::kTuple, "REDUCE's arguments").items;
  switch (static_cast<Callable>(fn.number)) {
    case Callable::kOrderedDict:
      if (!args.empty()) Fail("OrderedDict called with arguments; torch.save calls it with none");
      Push(NewValue(Kind::kDict));
      return;
    case Callable::kRebuildTensorV2:
      Push(RebuildTensor(args));
      return;
    case Callable::kRebuildParameter:  // (tensor, requires_grad, backward_hooks): the tensor itself
      if (args.size() != 3) Fail("_rebuild_parameter takes 3 arguments, not " + std::to_string(args.size()));
      Expect(args[0], Kind::kTensor, "_rebuild_parameter's data");
      Push(args[0]);
      return;
    case Callable::kStorageType:
      Fail("pickle calls " + fn.text + " directly; storages may only appear as torch.save's persistent ids");
  }
}

std::vector<int64_t> Unpickler::IntTuple(uint32_t id, const char* what) const {
  std::vector<int64_t> out;
  for (uint32_t item : Expect(id, Kind::kTuple, what).items) {
    const Value& v = values_[item];
    if (v.kind != Kind::kInt || v.number < 0) {
      Fail(std::string(what) + " holds something other than a non-negative int");
    }
    out.push_back(v.number);
  }
  return out;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
uint32_t Unpickler::RebuildTensor(const std::vector<uint32_t>& args) {
  if (args.size() != 6 && args.size() != 7) {
    Fail("_rebuild_tensor_v2 takes 6 or 7 arguments, not " + std::to_string(args.size()));
  }
  TensorRef t;
  t.storage = static_cast<size_t>(Expect(args[0], Kind::kStorage, "_rebuild_tensor_v2's storage").number);
  const Value& offset = Expect(args[1], Kind::kInt, "_rebuild_tensor_v2's storage offset");
  if (offset.number < 0) Fail("negative storage offset");
  t.offset = offset.number;
  t.shape = IntTuple(args[2], "_rebuild_tensor_v2's size");
  t.stride = IntTuple(args[3], "_rebuild_tensor_v2's stride");
  if (t.shape.size() != t.stride.size()) {
    Fail("tensor size has " + std::to_string(t.shape.size()) + " dimensions but stride " +
         std::to_string(t.stride.size()));
  }
  Expect(args[4], Kind::kBool, "_rebuild_tensor_v2's requires_grad");
  Expect(args[5], Kind::kDict, "_rebuild_tensor_v2's backward hooks");
  if (args.size() == 7 && values_[args[6]].kind != Kind::kNone &&
      !Expect(args[6], Kind::kDict, "_rebuild_tensor_v2's metadata").items.empty()) {
    Fail("tensor metadata (e.g. conjugate or negative bits) is not supported");
  }
  const uint32_t id = NewValue(Kind::kTensor);
  values_[id].number = static_cast<int64_t>(tensors_.size());
  tensors_.push_back(std::move(t));
  return id;
}

// BUILD: torch.save only sets an OrderedDict's attributes this way (state_dict()'s _metadata),
// which are of no use here.
void Unpickler::Build() {
  const uint32_t state = Pop();
  const Value& inst = values_[Top()];
  const Value& s = values_[state];
  const bool empty_state = s.kind == Kind::kNone || (s.kind == Kind::kDict && s.items.empty());
  if (inst.kind == Kind::kDict && (s.kind == Kind::kDict || s.kind == Kind::kNone)) return;
  if (inst.kind == Kind::kTensor && empty_state) return;
  Fail(std::string("BUILD sets the state of a ") + KindName(inst.kind) + " from a " + KindName(s.kind) +
       "; only a state dict's attributes may be set");
}

// BINPERSID: ('storage', storage_type, key, location, numel[, view_metadata]); the legacy format
// adds view_metadata, None for every tensor since PyTorch 0.4.
void Unpickler::PersistentId() {
  const std::vector<uint32_t> pid = Expect(Pop(), Kind::kTuple, "persistent id").items;
  if (pid.size() != 5 && pid.size() != 6) {
    Fail("persistent id with " + std::to_string(pid.size()) + " fields; expected 5");
  }
  if (Expect(pid[0], Kind::kString, "persistent id's tag").text != "storage") {
    Fail("persistent id '" + Printable(values_[pid[0]].text) + "'; only 'storage' is known");
  }
  const Value& type = Expect(pid[1], Kind::kGlobal, "persistent id's storage type");
  if (static_cast<Callable>(type.number) != Callable::kStorageType) Fail(type.text + " is not a storage type");
  const std::string& key = Expect(pid[2], Kind::kString, "storage key").text;
  Expect(pid[3], Kind::kString, "storage location");
  const Value& numel = Expect(pid[4], Kind::kInt, "storage size");
  if (numel.number < 0) Fail("storage '" + Printable(key) + "' has a negative size");
  if (pid.size() == 6 && values_[pid[5]].kind != Kind::kNone) {
    Fail("storage '" + Printable(key) + "' is a storage view (PyTorch before 0.4); not supported");
  }
  auto [it, added] = storage_by_key_.emplace(key, storages_.size());
  if (added) {
    storages_.push_back({key, type.dtype, numel.number});
  } else if (storages_[it->second].dtype != type.dtype || storages_[it->second].numel != numel.number) {
    Fail("storage '" + Printable(key) + "' is declared twice with different types or sizes");
  }
  const uint32_t id = NewValue(Kind::kStorage);
  values_[id].number = static_cast<int64_t>(it->second);
  Push(id);
}

// ---------------------------------------------------------------------------------------------
// From the unpickled object to named tensors.

struct StateTensor {
  std::string name;
  const TensorRef* ref;
};

// The state dict inside `top`: `top` itself, or its "state_dict" / "model" entry when `top`
// holds no tensor (training checkpoints).
std::vector<StateTensor> StateDictTensors(const std::string& where, const Unpickler& u, uint32_t top) {
  const Value* dict = &u.value(top);
  if (dict->kind != Kind::kDict) {
    throw ModelError(where + ": the pickled object is a " + KindName(dict->kind) + ", not a state dict");
  }
  bool has_tensor = false;
  for (size_t i = 1; i < dict->items.size(); i += 2) has_tensor |= u.value(dict->items[i]).kind == Kind::kTensor;
  if (!has_tensor) {
    for (const char* key : {"state_dict", "model"}) {
      const Value* found = nullptr;
      for (size_t i = 0; i + 1 < dict->items.size() && !found; i += 2) {
        const Value& k = u.value(dict->items[i]);
        const Value& v = u.value(dict->items[i + 1]);
        if (k.kind == Kind::kString && k.text == key && v.kind == Kind::kDict) found = &v;
      }
      if (found) {
        dict = found;
        break;
      }
    }
  }
  std::vector<StateTensor> out;
  for (size_t i = 0; i + 1 < dict->items.size(); i += 2) {
    const Value& k = u.value(dict->items[i]);
    const Value& v = u.value(dict->items[i + 1]);
    if (k.kind != Kind::kString) {
      throw ModelError(where + ": the state dict has a key that is a " + KindName(k.kind) + ", not a tensor name");
    }
    if (v.kind != Kind::kTensor) {
      throw ModelError(where + ": state dict entry '" + Printable(k.text) + "' is a " + KindName(v.kind) +
                       ", not a tensor");
    }
    out.push_back({k.text, &u.tensor(v)});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The zip container, through its central directory.

struct ZipEntry {
  std::string name;
  uint64_t header = 0;  // local header offset
  uint64_t data = 0;    // first byte of the contents
  uint64_t size = 0;
};

constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEndRecord = 0x06054b50,
                   kZip64EndRecord = 0x06064b50, kZip64Locator = 0x07064b50;

std::vector<ZipEntry> ReadZipDirectory(const std::string& path, const uint8_t* bytes, uint64_t size) {
  // The end record is the last 22 bytes plus a comment of at most 64 KiB.
  uint64_t end = size;  // offset of the end record, once found
  for (uint64_t pos = size >= 22 ? size - 22 : size; size >= 22; --pos) {
    if (Le32(bytes + pos) == kEndRecord && pos + 22 + Le16(bytes + pos + 20) == size) {
      end = pos;
      break;
    }
    if (pos == 0 || size - pos >= 22 + 0xffff) break;
  }
  if (end == size) throw ModelError(path + ": zip archive without an end-of-central-directory record (truncated?)");
  uint64_t count = Le16(bytes + end + 10);
  uint64_t dir_size = Le32(bytes + end + 12);
  uint64_t dir_offset = Le32(bytes + end + 16);
  uint64_t dir_limit = end;  // the central directory ends before the end records
  if (end >= 20 && Le32(bytes + end - 20) == kZip64Locator) {
    const uint64_t record = Le64(bytes + end - 20 + 8);
    if (record > end - 20 || end - 20 - record < 56 || Le32(bytes + record) != kZip64EndRecord) {
      throw ModelError(path + ": ZIP64 locator points to " + std::to_string(record) +
                       ", where there is no ZIP64 end record (corrupt or truncated archive)");
    }
    count = Le64(bytes + record + 32);
    dir_size = Le64(bytes + record + 40);
    dir_offset = Le64(bytes + record + 48);
    dir_limit = record;
  } else if (count == 0xffff || dir_size == 0xffffffff || dir_offset == 0xffffffff) {
    throw ModelError(path + ": zip end record defers to a ZIP64 record that is missing");
  }
  if (dir_offset > dir_limit || dir_size > dir_limit - dir_offset) {
    throw ModelError(path + ": central directory (" + std::to_string(dir_size) + " bytes at " +
                     std::to_string(dir_offset) + ") lies outside the file");
  }
  if (count > dir_size / 46) {
    throw ModelError(path + ": zip says " + std::to_string(count) + " entries, more than its " +
                     std::to_string(dir_size) + "-byte central directory can hold");
  }

  std::vector<ZipEntry> entries;
  entries.reserve(static_cast<size_t>(count));
  const uint64_t dir_end = dir_offset + dir_size;
  uint64_t p = dir_offset;
  for (uint64_t i = 0; i < count; ++i) {
    if (dir_end - p < 46 || Le32(bytes + p) != kCentralHeader) {
      throw ModelError(path + ": central directory entry " + std::to_string(i) + " is corrupt");
    }
    const uint8_t* h = bytes + p;
    const uint16_t flags = Le16(h + 8), method = Le16(h + 10);
    uint64_t compressed = Le32(h + 20), size_field = Le32(h + 24), header = Le32(h + 42);
    const uint64_t name_len = Le16(h + 28), extra_len = Le16(h + 30), comment_len = Le16(h + 32);
    if (dir_end - p - 46 < name_len + extra_len + comment_len) {
      throw ModelError(path + ": central directory entry " + std::to_string(i) + " runs past the directory");
    }
    ZipEntry e;
    e.name.assign(reinterpret_cast<const char*>(h + 46), static_cast<size_t>(name_len));
    const std::string where = path + ": zip entry '" + Printable(e.name) + "'";
    // ZIP64 extra field: 8-byte values for the fields saturated at 0xffffffff, in this order.
    for (const uint8_t *x = h + 46 + name_len, *x_end = x + extra_len; x_end - x >= 4;) {
      const uint16_t id = Le16(x), len = Le16(x + 2);
      if (static_cast<uint64_t>(x_end - x - 4) < len) throw ModelError(where + ": extra field runs past its entry");
      if (id == 0x0001) {
        const uint8_t* f = x + 4;
        const uint8_t* f_end = f + len;
        for (uint64_t* field : {&size_field, &compressed, &header}) {
          if (*field != 0xffffffff) continue;
          if (f_end - f < 8) throw ModelError(where + ": ZIP64 extra field is too short");
          *field = Le64(f);
          f += 8;
        }
      }
      x += 4 + len;
    }
    if (flags & 1) throw ModelError(where + " is encrypted");
    if (method != 0) {
      throw ModelError(where + " is compressed (method " + std::to_string(method) +
                       "); torch.save writes stored entries only");
    }
    if (compressed != size_field) {
      throw ModelError(where + ": stored entry whose compressed size (" + std::to_string(compressed) +
                       ") differs from its size (" + std::to_string(size_field) + ")");
    }
    // The local header repeats the name; its extra field pads torch's records to 64 bytes.
    if (header > dir_offset || dir_offset - header < 30 || Le32(bytes + header) != kLocalHeader) {
      throw ModelError(where + ": local header at " + std::to_string(header) +
                       " lies outside the file's data area or is corrupt");
    }
    const uint64_t local_name = Le16(bytes + header + 26), local_extra = Le16(bytes + header + 28);
    e.header = header;
    e.data = header + 30 + local_name + local_extra;
    e.size = size_field;
    if (e.data > dir_offset || e.size > dir_offset - e.data) {
      throw ModelError(where + ": contents (" + std::to_string(e.size) + " bytes at " + std::to_string(e.data) +
                       ") lie outside the file's data area (truncated or corrupt archive)");
    }
    if (local_name != name_len || std::memcmp(bytes + header + 30, e.name.data(), e.name.size()) != 0) {
      throw ModelError(where + ": local header names another entry");
    }
    entries.push_back(std::move(e));
    p += 46 + name_len + extra_len + comment_len;
  }
  // Records that share bytes would mean a corrupt or hostile archive.
  std::vector<const ZipEntry*> sorted;
  for (const ZipEntry& e : entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->header < b->header; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i]->header < sorted[i - 1]->data + sorted[i - 1]->size) {
      throw ModelError(path + ": zip entries '" + Printable(sorted[i - 1]->name) + "' and '" +
                       Printable(sorted[i]->name) + "' overlap");
    }
  }
  return entries;
}

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
