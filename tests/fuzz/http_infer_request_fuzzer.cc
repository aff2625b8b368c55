// libFuzzer target: arbitrary bytes as an Open Inference Protocol HTTP infer request body. The
// first 2 bytes (little-endian) are the Inference-Header-Content-Length (0xffff: no header, the
// whole rest is JSON); the rest is the body. Whatever a client sends must end as a request or a
// status, never a crash or an exception. A request that parses must be consistent (every tensor's
// data matches its datatype and shape), must serialise as a response, and must come back
// unchanged through the binary form (every tensor), and through plain JSON when it had no binary
// section (JSON cannot carry NaN or invalid UTF-8, which only binary data can hold).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/open_inference/http_json_codec.h"

using namespace beit::serving::open_inference;

namespace {

void Check(bool condition) {
  if (!condition) abort();
}

void CheckConsistent(const InferTensor& t) {
  absl::StatusOr<int64_t> count = ElementCount(t.shape, t.name);
  Check(count.ok());
  if (t.datatype == "BYTES") {
    Check(static_cast<int64_t>(t.elements.size()) == *count && t.raw.empty());
  } else {
    Check(DatatypeSize(t.datatype).has_value());
    Check(static_cast<int64_t>(t.raw.size()) == *count * static_cast<int64_t>(*DatatypeSize(t.datatype)));
    Check(t.elements.empty());
  }
}

// The response's outputs sent back as a request's inputs: the same tensors must come out.
void CheckRoundTrip(const InferRequest& request, bool binary) {
  InferResponse response;
  response.model_name = "fuzz";
  response.model_version = "1";
  response.id = request.id;
  response.outputs = request.inputs;
  InferRequest asked;
  if (binary) asked.parameters["binary_data_output"] = true;
  absl::StatusOr<HttpResponseBody> body = SerializeInferResponse(response, asked);
  Check(body.ok());
  const size_t json_length = body->json_header_length.value_or(body->body.size());
  Check(json_length <= body->body.size());
  Check(body->json_header_length.has_value() == (binary && !response.outputs.empty()));
  const nlohmann::json j = nlohmann::json::parse(body->body.substr(0, json_length));
  const std::string again = nlohmann::json{{"inputs", j.at("outputs")}}.dump();
  const std::string binary_section = body->body.substr(json_length);
  absl::StatusOr<InferRequest> back =
      ParseInferRequest(again + binary_section,
                        body->json_header_length.has_value() ? std::optional<size_t>(again.size()) : std::nullopt);
  Check(back.ok());
  Check(back->inputs.size() == request.inputs.size());
  for (size_t i = 0; i < request.inputs.size(); ++i) {
    const InferTensor& a = request.inputs[i];
    const InferTensor& b = back->inputs[i];
    Check(a.name == b.name && a.datatype == b.datatype && a.shape == b.shape);
    Check(a.raw == b.raw && a.elements == b.elements);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t selector = size_t{data[0]} | size_t{data[1]} << 8;
  const std::optional<size_t> header_length = selector == 0xffff ? std::nullopt : std::optional<size_t>(selector);
  const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);

  absl::StatusOr<InferRequest> request = ParseInferRequest(body, header_length);
  if (!request.ok()) {
    Check(request.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  for (const InferTensor& input : request->inputs) CheckConsistent(input);
  CheckRoundTrip(*request, /*binary=*/true);
  const bool had_binary = header_length.has_value() && *header_length < body.size();
  if (!had_binary) CheckRoundTrip(*request, /*binary=*/false);
  return 0;
}
