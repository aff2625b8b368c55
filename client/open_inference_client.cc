#include "client/open_inference_client.h"

#include <cstring>
#include <limits>
#include <stdexcept>

#include "absl/status/status.h"
#include "proto/open_inference/inference_types.h"

namespace beit::client {
namespace {

// Larger element counts are refused: no real response holds 2^40 elements.
constexpr int64_t kMaxElements = int64_t{1} << 40;

absl::Status Malformed(const std::string& output, const std::string& what) {
  return absl::InternalError("malformed ModelInferResponse: output '" + output + "': " + what);
}

// Element count of `shape`; -1 for a negative dimension or an absurd product.
int64_t CountOf(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > kMaxElements / d) return -1;
    n *= d;
  }
  return n;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

void AppendLittleEndian(std::string& out, uint64_t value, size_t bytes) {
  for (size_t b = 0; b < bytes; ++b) out.push_back(static_cast<char>((value >> (8 * b)) & 0xff));
}

uint64_t ReadLittleEndian(const char* p, size_t bytes) {
  uint64_t v = 0;
  for (size_t b = 0; b < bytes; ++b) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[b])) << (8 * b);
  return v;
}

void SetParameter(inference::InferParameter& out, const InferParameter& in) {
  if (const bool* b = std::get_if<bool>(&in)) {
    out.set_bool_param(*b);
  } else if (const int64_t* i = std::get_if<int64_t>(&in)) {
    out.set_int64_param(*i);
  } else if (const double* d = std::get_if<double>(&in)) {
    out.set_double_param(*d);
  } else {
    out.set_string_param(std::get<std::string>(in));
  }
}

void CopyParameters(google::protobuf::Map<std::string, inference::InferParameter>& out, const InferParameters& in) {
  for (const auto& [name, value] : in) SetParameter(out[name], value);
}

// Checks that `input` holds exactly as many elements as its shape says, in the field of its datatype.
void CheckInput(const InputTensor& input) {
  const int64_t expected = CountOf(input.shape);
  if (expected < 0) throw std::invalid_argument("input '" + input.name + "': bad shape " + ShapeText(input.shape));
  size_t have = 0;
  if (input.datatype == "BYTES") {
    have = input.bytes.size();
  } else if (input.datatype == "FP32") {
    have = input.fp32.size();
  } else if (input.datatype == "INT32" || input.datatype == "INT64" || input.datatype == "BOOL") {
    have = input.ints.size();
  } else {
    throw std::invalid_argument("input '" + input.name + "': datatype '" + input.datatype +
                                "' is not one this client sends (BYTES, FP32, INT32, INT64, BOOL)");
  }
  if (static_cast<int64_t>(have) != expected) {
    throw std::invalid_argument("input '" + input.name + "': shape " + ShapeText(input.shape) + " needs " +
                                std::to_string(expected) + " elements, got " + std::to_string(have));
  }
}

std::string RawOf(const InputTensor& input) {
  std::string raw;
  if (input.datatype == "BYTES") return JoinBytesElements(input.bytes);
  if (input.datatype == "FP32") {
    raw.reserve(input.fp32.size() * 4);
    for (float f : input.fp32) {
      uint32_t bits;
      std::memcpy(&bits, &f, sizeof bits);
      AppendLittleEndian(raw, bits, 4);
    }
  } else {
    const size_t size = input.datatype == "INT64" ? 8 : input.datatype == "INT32" ? 4 : 1;
    raw.reserve(input.ints.size() * size);
    for (int64_t v : input.ints) {
      AppendLittleEndian(raw, static_cast<uint64_t>(size == 1 ? (v != 0) : v), size);
    }
  }
  return raw;
}

void SetTyped(const InputTensor& input, inference::InferTensorContents& contents) {
  if (input.datatype == "BYTES") {
    for (const std::string& e : input.bytes) contents.add_bytes_contents(e);
  } else if (input.datatype == "FP32") {
    contents.mutable_fp32_contents()->Add(input.fp32.begin(), input.fp32.end());
  } else if (input.datatype == "INT64") {
    contents.mutable_int64_contents()->Add(input.ints.begin(), input.ints.end());
  } else if (input.datatype == "INT32") {
    for (int64_t v : input.ints) contents.add_int_contents(static_cast<int32_t>(v));
  } else {
    for (int64_t v : input.ints) contents.add_bool_contents(v != 0);
  }
}

