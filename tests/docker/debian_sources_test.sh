#!/usr/bin/env bash
# scripts/debian_sources.sh on a made-up /etc/apt holding both source formats: only enabled,
# Debian-signed bookworm "deb" entries come out, one line per URI and suite.
set -euo pipefail
script="$(cd "$(dirname "$0")/../.." && pwd)/scripts/debian_sources.sh"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc/apt/sources.list.d"
cat >"$root/etc/apt/sources.list" <<'LIST'
# deb http://commented.example/debian bookworm main
deb [arch=amd64] http://one.example/debian bookworm main contrib
deb-src http://one.example/debian bookworm main
deb [signed-by=/usr/share/keyrings/other.gpg] http://foreign.example/apt bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://one.example/debian bookworm-updates main
deb http://old.example/debian bullseye main
LIST
cat >"$root/etc/apt/sources.list.d/debian.sources" <<'SOURCES'
Types: deb deb-src
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://two.example/debian http://three.example/debian
Suites: bookworm bookworm-updates
Components: main non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://two.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://off.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb
URIs: http://inline.example/apt
Suites: bookworm
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 -----END PGP PUBLIC KEY BLOCK-----
SOURCES
cat >"$root/etc/apt/sources.list.d/vendor.sources" <<'SOURCES'
Types: deb
URIs: https://vendor.example/apt
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/vendor.gpg
SOURCES
echo "deb http://disabled.example/debian bookworm main" >"$root/etc/apt/sources.list.d/x.list.disabled-by-farm"

got=$("$script" "$root")
want="deb http://one.example/debian bookworm main contrib
deb http://one.example/debian bookworm-updates main
deb http://two.example/debian bookworm main non-free-firmware
deb http://two.example/debian bookworm-updates main non-free-firmware
deb http://three.example/debian bookworm main non-free-firmware
deb http://three.example/debian bookworm-updates main non-free-firmware
deb http://two.example/debian-security bookworm-security main"
if [[ "$got" != "$want" ]]; then
  echo "debian_sources.sh printed:"; echo "$got"; echo "want:"; echo "$want"
  exit 1
fi
echo "debian_sources_test: ok"
