#!/usr/bin/env bash
# Runs the whole test suite. Installs what it needs that is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-system-packages.sh
swift build --build-tests
swift test --skip-build
