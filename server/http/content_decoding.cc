#include "server/http/content_decoding.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"

namespace beit::serving::http {

absl::StatusOr<std::string> DecodeContent(std::string_view encoding, std::string body, size_t max_bytes) {
  std::string coding(encoding);
  for (char& c : coding) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (coding.empty() || coding == "identity") return body;
  if (coding != "gzip" && coding != "x-gzip" && coding != "deflate") {
    return absl::UnimplementedError(
        absl::StrCat("the Content-Encoding '", std::string(encoding), "' is not accepted (gzip, deflate or identity)"));
  }
  z_stream stream{};
  // 15 + 32: a zlib or a gzip header, detected; "deflate" in HTTP means the zlib format.
  if (inflateInit2(&stream, 15 + 32) != Z_OK) return absl::InternalError("zlib could not start");
  stream.next_in = reinterpret_cast<Bytef*>(body.data());
  stream.avail_in = static_cast<uInt>(body.size());
  std::string out;
  char buffer[64 << 10];
  int result = Z_OK;
  while (result != Z_STREAM_END) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof(buffer);
    result = inflate(&stream, Z_NO_FLUSH);
    if (result != Z_OK && result != Z_STREAM_END) break;
    const size_t produced = sizeof(buffer) - stream.avail_out;
    if (produced > max_bytes - std::min(max_bytes, out.size())) {
      inflateEnd(&stream);
      return absl::ResourceExhaustedError(
          absl::StrCat("the request body is larger than ", max_bytes, " bytes once decompressed"));
    }
    out.append(buffer, produced);
    if (result == Z_OK && produced == 0 && stream.avail_in == 0) break;  // truncated input
  }
  inflateEnd(&stream);
  if (result != Z_STREAM_END) {
    return absl::InvalidArgumentError(absl::StrCat("the request body is not valid ", coding, " data"));
  }
  return out;
}

}  // namespace beit::serving::http
