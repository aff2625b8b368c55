#include "server/security/bearer_token_auth.h"

#include <fstream>
#include <sstream>
#include <string_view>

namespace beit::serving {
namespace {

// Compares without an early exit, so timing does not reveal how much of a guess was right.
bool ConstantTimeEquals(const std::string& expected, std::string_view given) {
  unsigned char difference = expected.size() == given.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given.data()[i]) : 0;
    difference |= static_cast<unsigned char>(expected[i]) ^ g;
  }
  return difference == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BearerTokenAuth>> BearerTokenAuth::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError("--auth-token-file " + path + ": cannot read");
  std::ostringstream s;
  s << in.rdbuf();
  std::string token = s.str();
  const size_t first = token.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return absl::InvalidArgumentError("--auth-token-file " + path + ": the file is empty");
  token = token.substr(first, token.find_last_not_of(" \t\r\n") - first + 1);
  return std::make_unique<BearerTokenAuth>(token);
}

absl::Status BearerTokenAuth::Check(const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata) const {
  const auto it = client_metadata.find("authorization");
  if (it == client_metadata.end()) {
    return absl::UnauthenticatedError("this server requires a token: send metadata 'authorization: Bearer <token>'");
  }
  if (!ConstantTimeEquals(expected_, std::string_view(it->second.data(), it->second.size()))) {
    return absl::UnauthenticatedError("the bearer token is not valid for this server");
  }
  return absl::OkStatus();
}

absl::Status BearerTokenAuth::CheckHeader(const std::string* authorization) const {
  if (!authorization) {
    return absl::UnauthenticatedError("this server requires a token: send the header 'Authorization: Bearer <token>'");
  }
  if (!ConstantTimeEquals(expected_, *authorization)) {
    return absl::UnauthenticatedError("the bearer token is not valid for this server");
  }
  return absl::OkStatus();
}

}  // namespace beit::serving