// Bytes per element of the fixed-size datatypes this client reads; 0 otherwise.
size_t ElementSize(const std::string& datatype) {
  static const std::map<std::string, size_t> kSizes = {
      {"BOOL", 1},  {"INT8", 1},   {"UINT8", 1},  {"INT16", 2}, {"UINT16", 2}, {"INT32", 4},
      {"UINT32", 4}, {"INT64", 8}, {"UINT64", 8}, {"FP32", 4},  {"FP64", 8}};
  const auto it = kSizes.find(datatype);
  return it == kSizes.end() ? 0 : it->second;
}

bool IsSigned(const std::string& datatype) { return datatype.rfind("INT", 0) == 0; }

absl::Status ReadRaw(OutputTensor& out, std::string_view raw, int64_t count) {
  if (out.datatype == "BYTES") {
    auto elements = SplitBytesElements(raw, count, out.name);
    if (!elements.ok()) return elements.status();
    out.bytes = *std::move(elements);
    return absl::OkStatus();
  }
  const size_t size = ElementSize(out.datatype);
  if (size == 0) return Malformed(out.name, "datatype '" + out.datatype + "' is not one this client reads");
  if (raw.size() != static_cast<size_t>(count) * size) {
    return Malformed(out.name, out.datatype + " " + ShapeText(out.shape) + " needs " +
                                   std::to_string(static_cast<size_t>(count) * size) + " raw bytes, got " +
                                   std::to_string(raw.size()));
  }
  for (int64_t i = 0; i < count; ++i) {
    const uint64_t bits = ReadLittleEndian(raw.data() + i * size, size);
    if (out.datatype == "FP32") {
      float f;
      const uint32_t b32 = static_cast<uint32_t>(bits);
      std::memcpy(&f, &b32, sizeof f);
      out.fp32.push_back(f);
    } else if (out.datatype == "FP64") {
      double d;
      std::memcpy(&d, &bits, sizeof d);
      out.fp64.push_back(d);
    } else if (out.datatype == "BOOL") {
      out.ints.push_back(bits != 0);
    } else if (IsSigned(out.datatype)) {
      // Sign-extend from `size` bytes.
      const int shift = static_cast<int>(64 - 8 * size);
      out.ints.push_back(static_cast<int64_t>(bits << shift) >> shift);
    } else {
      if (bits > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Malformed(out.name, "UINT64 element " + std::to_string(i) + " is beyond what this client reads");
      }
      out.ints.push_back(static_cast<int64_t>(bits));
    }
  }
  return absl::OkStatus();
}

// The number of elements in each typed field, in declaration order, with its name.
std::vector<std::pair<const char*, int>> TypedCounts(const inference::InferTensorContents& c) {
  return {{"bool_contents", c.bool_contents_size()},   {"int_contents", c.int_contents_size()},
          {"int64_contents", c.int64_contents_size()}, {"uint_contents", c.uint_contents_size()},
          {"uint64_contents", c.uint64_contents_size()}, {"fp32_contents", c.fp32_contents_size()},
          {"fp64_contents", c.fp64_contents_size()},   {"bytes_contents", c.bytes_contents_size()}};
}

const char* TypedFieldFor(const std::string& datatype) {
  if (datatype == "BOOL") return "bool_contents";
  if (datatype == "INT8" || datatype == "INT16" || datatype == "INT32") return "int_contents";
  if (datatype == "INT64") return "int64_contents";
  if (datatype == "UINT8" || datatype == "UINT16" || datatype == "UINT32") return "uint_contents";
  if (datatype == "UINT64") return "uint64_contents";
  if (datatype == "FP32") return "fp32_contents";
  if (datatype == "FP64") return "fp64_contents";
  if (datatype == "BYTES") return "bytes_contents";
  return nullptr;
}

