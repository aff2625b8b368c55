#include "server/open_inference/http_json_codec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace beit::serving::open_inference {
namespace {

using nlohmann::json;

// Deeper than any tensor's nesting plus the request's own three levels; refused before parsing so
// nothing recursive ever sees a hostile depth.
constexpr int kMaxDepth = 64;

std::string Input(const std::string& name) { return absl::StrCat("input '", name, "'"); }
std::string Output(const std::string& name) { return absl::StrCat("output '", name, "'"); }

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

// The deepest [ / { nesting outside strings, without parsing; stops counting past the limit.
absl::Status CheckNesting(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) {
        return Invalid(absl::StrCat("the JSON request nests deeper than ", kMaxDepth, " levels"));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return absl::OkStatus();
}

// ---- Numbers in the datatypes' little-endian forms ----

void PutLittleEndian(std::string& out, uint64_t value, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetLittleEndian(const char* p, size_t bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < bytes; ++i) value |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return value;
}

// A double rounded to nearest even into a binary format of 1 + exponent_bits + mantissa_bits bits
// (FP16: 5 + 10, BF16: 8 + 7); nullopt when it rounds beyond the largest finite value.
std::optional<uint16_t> ToNarrowFloat(double d, int exponent_bits, int mantissa_bits) {
  const int bias = (1 << (exponent_bits - 1)) - 1;
  const uint32_t max_biased = (1u << exponent_bits) - 2;
  const uint32_t sign = std::signbit(d) ? 1u << (exponent_bits + mantissa_bits) : 0;
  const double a = std::fabs(d);
  if (a < std::ldexp(1.0, 1 - bias)) {
    // Subnormal: a multiple of 2^(1 - bias - mantissa_bits). Rounding up to 2^mantissa_bits gives
    // exactly the smallest normal's encoding.
    const double q = std::nearbyint(std::ldexp(a, bias - 1 + mantissa_bits));
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(q));
  }
  if (a >= std::ldexp(1.0, bias + 2)) return std::nullopt;  // far beyond: keeps the arithmetic small
  int exponent = 0;
  std::frexp(a, &exponent);
  // a is in [2^(exponent-1), 2^exponent): q, its scaled mantissa, in [2^m, 2^(m+1)].
  const double q = std::nearbyint(std::ldexp(a, mantissa_bits + 1 - exponent));
  // A mantissa rounded up to 2^(m+1) carries into the exponent by the addition.
  const uint32_t bits = (static_cast<uint32_t>(exponent - 1 + bias) << mantissa_bits) +
                        (static_cast<uint32_t>(q) - (1u << mantissa_bits));
  if ((bits >> mantissa_bits) > max_biased) return std::nullopt;
  return static_cast<uint16_t>(sign | bits);
}

float HalfToFloat(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  double value;
  if (exponent == 0) {
    value = std::ldexp(static_cast<double>(mantissa), -24);
  } else if (exponent == 31) {
    value = mantissa == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else {
    value = std::ldexp(static_cast<double>(1024 + mantissa), exponent - 25);
  }
  return static_cast<float>((h & 0x8000) ? -value : value);
}

float BitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint32_t FloatToBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

uint64_t DoubleToBits(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return bits;
}

double BitsToDouble(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

struct IntegerRange {
  bool is_signed;
  int64_t min;
  uint64_t max;
};

std::optional<IntegerRange> IntegerRangeOf(const std::string& datatype) {
  if (datatype == "INT8") return IntegerRange{true, INT8_MIN, INT8_MAX};
  if (datatype == "INT16") return IntegerRange{true, INT16_MIN, INT16_MAX};
  if (datatype == "INT32") return IntegerRange{true, INT32_MIN, INT32_MAX};
  if (datatype == "INT64") return IntegerRange{true, INT64_MIN, INT64_MAX};
  if (datatype == "UINT8") return IntegerRange{false, 0, UINT8_MAX};
  if (datatype == "UINT16") return IntegerRange{false, 0, UINT16_MAX};
  if (datatype == "UINT32") return IntegerRange{false, 0, UINT32_MAX};
  if (datatype == "UINT64") return IntegerRange{false, 0, UINT64_MAX};
  return std::nullopt;
}

// ---- Request parsing ----

absl::StatusOr<InferParameters> ParseParameters(const json& j, const std::string& where) {
  if (!j.is_object()) return Invalid(absl::StrCat(where, ": 'parameters' must be a JSON object"));
  InferParameters parameters;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const json& value = it.value();
    switch (value.type()) {
      case json::value_t::boolean:
        parameters[it.key()] = *value.get_ptr<const json::boolean_t*>();
        break;
      case json::value_t::number_integer:
        parameters[it.key()] = static_cast<int64_t>(*value.get_ptr<const json::number_integer_t*>());
        break;
      case json::value_t::number_unsigned: {
        const uint64_t u = *value.get_ptr<const json::number_unsigned_t*>();
        if (u > static_cast<uint64_t>(INT64_MAX)) {
          return Invalid(absl::StrCat(where, ": parameter '", it.key(), "' is beyond the int64 range"));
        }
        parameters[it.key()] = static_cast<int64_t>(u);
        break;
      }
      case json::value_t::number_float:
        parameters[it.key()] = static_cast<double>(*value.get_ptr<const json::number_float_t*>());
        break;
      case json::value_t::string:
        parameters[it.key()] = *value.get_ptr<const json::string_t*>();
        break;
      default:
        return Invalid(absl::StrCat(where, ": parameter '", it.key(), "' must be a bool, a number or a string"));
    }
  }
  return parameters;
}

// Prefixes a parameter getter's error with where it was found.
absl::Status Within(const absl::Status& status, const std::string& where) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(where, ": ", status.message()));
}

