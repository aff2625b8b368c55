#include "server/http/http_request_parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace beit::serving::http {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127 || std::string_view("()<>@,;:\\\"/[]?={}").find(c) != std::string_view::npos) return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 1 < s.size() ? HexValue(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? HexValue(s[i + 2]) : -1;
    if (hi < 0 || lo < 0 || hi * 16 + lo == 0) return std::nullopt;  // %00: C paths end there
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// Splits off one line (without its CR LF or LF) from the front of `rest`; nullopt when no line
// end is there yet.
std::optional<std::string_view> NextLine(std::string_view* rest) {
  const size_t nl = rest->find('\n');
  if (nl == std::string_view::npos) return std::nullopt;
  std::string_view line = rest->substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  rest->remove_prefix(nl + 1);
  return line;
}

}  // namespace

const std::string* HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

void HttpRequestParser::Reset() {
  phase_ = Phase::kHeaders;
  request_ = HttpRequest();
  content_length_.reset();
  chunk_left_ = 0;
  trailer_bytes_ = 0;
  scanned_ = 0;
  error_status_ = 0;
  error_message_.clear();
}

HttpRequestParser::Progress HttpRequestParser::Fail(int status, std::string message) {
  phase_ = Phase::kError;
  error_status_ = status;
  error_message_ = std::move(message);
  return Progress::kError;
}

HttpRequestParser::Progress HttpRequestParser::Parse(std::string* input) {
  if (phase_ == Phase::kError) return Progress::kError;
  if (phase_ == Phase::kDone) return Progress::kComplete;
  if (phase_ == Phase::kHeaders) {
    // Empty lines before a request line are ignored (RFC 9112 2.2).
    size_t skip = 0;
    while (skip < input->size() && ((*input)[skip] == '\r' || (*input)[skip] == '\n')) ++skip;
    if (skip > 0) input->erase(0, skip);
    size_t end = std::string::npos, head_size = 0;
    // Resume where the last call stopped looking (a terminator may straddle it): a request
    // arriving a byte at a time costs linear time, not quadratic.
    const size_t from = scanned_ >= 2 ? scanned_ - 2 : 0;
    for (size_t nl = input->find('\n', from); nl != std::string::npos; nl = input->find('\n', nl + 1)) {
      if (nl + 1 < input->size() && (*input)[nl + 1] == '\n') {
        end = nl;
        head_size = nl + 2;
        break;
      }
      if (nl + 2 < input->size() && (*input)[nl + 1] == '\r' && (*input)[nl + 2] == '\n') {
        end = nl;
        head_size = nl + 3;
        break;
      }
      if (nl + 1 > limits_.max_header_bytes) break;
    }
    if (end == std::string::npos || head_size > limits_.max_header_bytes) {
      if (input->size() > limits_.max_header_bytes || head_size > limits_.max_header_bytes) {
        const size_t line_end = input->find('\n');
        if (line_end == std::string::npos || line_end > limits_.max_header_bytes) {
          return Fail(414, "the request line is longer than " + std::to_string(limits_.max_header_bytes) + " bytes");
        }
        return Fail(431, "the request line and headers are larger than " + std::to_string(limits_.max_header_bytes) +
                             " bytes");
      }
      scanned_ = input->size();
      return Progress::kNeedMore;
    }
    scanned_ = 0;
    const Progress head = ParseHead(std::string_view(*input).substr(0, end + 1));
    input->erase(0, head_size);
    return head;
  }
  return ParseBody(input);
}

HttpRequestParser::Progress HttpRequestParser::ParseHead(std::string_view head) {
  std::optional<std::string_view> line = NextLine(&head);
  // METHOD SP target SP HTTP/1.x
  const size_t sp1 = line->find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line->find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line->find(' ', sp2 + 1) != std::string_view::npos) {
    return Fail(400, "malformed HTTP request line");
  }
  const std::string_view method = line->substr(0, sp1), target = line->substr(sp1 + 1, sp2 - sp1 - 1),
                         version = line->substr(sp2 + 1);
  if (!IsToken(method) || target.empty() || target.front() != '/') return Fail(400, "malformed HTTP request line");
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || (version[7] != '0' && version[7] != '1')) {
    return Fail(505, "only HTTP/1.0 and HTTP/1.1 are served on this port");
  }
  request_.method = std::string(method);
  request_.target = std::string(target);
  request_.minor_version = version[7] - '0';
  const size_t question = target.find('?');
  std::optional<std::string> path = PercentDecode(target.substr(0, question));
  if (!path) return Fail(400, "malformed percent-encoding in the request path");
  request_.path = std::move(*path);
  if (question != std::string_view::npos) request_.query = std::string(target.substr(question + 1));

  bool chunked = false;
  while (!head.empty()) {
    line = NextLine(&head);
    if (!line || line->empty()) break;
    if (line->front() == ' ' || line->front() == '\t') return Fail(400, "folded header lines are not accepted");
    const size_t colon = line->find(':');
    if (colon == std::string_view::npos || !IsToken(line->substr(0, colon))) {
      return Fail(400, "malformed HTTP header line");
    }
    if (request_.headers.size() >= limits_.max_headers) {
      return Fail(431, "more than " + std::to_string(limits_.max_headers) + " header fields");
    }
    const std::string_view trimmed = Trim(line->substr(colon + 1));
    for (char ch : trimmed) {
      const unsigned char u = static_cast<unsigned char>(ch);
      if ((u < 0x20 && ch != '\t') || u == 0x7f) return Fail(400, "a header value holds a control character");
    }
    request_.headers.emplace_back(Lower(line->substr(0, colon)), std::string(trimmed));
    const auto& [name, value] = request_.headers.back();
    if (name == "content-length") {
      uint64_t length = 0;
      const auto r = std::from_chars(value.data(), value.data() + value.size(), length);
      if (value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size()) {
        return Fail(400, "Content-Length must be a decimal number");
      }
      if (content_length_ && *content_length_ != length) return Fail(400, "conflicting Content-Length headers");
      content_length_ = length;
    } else if (name == "transfer-encoding") {
      if (Lower(value) != "chunked" || chunked) {
        return Fail(501, "the only transfer coding accepted is a single 'chunked'");
      }
      chunked = true;
    }
  }
  if (chunked && content_length_) return Fail(400, "a request cannot have both Content-Length and chunked coding");
  const std::string* connection = request_.Header("connection");
  const std::string connection_value = connection ? Lower(*connection) : "";
  request_.keep_alive = request_.minor_version == 1 ? connection_value.find("close") == std::string::npos
                                                    : connection_value.find("keep-alive") != std::string::npos;
  if (content_length_ && *content_length_ > limits_.max_body_bytes) {
    return Fail(413, "the request body is larger than " + std::to_string(limits_.max_body_bytes) + " bytes");
  }
  if (chunked) {
    phase_ = Phase::kChunkSize;
  } else if (content_length_ && *content_length_ > 0) {
    request_.body.reserve(std::min<uint64_t>(*content_length_, 1 << 20));  // the rest as it arrives
    phase_ = Phase::kLengthBody;
  } else {
    phase_ = Phase::kDone;
  }
  return Progress::kHeadersComplete;
}

