// Optional request authentication: a shared bearer token, sent by clients as gRPC metadata or an
// HTTP header `authorization: Bearer <token>`.
//
// Contract:
// - FromFile(path) reads the token (surrounding whitespace trimmed); an unreadable or empty file
//   is an error naming the path. The token never appears in errors or logs.
// - Check(metadata) is OK only for exactly "Bearer <token>"; the comparison takes the same time
//   wherever the first difference is (constant time in the token's content). Otherwise
//   UNAUTHENTICATED with a message saying what to send.
// - CheckHeader(value) is the same check on the header's value (nullptr: the header is absent).
#pragma once

#include <map>
#include <memory>
#include <string>

#include <grpcpp/support/string_ref.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace beit::serving {

class BearerTokenAuth {
 public:
  static absl::StatusOr<std::unique_ptr<BearerTokenAuth>> FromFile(const std::string& path);
  explicit BearerTokenAuth(std::string token) : expected_("Bearer " + std::move(token)) {}

  absl::Status Check(const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata) const;
  absl::Status CheckHeader(const std::string* authorization) const;

 private:
  const std::string expected_;
};

}  // namespace beit::serving
