#!/usr/bin/env bash
# The container's runtime stage installs what scripts/runtime_packages.sh lists for the built
# binaries: the list must name the libraries beit-server really loads, and every entry must be an
# installable Debian package (installed here, since this machine built the binaries).
# Usage: runtime_packages_test.sh REPO_ROOT BINARY...
set -euo pipefail
root=$1
shift
packages=$("$root/scripts/runtime_packages.sh" "$@")
for expected in libdnnl2 libgrpc++1.51 libprotobuf32 libprometheus-cpp-core1.0 libssl3 zlib1g libspng0 libjpeg62-turbo libgomp1; do
  grep -qx "$expected" <<<"$packages" || { echo "missing $expected in: $packages"; exit 1; }
done
for p in $packages; do
  dpkg-query -W -f='${Status}\n' "$p" | grep -q "install ok installed" || { echo "$p is not an installed package"; exit 1; }
done
echo "runtime packages: $(wc -w <<<"$packages") ok"
