#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster: a data folder under /tmp, a free loopback port,
# started with the Debian server's own initdb and pg_ctl, stopped and removed when the command ends
# (also when it fails or is interrupted). The command sees TIANZHANG_TEST_POSTGRES=postgres://…
#
#   scripts/test-postgres.sh swift test --skip-build
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL server not found (scripts/ensure-system-packages.sh installs postgresql)" >&2; exit 1; }

folder=$(mktemp -d /tmp/tianzhang-pg-XXXXXX)
# The server refuses to run as root: as root, the cluster belongs to the postgres user the package made.
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres: "$folder"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

stop() {
  as_owner "$bin/pg_ctl" -D "$folder/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$folder"
}
trap stop EXIT
trap "exit 130" INT TERM

as_owner "$bin/initdb" -D "$folder/data" -U tianzhang --auth=trust -E UTF8 --locale=C >"$folder/initdb.log" 2>&1 \
  || { cat "$folder/initdb.log" >&2; exit 1; }
# fsync off: a throwaway test cluster (the benchmarks say when they run with it on).
as_owner "$bin/pg_ctl" -D "$folder/data" -l "$folder/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $folder -c fsync=off -c max_connections=200" start >/dev/null \
  || { cat "$folder/server.log" >&2; exit 1; }
echo "test PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($folder)"

export TIANZHANG_TEST_POSTGRES="postgres://tianzhang@127.0.0.1:$port/postgres"
export TIANZHANG_REQUIRE_POSTGRES=1
status=0
"$@" || status=$?
exit $status
