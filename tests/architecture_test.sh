#!/usr/bin/env bash
# The rooms' include rules (README, "Layout"); fails naming every file and include that breaks one.
#   model/                 the engine: nothing of the service (no server/, client/, gRPC, protos)
#   server/                nothing of oneDNN (no dnnl or oneapi header); beit.v1's protos only in
#                          server/beit_v1/
#   server/core/           the serving core: no protocol (no gRPC, protobuf, HTTP or front door)
#   server/repository/     the live model repository: no protocol either (the core and JSON files)
#   server/http/           the HTTP transport: nothing of models, protocols or serving
#   proto/open_inference/  shared by client and server: nothing of either
#   client/                nothing under server/
#   tools/command_line/    shared by every binary's main: nothing of the engine, service or client
# Usage: architecture_test.sh REPO_ROOT
set -euo pipefail
cd "${1:?usage: architecture_test.sh REPO_ROOT}"
broken=0
# rule ROOM PATTERN WHY: no #include in ROOM's sources may match PATTERN (extended regex).
rule() {
  local room=$1 pattern=$2 why=$3 hits
  hits=$(grep -rnE "^#include [<\"]($pattern)" "$room" --include='*.h' --include='*.cc' || true)
  if [[ -n "$hits" ]]; then
    echo "$room: $why:"
    echo "$hits" | sed 's/^/  /'
    broken=1
  fi
}
rule model 'server/|client/|grpc|grpcpp/|beit/v1/|inference/' "the engine knows nothing of the service"
rule server 'dnnl|oneapi/' "the server knows nothing of oneDNN"
rule server/core 'grpc|google/protobuf|beit/v1/|inference/|proto/|server/(beit_v1|open_inference|http|grpc|security|observability)/|httplib|nlohmann' \
  "the serving core knows no protocol, transport or front door"
rule server/repository 'grpc|google/protobuf|beit/v1/|inference/|proto/|server/(beit_v1|open_inference|http|grpc|security|observability)/|httplib' \
  "the model repository knows no protocol, transport or front door"
rule server/core 'server/repository/' "the core knows nothing above it"
for room in server/open_inference server/grpc server/http server/observability server/security server/core server/repository; do
  rule "$room" 'beit/v1/' "beit.v1's messages belong to server/beit_v1/"
done
rule server/http 'model/|server/[a-z_]+\.h|server/(open_inference|observability|security)/|proto/|beit/|inference/|grpc' \
  "the HTTP transport knows no model, protocol or serving code"
rule proto/open_inference 'server/|client/|model/|grpc' "the protocol's shared types know neither side"
rule client 'server/' "the client includes nothing of the server"
rule tools/command_line 'model/|server/|client/|proto/|beit/|inference/|grpc' \
  "the command-line conventions know no binary's code"
if ((broken)); then exit 1; fi
echo "architecture: every room keeps its include rules"
