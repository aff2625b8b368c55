#include "server/observability/logger.h"

#include <chrono>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace beit::serving {
namespace {

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "info";
}

std::string Timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const int millis =
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[96];  // room for any int the format could print
  std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis);
  return buffer;
}

std::string TextValue(const std::variant<std::string, double, int64_t>& v) {
  if (const auto* s = std::get_if<std::string>(&v)) {
    return s->find_first_of(" \t\"=") == std::string::npos && !s->empty() ? *s : nlohmann::json(*s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (const auto* d = std::get_if<double>(&v)) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%.3f", *d);
    return buffer;
  }
  return std::to_string(std::get<int64_t>(v));
}

}  // namespace

std::optional<LogLevel> ParseLogLevel(const std::string& name) {
  if (name == "error") return LogLevel::kError;
  if (name == "warning") return LogLevel::kWarning;
  if (name == "info") return LogLevel::kInfo;
  if (name == "debug") return LogLevel::kDebug;
  return std::nullopt;
}

std::optional<LogFormat> ParseLogFormat(const std::string& name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return std::nullopt;
}

void Logger::Log(LogLevel level, const std::string& event, const std::vector<LogField>& fields) {
  if (!Enabled(level)) return;
  std::string line;
  if (format_ == LogFormat::kJson) {
    nlohmann::ordered_json j;
    j["ts"] = Timestamp();
    j["level"] = LevelName(level);
    j["event"] = event;
    for (const auto& [key, value] : fields) std::visit([&, k = key](const auto& v) { j[k] = v; }, value);
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    std::string upper = LevelName(level);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    line = Timestamp() + " " + upper + " " + event;
    for (const auto& [key, value] : fields) line += " " + key + "=" + TextValue(value);
  }
  line += '\n';
  std::lock_guard<std::mutex> lock(mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace beit::serving
