// Compressed request bodies: gzip and zlib ("deflate") decode, bombs stop at the limit, corrupt
// data and unknown codings are refused with their status.
#include "server/http/content_decoding.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace beit::serving::http {
namespace {

// window_bits 15: zlib; 15 + 16: gzip.
std::string Compress(const std::string& data, int window_bits) {
  z_stream s{};
  deflateInit2(&s, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&s, data.size()) + 32, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  s.avail_in = static_cast<uInt>(data.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  deflate(&s, Z_FINISH);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

TEST(ContentDecoding, DecodesGzipAndDeflate) {
  const std::string text = "{\"inputs\": []} " + std::string(100000, 'x');
  EXPECT_EQ(*DecodeContent("gzip", Compress(text, 15 + 16), 1 << 20), text);
  EXPECT_EQ(*DecodeContent("X-GZIP", Compress(text, 15 + 16), 1 << 20), text);
  EXPECT_EQ(*DecodeContent("deflate", Compress(text, 15), 1 << 20), text);
  EXPECT_EQ(*DecodeContent("identity", text, 1 << 20), text);
  EXPECT_EQ(*DecodeContent("", text, 1 << 20), text);
}

TEST(ContentDecoding, StopsAtTheLimitAndRefusesCorruptData) {
  const std::string bomb = Compress(std::string(8 << 20, ' '), 15 + 16);
  ASSERT_LT(bomb.size(), 64u << 10);
  absl::StatusOr<std::string> r = DecodeContent("gzip", bomb, 1 << 20);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("larger than 1048576"), std::string::npos) << r.status();
  std::string truncated = Compress("hello hello hello", 15 + 16);
  truncated.resize(truncated.size() / 2);
  EXPECT_EQ(DecodeContent("gzip", truncated, 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeContent("gzip", "not gzip at all", 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeContent("br", "x", 1 << 20).status().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace beit::serving::http
