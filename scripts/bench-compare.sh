#!/usr/bin/env bash
# Benchmarks side by side (issue 6): Tianzhang next to raw SQLite upserts, Mergin Maps' geodiff and the
# gzip changed-field JSON floor, in one run on the same generated data (25,000 and 100,000 parcels;
# 1% and 10% of rows changed plus inserts and deletes), with the hub on SQLite and on PostgreSQL (one
# and two hub processes' stores), bootstrap and slow-link figures and a node's peak memory.
# Builds release (about 10 minutes the first time). Prints markdown tables (docs/performance.md).
#   scripts/bench-compare.sh [--sizes 25000,100000]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-system-packages.sh postgresql
python3 -c "import pygeodiff" 2>/dev/null || python3 -m pip install -q "pygeodiff==2.3.2"
swift build -c release --product tianzhang
exec scripts/test-postgres.sh python3 scripts/bench_compare.py --tool .build/release/tianzhang "$@"
