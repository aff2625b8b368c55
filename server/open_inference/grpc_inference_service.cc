#include "server/open_inference/grpc_inference_service.h"

#include <chrono>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/grpc/grpc_call_support.h"

namespace beit::serving::open_inference {
namespace {

absl::StatusOr<InferParameters> FromProto(const google::protobuf::Map<std::string, inference::InferParameter>& in,
                                          const std::string& where) {
  InferParameters out;
  for (const auto& [name, p] : in) {
    switch (p.parameter_choice_case()) {
      case inference::InferParameter::kBoolParam:
        out[name] = p.bool_param();
        break;
      case inference::InferParameter::kInt64Param:
        out[name] = p.int64_param();
        break;
      case inference::InferParameter::kDoubleParam:
        out[name] = p.double_param();
        break;
      case inference::InferParameter::kStringParam:
        out[name] = p.string_param();
        break;
      case inference::InferParameter::kUint64Param:
        if (p.uint64_param() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return absl::InvalidArgumentError(absl::StrCat(where, "parameter '", name, "' is too large"));
        }
        out[name] = static_cast<int64_t>(p.uint64_param());
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(where, "parameter '", name, "' has no value"));
    }
  }
  return out;
}

void ToProto(const InferParameters& in, google::protobuf::Map<std::string, inference::InferParameter>* out) {
  for (const auto& [name, value] : in) {
    inference::InferParameter& p = (*out)[name];
    if (const bool* b = std::get_if<bool>(&value)) p.set_bool_param(*b);
    if (const int64_t* i = std::get_if<int64_t>(&value)) p.set_int64_param(*i);
    if (const double* d = std::get_if<double>(&value)) p.set_double_param(*d);
    if (const std::string* s = std::get_if<std::string>(&value)) p.set_string_param(*s);
  }
}

template <typename Stored, typename Repeated>
void AppendRaw(const Repeated& values, std::string* raw) {
  for (const auto& v : values) {
    const Stored stored = static_cast<Stored>(v);
    raw->append(reinterpret_cast<const char*>(&stored), sizeof(Stored));
  }
}

bool HasTypedContents(const inference::InferTensorContents& c) {
  return c.bool_contents_size() || c.int_contents_size() || c.int64_contents_size() || c.uint_contents_size() ||
         c.uint64_contents_size() || c.fp32_contents_size() || c.fp64_contents_size() || c.bytes_contents_size();
}

// Typed contents -> the tensor's one data form, the count checked against the shape.
absl::Status SetFromTyped(const inference::InferTensorContents& c, InferTensor& t) {
  absl::StatusOr<int64_t> count = ElementCount(t.shape, t.name);
  if (!count.ok()) return count.status();
  int64_t given = 0;
  const std::string& type = t.datatype;
  if (type == "BYTES") {
    t.elements.assign(c.bytes_contents().begin(), c.bytes_contents().end());
    given = c.bytes_contents_size();
  } else if (type == "FP32") {
    AppendRaw<float>(c.fp32_contents(), &t.raw);
    given = c.fp32_contents_size();
  } else if (type == "FP64") {
    AppendRaw<double>(c.fp64_contents(), &t.raw);
    given = c.fp64_contents_size();
  } else if (type == "BOOL") {
    AppendRaw<uint8_t>(c.bool_contents(), &t.raw);
    given = c.bool_contents_size();
  } else if (type == "INT64") {
    AppendRaw<int64_t>(c.int64_contents(), &t.raw);
    given = c.int64_contents_size();
  } else if (type == "INT32") {
    AppendRaw<int32_t>(c.int_contents(), &t.raw);
    given = c.int_contents_size();
  } else {
    return absl::InvalidArgumentError(absl::StrCat("input '", t.name, "': datatype '", type,
                                                   "' is not taken here (BYTES, FP32, BOOL, INT32, INT64, FP64)"));
  }
  if (given != *count) {
    return absl::InvalidArgumentError(absl::StrCat("input '", t.name, "' has ", given, " ", type, " values; its shape [",
                                                   absl::StrJoin(t.shape, ","), "] needs ", *count));
  }
  return absl::OkStatus();
}

void SetTyped(const InferTensor& t, inference::InferTensorContents* c) {
  const size_t n = t.datatype == "BYTES" ? t.elements.size() : t.raw.size() / DatatypeSize(t.datatype).value_or(1);
  auto read = [&](auto tag, auto* repeated) {
    using T = decltype(tag);
    repeated->Reserve(static_cast<int>(n));
    for (size_t i = 0; i < n; ++i) {
      T v;
      std::memcpy(&v, t.raw.data() + i * sizeof(T), sizeof(T));
      repeated->Add(v);
    }
  };
  if (t.datatype == "BYTES") {
    for (const std::string& e : t.elements) c->add_bytes_contents(e);
  } else if (t.datatype == "FP32") {
    read(float{}, c->mutable_fp32_contents());
  } else if (t.datatype == "INT32") {
    read(int32_t{}, c->mutable_int_contents());
  } else if (t.datatype == "INT64") {
    read(int64_t{}, c->mutable_int64_contents());
  }
}

ObservedCall* NewCall(const std::vector<ServingObserver*>& observers, std::string rpc, std::string model) {
  return new ObservedCall(observers, "v2_grpc", std::move(rpc), std::move(model));
}

}  // namespace