absl::Status ReadTyped(OutputTensor& out, const inference::InferTensorContents& c, int64_t count) {
  const char* field = TypedFieldFor(out.datatype);
  if (field == nullptr) return Malformed(out.name, "datatype '" + out.datatype + "' is not one this client reads");
  for (const auto& [name, n] : TypedCounts(c)) {
    const bool expected = std::strcmp(name, field) == 0;
    if (!expected && n > 0) {
      return Malformed(out.name, out.datatype + " data in " + name + " (expected " + field + ")");
    }
    if (expected && n != count) {
      return Malformed(out.name, out.datatype + " " + ShapeText(out.shape) + " needs " + std::to_string(count) +
                                     " elements in " + field + ", got " + std::to_string(n));
    }
  }
  if (out.datatype == "BOOL") {
    for (bool b : c.bool_contents()) out.ints.push_back(b ? 1 : 0);
  } else if (std::strcmp(field, "int_contents") == 0) {
    out.ints.assign(c.int_contents().begin(), c.int_contents().end());
  } else if (out.datatype == "INT64") {
    out.ints.assign(c.int64_contents().begin(), c.int64_contents().end());
  } else if (std::strcmp(field, "uint_contents") == 0) {
    out.ints.assign(c.uint_contents().begin(), c.uint_contents().end());
  } else if (out.datatype == "UINT64") {
    for (int i = 0; i < c.uint64_contents_size(); ++i) {
      const uint64_t v = c.uint64_contents(i);
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Malformed(out.name, "UINT64 element " + std::to_string(i) + " is beyond what this client reads");
      }
      out.ints.push_back(static_cast<int64_t>(v));
    }
  } else if (out.datatype == "FP32") {
    out.fp32.assign(c.fp32_contents().begin(), c.fp32_contents().end());
  } else if (out.datatype == "FP64") {
    out.fp64.assign(c.fp64_contents().begin(), c.fp64_contents().end());
  } else {
    out.bytes.assign(c.bytes_contents().begin(), c.bytes_contents().end());
  }
  return absl::OkStatus();
}

bool HasTypedContents(const inference::InferTensorContents& c) {
  for (const auto& entry : TypedCounts(c)) {
    if (entry.second > 0) return true;
  }
  return false;
}

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

std::vector<TensorDescription> Describe(
    const google::protobuf::RepeatedPtrField<inference::ModelMetadataResponse::TensorMetadata>& tensors) {
  std::vector<TensorDescription> out;
  for (const auto& t : tensors) out.push_back({t.name(), t.datatype(), {t.shape().begin(), t.shape().end()}});
  return out;
}

}  // namespace

InputTensor ImageInput(std::vector<std::string> encoded_images) {
  InputTensor t;
  t.name = "image";
  t.datatype = "BYTES";
  t.shape = {static_cast<int64_t>(encoded_images.size())};
  t.bytes = std::move(encoded_images);
  return t;
}

InputTensor PixelValuesInput(std::vector<int64_t> shape, std::vector<float> values) {
  InputTensor t;
  t.name = "pixel_values";
  t.datatype = "FP32";
  t.shape = std::move(shape);
  t.fp32 = std::move(values);
  return t;
}

InputTensor MaskInput(const std::vector<std::vector<bool>>& rows) {
  InputTensor t;
  t.name = "bool_masked_pos";
  t.datatype = "BOOL";
  const size_t width = rows.empty() ? 0 : rows.front().size();
  for (const auto& row : rows) {
    if (row.size() != width) throw std::invalid_argument("bool_masked_pos: rows of different lengths");
    for (bool b : row) t.ints.push_back(b ? 1 : 0);
  }
  t.shape = {static_cast<int64_t>(rows.size()), static_cast<int64_t>(width)};
  return t;
}

