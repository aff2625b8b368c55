#include "proto/open_inference/inference_types.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace beit::serving::open_inference {

namespace {

// Far beyond any real tensor, yet small enough that count × 8 bytes cannot overflow an int64.
constexpr int64_t kMaxElements = int64_t{1} << 40;

// Errors name the tensor as the request spelled it, so a client can tell which input is wrong.
std::string Tensor(const std::string& name) { return absl::StrCat("input '", name, "'"); }

const char* TypeName(const InferParameter& value) {
  switch (value.index()) {
    case 0:
      return "a bool";
    case 1:
      return "an int64";
    case 2:
      return "a double";
    default:
      return "a string";
  }
}

// The parameter of type T, nullopt when absent, INVALID_ARGUMENT naming the types otherwise.
template <typename T>
absl::StatusOr<std::optional<T>> GetParameter(const InferParameters& parameters, const std::string& name,
                                              const char* wanted) {
  auto it = parameters.find(name);
  if (it == parameters.end()) return std::optional<T>();
  if (const T* value = std::get_if<T>(&it->second)) return std::optional<T>(*value);
  return absl::InvalidArgumentError(
      absl::StrCat("parameter '", name, "' must be ", wanted, ", got ", TypeName(it->second)));
}

}  // namespace

std::optional<size_t> DatatypeSize(const std::string& datatype) {
  static const std::map<std::string, size_t> kSizes = {
      {"BOOL", 1},  {"UINT8", 1}, {"UINT16", 2}, {"UINT32", 4}, {"UINT64", 8}, {"INT8", 1},  {"INT16", 2},
      {"INT32", 4}, {"INT64", 8}, {"FP16", 2},   {"BF16", 2},   {"FP32", 4},   {"FP64", 8}};
  auto it = kSizes.find(datatype);
  if (it == kSizes.end()) return std::nullopt;
  return it->second;
}

bool IsKnownDatatype(const std::string& datatype) {
  return datatype == "BYTES" || DatatypeSize(datatype).has_value();
}

absl::StatusOr<int64_t> ElementCount(const std::vector<int64_t>& shape, const std::string& tensor) {
  for (int64_t dim : shape) {
    if (dim < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(Tensor(tensor), ": shape [", absl::StrJoin(shape, ","), "] has a negative dimension"));
    }
  }
  // A zero anywhere makes the product 0, however large the other dimensions.
  for (int64_t dim : shape) {
    if (dim == 0) return 0;
  }
  int64_t count = 1;
  for (int64_t dim : shape) {
    // Checked before multiplying, so the product never overflows.
    if (count > kMaxElements / dim) {
      return absl::InvalidArgumentError(absl::StrCat(Tensor(tensor), ": shape [", absl::StrJoin(shape, ","),
                                                     "] has more than 2^40 elements"));
    }
    count *= dim;
  }
  return count;
}

std::string SerializeBytesElements(const std::vector<std::string>& elements) {
  size_t total = 0;
  for (const std::string& e : elements) total += 4 + e.size();
  std::string out;
  out.reserve(total);
  for (const std::string& e : elements) {
    // Elements beyond 4 GiB cannot be expressed; both transports cap messages far below that.
    const auto length = static_cast<uint32_t>(e.size());
    const char prefix[4] = {static_cast<char>(length & 0xff), static_cast<char>((length >> 8) & 0xff),
                            static_cast<char>((length >> 16) & 0xff), static_cast<char>((length >> 24) & 0xff)};
    out.append(prefix, 4);
    out.append(e);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> DeserializeBytesElements(std::string_view data, int64_t expected_count,
                                                                  const std::string& tensor, std::string_view role) {
  const std::string what = std::string(role) + " '" + tensor + "'";
  std::vector<std::string> elements;
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t index = elements.size();
    if (data.size() - pos < 4) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": data ends inside element ", index, "'s 4-byte length prefix"));
    }
    // Byte by byte: little-endian whatever the host, and no unaligned loads.
    const auto* p = reinterpret_cast<const unsigned char*>(data.data() + pos);
    const uint32_t length = uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
    pos += 4;
    if (length > data.size() - pos) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": element ", index, ": length prefix says ",
                                                     length, " bytes but only ", data.size() - pos, " remain"));
    }
    elements.emplace_back(data.substr(pos, length));
    pos += length;
  }
  if (expected_count >= 0 && static_cast<int64_t>(elements.size()) != expected_count) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": holds ", elements.size(),
                                                   " elements but its shape says ", expected_count));
  }
  return elements;
}

absl::Status SetTensorFromRaw(InferTensor& tensor, std::string_view raw) {
  if (!IsKnownDatatype(tensor.datatype)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Tensor(tensor.name), ": unknown datatype '", tensor.datatype,
                     "' (known: BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, BF16, "
                     "FP32, FP64, BYTES)"));
  }
  absl::StatusOr<int64_t> count = ElementCount(tensor.shape, tensor.name);
  if (!count.ok()) return count.status();
  if (tensor.datatype == "BYTES") {
    absl::StatusOr<std::vector<std::string>> elements = DeserializeBytesElements(raw, *count, tensor.name);
    if (!elements.ok()) return elements.status();
    tensor.elements = std::move(*elements);
    tensor.raw.clear();
    return absl::OkStatus();
  }
  // count ≤ 2^40 and size ≤ 8: no overflow.
  const int64_t needed = *count * static_cast<int64_t>(*DatatypeSize(tensor.datatype));
  if (static_cast<int64_t>(raw.size()) != needed) {
    return absl::InvalidArgumentError(absl::StrCat(Tensor(tensor.name), ": ", tensor.datatype, " [",
                                                   absl::StrJoin(tensor.shape, ","), "] needs ", needed,
                                                   " bytes, got ", raw.size()));
  }
  if (tensor.datatype == "BOOL") {
    // Anything else would be read as true by some consumers and refused by others.
    for (size_t i = 0; i < raw.size(); ++i) {
      const auto byte = static_cast<unsigned char>(raw[i]);
      if (byte > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(Tensor(tensor.name), ": BOOL element ", i, " is byte ", byte, ", not 0 or 1"));
      }
    }
  }
  tensor.raw.assign(raw.data(), raw.size());
  tensor.elements.clear();
  return absl::OkStatus();
}

std::string TensorToRaw(const InferTensor& tensor) {
  return tensor.datatype == "BYTES" ? SerializeBytesElements(tensor.elements) : tensor.raw;
}

absl::StatusOr<std::optional<int64_t>> GetIntParameter(const InferParameters& parameters, const std::string& name) {
  return GetParameter<int64_t>(parameters, name, "an int64");
}

absl::StatusOr<std::optional<double>> GetDoubleParameter(const InferParameters& parameters, const std::string& name) {
  auto it = parameters.find(name);
  // JSON clients write 2 as easily as 2.0, and both transports keep integers as int64.
  if (it != parameters.end() && std::holds_alternative<int64_t>(it->second)) {
    return std::optional<double>(static_cast<double>(std::get<int64_t>(it->second)));
  }
  return GetParameter<double>(parameters, name, "a double");
}

absl::StatusOr<std::optional<bool>> GetBoolParameter(const InferParameters& parameters, const std::string& name) {
  return GetParameter<bool>(parameters, name, "a bool");
}

}  // namespace beit::serving::open_inference
