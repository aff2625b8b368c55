// Server TLS credentials from the --tls-* flags.
//
// Contract: TlsCredentials(options) reads --tls-cert / --tls-key (and --tls-client-ca, which turns
// on mutual TLS: clients must present a certificate signed by that CA). A missing, unreadable or
// non-PEM file is INVALID_ARGUMENT naming the flag and path.
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>

#include "absl/status/statusor.h"
#include "server/server_options.h"

namespace beit::serving {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsCredentials(const ServerOptions& options);

}  // namespace beit::serving