inference::ModelInferRequest MakeInferRequest(const InferRequestSpec& spec, TensorEncoding encoding) {
  inference::ModelInferRequest request;
  request.set_model_name(spec.model);
  request.set_model_version(spec.version);
  request.set_id(spec.id);
  CopyParameters(*request.mutable_parameters(), spec.parameters);
  for (const InputTensor& input : spec.inputs) {
    CheckInput(input);
    auto* tensor = request.add_inputs();
    tensor->set_name(input.name);
    tensor->set_datatype(input.datatype);
    tensor->mutable_shape()->Add(input.shape.begin(), input.shape.end());
    if (encoding == TensorEncoding::kRaw) {
      request.add_raw_input_contents(RawOf(input));
    } else {
      SetTyped(input, *tensor->mutable_contents());
    }
  }
  for (const RequestedOutput& output : spec.outputs) {
    auto* requested = request.add_outputs();
    requested->set_name(output.name);
    CopyParameters(*requested->mutable_parameters(), output.parameters);
  }
  return request;
}

int64_t OutputTensor::ElementCount() const { return CountOf(shape); }

const OutputTensor* InferResult::Find(const std::string& name) const {
  for (const OutputTensor& o : outputs) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

absl::StatusOr<InferResult> ParseInferResponse(const inference::ModelInferResponse& response) {
  InferResult result;
  result.model = response.model_name();
  result.version = response.model_version();
  result.id = response.id();
  const bool raw = response.raw_output_contents_size() > 0;
  if (raw && response.raw_output_contents_size() != response.outputs_size()) {
    return absl::InternalError("malformed ModelInferResponse: " + std::to_string(response.outputs_size()) +
                               " outputs but " + std::to_string(response.raw_output_contents_size()) +
                               " raw_output_contents");
  }
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& tensor = response.outputs(i);
    OutputTensor out;
    out.name = tensor.name();
    out.datatype = tensor.datatype();
    out.shape.assign(tensor.shape().begin(), tensor.shape().end());
    const int64_t count = CountOf(out.shape);
    if (count < 0) return Malformed(out.name, "bad shape " + ShapeText(out.shape));
    absl::Status s;
    if (raw) {
      if (HasTypedContents(tensor.contents())) {
        return Malformed(out.name, "both typed contents and raw_output_contents");
      }
      s = ReadRaw(out, response.raw_output_contents(i), count);
    } else {
      s = ReadTyped(out, tensor.contents(), count);
    }
    if (!s.ok()) return s;
    result.outputs.push_back(std::move(out));
  }
  return result;
}

std::string JoinBytesElements(const std::vector<std::string>& elements) {
  return beit::serving::open_inference::SerializeBytesElements(elements);
}

absl::StatusOr<std::vector<std::string>> SplitBytesElements(std::string_view data, int64_t expected_count,
                                                            const std::string& tensor) {
  absl::StatusOr<std::vector<std::string>> elements =
      beit::serving::open_inference::DeserializeBytesElements(data, expected_count, tensor, "output");
  if (!elements.ok()) return absl::InternalError("malformed ModelInferResponse: " + std::string(elements.status().message()));
  return elements;
}

