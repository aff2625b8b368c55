// The Open Inference Protocol's (KServe v2) request and response, independent of the transport:
// the gRPC service and the HTTP/REST server both translate to and from these, and
// InferenceExecutor runs them. No gRPC, no HTTP, no model code in here.
//
// Contract:
// - A tensor holds its data in exactly one form: `elements` for datatype BYTES (one string per
//   element, no length prefixes), `raw` for every other datatype (little-endian, row-major,
//   ElementCount(shape) × DatatypeSize(datatype) bytes; BOOL is one byte, 0 or 1).
// - Parameters are the protocol's: bool, int64, double or string (uint64 values that fit an
//   int64 arrive as int64; larger ones are refused by the transports).
// - Datatype names are the protocol's upper-case strings ("FP32", "INT64", "BYTES", ...).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace beit::serving::open_inference {

using InferParameter = std::variant<bool, int64_t, double, std::string>;
using InferParameters = std::map<std::string, InferParameter>;

struct InferTensor {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;
  InferParameters parameters;
  std::vector<std::string> elements;  // datatype BYTES
  std::string raw;                    // every other datatype
};

struct RequestedOutput {
  std::string name;
  InferParameters parameters;
};

struct InferRequest {
  std::string model_name;
  std::string model_version;
  std::string id;
  InferParameters parameters;
  std::vector<InferTensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty: the model's default output
};

struct InferResponse {
  std::string model_name;
  std::string model_version;
  std::string id;
  std::vector<InferTensor> outputs;
};

struct TensorMetadata {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;  // -1 where it varies
};

struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;
  std::string platform;
  std::vector<TensorMetadata> inputs;
  std::vector<TensorMetadata> outputs;
};

struct ServerMetadata {
  std::string name;
  std::string version;
  std::vector<std::string> extensions;
};

// Bytes per element of a datatype (BOOL 1, FP16 2, FP32 4, ...); nullopt for BYTES and for names
// the protocol does not define.
std::optional<size_t> DatatypeSize(const std::string& datatype);
bool IsKnownDatatype(const std::string& datatype);

// Product of the dimensions; INVALID_ARGUMENT naming `tensor` for a negative dimension or a
// product beyond 2^40 elements.
absl::StatusOr<int64_t> ElementCount(const std::vector<int64_t>& shape, const std::string& tensor);

// Triton's BYTES serialisation: each element as a 4-byte little-endian length, then its bytes.
std::string SerializeBytesElements(const std::vector<std::string>& elements);
// The inverse. INVALID_ARGUMENT naming `tensor` (as "<role> 'name'") and the element when a
// length runs past the end, the data ends inside a length, or the element count differs from
// `expected_count` (-1: any). Clients reading responses pass role "output".
absl::StatusOr<std::vector<std::string>> DeserializeBytesElements(std::string_view data, int64_t expected_count,
                                                                  const std::string& tensor,
                                                                  std::string_view role = "input");

// Fills `tensor.raw` (or `tensor.elements` for BYTES) from the raw little-endian bytes of the
// binary forms (gRPC raw_input_contents, HTTP binary data), checking the byte count against the
// tensor's datatype and shape. INVALID_ARGUMENT naming the tensor otherwise.
absl::Status SetTensorFromRaw(InferTensor& tensor, std::string_view raw);
// The raw little-endian bytes of a tensor (BYTES serialised with length prefixes).
std::string TensorToRaw(const InferTensor& tensor);

// Typed parameter access: nullopt when absent; INVALID_ARGUMENT when present with another type
// (an int64 is accepted where a double is asked).
absl::StatusOr<std::optional<int64_t>> GetIntParameter(const InferParameters& parameters, const std::string& name);
absl::StatusOr<std::optional<double>> GetDoubleParameter(const InferParameters& parameters, const std::string& name);
absl::StatusOr<std::optional<bool>> GetBoolParameter(const InferParameters& parameters, const std::string& name);

}  // namespace beit::serving::open_inference
