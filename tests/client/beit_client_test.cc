// beit-client against a real beit-server: every command, its files and its error reporting.
#include <gtest/gtest.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <sstream>
#include <sys/wait.h>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "model/image/image_decoder.h"
#include "model/image/png_decoder.h"
#include "tests/server/server_suite.h"

namespace beit::testing {
namespace {

using nlohmann::json;

struct ClientRun {
  int exit_code = -1;
  std::string out;
};

class BeitClientTest : public ServerSuite {
 protected:
  static void SetUpTestSuite() {
    StartServer({"--model", "cls=" + ModelDir("cls-abspos-clstoken"), "--model",
                "seg=" + ModelDir("seg-upernet"), "--model", "mim=" + ModelDir("mim-shared-relpos")});
  }

  // Runs beit-client with `args`; stdout captured, stderr appended after a marker.
  static ClientRun Client(const std::string& args) {
    const std::string command = std::string(BEIT_CLIENT_BINARY) + " --server 127.0.0.1:" +
                                std::to_string(server_->port()) + " " + args + " 2>&1";
    ClientRun run;
    FILE* pipe = popen(command.c_str(), "r");
    std::array<char, 4096> buffer;
    size_t n;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) run.out.append(buffer.data(), n);
    const int status = pclose(pipe);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
  }
  static std::string Image(const std::string& name) {
    return std::string(BEIT_TEST_DATA_DIR) + "/preprocess/images/" + name;
  }
};

TEST_F(BeitClientTest, ClassifyPrintsRankedPredictions) {
  const ClientRun run = Client("classify --model cls --image " + Image("chelsea_q90_420.jpg") + " --top-k 3");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  const json j = json::parse(run.out);
  ASSERT_EQ(j["predictions"].size(), 3u);
  EXPECT_GE(j["predictions"][0]["score"].get<double>(), j["predictions"][1]["score"].get<double>());
  EXPECT_EQ(j["model"], "cls");
  EXPECT_GE(j["stats"]["batch_size"].get<int>(), 1);
}

TEST_F(BeitClientTest, ModelVersionOnBothApis) {
  // --model models have one version, 1: asking for it works, asking for another is NOT_FOUND.
  for (const std::string api : {"beit", "v2"}) {
    ClientRun run = Client("--api " + api + " classify --model cls --model-version 1 --image " +
                           Image("chelsea_q90_420.jpg"));
    ASSERT_EQ(run.exit_code, 0) << api << ": " << run.out;
    const json j = json::parse(run.out);
    EXPECT_EQ(j["model_version"].dump(), api == "beit" ? "1" : "\"1\"") << api;
    run = Client("--api " + api + " classify --model cls --model-version 2 --image " + Image("chelsea_q90_420.jpg"));
    EXPECT_EQ(run.exit_code, 1) << api << ": " << run.out;
    EXPECT_NE(run.out.find("model 'cls' has no version 2; versions ready: 1"), std::string::npos) << run.out;
  }
}

TEST_F(BeitClientTest, SegmentWritesTheLabelPngAndAnOverlay) {
  const std::string png = ::testing::TempDir() + "/client_labels.png";
  const std::string overlay = ::testing::TempDir() + "/client_overlay.png";
  const std::string image = Image("chelsea_seg_q90_420.jpg");
  const ClientRun run = Client("segment --model seg --image " + image + " --png " + png + " --overlay " + overlay);
  ASSERT_EQ(run.exit_code, 0) << run.out;
  const json j = json::parse(run.out);
  EXPECT_EQ(j["height"], 300);
  EXPECT_EQ(j["width"], 451);
  const Image8 labels = DecodeLabelMapPng(
      reinterpret_cast<const uint8_t*>(ReadFileBytes(png).data()), ReadFileBytes(png).size(), DecodeLimits());
  ASSERT_EQ(labels.width, 451);
  int64_t total = 0;
  for (const auto& c : j["class_counts"]) {
    const int64_t in_png = std::count(labels.pixels.begin(), labels.pixels.end(), c["index"].get<int>());
    EXPECT_EQ(in_png, c["pixels"].get<int64_t>());
    total += in_png;
  }
  EXPECT_EQ(total, 300 * 451);
  const Image8 blended = DecodeImageFile(overlay);
  const Image8 original = DecodeImageFile(image);
  EXPECT_EQ(blended.width, original.width);
  EXPECT_NE(blended.pixels, original.pixels);
}

TEST_F(BeitClientTest, EmbedWritesNpy) {
  const std::string npy = ::testing::TempDir() + "/client_embedding.npy";
  const ClientRun run = Client("embed --model cls --image " + Image("tiny_5x3.png") + " --l2 --layers 0,3 --cls --npy " + npy);
  ASSERT_EQ(run.exit_code, 0) << run.out;
  const json j = json::parse(run.out);
  EXPECT_EQ(j["embedding"].size(), 48u);
  EXPECT_EQ(j["layers"].size(), 2u);
  const std::string check = "/usr/bin/python3 -c \"import numpy; a = numpy.load('" + npy +
                            "'); assert a.shape == (48,) and abs(float((a * a).sum()) - 1) < 1e-5\"";
  EXPECT_EQ(std::system(check.c_str()), 0);
}

TEST_F(BeitClientTest, PredictTokensAndInfo) {
  ClientRun run = Client("predict-tokens --model mim --image " + Image("small_20x15.png") + " --mask-ratio 0.25 --seed 3");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  EXPECT_EQ(json::parse(run.out)["patches"].size(), 16u);
  run = Client("info");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  const json info = json::parse(run.out);
  ASSERT_EQ(info["models"].size(), 3u);
  EXPECT_EQ(info["models"][0]["name"], "cls");
  EXPECT_EQ(info["models"][2]["tasks"][0], "TASK_SEGMENT");
}

TEST_F(BeitClientTest, HealthExitsZeroOnlyWhenServing) {
  ClientRun run = Client("health");
  EXPECT_EQ(run.exit_code, 0) << run.out;
  EXPECT_NE(run.out.find("\"status\":\"SERVING\""), std::string::npos) << run.out;
  run = Client("health --service beit.v1.BeitService");
  EXPECT_EQ(run.exit_code, 0) << run.out;
  run = Client("health --service no.such.Service");
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_NE(run.out.find("NOT_FOUND"), std::string::npos) << run.out;
}

TEST_F(BeitClientTest, BenchPrintsOneJsonLinePerLevel) {
  const ClientRun run = Client("bench --model cls --image " + Image("tiny_5x3.png") +
                         " --concurrency 1,4 --duration-s 0.5 --warmup-s 0.1");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  std::istringstream lines(run.out);
  std::string line;
  int levels = 0;
  while (std::getline(lines, line)) {
    const json j = json::parse(line);
    EXPECT_EQ(j["tool"], "beit-client bench");
    EXPECT_GT(j["ok"].get<int>(), 0);
    EXPECT_EQ(j["ok"], j["calls"]);
    EXPECT_GT(j["throughput_rps"].get<double>(), 0);
    EXPECT_GT(j["latency_ms"]["p99"].get<double>(), 0);
    ++levels;
  }
  EXPECT_EQ(levels, 2);
}

// --api v2: the same answers through the Open Inference Protocol's ModelInfer.
TEST_F(BeitClientTest, ApiV2GivesTheSameAnswersAsBeitV1) {
  const std::string image = Image("chelsea_q90_420.jpg");
  const ClientRun v1 = Client("classify --model cls --image " + image + " --top-k 3");
  for (const char* typed : {"", " --typed"}) {
    const ClientRun v2 = Client(std::string("--api v2 classify --model cls --image ") + image + " --top-k 3" + typed);
    ASSERT_EQ(v2.exit_code, 0) << v2.out;
    const json a = json::parse(v1.out), b = json::parse(v2.out);
    ASSERT_EQ(b["predictions"].size(), 3u);
    for (int k = 0; k < 3; ++k) {
      EXPECT_EQ(a["predictions"][k]["index"], b["predictions"][k]["index"]);
      EXPECT_EQ(a["predictions"][k]["label"], b["predictions"][k]["label"]);
      EXPECT_NEAR(a["predictions"][k]["score"].get<double>(), b["predictions"][k]["score"].get<double>(), 1e-6);
    }
  }
  const ClientRun segment = Client("--api v2 segment --model seg --image " + image);
  ASSERT_EQ(segment.exit_code, 0) << segment.out;
  const ClientRun segment_v1 = Client("segment --model seg --image " + image);
  EXPECT_EQ(json::parse(segment.out)["height"], json::parse(segment_v1.out)["height"]);
  const ClientRun tokens = Client("--api v2 predict-tokens --model mim --image " + image + " --mask-ratio 0.3 --seed 4");
  ASSERT_EQ(tokens.exit_code, 0) << tokens.out;
  const ClientRun health = Client("--api v2 health");
  EXPECT_EQ(health.exit_code, 0) << health.out;
  const ClientRun info = Client("--api v2 info --model mim");
  ASSERT_EQ(info.exit_code, 0) << info.out;
  EXPECT_NE(info.out.find("bool_masked_pos"), std::string::npos) << info.out;
  const ClientRun bench = Client("--api v2 bench --model cls --image " + Image("tiny_5x3.png") +
                                 " --concurrency 2 --duration-s 0.3 --warmup-s 0.1");
  ASSERT_EQ(bench.exit_code, 0) << bench.out;
  const json line = json::parse(bench.out);
  EXPECT_EQ(line["api"], "v2");
  EXPECT_EQ(line["ok"], line["calls"]);
  const ClientRun missing = Client("--api v2 classify --model nope --image " + image);
  EXPECT_EQ(missing.exit_code, 1) << missing.out;
  EXPECT_NE(missing.out.find("NOT_FOUND"), std::string::npos) << missing.out;
}

TEST_F(BeitClientTest, ErrorsShowTheStatusAndExitNonZero) {
  ClientRun run = Client("classify --model nope --image " + Image("tiny_5x3.png"));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.out.find("NOT_FOUND: no model named 'nope'"), std::string::npos) << run.out;
  run = Client("classify --image " + Image("tiny_5x3.png"));
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.out.find("--model is required"), std::string::npos) << run.out;
  run = Client("classify --model cls --image /no/such/file.jpg");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.out.find("cannot read"), std::string::npos) << run.out;
}

}  // namespace
}  // namespace beit::testing
