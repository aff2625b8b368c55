// beit-client's beit.v1 commands: each builds its request from the flags (cli_flags.h), calls
// beit.v1.BeitService and returns the answer as JSON (Health prints and returns the exit code).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "beit/v1/beit_service.grpc.pb.h"
#include "client/cli_support.h"

namespace beit::client::cli {

using nlohmann::json;

// Requests from --model, --image (a file path) and the command's flags; UsageError for bad flags.
pb::ClassifyRequest ClassifyRequest(const std::string& image);

pb::SegmentRequest SegmentRequest(const std::string& image);

pb::EmbedRequest EmbedRequest(const std::string& image);

// Everything of an ExplainRequest but its model and image, from the flags.
void SetExplainOptions(bool return_png, pb::ExplainRequest& r);

pb::ExplainRequest ExplainRequest(const std::string& image, bool return_png);

pb::PredictTokensRequest PredictTokensRequest(const std::string& image);

// Calls: the answer as JSON (RpcError on a non-OK status). Segment and Explain write the PNGs
// `outputs` / `png_path` name.
json Classify(const Session& s, const std::string& image);

json Segment(const Session& s, const std::string& image, const ImageOutputs& outputs);

json Embed(const Session& s, const std::string& image);

json Explain(const Session& s, const std::string& image, const std::string& png_path);

json PredictTokens(const Session& s, const std::string& image);

json Info(const Session& s);

// grpc.health.v1 Check: prints the status; exit code 0 only for SERVING.
int Health(const std::shared_ptr<grpc::Channel>& channel, const Session& s);

}  // namespace beit::client::cli
