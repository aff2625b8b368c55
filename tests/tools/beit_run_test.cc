// beit-run as a user runs it: exit codes, messages, and a real run whose file matches the golden.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "model/io/safetensors.h"

namespace beit {
namespace {

const std::string kModels = std::string(BEIT_TEST_DATA_DIR) + "/models/";

struct Result {
  int exit_code;
  std::string output;  // stdout + stderr
};

Result RunBeitRun(const std::string& args) {
  std::string cmd = std::string(BEIT_RUN_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  Result r{-1, ""};
  std::array<char, 512> buf;
  while (fgets(buf.data(), buf.size(), pipe)) r.output += buf.data();
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string TempPath(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("beit_run_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

TEST(BeitRun, UsageErrorsExitTwo) {
  Result r = RunBeitRun("--model");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("needs a value"), std::string::npos);
  r = RunBeitRun("--frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown flag --frobnicate"), std::string::npos);
  r = RunBeitRun("--model x --inputs y --output z --target-size 12by4");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("HxW"), std::string::npos);
}

TEST(BeitRun, HelpListsEveryFlag) {
  Result r = RunBeitRun("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--model", "--inputs", "--output", "--target-size", "--debug", "--weights-format", "--cpu-info"}) {
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag;
  }
}

TEST(BeitRun, BadModelFolderExitsOneWithTheReason) {
  Result r = RunBeitRun("--model /nonexistent --inputs x --output " + TempPath("o.safetensors"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("/nonexistent/config.json"), std::string::npos) << r.output;
}

TEST(BeitRun, BadInputsFileExitsOne) {
  const std::string m = kModels + "cls-relpos-meanpool";
  Result r = RunBeitRun("--model " + m + " --inputs " + m + "/config.json --output " + TempPath("o.safetensors"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("config.json"), std::string::npos) << r.output;
}

TEST(BeitRun, SegmentationRunWritesTheGoldenMaps) {
  const std::string m = kModels + "seg-upernet";
  const std::string out = TempPath("seg.safetensors");
  Result r = RunBeitRun("--model " + m + " --inputs " + m + "/inputs.safetensors --output " + out +
                        " --target-size 50x70 --target-size 64x64");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  SafetensorsFile ours = SafetensorsFile::Open(out);
  SafetensorsFile golden = SafetensorsFile::Open(m + "/outputs.safetensors");
  for (const char* name : {"logits", "semantic_map.0", "semantic_map.1", "semantic_map_native", "hidden_states.4",
                           "attentions.3", "beit.last_hidden_state"}) {
    const TensorInfo* o = ours.Find(name);
    const TensorInfo* g = golden.Find(name);
    ASSERT_TRUE(o && g) << name;
    EXPECT_EQ(o->shape, g->shape) << name;
    EXPECT_EQ(o->dtype, g->dtype) << name;
  }
  EXPECT_EQ(ours.Find("debug.features.0"), nullptr);  // only with --debug
  Tensor lo = ours.ReadFloat(*ours.Find("logits")), lg = golden.ReadFloat(*golden.Find("logits"));
  double err = 0;
  for (size_t i = 0; i < lo.data.size(); ++i) err = std::max(err, std::fabs(double(lo.data[i]) - lg.data[i]));
  EXPECT_LE(err, 1e-4);
}

TEST(BeitRun, PreprocessesAnImageLikeTransformers) {
  const std::string p = std::string(BEIT_TEST_DATA_DIR) + "/preprocess/";
  const std::string out = TempPath("pre.safetensors");
  Result r = RunBeitRun("--preprocessor-config " + p + "configs/default.json --image " + p +
                        "images/astronaut_96x64_exif6.jpg --output " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  SafetensorsFile ours = SafetensorsFile::Open(out);
  SafetensorsFile golden = SafetensorsFile::Open(p + "expected/astronaut_96x64_exif6.safetensors");
  EXPECT_EQ(ours.ReadBytes(*ours.Find("decoded_rgb")), golden.ReadBytes(*golden.Find("decoded_rgb")));
  EXPECT_EQ(ours.ReadFloat(*ours.Find("pixel_values")).data,
            golden.ReadFloat(*golden.Find("pixel_values.default")).data);
}

TEST(BeitRun, SegmentsAnImageAtItsOwnSize) {
  const std::string image = std::string(BEIT_TEST_DATA_DIR) + "/preprocess/images/coffee_q90_444.jpg";
  const std::string out = TempPath("seg-image.safetensors");
  Result r = RunBeitRun("--model " + kModels + "seg-upernet --image " + image + " --output " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  SafetensorsFile ours = SafetensorsFile::Open(out);
  EXPECT_EQ(ours.Find("semantic_map.0")->shape, (Shape{400, 600}));
  EXPECT_EQ(ours.Find("pixel_values")->shape, (Shape{1, 3, 64, 64}));
}

TEST(BeitRun, CorruptImageExitsOneWithTheReason) {
  const std::string bad = TempPath("bad.jpg");
  std::FILE* f = std::fopen(bad.c_str(), "wb");
  std::fputs("\xff\xd8\xff\xe0 not really a jpeg", f);
  std::fclose(f);
  Result r = RunBeitRun("--model " + kModels + "cls-relpos-meanpool --image " + bad + " --output " + TempPath("x"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("JPEG"), std::string::npos) << r.output;
}

TEST(BeitRun, ImageAndInputsAreExclusive) {
  Result r = RunBeitRun("--model m --inputs i --image x --output o");
  EXPECT_EQ(r.exit_code, 2);
}


// Every checkpoint format and the rest of the BEiT family, as a user runs beit-run on a folder
// downloaded from the Hub: every output within 1e-4 of Transformers' (the golden file).
TEST(BeitRun, EveryHubFormatGivesTransformersOutputs) {
  for (const char* fixture : {"cls-dit-bin", "cls-relpos-bin-legacy", "cls-bin-views", "d2v-cls-bin", "d2v-model",
                              "cls-flax", "mim-flax", "cls-sharded-f16", "mim-abspos"}) {
    SCOPED_TRACE(fixture);
    const std::string m = kModels + fixture;
    const std::string out = TempPath(std::string(fixture) + ".safetensors");
    Result r = RunBeitRun("--model " + m + " --inputs " + m + "/inputs.safetensors --output " + out);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output.find("warning"), std::string::npos) << r.output;  // every tensor used or ignorable
    SafetensorsFile ours = SafetensorsFile::Open(out);
    SafetensorsFile golden = SafetensorsFile::Open(m + "/outputs.safetensors");
    int compared = 0;
    for (const TensorInfo& g : golden.tensors()) {
      const TensorInfo* o = ours.Find(g.name);
      ASSERT_NE(o, nullptr) << g.name;
      ASSERT_EQ(o->shape, g.shape) << g.name;
      const Tensor a = ours.ReadFloat(*o), b = golden.ReadFloat(g);
      double err = 0, scale = 1;
      for (size_t i = 0; i < a.data.size(); ++i) {
        err = std::max(err, std::fabs(double(a.data[i]) - b.data[i]));
        scale = std::max(scale, std::fabs(double(b.data[i])));
      }
      EXPECT_LE(err, 1e-4 * scale) << g.name;
      ++compared;
    }
    EXPECT_GE(compared, 3);
  }
}

// --weights-format forces one format: a folder without it is an error that names what was looked for.
TEST(BeitRun, WeightsFormatForcesOneFormat) {
  const std::string m = kModels + "cls-dit-bin";  // pytorch_model.bin only
  Result r = RunBeitRun("--model " + m + " --inputs " + m + "/inputs.safetensors --output " +
                        TempPath("forced.safetensors") + " --weights-format safetensors");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("model.safetensors"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("pytorch_model.bin"), std::string::npos) << r.output;
  r = RunBeitRun("--model " + m + " --inputs " + m + "/inputs.safetensors --output " +
                 TempPath("forced.safetensors") + " --weights-format pytorch");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = RunBeitRun("--model " + m + " --inputs x --output y --weights-format onnx");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

}  // namespace
}  // namespace beit