absl::StatusOr<std::vector<int64_t>> ParseShape(const json& j, const std::string& name) {
  if (!j.is_array()) return Invalid(absl::StrCat(Input(name), ": 'shape' must be an array of integers"));
  std::vector<int64_t> shape;
  shape.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    const json& dim = j[i];
    if (dim.is_number_unsigned()) {
      const uint64_t u = *dim.get_ptr<const json::number_unsigned_t*>();
      if (u > static_cast<uint64_t>(INT64_MAX)) {
        return Invalid(absl::StrCat(Input(name), ": shape dimension ", i, " is beyond the int64 range"));
      }
      shape.push_back(static_cast<int64_t>(u));
    } else if (dim.is_number_integer()) {
      shape.push_back(*dim.get_ptr<const json::number_integer_t*>());
    } else {
      return Invalid(absl::StrCat(Input(name), ": shape dimension ", i, " is not an integer"));
    }
  }
  return shape;
}

// ---- Input data: converted while it is parsed ----

// What a scalar in an input's data was.
enum class Kind : uint8_t { kNull, kBool, kInteger, kUnsigned, kFloat, kString, kObject };

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return "a boolean";
    case Kind::kInteger:
    case Kind::kUnsigned:
      return "an integer";
    case Kind::kFloat:
      return "a number";
    case Kind::kString:
      return "a string";
    default:
      return "an object";
  }
}

// How a datatype's JSON values become its bytes, worked out once per tensor.
struct ElementType {
  enum class Family : uint8_t { kBytes, kBool, kInteger, kFloat };
  Family family;
  size_t size;         // bytes per element; 0 for BYTES
  IntegerRange range;  // kInteger
  bool bfloat16;       // kFloat of size 2: BF16 rather than FP16
};

std::optional<ElementType> ElementTypeOf(const std::string& datatype) {
  using Family = ElementType::Family;
  if (datatype == "BYTES") return ElementType{Family::kBytes, 0, {}, false};
  const std::optional<size_t> size = DatatypeSize(datatype);
  if (!size) return std::nullopt;
  if (datatype == "BOOL") return ElementType{Family::kBool, 1, {}, false};
  if (const std::optional<IntegerRange> range = IntegerRangeOf(datatype)) {
    return ElementType{Family::kInteger, *size, *range, false};
  }
  return ElementType{Family::kFloat, *size, {}, datatype == "BF16"};
}

const char* Wanted(ElementType::Family family) {
  switch (family) {
    case ElementType::Family::kBytes:
      return "a string";
    case ElementType::Family::kBool:
      return "true or false";
    case ElementType::Family::kInteger:
      return "an integer";
    default:
      return "a number";
  }
}

enum class Problem : uint8_t { kNone, kWrongType, kOutOfRange };

