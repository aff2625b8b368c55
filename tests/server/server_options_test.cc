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
  EXPECT_NE(message({"--model", "nodir"}).find("NAME=DIR"), std::string::npos);
  EXPECT_NE(message({"--model", "a=b", "--max-batch-size", "0"}).find("--max-batch-size: 0 is out of range"),
            std::string::npos);
  EXPECT_NE(message({"--model", "a=b", "--port", "http"}).find("--port: 'http' is not an integer"), std::string::npos);
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
  std::ofstream(path) << R"({"models": {"cls": "/m/a"}, "max_batch_size": [1]})";
  EXPECT_NE(std::string(ParseServerOptions({"--config", path}).status().message()).find("'max_batch_size' must be"),
            std::string::npos);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace beit::serving
