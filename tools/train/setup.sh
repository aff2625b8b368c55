#!/usr/bin/env bash
# Installs what the training tools need (Debian 12 packages only), when missing:
# PyTorch, NumPy and the Fashion-MNIST data set (/usr/share/datasets/fashion-mnist).
set -euo pipefail
want=(python3-torch python3-numpy dataset-fashion-mnist)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then exit 0; fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
