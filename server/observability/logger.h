// beit-server's log: one line per event on stderr, as text or JSON lines, filtered by level.
//
// Contract: Log(level, event, fields) writes nothing below the configured level; otherwise one
// whole line (never interleaved with another thread's), e.g.
//   text: 2026-11-29T03:50:01.123Z INFO request model=cls rpc=Classify code=OK ms=3.2
//   json: {"ts":"2026-11-29T03:50:01.123Z","level":"info","event":"request","model":"cls",...}
// Field values are strings or numbers; strings are quoted in text when they contain spaces.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace beit::serving {

enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };
enum class LogFormat { kText, kJson };

std::optional<LogLevel> ParseLogLevel(const std::string& name);
std::optional<LogFormat> ParseLogFormat(const std::string& name);

using LogField = std::pair<std::string, std::variant<std::string, double, int64_t>>;

class Logger {
 public:
  Logger(LogLevel level, LogFormat format, FILE* out = stderr) : level_(level), format_(format), out_(out) {}

  bool Enabled(LogLevel level) const { return level <= level_; }
  void Log(LogLevel level, const std::string& event, const std::vector<LogField>& fields = {});

 private:
  const LogLevel level_;
  const LogFormat format_;
  FILE* const out_;
  std::mutex mu_;
};

}  // namespace beit::serving