// Appends one scalar (`bits`: the bool, the two's complement integer or the double's bits; `text`
// for strings, moved from) to a tensor's raw bytes or BYTES elements. Nothing on a problem.
Problem Append(const ElementType& type, InferTensor& t, Kind kind, uint64_t bits, std::string* text) {
  switch (type.family) {
    case ElementType::Family::kBytes:
      if (kind != Kind::kString) return Problem::kWrongType;
      t.elements.push_back(std::move(*text));
      return Problem::kNone;
    case ElementType::Family::kBool:
      if (kind != Kind::kBool) return Problem::kWrongType;
      t.raw.push_back(bits ? 1 : 0);
      return Problem::kNone;
    case ElementType::Family::kInteger:
      if (kind == Kind::kUnsigned) {
        if (bits > type.range.max) return Problem::kOutOfRange;
      } else if (kind == Kind::kInteger) {
        const auto s = static_cast<int64_t>(bits);
        if (s < type.range.min || (s > 0 && static_cast<uint64_t>(s) > type.range.max)) return Problem::kOutOfRange;
      } else {
        return Problem::kWrongType;
      }
      PutLittleEndian(t.raw, bits, type.size);  // two's complement, truncated to the type's size
      return Problem::kNone;
    default:
      break;
  }
  // FP16, BF16, FP32, FP64: any JSON number (JSON has no NaN or infinity).
  double d;
  if (kind == Kind::kFloat) {
    d = BitsToDouble(bits);
  } else if (kind == Kind::kUnsigned) {
    d = static_cast<double>(bits);
  } else if (kind == Kind::kInteger) {
    d = static_cast<double>(static_cast<int64_t>(bits));
  } else {
    return Problem::kWrongType;
  }
  if (!std::isfinite(d)) return Problem::kOutOfRange;
  if (type.size == 8) {
    PutLittleEndian(t.raw, DoubleToBits(d), 8);
  } else if (type.size == 4) {
    if (std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
      // Between FLT_MAX and FLT_MAX + half an ulp still rounds to FLT_MAX.
      if (std::fabs(d) >= 0x1.ffffffp127) return Problem::kOutOfRange;
      d = std::copysign(static_cast<double>(std::numeric_limits<float>::max()), d);
    }
    PutLittleEndian(t.raw, FloatToBits(static_cast<float>(d)), 4);
  } else {
    const std::optional<uint16_t> half = type.bfloat16 ? ToNarrowFloat(d, 8, 7) : ToNarrowFloat(d, 5, 10);
    if (!half) return Problem::kOutOfRange;
    PutLittleEndian(t.raw, *half, 2);
  }
  return Problem::kNone;
}

absl::Status ScalarError(const InferTensor& tensor, size_t index, Kind kind, Problem problem) {
  if (problem == Problem::kOutOfRange) {
    return Invalid(absl::StrCat(Input(tensor.name), ": element ", index, " is out of the range of ", tensor.datatype));
  }
  const std::optional<ElementType> type = ElementTypeOf(tensor.datatype);
  return Invalid(absl::StrCat(Input(tensor.name), ": element ", index, " must be ",
                              type ? Wanted(type->family) : "a value", " for ", tensor.datatype, ", got ",
                              KindName(kind)));
}

// One input's `data`. When its datatype came before it (the usual order), each scalar is
// converted as it is parsed; otherwise the scalars are kept compactly (a kind byte and 8 value
// bytes each) until the datatype is known. Either way memory stays a small multiple of the body.
struct CapturedData {
  bool present = false;
  bool not_array = false;           // `data` was a scalar or an object
  size_t count = 0;                 // scalars, nested arrays flattened row-major
  std::optional<ElementType> type;  // set: converting into `converted`
  InferTensor converted;
  Problem problem = Problem::kNone;  // the first scalar that does not fit
  size_t problem_index = 0;
  Kind problem_kind = Kind::kNull;
  std::vector<Kind> kinds;  // type unset: the scalars as parsed
  std::vector<uint64_t> values;
  std::vector<std::string> strings;

  void Add(Kind kind, uint64_t bits, std::string* text) {
    const size_t index = count++;
    if (type) {
      if (problem != Problem::kNone) return;
      problem = Append(*type, converted, kind, bits, text);
      problem_index = index;
      problem_kind = kind;
      return;
    }
    kinds.push_back(kind);
    values.push_back(bits);
    if (kind == Kind::kString) strings.push_back(std::move(*text));
  }
};

