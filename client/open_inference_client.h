// A client of the Open Inference Protocol (KServe v2) gRPC service (inference.GRPCInferenceService):
// builds ModelInferRequests, reads ModelInferResponses into plain structs, and wraps the health
// and metadata calls. `beit-client --api v2` is built on it.
//
// Contract:
// - MakeInferRequest(spec, encoding): every input tensor goes either into raw_input_contents
//   (kRaw, the default: little-endian, row-major; BOOL one byte 0/1; BYTES each element preceded
//   by its 4-byte little-endian length) or into its typed `contents` (kTyped: bytes_contents,
//   fp32_contents, int64_contents, int_contents, bool_contents by datatype); never a mix within one
//   request. Inputs keep the spec's order; outputs and parameters are copied as given. An input
//   whose element count does not match its shape, or whose datatype this client cannot send
//   (anything but BYTES, FP32, INT32, INT64, BOOL), throws std::invalid_argument naming it.
// - ParseInferResponse(response): reads every output from raw_output_contents when the response
//   has any (then exactly one per output, same order), else from its typed contents. The result
//   holds FP32 in `fp32`, FP64 in `fp64`, BOOL and every integer type in `ints`, BYTES in `bytes`.
//   A malformed response (raw count differs from the outputs, a byte count or element count that
//   does not match the shape, a BYTES length prefix running past the end, a negative dimension,
//   typed contents of the wrong kind, a datatype this client does not read) is INTERNAL, naming
//   the output and, for BYTES, the element.
// - SplitBytesElements / JoinBytesElements: the BYTES wire form (4-byte little-endian length,
//   then the bytes, per element), as the server reads and writes it
//   (proto/open_inference/inference_types.h). Split fails (INTERNAL, "malformed
//   ModelInferResponse: output 'NAME': ...") when the data ends inside a length or an element, or
//   the count differs from `expected_count` (-1: any).
// - ParseClassifications(output): the "score:index:label" strings of a `classification: K`
//   output (BYTES [N, K]) as one list per image (score and index numeric; the label is everything
//   after the second ':', so it may contain ':'). INTERNAL for a string not of that form.
// - OpenInferenceClient: one stub over a channel; every call runs `prepare` (deadline,
//   credentials) on its context first. Calls return the RPC's status; Infer additionally turns a
//   malformed response into INTERNAL. Thread-safe (the bench calls it from many threads).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "inference/grpc_predict_v2.grpc.pb.h"

namespace beit::client {

// A request or tensor parameter: bool, int64, double or string (the protocol's kinds).
using InferParameter = std::variant<bool, int64_t, double, std::string>;
using InferParameters = std::map<std::string, InferParameter>;

// One input tensor. The field matching the datatype holds the elements, row-major.
struct InputTensor {
  std::string name;
  std::string datatype;  // "BYTES", "FP32", "INT32", "INT64" or "BOOL"
  std::vector<int64_t> shape;
  std::vector<std::string> bytes;  // BYTES
  std::vector<float> fp32;         // FP32
  std::vector<int64_t> ints;       // INT32, INT64, BOOL (0 or 1)
};

// `image` BYTES [N]: encoded JPEG/PNG files.
InputTensor ImageInput(std::vector<std::string> encoded_images);
// `pixel_values` FP32 [N, 3, H, W].
InputTensor PixelValuesInput(std::vector<int64_t> shape, std::vector<float> values);
// `bool_masked_pos` BOOL [N, num_patches], one row per image.
InputTensor MaskInput(const std::vector<std::vector<bool>>& rows);

struct RequestedOutput {
  std::string name;
  InferParameters parameters;  // e.g. {"classification", int64_t{5}}
};

struct InferRequestSpec {
  std::string model;
  std::string version;  // empty: the model's only version
  std::string id;
  InferParameters parameters;  // e.g. output_height, mask_ratio, seed
  std::vector<InputTensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty: the model's default output
};

enum class TensorEncoding { kRaw, kTyped };

inference::ModelInferRequest MakeInferRequest(const InferRequestSpec& spec,
                                              TensorEncoding encoding = TensorEncoding::kRaw);

// One output tensor; the field matching the datatype holds its elements, row-major.
struct OutputTensor {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;
  std::vector<float> fp32;         // FP32
  std::vector<double> fp64;        // FP64
  std::vector<int64_t> ints;       // BOOL (0/1), INT8..INT64, UINT8..UINT64 (UINT64 above INT64_MAX refused)
  std::vector<std::string> bytes;  // BYTES
  int64_t ElementCount() const;
};

struct InferResult {
  std::string model;
  std::string version;
  std::string id;
  std::vector<OutputTensor> outputs;
  // The output named `name`, or nullptr.
  const OutputTensor* Find(const std::string& name) const;
};

absl::StatusOr<InferResult> ParseInferResponse(const inference::ModelInferResponse& response);

std::string JoinBytesElements(const std::vector<std::string>& elements);
absl::StatusOr<std::vector<std::string>> SplitBytesElements(std::string_view data, int64_t expected_count,
                                                            const std::string& tensor);

struct Classification {
  int64_t index = 0;
  std::string label;
  double score = 0.0;
};
absl::StatusOr<std::vector<std::vector<Classification>>> ParseClassifications(const OutputTensor& output);

struct TensorDescription {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;  // -1 where it varies
};

struct ModelDescription {
  std::string name;
  std::vector<std::string> versions;
  std::string platform;
  std::vector<TensorDescription> inputs;
  std::vector<TensorDescription> outputs;
};

struct ServerDescription {
  std::string name;
  std::string version;
  std::vector<std::string> extensions;
};

class OpenInferenceClient {
 public:
  using PrepareContext = std::function<void(grpc::ClientContext&)>;

  explicit OpenInferenceClient(const std::shared_ptr<grpc::ChannelInterface>& channel, PrepareContext prepare = {});

  grpc::Status ServerLive(bool* live) const;
  grpc::Status ServerReady(bool* ready) const;
  grpc::Status ModelReady(const std::string& model, const std::string& version, bool* ready) const;
  grpc::Status ServerMetadata(ServerDescription* out) const;
  grpc::Status ModelMetadata(const std::string& model, const std::string& version, ModelDescription* out) const;

  // The RPC alone (what the bench measures).
  grpc::Status ModelInfer(const inference::ModelInferRequest& request, inference::ModelInferResponse* response) const;
  // The RPC, then ParseInferResponse.
  grpc::Status Infer(const inference::ModelInferRequest& request, InferResult* result) const;

 private:
  void Prepare(grpc::ClientContext& context) const;

  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
  PrepareContext prepare_;
};

}  // namespace beit::client