absl::StatusOr<std::vector<std::vector<Classification>>> ParseClassifications(const OutputTensor& output) {
  if (output.datatype != "BYTES") {
    return Malformed(output.name, "classification results must be BYTES, got " + output.datatype);
  }
  // [N, K], or [K] for a single image.
  const int64_t count = CountOf(output.shape);
  if (output.shape.empty() || output.shape.size() > 2 || count < 0) {
    return Malformed(output.name, "classification results of shape " + ShapeText(output.shape) + " (expected [N,K])");
  }
  if (static_cast<int64_t>(output.bytes.size()) != count) {
    return Malformed(output.name, "shape " + ShapeText(output.shape) + " needs " + std::to_string(count) +
                                      " elements, got " + std::to_string(output.bytes.size()));
  }
  const int64_t per_image = output.shape.back();
  std::vector<std::vector<Classification>> images(output.shape.size() == 2 ? output.shape[0] : 1);
  for (size_t i = 0; i < output.bytes.size(); ++i) {
    const std::string& text = output.bytes[i];
    const size_t first = text.find(':');
    const size_t second = first == std::string::npos ? std::string::npos : text.find(':', first + 1);
    Classification c;
    bool ok = second != std::string::npos;
    if (ok) {
      try {
        size_t used = 0;
        c.score = std::stod(text.substr(0, first), &used);
        ok = used == first;
        const std::string index = text.substr(first + 1, second - first - 1);
        c.index = std::stoll(index, &used);
        ok = ok && used == index.size();
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok) {
      return Malformed(output.name, "element " + std::to_string(i) + " '" + text +
                                        "' is not of the form score:index:label");
    }
    c.label = text.substr(second + 1);
    images[per_image > 0 ? i / per_image : 0].push_back(std::move(c));
  }
  return images;
}

OpenInferenceClient::OpenInferenceClient(const std::shared_ptr<grpc::ChannelInterface>& channel,
                                         PrepareContext prepare)
    : stub_(inference::GRPCInferenceService::NewStub(channel)), prepare_(std::move(prepare)) {}

void OpenInferenceClient::Prepare(grpc::ClientContext& context) const {
  if (prepare_) prepare_(context);
}

grpc::Status OpenInferenceClient::ServerLive(bool* live) const {
  grpc::ClientContext context;
  Prepare(context);
  inference::ServerLiveResponse response;
  const grpc::Status s = stub_->ServerLive(&context, inference::ServerLiveRequest(), &response);
  if (s.ok()) *live = response.live();
  return s;
}

grpc::Status OpenInferenceClient::ServerReady(bool* ready) const {
  grpc::ClientContext context;
  Prepare(context);
  inference::ServerReadyResponse response;
  const grpc::Status s = stub_->ServerReady(&context, inference::ServerReadyRequest(), &response);
  if (s.ok()) *ready = response.ready();
  return s;
}

grpc::Status OpenInferenceClient::ModelReady(const std::string& model, const std::string& version, bool* ready) const {
  grpc::ClientContext context;
  Prepare(context);
  inference::ModelReadyRequest request;
  request.set_name(model);
  request.set_version(version);
  inference::ModelReadyResponse response;
  const grpc::Status s = stub_->ModelReady(&context, request, &response);
  if (s.ok()) *ready = response.ready();
  return s;
}

grpc::Status OpenInferenceClient::ServerMetadata(ServerDescription* out) const {
  grpc::ClientContext context;
  Prepare(context);
  inference::ServerMetadataResponse response;
  const grpc::Status s = stub_->ServerMetadata(&context, inference::ServerMetadataRequest(), &response);
  if (s.ok()) {
    *out = {response.name(), response.version(), {response.extensions().begin(), response.extensions().end()}};
  }
  return s;
}

grpc::Status OpenInferenceClient::ModelMetadata(const std::string& model, const std::string& version,
                                                ModelDescription* out) const {
  grpc::ClientContext context;
  Prepare(context);
  inference::ModelMetadataRequest request;
  request.set_name(model);
  request.set_version(version);
  inference::ModelMetadataResponse response;
  const grpc::Status s = stub_->ModelMetadata(&context, request, &response);
  if (s.ok()) {
    *out = {response.name(), {response.versions().begin(), response.versions().end()}, response.platform(),
            Describe(response.inputs()), Describe(response.outputs())};
  }
  return s;
}

grpc::Status OpenInferenceClient::ModelInfer(const inference::ModelInferRequest& request,
                                             inference::ModelInferResponse* response) const {
  grpc::ClientContext context;
  Prepare(context);
  return stub_->ModelInfer(&context, request, response);
}

grpc::Status OpenInferenceClient::Infer(const inference::ModelInferRequest& request, InferResult* result) const {
  inference::ModelInferResponse response;
  const grpc::Status s = ModelInfer(request, &response);
  if (!s.ok()) return s;
  absl::StatusOr<InferResult> parsed = ParseInferResponse(response);
  if (!parsed.ok()) return ToGrpc(parsed.status());
  *result = *std::move(parsed);
  return grpc::Status::OK;
}

}  // namespace beit::client