// Fills the tensor (name, datatype and shape set and checked) from its captured `data`.
absl::Status SetTensorFromData(InferTensor& tensor, CapturedData& data) {
  if (data.not_array) return Invalid(absl::StrCat(Input(tensor.name), ": 'data' must be an array"));
  absl::StatusOr<int64_t> count = ElementCount(tensor.shape, tensor.name);
  if (!count.ok()) return count.status();
  if (static_cast<int64_t>(data.count) != *count) {
    return Invalid(absl::StrCat(Input(tensor.name), ": shape [", absl::StrJoin(tensor.shape, ","), "] needs ", *count,
                                " elements but 'data' holds ", data.count));
  }
  if (data.type) {
    if (data.problem != Problem::kNone) {
      return ScalarError(tensor, data.problem_index, data.problem_kind, data.problem);
    }
    tensor.raw = std::move(data.converted.raw);
    tensor.elements = std::move(data.converted.elements);
    return absl::OkStatus();
  }
  const std::optional<ElementType> type = ElementTypeOf(tensor.datatype);
  if (!type) return absl::InternalError(absl::StrCat(Input(tensor.name), ": datatype not checked"));
  if (type->family == ElementType::Family::kBytes) {
    tensor.elements.reserve(data.count);
  } else {
    tensor.raw.reserve(data.count * type->size);
  }
  size_t next_string = 0;
  for (size_t i = 0; i < data.count; ++i) {
    std::string* text = data.kinds[i] == Kind::kString ? &data.strings[next_string++] : nullptr;
    const Problem problem = Append(*type, tensor, data.kinds[i], data.values[i], text);
    if (problem != Problem::kNone) return ScalarError(tensor, i, data.kinds[i], problem);
  }
  return absl::OkStatus();
}

const json* Find(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// nlohmann's SAX interface: builds the JSON tree of everything but the inputs' `data`, which goes
// to CapturedData instead (a tree costs 16 bytes and more per number, which a hostile body of
// "0,0,0,..." would multiply eightfold). Duplicate keys are refused: which one counts would be a
// guess.
class RequestReader {
 public:
  explicit RequestReader(size_t text_size) : text_size_(text_size) {}

  json& root() { return root_; }
  std::vector<CapturedData>& data() { return data_; }
  const absl::Status& error() const { return error_; }

  bool null() {
    return Scalar(Kind::kNull, 0, nullptr, [] { return json(nullptr); });
  }
  bool boolean(bool value) {
    return Scalar(Kind::kBool, value ? 1 : 0, nullptr, [value] { return json(value); });
  }
  bool number_integer(json::number_integer_t value) {
    return Scalar(Kind::kInteger, static_cast<uint64_t>(value), nullptr, [value] { return json(value); });
  }
  bool number_unsigned(json::number_unsigned_t value) {
    return Scalar(Kind::kUnsigned, value, nullptr, [value] { return json(value); });
  }
  bool number_float(json::number_float_t value, const json::string_t&) {
    return Scalar(Kind::kFloat, DoubleToBits(value), nullptr, [value] { return json(value); });
  }
  bool string(json::string_t& value) {
    return Scalar(Kind::kString, 0, &value, [&value] { return json(std::move(value)); });
  }
  bool binary(json::binary_t&) { return Fail("the request is not valid JSON"); }

  bool start_object(std::size_t) {
    if (capture_ >= 0) {
      if (skip_depth_ > 0) {
        ++skip_depth_;
        return true;
      }
      CapturedData& d = data_[static_cast<size_t>(capture_)];
      if (capture_depth_ == 0) {
        d.not_array = true;
      } else {
        d.Add(Kind::kObject, 0, nullptr);
      }
      skip_depth_ = 1;  // an object is one (wrong) element; its contents are not looked at
      return true;
    }
    stack_.push_back(AddValue(json::object()));
    return true;
  }
  bool key(json::string_t& name) {
    if (capture_ >= 0) return true;  // inside an object inside data
    json& object = *stack_.back();
    if (object.contains(name)) return Fail(absl::StrCat("the request has the key '", name, "' twice in one object"));
    if (stack_.size() == 1) root_key_ = name;
    if (stack_.size() == 3 && stack_[1] == inputs_ && name == "data") return StartCapture(object);
    pending_ = &object[name];  // null until its value arrives
    return true;
  }
  bool end_object() { return End(); }
  bool start_array(std::size_t) {
    if (capture_ >= 0) {
      ++(skip_depth_ > 0 ? skip_depth_ : capture_depth_);
      return true;
    }
    json* array = AddValue(json::array());
    if (stack_.size() == 1 && stack_[0]->is_object() && root_key_ == "inputs") inputs_ = array;
    stack_.push_back(array);
    return true;
  }
  bool end_array() { return End(); }
  bool parse_error(std::size_t, const std::string&, const json::exception& e) {
    return Fail(absl::StrCat("the request is not valid JSON: ", e.what()));
  }

 private:
  bool Fail(std::string message) {
    if (error_.ok()) error_ = Invalid(std::move(message));
    return false;
  }

  // Where a value goes: the root, the end of the open array, or the member whose key came last.
  json* AddValue(json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(value));
      return &top.back();
    }
    *pending_ = std::move(value);
    return pending_;
  }

  template <typename MakeJson>
  bool Scalar(Kind kind, uint64_t bits, std::string* text, const MakeJson& make) {
    if (capture_ < 0) {
      AddValue(make());
      return true;
    }
    if (skip_depth_ > 0) return true;
    CapturedData& d = data_[static_cast<size_t>(capture_)];
    if (capture_depth_ == 0) {  // `data` itself is a scalar
      d.not_array = true;
      capture_ = -1;
      return true;
    }
    d.Add(kind, bits, text);
    return true;
  }

  bool End() {
    if (capture_ < 0) {
      stack_.pop_back();
      return true;
    }
    int& depth = skip_depth_ > 0 ? skip_depth_ : capture_depth_;
    if (--depth == 0 && capture_depth_ == 0) capture_ = -1;  // the end of `data`
    return true;
  }

  // `data` of inputs[i] begins: convert as it comes when the input already named its datatype.
  bool StartCapture(const json& input) {
    const size_t index = inputs_->size() - 1;
    if (data_.size() <= index) data_.resize(index + 1);
    CapturedData& d = data_[index];
    if (d.present) return Fail("the request has the key 'data' twice in one object");
    d.present = true;
    capture_ = static_cast<int64_t>(index);
    capture_depth_ = 0;
    skip_depth_ = 0;
    const json* datatype = Find(input, "datatype");
    if (datatype == nullptr || !datatype->is_string()) return true;
    d.type = ElementTypeOf(*datatype->get_ptr<const json::string_t*>());
    if (!d.type) return true;
    d.converted.datatype = *datatype->get_ptr<const json::string_t*>();
    // Room for what the shape says, but never more elements than the text can hold.
    const json* shape = Find(input, "shape");
    if (shape == nullptr) return true;
    absl::StatusOr<std::vector<int64_t>> dims = ParseShape(*shape, "");
    if (!dims.ok()) return true;
    absl::StatusOr<int64_t> count = ElementCount(*dims, "");
    if (!count.ok()) return true;
    const size_t room = std::min(static_cast<size_t>(*count), text_size_ / 2 + 1);
    if (d.type->family == ElementType::Family::kBytes) {
      d.converted.elements.reserve(std::min(room, text_size_ / 3 + 1));
    } else {
      d.converted.raw.reserve(room * d.type->size);
    }
    return true;
  }

  const size_t text_size_;
  json root_;
  std::vector<json*> stack_;  // the open objects and arrays
  json* pending_ = nullptr;
  std::string root_key_;
  json* inputs_ = nullptr;  // the request's "inputs" array
  std::vector<CapturedData> data_;
  int64_t capture_ = -1;   // the input whose data is being read
  int capture_depth_ = 0;  // arrays open inside it
  int skip_depth_ = 0;     // containers open inside an object found in it
  absl::Status error_;
};

