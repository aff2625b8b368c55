// The Open Inference Protocol's (KServe v2) HTTP/REST bodies: JSON, with Triton's binary data
// extension, to and from the protocol-neutral types. Pure functions of bytes (no sockets, no
// executor), so they can be fuzzed; HttpInferenceServer does the HTTP around them.
//
// Contract:
// - ParseInferRequest(body, json_header_length): without a header length the whole body is the
//   JSON request; with one (the `Inference-Header-Content-Length` header, parsed by
//   ParseJsonHeaderLength) the first L bytes are the JSON and the rest is the binary section.
//   JSON: {"id", "parameters", "inputs": [{"name", "shape", "datatype", "parameters", "data"}],
//   "outputs": [{"name", "parameters"}]}; unknown keys are ignored, `name`, `shape`, `datatype`
//   and `inputs` are required. `data` is flat or nested (flattened row-major, nesting not checked
//   against the shape, only the element count): booleans for BOOL, integers in the datatype's
//   range for the integer types, numbers for FP16/BF16/FP32/FP64 (rounded to nearest, a finite
//   value beyond the type's range is refused), strings for BYTES (their UTF-8 bytes as elements).
//   An input whose parameters hold `binary_data_size: S` (int64 ≥ 0, and no `data`) takes the
//   next S bytes of the binary section, in input order, through SetTensorFromRaw (BYTES there
//   carry 4-byte length prefixes, counted in S); the parameter is removed from the tensor. The
//   sizes must use up the binary section exactly. Parameters are JSON scalars: bool, integer
//   (unsigned beyond int64 refused), number, string. `binary_data` on a requested output and
//   `binary_data_output` on the request must be bools. model_name/model_version stay empty (they
//   come from the URL).
//   A key twice in one object is refused. Every error is INVALID_ARGUMENT naming the tensor (and
//   the element where one is at fault).
//   Hostile bodies: nesting deeper than 64 is refused before parsing; `data` never becomes a JSON
//   tree but is converted as it is parsed (kept as 9 bytes a value until its datatype is known
//   when it comes first); allocations from a shape are capped by what the text can hold. Memory
//   stays a small multiple of the body (BYTES elements cost a std::string each, as everywhere).
// - SerializeInferResponse(response, request): {"model_name", "model_version", "id" (when not
//   empty), "outputs": [{"name", "datatype", "shape", "parameters" (when any), "data"}]} with flat
//   data: numbers (floats in their shortest round-trip form, -0.0 for negative zero, non-finite
//   ones as null), booleans for BOOL, strings for BYTES (invalid UTF-8 replaced by U+FFFD). An
//   output goes to the binary section instead (no "data", parameter `binary_data_size`, bytes
//   as TensorToRaw, sections in output order) when the requested output of its name has
//   `binary_data: true`, or has no `binary_data` and the request has `binary_data_output: true`.
//   Then `json_header_length` is the JSON's size and the content type application/octet-stream;
//   else application/json.
//   An output whose data disagrees with its datatype and shape is INTERNAL.
// - The metadata and error bodies are JSON objects as the protocol spells them.
// - HttpStatusFromCode maps a status to the HTTP code the server answers.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/open_inference/inference_types.h"

namespace beit::serving::open_inference {

inline constexpr char kInferenceHeaderContentLength[] = "Inference-Header-Content-Length";

// The header's value: decimal digits only, no sign, fits a size_t; INVALID_ARGUMENT otherwise.
absl::StatusOr<size_t> ParseJsonHeaderLength(std::string_view value);

absl::StatusOr<InferRequest> ParseInferRequest(std::string_view body, std::optional<size_t> json_header_length);

struct HttpResponseBody {
  std::string body;
  std::optional<size_t> json_header_length;  // set when binary outputs follow the JSON
  std::string content_type;
};

absl::StatusOr<HttpResponseBody> SerializeInferResponse(const InferResponse& response, const InferRequest& request);

// {"name", "version", "extensions"}
std::string ServerMetadataJson(const ServerMetadata& metadata);
// {"name", "versions", "platform", "inputs": [{"name", "datatype", "shape"}], "outputs": [...]}
std::string ModelMetadataJson(const ModelMetadata& metadata);
// {"error": message}
std::string ErrorJson(const std::string& message);

// INVALID_ARGUMENT and FAILED_PRECONDITION 400, UNAUTHENTICATED 401, NOT_FOUND 404,
// RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, OK 200, anything else 500.
int HttpStatusFromCode(absl::StatusCode code);

}  // namespace beit::serving::open_inference