HttpRequestParser::Progress HttpRequestParser::ParseBody(std::string* input) {
  // Consumed bytes are dropped once, on the way out: a body of many small chunks costs linear time.
  size_t pos = 0;
  auto leave = [&](Progress p) {
    input->erase(0, pos);
    return p;
  };
  auto next_line = [&]() -> std::optional<std::string_view> {
    std::string_view rest = std::string_view(*input).substr(pos);
    std::optional<std::string_view> line = NextLine(&rest);
    if (line) pos = input->size() - rest.size();
    return line;
  };
  while (true) {
    const size_t available = input->size() - pos;
    switch (phase_) {
      case Phase::kLengthBody: {
        const size_t take = std::min(static_cast<size_t>(*content_length_) - request_.body.size(), available);
        request_.body.append(*input, pos, take);
        pos += take;
        if (request_.body.size() < *content_length_) return leave(Progress::kNeedMore);
        phase_ = Phase::kDone;
        return leave(Progress::kComplete);
      }
      case Phase::kChunkSize: {
        std::optional<std::string_view> line = next_line();
        if (!line) {
          if (available > 1025) return leave(Fail(400, "malformed chunk size line"));
          return leave(Progress::kNeedMore);
        }
        if (line->size() > 1024) return leave(Fail(400, "malformed chunk size line"));
        const std::string_view digits = line->substr(0, line->find(';'));  // chunk extensions are ignored
        uint64_t size = 0;
        const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
        if (digits.empty() || r.ec != std::errc() || r.ptr != digits.data() + digits.size()) {
          return leave(Fail(400, "malformed chunk size line"));
        }
        if (size > limits_.max_body_bytes - request_.body.size()) {
          return leave(
              Fail(413, "the request body is larger than " + std::to_string(limits_.max_body_bytes) + " bytes"));
        }
        chunk_left_ = size;
        phase_ = size == 0 ? Phase::kTrailers : Phase::kChunkData;
        break;
      }
      case Phase::kChunkData: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(chunk_left_, available));
        request_.body.append(*input, pos, take);
        pos += take;
        chunk_left_ -= take;
        if (chunk_left_ > 0) return leave(Progress::kNeedMore);
        phase_ = Phase::kChunkDataEnd;
        break;
      }
      case Phase::kChunkDataEnd: {
        std::optional<std::string_view> line = next_line();
        if (!line) {
          if (available > 2) return leave(Fail(400, "a chunk is longer than its size line says"));
          return leave(Progress::kNeedMore);
        }
        if (!line->empty()) return leave(Fail(400, "a chunk is longer than its size line says"));
        phase_ = Phase::kChunkSize;
        break;
      }
      case Phase::kTrailers: {
        const size_t before = pos;
        std::optional<std::string_view> line = next_line();
        if (!line) {
          if (trailer_bytes_ + available > limits_.max_header_bytes) {
            return leave(Fail(431, "the trailer fields are larger than " + std::to_string(limits_.max_header_bytes) +
                                       " bytes"));
          }
          return leave(Progress::kNeedMore);
        }
        trailer_bytes_ += pos - before;
        if (trailer_bytes_ > limits_.max_header_bytes) {
          return leave(
              Fail(431, "the trailer fields are larger than " + std::to_string(limits_.max_header_bytes) + " bytes"));
        }
        if (line->empty()) {
          phase_ = Phase::kDone;
          return leave(Progress::kComplete);
        }
        break;
      }
      case Phase::kDone:
        return leave(Progress::kComplete);
      case Phase::kHeaders:
      case Phase::kError:
        return leave(Progress::kError);
    }
  }
}

}  // namespace beit::serving::http