absl::StatusOr<InferTensor> ParseInput(const json& j, size_t index, CapturedData* data, std::string_view binary,
                                       size_t& binary_offset) {
  const std::string where = absl::StrCat("inputs[", index, "]");
  if (!j.is_object()) return Invalid(absl::StrCat(where, " must be a JSON object"));
  InferTensor tensor;
  const json* name = Find(j, "name");
  if (name == nullptr || !name->is_string() || name->get_ptr<const json::string_t*>()->empty()) {
    return Invalid(absl::StrCat(where, " needs a 'name' (a non-empty string)"));
  }
  tensor.name = *name->get_ptr<const json::string_t*>();
  const json* datatype = Find(j, "datatype");
  if (datatype == nullptr || !datatype->is_string()) {
    return Invalid(absl::StrCat(Input(tensor.name), " needs a 'datatype' (a string)"));
  }
  tensor.datatype = *datatype->get_ptr<const json::string_t*>();
  if (!IsKnownDatatype(tensor.datatype)) {
    return Invalid(absl::StrCat(Input(tensor.name), ": unknown datatype '", tensor.datatype,
                                "' (known: BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, "
                                "BF16, FP32, FP64, BYTES)"));
  }
  const json* shape = Find(j, "shape");
  if (shape == nullptr) return Invalid(absl::StrCat(Input(tensor.name), " needs a 'shape'"));
  absl::StatusOr<std::vector<int64_t>> dims = ParseShape(*shape, tensor.name);
  if (!dims.ok()) return dims.status();
  tensor.shape = std::move(*dims);
  if (const json* parameters = Find(j, "parameters")) {
    absl::StatusOr<InferParameters> parsed = ParseParameters(*parameters, Input(tensor.name));
    if (!parsed.ok()) return parsed.status();
    tensor.parameters = std::move(*parsed);
  }
  absl::StatusOr<std::optional<int64_t>> binary_size = GetIntParameter(tensor.parameters, "binary_data_size");
  if (!binary_size.ok()) return Within(binary_size.status(), Input(tensor.name));
  const bool has_data = data != nullptr && data->present;
  if (binary_size->has_value()) {
    const int64_t size = **binary_size;
    if (has_data) {
      return Invalid(absl::StrCat(Input(tensor.name), " has both 'data' and the parameter 'binary_data_size'"));
    }
    if (size < 0) return Invalid(absl::StrCat(Input(tensor.name), ": binary_data_size is negative"));
    const size_t remaining = binary.size() - binary_offset;
    if (static_cast<uint64_t>(size) > remaining) {
      return Invalid(absl::StrCat(Input(tensor.name), ": binary_data_size is ", size, " but only ", remaining,
                                  " bytes of binary data remain"));
    }
    tensor.parameters.erase("binary_data_size");
    absl::Status set = SetTensorFromRaw(tensor, binary.substr(binary_offset, static_cast<size_t>(size)));
    if (!set.ok()) return set;
    binary_offset += static_cast<size_t>(size);
    return tensor;
  }
  if (!has_data) {
    return Invalid(absl::StrCat(Input(tensor.name), " has neither 'data' nor the parameter 'binary_data_size'"));
  }
  absl::Status set = SetTensorFromData(tensor, *data);
  if (!set.ok()) return set;
  return tensor;
}

