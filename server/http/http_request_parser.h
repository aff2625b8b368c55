// An incremental HTTP/1.1 request parser with limits, for the event-driven HTTP server: bytes go
// in as they arrive, a request (or an error with its HTTP status) comes out.
//
// Contract:
// - Parse(&input) consumes from the front of `input` what it uses and returns kNeedMore (feed
//   more), kHeadersComplete (once per request, before any byte of its body is consumed: the
//   caller may answer early or send "100 Continue"), kComplete (request() holds the whole
//   request; Reset() before the next one on the connection) or kError (error_status() 400, 413,
//   414, 431, 501 or 505 with error_message(); the connection cannot carry another request).
// - Limits: the request line and headers together at most max_header_bytes (else 431; 414 when
//   the request line alone is longer), at most
//   max_headers header fields (431), a body of at most max_body_bytes whether it comes with a
//   Content-Length (413 as soon as the headers are read) or chunked (413 once it grows past).
// - Bodies: Content-Length or Transfer-Encoding: chunked (trailers are read and dropped); both,
//   several different lengths, or another transfer coding are refused (request smuggling).
//   Content-Encoding is left to the caller.
// - Header names are lower-cased; values have surrounding blanks trimmed; the path is
//   percent-decoded and split from the query. Keep-alive follows HTTP/1.1 (on unless
//   "Connection: close") and HTTP/1.0 (off unless "Connection: keep-alive").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace beit::serving::http {

struct HttpRequest {
  std::string method;
  std::string target;  // as sent: path and query
  std::string path;    // percent-decoded, without the query
  std::string query;
  int minor_version = 1;  // HTTP/1.x
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  bool keep_alive = true;

  // The first value of a header (name in lower case), or nullptr.
  const std::string* Header(std::string_view lower_name) const;
};

struct HttpParserLimits {
  size_t max_header_bytes = 16 << 10;
  size_t max_headers = 100;
  size_t max_body_bytes = size_t{64} << 20;
};

class HttpRequestParser {
 public:
  enum class Progress { kNeedMore, kHeadersComplete, kComplete, kError };

  explicit HttpRequestParser(HttpParserLimits limits) : limits_(limits) {}

  Progress Parse(std::string* input);
  void Reset();

  const HttpRequest& request() const { return request_; }
  HttpRequest& request() { return request_; }
  bool headers_complete() const { return phase_ > Phase::kHeaders; }
  // The declared Content-Length, when there is one.
  std::optional<uint64_t> content_length() const { return content_length_; }
  size_t body_bytes() const { return request_.body.size(); }
  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_message_; }

 private:
  enum class Phase { kHeaders, kLengthBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailers, kDone, kError };

  Progress Fail(int status, std::string message);
  Progress ParseHead(std::string_view head);
  Progress ParseBody(std::string* input);

  HttpParserLimits limits_;
  Phase phase_ = Phase::kHeaders;
  HttpRequest request_;
  std::optional<uint64_t> content_length_;
  uint64_t chunk_left_ = 0;
  size_t trailer_bytes_ = 0;
  size_t scanned_ = 0;  // bytes of the head already searched for its end
  int error_status_ = 0;
  std::string error_message_;
};

}  // namespace beit::serving::http
