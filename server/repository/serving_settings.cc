#include "server/repository/serving_settings.h"

#include <nlohmann/json.hpp>

#include "model/ops/precision.h"

namespace beit::serving::repository {
namespace {

absl::Status Bad(const std::string& source, const std::string& what) {
  return absl::InvalidArgumentError(source + ": " + what);
}

// An integer in [low, high] at `key`, or an error naming it.
absl::StatusOr<int64_t> Integer(const nlohmann::json& value, const std::string& source, const std::string& key,
                                int64_t low, int64_t high) {
  if (!value.is_number_integer() || value.get<int64_t>() < low || value.get<int64_t>() > high) {
    return Bad(source, key + " must be an integer in [" + std::to_string(low) + ", " + std::to_string(high) + "]");
  }
  return value.get<int64_t>();
}

absl::StatusOr<VersionPolicy> ParsePolicy(const nlohmann::json& value, const std::string& source) {
  const std::string usage =
      "version_policy must be one of {\"latest\": {\"num_versions\": N}}, {\"specific\": {\"versions\": [...]}}, "
      "{\"all\": {}}";
  if (!value.is_object() || value.size() != 1 || !value.begin().value().is_object()) return Bad(source, usage);
  const std::string kind = value.begin().key();
  const nlohmann::json& body = value.begin().value();
  VersionPolicy policy;
  if (kind == "all") {
    if (!body.empty()) return Bad(source, "version_policy.all takes no fields");
    policy.kind = VersionPolicy::Kind::kAll;
  } else if (kind == "latest") {
    policy.kind = VersionPolicy::Kind::kLatest;
    for (const auto& [key, v] : body.items()) {
      if (key != "num_versions") return Bad(source, "version_policy.latest: unknown key '" + key + "' (num_versions)");
      absl::StatusOr<int64_t> n = Integer(v, source, "version_policy.latest.num_versions", 1, 1000);
      if (!n.ok()) return n.status();
      policy.num_versions = static_cast<int>(*n);
    }
  } else if (kind == "specific") {
    policy.kind = VersionPolicy::Kind::kSpecific;
    for (const auto& [key, v] : body.items()) {
      if (key != "versions" || !v.is_array() || v.empty()) {
        return Bad(source, "version_policy.specific needs \"versions\": a non-empty list of version numbers");
      }
      for (const nlohmann::json& n : v) {
        absl::StatusOr<int64_t> version = Integer(n, source, "version_policy.specific.versions[]", 1, INT64_MAX);
        if (!version.ok()) return version.status();
        policy.versions.push_back(*version);
      }
    }
    if (policy.versions.empty()) return Bad(source, "version_policy.specific needs \"versions\"");
  } else {
    return Bad(source, usage);
  }
  return policy;
}

}  // namespace

absl::StatusOr<ServingSettings> ParseServingSettings(const std::string& text, const std::string& source) {
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return Bad(source, "not a JSON object");
  ServingSettings settings;
  for (const auto& [key, value] : json.items()) {
    if (key == "version_policy") {
      absl::StatusOr<VersionPolicy> policy = ParsePolicy(value, source);
      if (!policy.ok()) return policy.status();
      settings.policy = *policy;
    } else if (key == "precision") {
      const std::optional<Precision> p = value.is_string() ? ParsePrecision(value.get<std::string>()) : std::nullopt;
      if (!p) return Bad(source, "precision must be \"f32\", \"bf16\" or \"int8\"");
      settings.hosting.precision = *p;
    } else if (key == "instances") {
      absl::StatusOr<int64_t> n = Integer(value, source, key, 1, 1024);
      if (!n.ok()) return n.status();
      settings.hosting.instances = static_cast<int>(*n);
    } else if (key == "max_batch_size") {
      absl::StatusOr<int64_t> n = Integer(value, source, key, 1, 1024);
      if (!n.ok()) return n.status();
      settings.hosting.max_batch_size = static_cast<int>(*n);
    } else if (key == "max_queue_delay_us") {
      absl::StatusOr<int64_t> n = Integer(value, source, key, 0, 10'000'000);
      if (!n.ok()) return n.status();
      settings.hosting.max_queue_delay_us = *n;
    } else if (key == "max_queue_size") {
      absl::StatusOr<int64_t> n = Integer(value, source, key, 1, 1'000'000);
      if (!n.ok()) return n.status();
      settings.hosting.max_queue_size = static_cast<int>(*n);
    } else {
      return Bad(source, "unknown key '" + key +
                             "' (version_policy, precision, instances, max_batch_size, max_queue_delay_us, "
                             "max_queue_size)");
    }
  }
  return settings;
}

std::set<int64_t> SelectVersions(const VersionPolicy& policy, const std::set<int64_t>& found) {
  std::set<int64_t> selected;
  switch (policy.kind) {
    case VersionPolicy::Kind::kAll:
      return found;
    case VersionPolicy::Kind::kLatest:
      for (auto it = found.rbegin(); it != found.rend() && static_cast<int>(selected.size()) < policy.num_versions; ++it) {
        selected.insert(*it);
      }
      return selected;
    case VersionPolicy::Kind::kSpecific:
      for (int64_t v : policy.versions) {
        if (found.count(v)) selected.insert(v);
      }
      return selected;
  }
  return selected;
}

std::string Describe(const VersionPolicy& policy) {
  switch (policy.kind) {
    case VersionPolicy::Kind::kAll:
      return "all";
    case VersionPolicy::Kind::kLatest:
      return "latest " + std::to_string(policy.num_versions);
    case VersionPolicy::Kind::kSpecific: {
      std::string out = "specific";
      for (size_t i = 0; i < policy.versions.size(); ++i) out += (i ? ", " : " ") + std::to_string(policy.versions[i]);
      return out;
    }
  }
  return "";
}

}  // namespace beit::serving::repository
