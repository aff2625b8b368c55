// serving.json: what it accepts, how it refuses, and which versions each policy serves.
#include "server/repository/serving_settings.h"

#include <gtest/gtest.h>

namespace beit::serving::repository {
namespace {

TEST(ServingSettings, EmptyObjectIsLatestOneWithTheServersKnobs) {
  absl::StatusOr<ServingSettings> s = ParseServingSettings("{}", "m/serving.json");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->policy.kind, VersionPolicy::Kind::kLatest);
  EXPECT_EQ(s->policy.num_versions, 1);
  EXPECT_FALSE(s->hosting.precision.has_value());
  EXPECT_EQ(s->hosting.instances, 0);
  EXPECT_FALSE(s->hosting.max_batch_size.has_value());
}

TEST(ServingSettings, ReadsEveryKey) {
  absl::StatusOr<ServingSettings> s = ParseServingSettings(
      R"({"version_policy": {"specific": {"versions": [3, 1]}}, "precision": "bf16", "instances": 2,
          "max_batch_size": 4, "max_queue_delay_us": 500, "max_queue_size": 9})",
      "m/serving.json");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->policy.kind, VersionPolicy::Kind::kSpecific);
  EXPECT_EQ(s->policy.versions, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(s->hosting.precision, Precision::kBF16);
  EXPECT_EQ(s->hosting.instances, 2);
  EXPECT_EQ(s->hosting.max_batch_size, 4);
  EXPECT_EQ(s->hosting.max_queue_delay_us, 500);
  EXPECT_EQ(s->hosting.max_queue_size, 9);
  s = ParseServingSettings(R"({"version_policy": {"all": {}}})", "x");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->policy.kind, VersionPolicy::Kind::kAll);
  s = ParseServingSettings(R"({"version_policy": {"latest": {"num_versions": 2}}})", "x");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->policy.num_versions, 2);
}

TEST(ServingSettings, RefusesWithTheFileAndTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"{not json", "not a JSON object"},
      {"[1]", "not a JSON object"},
      {R"({"version_polic": {}})", "unknown key 'version_polic'"},
      {R"({"version_policy": {"latest": {}, "all": {}}})", "version_policy must be one of"},
      {R"({"version_policy": {"newest": {}}})", "version_policy must be one of"},
      {R"({"version_policy": {"latest": {"num_versions": 0}}})", "num_versions must be an integer in [1, 1000]"},
      {R"({"version_policy": {"specific": {"versions": []}}})", "non-empty list"},
      {R"({"version_policy": {"specific": {"versions": [0]}}})", "versions[] must be an integer"},
      {R"({"version_policy": {"all": {"x": 1}}})", "all takes no fields"},
      {R"({"precision": "fp16"})", "precision must be"},
      {R"({"instances": 0})", "instances must be an integer"},
      {R"({"max_batch_size": "8"})", "max_batch_size must be an integer"},
  };
  for (const auto& [text, expected] : cases) {
    absl::StatusOr<ServingSettings> s = ParseServingSettings(text, "repo/m/serving.json");
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("repo/m/serving.json: "), std::string::npos) << s.status();
    EXPECT_NE(s.status().message().find(expected), std::string::npos) << text << " -> " << s.status();
  }
}

TEST(VersionPolicy, SelectsAsTritonDoes) {
  const std::set<int64_t> found = {1, 2, 5, 9};
  VersionPolicy latest;
  EXPECT_EQ(SelectVersions(latest, found), (std::set<int64_t>{9}));
  latest.num_versions = 3;
  EXPECT_EQ(SelectVersions(latest, found), (std::set<int64_t>{2, 5, 9}));
  latest.num_versions = 10;
  EXPECT_EQ(SelectVersions(latest, found), found);
  VersionPolicy specific;
  specific.kind = VersionPolicy::Kind::kSpecific;
  specific.versions = {5, 1, 7};  // 7 is not there
  EXPECT_EQ(SelectVersions(specific, found), (std::set<int64_t>{1, 5}));
  VersionPolicy all;
  all.kind = VersionPolicy::Kind::kAll;
  EXPECT_EQ(SelectVersions(all, found), found);
  EXPECT_TRUE(SelectVersions(all, {}).empty());
  EXPECT_EQ(Describe(specific), "specific 5, 1, 7");
  EXPECT_EQ(Describe(latest), "latest 10");
}

}  // namespace
}  // namespace beit::serving::repository