absl::StatusOr<InferRequest> FromProto(const inference::ModelInferRequest& request) {
  InferRequest out;
  out.model_name = request.model_name();
  out.model_version = request.model_version();
  out.id = request.id();
  absl::StatusOr<InferParameters> parameters = FromProto(request.parameters(), "request ");
  if (!parameters.ok()) return parameters.status();
  out.parameters = std::move(*parameters);
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != request.inputs_size()) {
    return absl::InvalidArgumentError(absl::StrCat("raw_input_contents has ", request.raw_input_contents_size(),
                                                   " entries for ", request.inputs_size(), " inputs; give one per input"));
  }
  for (int i = 0; i < request.inputs_size(); ++i) {
    const auto& in = request.inputs(i);
    InferTensor t;
    t.name = in.name();
    t.datatype = in.datatype();
    t.shape.assign(in.shape().begin(), in.shape().end());
    absl::StatusOr<InferParameters> p = FromProto(in.parameters(), absl::StrCat("input '", in.name(), "': "));
    if (!p.ok()) return p.status();
    t.parameters = std::move(*p);
    if (!IsKnownDatatype(t.datatype)) {
      return absl::InvalidArgumentError(absl::StrCat("input '", t.name, "': unknown datatype '", t.datatype, "'"));
    }
    if (raw) {
      if (HasTypedContents(in.contents())) {
        return absl::InvalidArgumentError(absl::StrCat("input '", t.name, "' has typed contents although the request "
                                                       "uses raw_input_contents; use one form for all inputs"));
      }
      absl::Status set = SetTensorFromRaw(t, request.raw_input_contents(i));
      if (!set.ok()) return set;
    } else {
      absl::Status set = SetFromTyped(in.contents(), t);
      if (!set.ok()) return set;
    }
    out.inputs.push_back(std::move(t));
  }
  for (const auto& o : request.outputs()) {
    absl::StatusOr<InferParameters> p = FromProto(o.parameters(), absl::StrCat("output '", o.name(), "': "));
    if (!p.ok()) return p.status();
    out.outputs.push_back({o.name(), std::move(*p)});
  }
  return out;
}

void ToProto(const InferResponse& response, bool raw_contents, inference::ModelInferResponse* out) {
  out->set_model_name(response.model_name);
  out->set_model_version(response.model_version);
  out->set_id(response.id);
  for (const InferTensor& t : response.outputs) {
    auto* o = out->add_outputs();
    o->set_name(t.name);
    o->set_datatype(t.datatype);
    for (int64_t d : t.shape) o->add_shape(d);
    ToProto(t.parameters, o->mutable_parameters());
    if (raw_contents) {
      out->add_raw_output_contents(TensorToRaw(t));
    } else {
      SetTyped(t, o->mutable_contents());
    }
  }
}

grpc::ServerUnaryReactor* GrpcInferenceService::ServerLive(grpc::CallbackServerContext*,
                                                           const inference::ServerLiveRequest*,
                                                           inference::ServerLiveResponse* response) {
  auto* call = NewCall(observers_, "ServerLive", "");
  response->set_live(executor_->ServerLive());
  call->FinishWith(absl::OkStatus());
  return call;
}

