#include "server/observability/logger.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

#include "server/observability/request_log.h"

namespace beit::serving {
namespace {

// Captures what a Logger writes.
struct Capture {
  char* buffer = nullptr;
  size_t size = 0;
  FILE* file = open_memstream(&buffer, &size);
  ~Capture() {
    std::fclose(file);
    std::free(buffer);
  }
  std::string text() {
    std::fflush(file);
    return std::string(buffer, size);
  }
};

TEST(Logger, TextLinesCarryLevelEventAndFields) {
  Capture out;
  Logger log(LogLevel::kInfo, LogFormat::kText, out.file);
  log.Log(LogLevel::kInfo, "model loaded", {{"model", std::string("cls")}, {"load_ms", 12.5}, {"layers", int64_t{12}},
                                            {"path", std::string("/models/my model")}});
  const std::string line = out.text();
  EXPECT_NE(line.find(" INFO model loaded model=cls load_ms=12.500 layers=12 path=\"/models/my model\"\n"),
            std::string::npos)
      << line;
  EXPECT_EQ(line[4], '-');  // starts with an ISO-8601 timestamp
}

TEST(Logger, JsonLinesParseAndKeepFieldTypes) {
  Capture out;
  Logger log(LogLevel::kDebug, LogFormat::kJson, out.file);
  log.Log(LogLevel::kWarning, "model warning", {{"warning", std::string("a \"quoted\" word")}, {"n", int64_t{3}}});
  const nlohmann::json j = nlohmann::json::parse(out.text());
  EXPECT_EQ(j["level"], "warning");
  EXPECT_EQ(j["event"], "model warning");
  EXPECT_EQ(j["warning"], "a \"quoted\" word");
  EXPECT_EQ(j["n"], 3);
  EXPECT_TRUE(j.contains("ts"));
}

TEST(Logger, DropsLinesBelowTheLevel) {
  Capture out;
  Logger log(LogLevel::kWarning, LogFormat::kText, out.file);
  log.Log(LogLevel::kInfo, "quiet");
  log.Log(LogLevel::kDebug, "quieter");
  log.Log(LogLevel::kError, "loud");
  const std::string text = out.text();
  EXPECT_EQ(text.find("quiet"), std::string::npos);
  EXPECT_NE(text.find("ERROR loud"), std::string::npos);
}

TEST(RequestLog, SuccessesAtDebugClientErrorsAtInfoFaultsAtError) {
  Capture out;
  Logger log(LogLevel::kInfo, LogFormat::kJson, out.file);
  RequestLog requests(&log);
  RequestRecord ok;
  ok.model = "cls";
  ok.rpc = "Classify";
  ok.total_seconds = 0.004;
  ok.batch_size = 2;
  ok.queue_seconds = 0.001;
  requests.RequestFinished(ok);  // debug: not shown at info
  RequestRecord bad = ok;
  bad.code = 3;
  bad.message = "image.encoded: not a JPEG or PNG";
  requests.RequestFinished(bad);
  RequestRecord fault = ok;
  fault.code = 13;
  requests.RequestFinished(fault);
  const std::string text = out.text();
  const size_t newline = text.find('\n');
  ASSERT_NE(newline, std::string::npos);
  const nlohmann::json first = nlohmann::json::parse(text.substr(0, newline));
  const nlohmann::json second = nlohmann::json::parse(text.substr(newline + 1));
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["code"], "INVALID_ARGUMENT");
  EXPECT_EQ(first["error"], "image.encoded: not a JPEG or PNG");
  EXPECT_EQ(first["batch"], 2);
  EXPECT_DOUBLE_EQ(first["ms"].get<double>(), 4.0);
  EXPECT_EQ(second["level"], "error");
  EXPECT_EQ(second["code"], "INTERNAL");
}

}  // namespace
}  // namespace beit::serving
