#include "server/server_options.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace beit::serving {
namespace {

TEST(ServerOptions, ParsesEveryFlag) {
  absl::StatusOr<ServerOptions> o = ParseServerOptions(
      {"--model", "cls=/m/a", "--model=seg=/m/b", "--host", "127.0.0.1", "--port=0", "--max-batch-size", "16",
       "--max-queue-delay-us", "500", "--max-queue-size", "3", "--preprocess-threads", "4", "--max-pending-preprocess",
       "10", "--max-message-bytes", "2048", "--max-image-side", "4096", "--max-image-pixels", "1000000",
       "--grace-period-s", "2", "--metrics-port", "-1", "--log-level", "debug", "--log-format=json", "--precision",
       "bf16"});
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_EQ(o->models.size(), 2u);
  EXPECT_EQ(o->models[1].name, "seg");
  EXPECT_EQ(o->models[1].dir, "/m/b");
  EXPECT_EQ(o->host, "127.0.0.1");
  EXPECT_EQ(o->port, 0);
  EXPECT_EQ(o->batching.max_batch_size, 16);
  EXPECT_EQ(o->batching.max_queue_delay_us, 500);
  EXPECT_EQ(o->batching.max_queue_size, 3);
  EXPECT_EQ(o->preprocess_threads, 4);
  EXPECT_EQ(o->max_pending_preprocess, 10);
  EXPECT_EQ(o->max_message_bytes, 2048);
  EXPECT_EQ(o->decode_limits.max_width, 4096);
  EXPECT_EQ(o->decode_limits.max_height, 4096);
  EXPECT_EQ(o->decode_limits.max_pixels, 1000000);
  EXPECT_EQ(o->grace_period_seconds, 2);
  EXPECT_EQ(o->metrics_port, -1);
  EXPECT_EQ(o->log_level, LogLevel::kDebug);
  EXPECT_EQ(o->log_format, LogFormat::kJson);
  EXPECT_EQ(o->precision, Precision::kBF16);
}

TEST(ServerOptions, ErrorsNameTheFlag) {
  auto message = [](std::vector<std::string> args) {
    absl::StatusOr<ServerOptions> o = ParseServerOptions(args);
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(o.status().message());
  };
  EXPECT_NE(message({}).find("--model NAME=DIR"), std::string::npos);
  EXPECT_NE(message({}).find("or --model-repository DIR"), std::string::npos);
  EXPECT_NE(message({"--model", "nodir"}).find("NAME=DIR"), std::string::npos);
  EXPECT_NE(message({"--model", "a=b", "--max-batch-size", "0"}).find("--max-batch-size: 0 is out of range"),
            std::string::npos);
  EXPECT_NE(message({"--model", "a=b", "--port", "http"}).find("--port: Illegal value 'http'"), std::string::npos);
  EXPECT_NE(message({"--model", "a=b", "--bogus", "1"}).find("unknown flag --bogus"), std::string::npos);
  EXPECT_NE(message({"--model", "a=b", "--port"}).find("--port needs a value"), std::string::npos);
  EXPECT_NE(message({"--model", "a=b", "--log-level", "loud"}).find("--log-level: expected error, warning"),
            std::string::npos);
  EXPECT_NE(message({"--model", "a=b", "--precision", "fp8"}).find("--precision: expected f32, bf16 or int8"),
            std::string::npos);
  EXPECT_TRUE(ParseServerOptions({"--help"})->help);
}

TEST(ServerOptions, ConfigFileWithFlagsOverriding) {
  const std::string path = ::testing::TempDir() + "/beit_server_config.json";
  std::ofstream(path) << R"({"models": {"cls": "/m/a"}, "max_batch_size": 4, "max-queue-size": 9, "host": "::"})";
  absl::StatusOr<ServerOptions> o = ParseServerOptions({"--config", path, "--max-batch-size", "2"});
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_EQ(o->models.size(), 1u);
  EXPECT_EQ(o->models[0].dir, "/m/a");
  EXPECT_EQ(o->batching.max_batch_size, 2);  // the flag wins
  EXPECT_EQ(o->batching.max_queue_size, 9);
  EXPECT_EQ(o->host, "::");
  std::ofstream(path) << R"({"model": ["a=/m/a", "b=/m/b"], "models": {"c": "/m/c"}})";
  o = ParseServerOptions({"--config", path, "--model", "d=/m/d"});
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_EQ(o->models.size(), 4u) << "the file's models, then the command line's";
  EXPECT_EQ(o->models[1].name, "b");
  EXPECT_EQ(o->models[3].dir, "/m/d");
  std::ofstream(path) << R"({"models": {"cls": "/m/a"}, "max_batch_size": [1]})";
  EXPECT_NE(std::string(ParseServerOptions({"--config", path}).status().message()).find("'max_batch_size' must be"),
            std::string::npos);
  std::remove(path.c_str());
}

TEST(ServerOptions, AbseilSpellingsAndEachParseStartsFromTheDefaults) {
  absl::StatusOr<ServerOptions> o =
      ParseServerOptions({"--model=a=/m/a", "--max_batch_size", "3", "-port=7", "--log-format", "json"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->batching.max_batch_size, 3);
  EXPECT_EQ(o->port, 7);
  EXPECT_EQ(o->log_format, LogFormat::kJson);
  o = ParseServerOptions({"--model", "a=/m/a"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->batching.max_batch_size, ServerOptions().batching.max_batch_size);
  EXPECT_EQ(o->port, 50051);
  EXPECT_EQ(o->log_format, LogFormat::kText);
  EXPECT_TRUE(ParseServerOptions({"--model", "a=/m/a", "--bogus", "--help"})->help) << "--help wins wherever it is";
  EXPECT_FALSE(ParseServerOptions({"--model", "a=/m/a", "stray"}).ok());
}

TEST(ServerOptions, ModelRepository) {
  absl::StatusOr<ServerOptions> o = ParseServerOptions({"--model-repository", "/repo"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->models.empty()) << "a repository alone is enough";
  EXPECT_EQ(o->model_repository, "/repo");
  EXPECT_EQ(o->model_control_mode, repository::ControlMode::kPoll) << "poll by default with a repository";
  EXPECT_EQ(o->repository_poll_seconds, 15);
  o = ParseServerOptions({"--model", "a=/m/a"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->model_control_mode, repository::ControlMode::kNone) << "none without one";
  o = ParseServerOptions({"--model", "a=/m/a", "--model-repository", "/repo", "--model-control-mode", "explicit",
                          "--load-model", "cls", "--load-model", "seg", "--repository-poll-s", "0.5"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->models.size(), 1u) << "--model and a repository combine";
  EXPECT_EQ(o->model_control_mode, repository::ControlMode::kExplicit);
  EXPECT_EQ(o->load_models, (std::vector<std::string>{"cls", "seg"}));
  EXPECT_EQ(o->repository_poll_seconds, 0.5);

  auto message = [](std::vector<std::string> args) { return std::string(ParseServerOptions(args).status().message()); };
  EXPECT_NE(message({"--model-repository", "/r", "--model-control-mode", "auto"})
                .find("--model-control-mode: expected none, poll or explicit, got 'auto'"),
            std::string::npos);
  EXPECT_NE(message({"--model", "a=/m/a", "--model-control-mode", "explicit"}).find("needs --model-repository DIR"),
            std::string::npos);
  EXPECT_NE(message({"--model-repository", "/r", "--load-model", "cls"}).find("--load-model goes with"),
            std::string::npos);
  EXPECT_NE(message({"--model-repository", "/r", "--repository-poll-s", "0"}).find("--repository-poll-s"),
            std::string::npos);

  const std::string path = ::testing::TempDir() + "/beit_server_repository_config.json";
  std::ofstream(path) << R"({"model_repository": "/r", "model_control_mode": "explicit", "load_model": ["a", "b"]})";
  o = ParseServerOptions({"--config", path});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->model_repository, "/r");
  EXPECT_EQ(o->load_models, (std::vector<std::string>{"a", "b"}));
  o = ParseServerOptions({"--config", path, "--load-model", "c"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->load_models, (std::vector<std::string>{"c"})) << "the command line's list replaces the file's";
  std::remove(path.c_str());
}

TEST(ServerOptions, Instances) {
  absl::StatusOr<ServerOptions> o =
      ParseServerOptions({"--model", "cls=/m/a", "--instances", "3", "--threads-per-instance", "2"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->instances, 3);
  EXPECT_FALSE(o->instances_auto);
  EXPECT_EQ(o->threads_per_instance, 2);
  o = ParseServerOptions({"--model", "cls=/m/a", "--instances=auto"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->instances_auto);
  for (const char* bad : {"0", "two", "-1"}) {
    const absl::Status s = ParseServerOptions({"--model", "cls=/m/a", "--instances", bad}).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(std::string(s.message()).find("--instances: expected a count or auto"), std::string::npos) << s;
  }
  EXPECT_FALSE(ParseServerOptions({"--model", "cls=/m/a", "--threads-per-instance", "0"}).ok());

  // Per model in the config file.
  const std::string path = ::testing::TempDir() + "/beit_server_instances.json";
  std::ofstream(path) << R"({"models": {"cls": "/m/a", "seg": {"dir": "/m/b", "instances": 2}}, "instances": "auto"})";
  o = ParseServerOptions({"--config", path});
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_EQ(o->models.size(), 2u);
  EXPECT_EQ(o->models[0].instances, 0);
  EXPECT_EQ(o->models[1].dir, "/m/b");
  EXPECT_EQ(o->models[1].instances, 2);
  EXPECT_TRUE(o->instances_auto);
  std::ofstream(path) << R"({"models": {"seg": {"dir": "/m/b", "instances": 0}}})";
  EXPECT_NE(std::string(ParseServerOptions({"--config", path}).status().message()).find("instances must be"),
            std::string::npos);
  std::ofstream(path) << R"({"models": {"seg": {"dir": "/m/b", "streams": 2}}})";
  EXPECT_NE(std::string(ParseServerOptions({"--config", path}).status().message()).find("unknown key 'streams'"),
            std::string::npos);
  std::remove(path.c_str());
}

TEST(ServerOptions, ResolveInstances) {
  ServerOptions o;
  o.models = {{"cls", "/m/a"}};
  // Default: one instance of every usable core, unless OMP_NUM_THREADS says otherwise.
  ResolvedInstances r = ResolveInstances(o, 8, 35.0, 0);
  EXPECT_EQ(r.instances, 1);
  EXPECT_EQ(r.threads_per_instance, 8);
  EXPECT_TRUE(r.warning.empty());
  r = ResolveInstances(o, 8, 35.0, 3);
  EXPECT_EQ(r.threads_per_instance, 3);
  // N instances share the cores; an explicit T wins over the split and over OMP_NUM_THREADS.
  o.instances = 3;
  r = ResolveInstances(o, 8, 35.0, 0);
  EXPECT_EQ(r.instances, 3);
  EXPECT_EQ(r.threads_per_instance, 2);
  o.threads_per_instance = 4;
  r = ResolveInstances(o, 8, 35.0, 6);
  EXPECT_EQ(r.threads_per_instance, 4);
  EXPECT_NE(r.warning.find("3 instances x 4 threads exceed the 8 usable cores"), std::string::npos) << r.warning;
  // More instances than cores: one thread each, and the warning.
  o.threads_per_instance = 0;
  o.instances = 4;
  r = ResolveInstances(o, 2, 35.0, 0);
  EXPECT_EQ(r.threads_per_instance, 1);
  EXPECT_FALSE(r.warning.empty());
  // auto: one per core for small models, one per 4 cores for large ones.
  o.instances_auto = true;
  EXPECT_EQ(ResolveInstances(o, 8, 0.5, 0).instances, 8);
  EXPECT_EQ(ResolveInstances(o, 8, 0.5, 0).threads_per_instance, 1);
  EXPECT_EQ(ResolveInstances(o, 16, 35.0, 0).instances, 4);
  EXPECT_EQ(ResolveInstances(o, 16, 35.0, 0).threads_per_instance, 4);
  EXPECT_EQ(ResolveInstances(o, 2, 35.0, 0).instances, 1);
  // A model asking for more instances in the config file raises the server's.
  o.instances_auto = false;
  o.instances = 1;
  o.models.push_back({"seg", "/m/b", 3});
  EXPECT_EQ(ResolveInstances(o, 6, 35.0, 0).instances, 3);
}

}  // namespace
}  // namespace beit::serving