grpc::ServerUnaryReactor* GrpcInferenceService::ServerReady(grpc::CallbackServerContext*,
                                                            const inference::ServerReadyRequest*,
                                                            inference::ServerReadyResponse* response) {
  auto* call = NewCall(observers_, "ServerReady", "");
  response->set_ready(executor_->ServerReady());
  call->FinishWith(absl::OkStatus());
  return call;
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelReady(grpc::CallbackServerContext* context,
                                                           const inference::ModelReadyRequest* request,
                                                           inference::ModelReadyResponse* response) {
  auto* call = NewCall(observers_, "ModelReady", request->name());
  if (Unauthenticated(auth_, info_exempt_, *context, call)) return call;
  absl::StatusOr<bool> ready = executor_->ModelReady(request->name(), request->version());
  if (ready.ok()) response->set_ready(*ready);
  call->FinishWith(ready.status());
  return call;
}

grpc::ServerUnaryReactor* GrpcInferenceService::ServerMetadata(grpc::CallbackServerContext* context,
                                                               const inference::ServerMetadataRequest*,
                                                               inference::ServerMetadataResponse* response) {
  auto* call = NewCall(observers_, "ServerMetadata", "");
  if (Unauthenticated(auth_, info_exempt_, *context, call)) return call;
  const open_inference::ServerMetadata m = executor_->GetServerMetadata();
  response->set_name(m.name);
  response->set_version(m.version);
  for (const std::string& e : m.extensions) response->add_extensions(e);
  call->FinishWith(absl::OkStatus());
  return call;
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelMetadata(grpc::CallbackServerContext* context,
                                                              const inference::ModelMetadataRequest* request,
                                                              inference::ModelMetadataResponse* response) {
  auto* call = NewCall(observers_, "ModelMetadata", request->name());
  if (Unauthenticated(auth_, info_exempt_, *context, call)) return call;
  absl::StatusOr<open_inference::ModelMetadata> m = executor_->GetModelMetadata(request->name(), request->version());
  if (m.ok()) {
    response->set_name(m->name);
    for (const std::string& v : m->versions) response->add_versions(v);
    response->set_platform(m->platform);
    auto add = [](const TensorMetadata& t, inference::ModelMetadataResponse::TensorMetadata* out) {
      out->set_name(t.name);
      out->set_datatype(t.datatype);
      for (int64_t d : t.shape) out->add_shape(d);
    };
    for (const TensorMetadata& t : m->inputs) add(t, response->add_inputs());
    for (const TensorMetadata& t : m->outputs) add(t, response->add_outputs());
  }
  call->FinishWith(m.status());
  return call;
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelInfer(grpc::CallbackServerContext* context,
                                                           const inference::ModelInferRequest* request,
                                                           inference::ModelInferResponse* response) {
  auto* call = NewCall(observers_, "ModelInfer", request->model_name());
  if (Unauthenticated(auth_, /*exempt=*/false, *context, call)) return call;
  absl::StatusOr<InferRequest> converted = FromProto(*request);
  if (!converted.ok()) {
    call->FinishWith(converted.status());
    return call;
  }
  const bool raw = request->raw_input_contents_size() > 0;
  executor_->Infer(std::make_shared<const InferRequest>(std::move(*converted)), SteadyDeadline(*context),
                   call->cancelled(),
                   [call, response, raw](absl::StatusOr<InferResponse> result, const InferStats& stats) {
                     if (result.ok()) ToProto(*result, raw, response);
                     call->record().preprocess_seconds = stats.preprocess_seconds;
                     call->record().queue_seconds = stats.queue_seconds;
                     call->record().batch_size = stats.batch_size;
                     call->FinishWith(result.status());
                   });
  return call;
}

grpc::ServerUnaryReactor* GrpcInferenceService::RepositoryIndex(grpc::CallbackServerContext* context,
                                                                const inference::RepositoryIndexRequest* request,
                                                                inference::RepositoryIndexResponse* response) {
  auto* call = NewCall(observers_, "RepositoryIndex", "");
  if (Unauthenticated(auth_, /*exempt=*/false, *context, call)) return call;
  absl::StatusOr<std::vector<VersionStatus>> index =
      executor_->RepositoryIndex(request->repository_name(), request->ready());
  if (index.ok()) {
    for (const VersionStatus& v : *index) {
      inference::RepositoryIndexResponse::ModelIndex* m = response->add_models();
      m->set_name(v.name);
      if (v.version > 0) m->set_version(std::to_string(v.version));
      m->set_state(VersionStateName(v.state));
      m->set_reason(v.reason);
    }
  }
  call->FinishWith(index.status());
  return call;
}

grpc::ServerUnaryReactor* GrpcInferenceService::RepositoryModelLoad(grpc::CallbackServerContext* context,
                                                                    const inference::RepositoryModelLoadRequest* request,
                                                                    inference::RepositoryModelLoadResponse*) {
  auto* call = NewCall(observers_, "RepositoryModelLoad", request->model_name());
  if (Unauthenticated(admin_auth_ ? admin_auth_ : auth_, /*exempt=*/false, *context, call)) return call;
  executor_->RepositoryLoad(request->repository_name(), request->model_name(), request->parameters_size(),
                            [call](absl::Status status) { call->FinishWith(status); });
  return call;
}

grpc::ServerUnaryReactor* GrpcInferenceService::RepositoryModelUnload(
    grpc::CallbackServerContext* context, const inference::RepositoryModelUnloadRequest* request,
    inference::RepositoryModelUnloadResponse*) {
  auto* call = NewCall(observers_, "RepositoryModelUnload", request->model_name());
  if (Unauthenticated(admin_auth_ ? admin_auth_ : auth_, /*exempt=*/false, *context, call)) return call;
  executor_->RepositoryUnload(request->repository_name(), request->model_name(), request->parameters_size(),
                              [call](absl::Status status) { call->FinishWith(status); });
  return call;
}

}  // namespace beit::serving::open_inference
