#!/usr/bin/env bash
# Prints the Debian packages that provide the shared libraries BINARY... load (one per line,
# sorted), so the container's runtime stage installs exactly what the build produced needs.
# Usage: scripts/runtime_packages.sh build/server/beit-server build/client/beit-client
# Fails if a library belongs to no installed package (it could not be installed at run time).
set -euo pipefail
for binary in "$@"; do
  ldd "$binary" | awk '/=> \// {print $3}'
done | sort -u | while read -r lib; do
  real=$(readlink -f "$lib")
  # Debian 12 merges /lib into /usr/lib: ask dpkg for both spellings.
  pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null \
        || dpkg -S "/usr$real" 2>/dev/null || true)
  if [[ -z "$pkg" ]]; then
    echo "runtime_packages: no package provides $lib" >&2
    exit 1
  fi
  echo "${pkg%%:*}"
done | sort -u