absl::StatusOr<RequestedOutput> ParseRequestedOutput(const json& j, size_t index) {
  const std::string where = absl::StrCat("outputs[", index, "]");
  if (!j.is_object()) return Invalid(absl::StrCat(where, " must be a JSON object"));
  const json* name = Find(j, "name");
  if (name == nullptr || !name->is_string() || name->get_ptr<const json::string_t*>()->empty()) {
    return Invalid(absl::StrCat(where, " needs a 'name' (a non-empty string)"));
  }
  RequestedOutput output;
  output.name = *name->get_ptr<const json::string_t*>();
  if (const json* parameters = Find(j, "parameters")) {
    absl::StatusOr<InferParameters> parsed = ParseParameters(*parameters, Output(output.name));
    if (!parsed.ok()) return parsed.status();
    output.parameters = std::move(*parsed);
  }
  absl::Status binary = GetBoolParameter(output.parameters, "binary_data").status();
  if (!binary.ok()) return Within(binary, Output(output.name));
  return output;
}

absl::StatusOr<InferRequest> ParseJsonRequest(std::string_view text, std::string_view binary) {
  absl::Status nesting = CheckNesting(text);
  if (!nesting.ok()) return nesting;
  RequestReader reader(text.size());
  const bool parsed = json::sax_parse(text.begin(), text.end(), &reader);
  if (!reader.error().ok()) return reader.error();
  if (!parsed) return Invalid("the request is not valid JSON");
  const json& root = reader.root();
  if (!root.is_object()) return Invalid("the request must be a JSON object");
  InferRequest request;
  if (const json* id = Find(root, "id")) {
    if (!id->is_string()) return Invalid("'id' must be a string");
    request.id = *id->get_ptr<const json::string_t*>();
  }
  if (const json* parameters = Find(root, "parameters")) {
    absl::StatusOr<InferParameters> parsed_parameters = ParseParameters(*parameters, "the request");
    if (!parsed_parameters.ok()) return parsed_parameters.status();
    request.parameters = std::move(*parsed_parameters);
  }
  absl::Status binary_output = GetBoolParameter(request.parameters, "binary_data_output").status();
  if (!binary_output.ok()) return Within(binary_output, "the request");
  const json* inputs = Find(root, "inputs");
  if (inputs == nullptr || !inputs->is_array()) return Invalid("the request needs 'inputs' (an array)");
  std::vector<CapturedData>& data = reader.data();
  size_t binary_offset = 0;
  request.inputs.reserve(inputs->size());
  for (size_t i = 0; i < inputs->size(); ++i) {
    absl::StatusOr<InferTensor> input =
        ParseInput((*inputs)[i], i, i < data.size() ? &data[i] : nullptr, binary, binary_offset);
    if (!input.ok()) return input.status();
    request.inputs.push_back(std::move(*input));
  }
  if (binary_offset != binary.size()) {
    return Invalid(absl::StrCat("the inputs' binary_data_size add up to ", binary_offset, " bytes but the body has ",
                                binary.size(), " bytes of binary data"));
  }
  if (const json* outputs = Find(root, "outputs")) {
    if (!outputs->is_array()) return Invalid("'outputs' must be an array");
    request.outputs.reserve(outputs->size());
    for (size_t i = 0; i < outputs->size(); ++i) {
      absl::StatusOr<RequestedOutput> output = ParseRequestedOutput((*outputs)[i], i);
      if (!output.ok()) return output.status();
      request.outputs.push_back(std::move(*output));
    }
  }
  return request;
}

