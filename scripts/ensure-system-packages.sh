#!/usr/bin/env bash
# Installs the system packages the build and tests need, when they are missing (Debian 12).
set -euo pipefail
needed=()
for pkg in libsqlite3-dev libcurl4-openssl-dev zlib1g-dev tmux openssl "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || needed+=("$pkg")
done
if [ ${#needed[@]} -gt 0 ]; then
  echo "Installing missing system packages: ${needed[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${needed[@]}" >/dev/null
fi
