// The incremental HTTP/1.1 request parser: requests split anywhere, bodies by length and chunked,
// pipelining, and every limit and refusal with its status.
#include "server/http/http_request_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace beit::serving::http {
namespace {

using Progress = HttpRequestParser::Progress;

// Feeds `text` in pieces of `step` bytes until the request completes or fails.
Progress FeedAll(HttpRequestParser& parser, const std::string& text, size_t step, std::string* input) {
  Progress last = Progress::kNeedMore;
  for (size_t at = 0; at < text.size(); at += step) {
    input->append(text, at, step);
    do {
      last = parser.Parse(input);
    } while (last == Progress::kHeadersComplete);
    if (last == Progress::kComplete || last == Progress::kError) return last;
  }
  return last;
}

TEST(HttpRequestParser, ParsesARequestSplitAtEveryByte) {
  const std::string text =
      "POST /v2/models/my%20model/infer?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type:  application/json \r\n"
      "Content-Length: 11\r\nX-Empty:\r\n\r\nhello world";
  for (size_t step : {size_t{1}, size_t{7}, text.size()}) {
    HttpRequestParser parser({});
    std::string input;
    ASSERT_EQ(FeedAll(parser, text, step, &input), Progress::kComplete) << step;
    const HttpRequest& r = parser.request();
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, "/v2/models/my model/infer");
    EXPECT_EQ(r.query, "x=1");
    EXPECT_EQ(r.target, "/v2/models/my%20model/infer?x=1");
    ASSERT_NE(r.Header("content-type"), nullptr);
    EXPECT_EQ(*r.Header("content-type"), "application/json");
    EXPECT_EQ(*r.Header("x-empty"), "");
    EXPECT_EQ(r.Header("Content-Type"), nullptr) << "names are looked up in lower case";
    EXPECT_EQ(r.body, "hello world");
    EXPECT_TRUE(r.keep_alive);
    EXPECT_TRUE(input.empty());
  }
}

TEST(HttpRequestParser, HeadersCompleteComesBeforeTheBody) {
  HttpRequestParser parser({});
  std::string input = "PUT /x HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
  EXPECT_EQ(parser.Parse(&input), Progress::kHeadersComplete);
  EXPECT_TRUE(parser.headers_complete());
  EXPECT_EQ(parser.content_length(), 3u);
  EXPECT_EQ(parser.Parse(&input), Progress::kNeedMore);
  input = "abc";
  EXPECT_EQ(parser.Parse(&input), Progress::kComplete);
  EXPECT_EQ(parser.request().body, "abc");
}

TEST(HttpRequestParser, ChunkedBodiesWithExtensionsAndTrailers) {
  const std::string text =
      "POST /u HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n5;name=v\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n"
      "Trailer-One: x\r\n\r\n";
  for (size_t step : {size_t{1}, size_t{3}, text.size()}) {
    HttpRequestParser parser({});
    std::string input;
    ASSERT_EQ(FeedAll(parser, text, step, &input), Progress::kComplete) << step;
    EXPECT_EQ(parser.request().body, "hello world");
  }
}

TEST(HttpRequestParser, PipelinedRequestsParseOneAfterAnother) {
  HttpRequestParser parser({});
  std::string input =
      "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\nGET /c HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
      "GET /d HTTP/1.0\r\n\r\n";
  std::vector<std::pair<std::string, bool>> seen;
  while (!input.empty()) {
    Progress p = parser.Parse(&input);
    if (p == Progress::kHeadersComplete) p = parser.Parse(&input);
    ASSERT_EQ(p, Progress::kComplete);
    seen.emplace_back(parser.request().path, parser.request().keep_alive);
    parser.Reset();
  }
  const std::vector<std::pair<std::string, bool>> expected = {{"/a", true}, {"/b", false}, {"/c", true}, {"/d", false}};
  EXPECT_EQ(seen, expected);
}

struct Refusal {
  std::string text;
  int status;
  std::string fragment;
};

TEST(HttpRequestParser, RefusesWhatItCannotTrustWithItsStatus) {
  HttpParserLimits limits;
  limits.max_header_bytes = 200;
  limits.max_headers = 3;
  limits.max_body_bytes = 10;
  const std::vector<Refusal> refusals = {
      {"GET /x\r\n\r\n", 400, "request line"},
      {"GET x HTTP/1.1\r\n\r\n", 400, "request line"},
      {"GET /x HTTP/2.0\r\n\r\n", 505, "HTTP/1.0"},
      {"GET /%zz HTTP/1.1\r\n\r\n", 400, "percent"},
      {"POST /v2/repository/models/cls%00x/load HTTP/1.1\r\n\r\n", 400, "percent"},  // NUL ends C paths
      {"GET /x HTTP/1.1\r\nNo colon here\r\n\r\n", 400, "header line"},
      {"GET /x HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", 400, "folded"},
      {"GET /x HTTP/1.1\r\nA: b\rc\r\n\r\n", 400, "control character"},
      {"GET /x HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431, "header fields"},
      {"GET /x HTTP/1.1\r\nA: " + std::string(300, 'a') + "\r\n\r\n", 431, "200 bytes"},
      {"GET /x HTTP/1.1\r\nA: " + std::string(300, 'a'), 431, "200 bytes"},  // no end in sight
      {"GET /" + std::string(300, 'a') + " HTTP/1.1\r\n\r\n", 414, "request line is longer than 200"},
      {"POST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413, "larger than 10"},
      {"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "conflicting"},
      {"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "decimal"},
      {"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "chunked"},
      {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400, "both"},
      {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n", 413, "larger than 10"},
      {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "chunk size"},
      {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400, "longer than"},
  };
  for (const Refusal& r : refusals) {
    HttpRequestParser parser(limits);
    std::string input;
    EXPECT_EQ(FeedAll(parser, r.text, 1, &input), Progress::kError) << r.text;
    EXPECT_EQ(parser.error_status(), r.status) << r.text;
    EXPECT_NE(parser.error_message().find(r.fragment), std::string::npos) << r.text << " -> " << parser.error_message();
  }
}

TEST(HttpRequestParser, IgnoresEmptyLinesBeforeARequest) {
  HttpRequestParser parser({});
  std::string input = "\r\n\r\nGET /ok HTTP/1.1\r\n\r\n";
  EXPECT_EQ(parser.Parse(&input), Progress::kHeadersComplete);
  EXPECT_EQ(parser.Parse(&input), Progress::kComplete);
  EXPECT_EQ(parser.request().path, "/ok");
}

}  // namespace
}  // namespace beit::serving::http