// ---- Response serialisation ----

void AppendString(std::string& out, std::string_view s) {
  out += json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

template <typename T>
void AppendNumber(std::string& out, T value) {
  char buffer[64];
  const std::to_chars_result r = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, r.ptr);
}

template <typename F>
void AppendFloat(std::string& out, F value) {
  if (!std::isfinite(value)) {
    out += "null";  // JSON has no NaN or infinity
    return;
  }
  if (value == 0 && std::signbit(value)) {
    out += "-0.0";  // "-0" would read back as the integer 0
    return;
  }
  AppendNumber(out, value);
}

json ParametersJson(const InferParameters& parameters) {
  json object = json::object();
  for (const auto& [key, value] : parameters) {
    std::visit([&object, &key = key](const auto& v) { object[key] = v; }, value);
  }
  return object;
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

absl::Status CheckOutput(const InferTensor& tensor) {
  if (!IsKnownDatatype(tensor.datatype)) {
    return absl::InternalError(absl::StrCat(Output(tensor.name), " has the unknown datatype '", tensor.datatype, "'"));
  }
  absl::StatusOr<int64_t> count = ElementCount(tensor.shape, tensor.name);
  if (!count.ok()) {
    return absl::InternalError(
        absl::StrCat(Output(tensor.name), " has the invalid shape [", absl::StrJoin(tensor.shape, ","), "]"));
  }
  const uint64_t have = tensor.datatype == "BYTES" ? tensor.elements.size() : tensor.raw.size();
  const uint64_t want = tensor.datatype == "BYTES" ? *count : *count * *DatatypeSize(tensor.datatype);
  if (have != want) {
    return absl::InternalError(absl::StrCat(Output(tensor.name), ": ", tensor.datatype, " [",
                                            absl::StrJoin(tensor.shape, ","), "] holds ", have, " ",
                                            tensor.datatype == "BYTES" ? "elements" : "bytes", " instead of ", want));
  }
  return absl::OkStatus();
}

void AppendData(std::string& out, const InferTensor& tensor) {
  out += '[';
  if (tensor.datatype == "BYTES") {
    for (size_t i = 0; i < tensor.elements.size(); ++i) {
      if (i) out += ',';
      AppendString(out, tensor.elements[i]);
    }
    out += ']';
    return;
  }
  const size_t size = *DatatypeSize(tensor.datatype);
  const std::optional<IntegerRange> range = IntegerRangeOf(tensor.datatype);
  for (size_t offset = 0; offset < tensor.raw.size(); offset += size) {
    if (offset) out += ',';
    const uint64_t bits = GetLittleEndian(tensor.raw.data() + offset, size);
    if (tensor.datatype == "BOOL") {
      out += bits ? "true" : "false";
    } else if (range) {
      if (range->is_signed) {
        // Sign-extends from `size` bytes.
        const int shift = static_cast<int>(64 - 8 * size);
        AppendNumber(out, static_cast<int64_t>(bits << shift) >> shift);
      } else {
        AppendNumber(out, bits);
      }
    } else if (tensor.datatype == "FP32") {
      AppendFloat(out, BitsToFloat(static_cast<uint32_t>(bits)));
    } else if (tensor.datatype == "FP64") {
      AppendFloat(out, BitsToDouble(bits));
    } else if (tensor.datatype == "FP16") {
      AppendFloat(out, HalfToFloat(static_cast<uint16_t>(bits)));
    } else {  // BF16
      AppendFloat(out, BitsToFloat(static_cast<uint32_t>(bits) << 16));
    }
  }
  out += ']';
}

bool WantsBinary(const std::string& output, const InferRequest& request) {
  for (const RequestedOutput& requested : request.outputs) {
    if (requested.name != output) continue;
    absl::StatusOr<std::optional<bool>> binary = GetBoolParameter(requested.parameters, "binary_data");
    if (binary.ok() && binary->has_value()) return **binary;
    break;
  }
  absl::StatusOr<std::optional<bool>> all = GetBoolParameter(request.parameters, "binary_data_output");
  return all.ok() && all->value_or(false);
}

}  // namespace

