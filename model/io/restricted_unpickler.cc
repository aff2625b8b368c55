#include "model/io/restricted_unpickler.h"

#include <cstring>
#include <utility>

#include "model/io/byte_fields.h"
#include "model/model_error.h"

namespace beit::pickle {
namespace {

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

}  // namespace

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

}  // namespace beit::pickle
