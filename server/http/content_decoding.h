// Request bodies sent with a Content-Encoding (gzip, x-gzip, deflate, identity), decoded with
// zlib and bounded: a small compressed body must not become gigabytes.
//
// Contract: DecodeContent(encoding, body, max_bytes) returns the decoded body;
// RESOURCE_EXHAUSTED once it would exceed max_bytes, INVALID_ARGUMENT for corrupt data,
// UNIMPLEMENTED for another coding (HTTP 415). An empty encoding or "identity" returns the body.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace beit::serving::http {

absl::StatusOr<std::string> DecodeContent(std::string_view encoding, std::string body, size_t max_bytes);

}  // namespace beit::serving::http