absl::StatusOr<size_t> ParseJsonHeaderLength(std::string_view value) {
  if (value.empty()) return Invalid(absl::StrCat(kInferenceHeaderContentLength, " is empty"));
  size_t length = 0;
  const std::from_chars_result r = std::from_chars(value.data(), value.data() + value.size(), length);
  if (r.ec != std::errc() || r.ptr != value.data() + value.size() || value[0] == '-' || value[0] == '+') {
    return Invalid(
        absl::StrCat(kInferenceHeaderContentLength, " must be a byte count, got '", std::string(value), "'"));
  }
  return length;
}

absl::StatusOr<InferRequest> ParseInferRequest(std::string_view body, std::optional<size_t> json_header_length) {
  std::string_view text = body, binary;
  if (json_header_length.has_value()) {
    if (*json_header_length > body.size()) {
      return Invalid(absl::StrCat(kInferenceHeaderContentLength, " is ", *json_header_length, " but the body has only ",
                                  body.size(), " bytes"));
    }
    text = body.substr(0, *json_header_length);
    binary = body.substr(*json_header_length);
  }
  try {
    return ParseJsonRequest(text, binary);
  } catch (const json::exception& e) {
    // Every access above checks types first; this is a last line against a parser surprise.
    return Invalid(absl::StrCat("the request could not be read: ", e.what()));
  }
}

absl::StatusOr<HttpResponseBody> SerializeInferResponse(const InferResponse& response, const InferRequest& request) {
  std::string out = "{\"model_name\":";
  AppendString(out, response.model_name);
  out += ",\"model_version\":";
  AppendString(out, response.model_version);
  if (!response.id.empty()) {
    out += ",\"id\":";
    AppendString(out, response.id);
  }
  out += ",\"outputs\":[";
  std::string binary;
  bool any_binary = false;
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    const InferTensor& tensor = response.outputs[i];
    absl::Status valid = CheckOutput(tensor);
    if (!valid.ok()) return valid;
    if (i) out += ',';
    out += "{\"name\":";
    AppendString(out, tensor.name);
    out += ",\"datatype\":";
    AppendString(out, tensor.datatype);
    out += ",\"shape\":[";
    out += absl::StrJoin(tensor.shape, ",");
    out += ']';
    json parameters = ParametersJson(tensor.parameters);
    if (WantsBinary(tensor.name, request)) {
      const std::string raw = TensorToRaw(tensor);
      parameters["binary_data_size"] = raw.size();
      out += ",\"parameters\":";
      out += Dump(parameters);
      binary += raw;
      any_binary = true;
    } else {
      if (!parameters.empty()) {
        out += ",\"parameters\":";
        out += Dump(parameters);
      }
      out += ",\"data\":";
      AppendData(out, tensor);
    }
    out += '}';
  }
  out += "]}";
  HttpResponseBody result;
  if (any_binary) {
    result.json_header_length = out.size();
    result.content_type = "application/octet-stream";
    out += binary;
  } else {
    result.content_type = "application/json";
  }
  result.body = std::move(out);
  return result;
}

std::string ServerMetadataJson(const ServerMetadata& metadata) {
  return Dump(json{{"name", metadata.name}, {"version", metadata.version}, {"extensions", metadata.extensions}});
}

std::string ModelMetadataJson(const ModelMetadata& metadata) {
  auto tensors = [](const std::vector<TensorMetadata>& list) {
    json array = json::array();
    for (const TensorMetadata& t : list) {
      array.push_back(json{{"name", t.name}, {"datatype", t.datatype}, {"shape", t.shape}});
    }
    return array;
  };
  return Dump(json{{"name", metadata.name},
                   {"versions", metadata.versions},
                   {"platform", metadata.platform},
                   {"inputs", tensors(metadata.inputs)},
                   {"outputs", tensors(metadata.outputs)}});
}

std::string ErrorJson(const std::string& message) { return Dump(json{{"error", message}}); }

int HttpStatusFromCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

}  // namespace beit::serving::open_inference
