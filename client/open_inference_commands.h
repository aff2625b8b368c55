// beit-client's commands with --api v2 (the Open Inference Protocol): the same JSON as the beit.v1
// commands where the protocol carries it; flags without a v2 equivalent are usage errors.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/cli_support.h"
#include "client/load_generator.h"

namespace beit::client::cli {

using nlohmann::json;

// beit.v1 flags with no v2 equivalent: a usage error naming the first one given.
void RejectForV2(const std::string& command, const std::vector<std::pair<const char*, bool>>& given);

json V2Classify(const Session& s, const std::string& image);

json V2Segment(const Session& s, const std::string& image, const ImageOutputs& outputs);

json V2Embed(const Session& s, const std::string& image);

json V2PredictTokens(const Session& s, const std::string& image);

json V2Info(const Session& s);

// ServerReady (ModelReady with --model): prints it; exit code 0 only when ready.
int V2Health(const Session& s);

// The bench's call for --api v2: one ModelInfer of the task's request (the response is received,
// not interpreted, as beit.v1's bench does).
beit::client::Call V2BenchCall(const Session& s, const std::string& task, const std::string& image);

}  // namespace beit::client::cli
