#!/usr/bin/env bash
# Runs the whole test suite. Installs what it needs that is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-system-packages.sh postgresql
python3 -c "import jsonschema, referencing" 2>/dev/null || python3 -m pip install -q "jsonschema>=4.18"
swift build --build-tests
# A throwaway PostgreSQL cluster for the PostgreSQL store and the several-hubs tests, removed afterwards.
scripts/test-postgres.sh swift test --skip-build
