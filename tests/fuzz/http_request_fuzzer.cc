// libFuzzer target: arbitrary bytes as what a client sends on an HTTP connection. The first byte
// is the size of the pieces the rest arrives in (as reads would cut it); the rest is fed to the
// request parser, requests after requests (pipelining). Whatever arrives must end as requests or
// one refusal with a documented status, never a crash; and the outcome must not depend on where
// the reads cut it. The same bytes as a gzip body must decode within the limit or be refused.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "server/http/content_decoding.h"
#include "server/http/http_request_parser.h"

using namespace beit::serving::http;

namespace {

void Check(bool condition) {
  if (!condition) abort();
}

constexpr HttpParserLimits kLimits{512, 16, 4096};

// Every request completed, then the refusal status (0 when none).
std::vector<std::string> Parse(const std::string& bytes, size_t step) {
  std::vector<std::string> outcome;
  HttpRequestParser parser(kLimits);
  std::string input;
  for (size_t at = 0; at < bytes.size(); at += step) {
    input.append(bytes, at, step);
    while (true) {
      const HttpRequestParser::Progress p = parser.Parse(&input);
      if (p == HttpRequestParser::Progress::kHeadersComplete) continue;
      if (p == HttpRequestParser::Progress::kError) {
        const int status = parser.error_status();
        Check(status == 400 || status == 413 || status == 414 || status == 431 || status == 501 || status == 505);
        Check(!parser.error_message().empty());
        outcome.push_back("error " + std::to_string(status));
        return outcome;
      }
      if (p != HttpRequestParser::Progress::kComplete) break;
      const HttpRequest& r = parser.request();
      Check(r.body.size() <= kLimits.max_body_bytes);
      Check(r.headers.size() <= kLimits.max_headers);
      Check(!r.method.empty() && !r.target.empty() && r.target[0] == '/');
      outcome.push_back(r.method + " " + r.target + " " + std::to_string(r.headers.size()) + " " + r.body);
      parser.Reset();
    }
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t step = data[0] == 0 ? 1 : data[0];
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  Check(Parse(bytes, step) == Parse(bytes, bytes.size() + 1));

  absl::StatusOr<std::string> decoded = DecodeContent("gzip", bytes, 4096);
  Check(decoded.ok() ? decoded->size() <= 4096
                     : decoded.status().code() == absl::StatusCode::kResourceExhausted ||
                           decoded.status().code() == absl::StatusCode::kInvalidArgument);
  return 0;
}
