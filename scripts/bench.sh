#!/usr/bin/env bash
# The first benchmarks (issue 4): bootstrap of a 25,000-parcel township, push and pull throughput for
# 10,000 changes, and 1,000 changes through a 256 kbit/s, 300 ms link — hub and node over HTTP on
# loopback, bytes counted on the wire by a proxy. Builds release (about 9 minutes the first time).
# Extra arguments go to `tianzhang bench` (e.g. --parcels 5000 --json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-system-packages.sh
swift build -c release --product tianzhang
exec .build/release/tianzhang bench "$@"
