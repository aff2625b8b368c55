// beit-client's shared pieces: usage and file errors (exit 2 and a bulk record's status), the
// session every command calls through (deadline, token, the beit.v1 stub and the v2 client), and
// the small parsers and file helpers the commands share.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "beit/v1/beit_service.grpc.pb.h"
#include "client/load_generator.h"  // StatusCodeName
#include "client/open_inference_client.h"
#include "model/tensor.h"
#include "tools/command_line/command_line.h"

namespace beit::client::cli {

namespace pb = beit::v1;

// A usage error: main prints it with the usage text and exits 2 (the convention of every beit
// binary, tools/command_line/command_line.h).
using UsageError = beit::cli::UsageError;

// A local file that cannot be read or written (a bulk record's NOT_FOUND / PERMISSION_DENIED).
class FileError : public std::runtime_error {
 public:
  FileError(absl::StatusCode code, const std::string& message) : std::runtime_error(message), code(code) {}
  absl::StatusCode code;
};

// The flag's value; UsageError naming --name when it is empty.
std::string Required(const absl::Flag<std::string>& flag, const char* name);

int ParseInt(const char* flag, absl::string_view text);

std::vector<int> IntList(const char* flag, const std::string& text);

// FileError (NOT_FOUND / PERMISSION_DENIED) when the file cannot be read / written.
std::string ReadFile(const std::string& path);

void WriteFile(const std::string& path, const std::string& bytes);

// What every call goes through: the beit.v1 stub, the v2 client with --api v2, deadline and token.
struct Session {
  std::unique_ptr<pb::BeitService::Stub> stub;
  std::unique_ptr<beit::client::OpenInferenceClient> v2;  // with --api v2
  std::string api = "beit";
  int timeout_ms = 60000;
  std::string token;  // empty: none
  // Deadline and credentials of every call.
  void Prepare(grpc::ClientContext& context) const {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  }
};

// Throws on a non-OK status; main prints it.
struct RpcError : std::runtime_error {
  grpc::Status status;
  explicit RpcError(grpc::Status s)
      : std::runtime_error(beit::client::StatusCodeName(s.error_code()) + ": " + s.error_message()), status(s) {}
};

void Check(const grpc::Status& s);

// --size HxW as (height, width).
std::pair<int, int> OutputSize();

// `overlay_path`: the image at `image` with the label map's class colours blended in.
void WriteOverlay(const std::string& image, const std::string& overlay_path, const beit::LabelMap& labels);

// Where the optional output files of one image go (empty: not written).
struct ImageOutputs {
  std::string png;
  std::string overlay;
};

}  // namespace beit::client::cli
