// A repository model's optional `serving.json`: which of its versions serve (the version policy,
// spelled as Triton and OpenVINO Model Server spell it) and how it is hosted.
//
//   {"version_policy": {"latest": {"num_versions": 2}},   // or {"specific": {"versions": [1, 3]}}
//                                                           // or {"all": {}}; default latest 1
//    "precision": "bf16", "instances": 2,
//    "max_batch_size": 8, "max_queue_delay_us": 2000, "max_queue_size": 256}
//
// Contract:
// - ParseServingSettings(text, source) returns the settings, or INVALID_ARGUMENT naming `source`
//   and the key at fault: text that is not a JSON object, an unknown key, a policy that is not
//   exactly one of latest / specific / all, a count or version below 1, a precision other than
//   f32 / bf16 / int8, knobs out of the server's ranges.
// - SelectVersions(policy, found) returns the versions of `found` the policy serves: latest N the
//   N highest, specific those listed that exist, all of them.
// - Describe(policy) spells the policy for reasons and logs, e.g. "latest 1".
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/model_repository.h"

namespace beit::serving::repository {

struct VersionPolicy {
  enum class Kind { kLatest, kSpecific, kAll };
  Kind kind = Kind::kLatest;
  int num_versions = 1;           // kLatest
  std::vector<int64_t> versions;  // kSpecific
};

struct ServingSettings {
  VersionPolicy policy;
  // Every version's ModelSpec starts from this: precision, instances and batching knobs (unset:
  // the server's); name, folder and version stay empty here.
  ModelSpec hosting;
};

absl::StatusOr<ServingSettings> ParseServingSettings(const std::string& text, const std::string& source);
std::set<int64_t> SelectVersions(const VersionPolicy& policy, const std::set<int64_t>& found);
std::string Describe(const VersionPolicy& policy);

}  // namespace beit::serving::repository
