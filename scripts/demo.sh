#!/usr/bin/env bash
# Runs the main job on the embedded default: seeds a real county, loads it into a local store,
# and shows offline edits, a sync and conflicts resolved. Installs what it needs that is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-system-packages.sh
swift build --product tianzhang
exec .build/debug/tianzhang demo "$@"
