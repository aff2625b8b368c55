#!/usr/bin/env bash
# Installs the Debian 12 packages beit-serve needs to build and test, only when missing.
# Usage: scripts/install_deps.sh [--dev] [--container]
#   --dev        adds the test/benchmark/sanitizer tools
#   --container  adds what scripts/container_check.sh builds and runs the image with
set -euo pipefail

RUNTIME_BUILD=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev grpc-proto
  libdnnl-dev ocl-icd-opencl-dev libssl-dev zlib1g-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libspng-dev
  prometheus-cpp-dev libcivetweb-dev nlohmann-json3-dev
)
DEV=(
  libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev python3-grpcio python3-numpy python3-pil
  clang libclang-rt-14-dev yamllint python3-yaml openssl
  python3-torch dataset-fashion-mnist qemu-user
)

# buildah builds the Dockerfile without a Docker daemon (chroot isolation, vfs storage);
# debootstrap makes the bookworm base image it builds on; jq reads the image config.
CONTAINER=(buildah debootstrap jq)

want=("${RUNTIME_BUILD[@]}")
for arg in "$@"; do
  case "$arg" in
    --dev) want+=("${DEV[@]}") ;;
    --container) want+=("${CONTAINER[@]}") ;;
    *) echo "install_deps: unknown flag $arg (use --dev, --container)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install_deps: all ${#want[@]} packages present"
  exit 0
fi

echo "install_deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
