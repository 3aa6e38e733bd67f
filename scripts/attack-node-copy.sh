#!/usr/bin/env bash
# A township node's store copied back from an older file while its patrols keep syncing (SPEC §7.2
# rule 6), with real processes on loopback:
#
#   scripts/attack-node-copy.sh PATH/TO/tianzhang
#
# A county hub (`hub serve`), township 371312001's node (`node serve` for its patrols) and two field
# chiefs' devices in the same village. The node's store is backed up; chief B checks in three times and
# chief A pulls those; the node is stopped and its file replaced by the backup (no `node restored`: a
# disk that lost its last commits); the clerk writes three notes at the node, which take the log
# positions chief A already passed; chief B syncs (re-sends its check-ins: rule 3) and chief A syncs.
# Held: chief A holds the clerk's three notes. Prints `rule 6: HELD` or `rule 6: BROKEN (…)`; exits 0
# only when held. KEEP=1 keeps the temp folder.
set -uo pipefail

if [ $# -ne 1 ] || [ ! -x "$1" ]; then echo "usage: $0 PATH/TO/tianzhang" >&2; exit 2; fi
BIN=$(realpath "$1")
W=$(mktemp -d /tmp/tz-nodecopy.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  if [ -n "${KEEP:-}" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
COUNTY=371312 TOWN=371312001
tz() { (cd "$W" && "$BIN" "$@"); }
sql() { python3 -c 'import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute(sys.argv[2], sys.argv[3:]).fetchone(); print("" if r is None else r[0])' "$@"; }
backup() { python3 -c 'import sqlite3,sys; s=sqlite3.connect(sys.argv[1]); d=sqlite3.connect(sys.argv[2]); s.backup(d); d.close()' "$1" "$2"; }
URL=""
serve() { # NAME ARGS…: starts a server process writing NAME.port; its address in $URL
  rm -f "$W/$1.port"
  (cd "$W" && exec "$BIN" "${@:2}" --port "${PORT:-0}" --port-file "$1.port" >>"$1.log" 2>&1) &
  PIDS+=($!)
  for _ in $(seq 200); do [ -s "$W/$1.port" ] && break; sleep 0.1; done
  [ -s "$W/$1.port" ] || { echo "rule 6: BROKEN ($1 never reported its port: $(tail -2 "$W/$1.log"))"; exit 1; }
  URL="http://127.0.0.1:$(cat "$W/$1.port")"
}
stop_last() { local pid=${PIDS[-1]}; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; unset 'PIDS[-1]'; }

(cd "$W" && "$BIN" seed --county $COUNTY --parcels 3-5 --hub hub.sqlite --geojson p.geojson >seed.log 2>&1) || { echo "seed failed"; exit 1; }
serve hub hub serve --store hub.sqlite --county $COUNTY; HUB=$URL
village=$(sql "$W/hub.sqlite" "select min(code) from division where length(code) = 12 and code like ?" "$TOWN%")
read -r parcel lon lat < <(python3 - "$W/p.geojson" "$village" <<'PY'
import json, sys
for f in json.load(open(sys.argv[1]))["features"]:
    p = f["properties"]
    if p.get("village") == sys.argv[2]:
        ring = f["geometry"]["coordinates"][0]
        xs = [c[0] for c in ring[:-1]]; ys = [c[1] for c in ring[:-1]]
        print(p["id"], sum(xs) / len(xs), sum(ys) / len(ys)); break
PY
)
cred=$(tz hub enrol --store hub.sqlite --replica node:$TOWN --township $TOWN 2>>"$W/cli.log")
tz node init --store node.sqlite --hub "$HUB" --credential "$cred" --replica node:$TOWN >>"$W/cli.log" 2>&1
case_id=$(tz node case create --store node.sqlite --village "$village" --violation other --lon "$lon" --lat "$lat" --summary "复制回滚试验" --json 2>>"$W/cli.log" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
credA=$(tz hub enrol --store hub.sqlite --replica patrol:chief-a --villages "$village" 2>>"$W/cli.log")
credB=$(tz hub enrol --store hub.sqlite --replica patrol:chief-b --villages "$village" 2>>"$W/cli.log")
tz node sync --store node.sqlite --json >"$W/n-sync1.json" 2>>"$W/cli.log"
serve node node serve --store node.sqlite; NODE=$URL
tz patrol init --store a.sqlite --upstream "$NODE" --credential "$credA" --replica patrol:chief-a >>"$W/cli.log" 2>&1
tz patrol init --store b.sqlite --upstream "$NODE" --credential "$credB" --replica patrol:chief-b >>"$W/cli.log" 2>&1
tz patrol sync --store a.sqlite --json >"$W/a-sync1.json" 2>>"$W/cli.log"
tz patrol sync --store b.sqlite --json >"$W/b-sync1.json" 2>>"$W/cli.log"

backup "$W/node.sqlite" "$W/node-backup.sqlite"
for n in 1 2 3; do tz patrol checkin "$parcel" --lon "$lon" --lat "$lat" --observation "巡田 $n" --store b.sqlite >>"$W/cli.log" 2>&1; done
tz patrol sync --store b.sqlite --json >"$W/b-sync2.json" 2>>"$W/cli.log"
tz patrol sync --store a.sqlite --json >"$W/a-sync2.json" 2>>"$W/cli.log"
cursor_a=$(sql "$W/a.sqlite" "select cursor from peer_checkpoint" 2>/dev/null)

stop_last
rm -f "$W/node.sqlite-wal" "$W/node.sqlite-shm"
cp "$W/node-backup.sqlite" "$W/node.sqlite"
for n in 1 2 3; do tz node note --store node.sqlite "$case_id" "回滚后镇里的记录 $n" >>"$W/cli.log" 2>&1; done
PORT=${NODE##*:} serve node node serve --store node.sqlite
tz patrol sync --store b.sqlite --json >"$W/b-sync3.json" 2>>"$W/cli.log"
tz patrol sync --store a.sqlite --json >"$W/a-sync3.json" 2>>"$W/cli.log"

notes_node=$(sql "$W/node.sqlite" "select count(*) from change_log where origin = ? and record_type = 'timeline'" "node:$TOWN")
notes_a=$(sql "$W/a.sqlite" "select count(*) from change_log where origin = ? and record_type = 'timeline'" "node:$TOWN")
checkins_node=$(sql "$W/node.sqlite" "select count(*) from change_log where origin = 'patrol:chief-b'")
reset=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("cursorResets", "absent"))' "$W/a-sync3.json" 2>/dev/null)
echo "chief A's cursor before the copy: ${cursor_a:-?}; the node's notes: $notes_node, held by chief A: $notes_a; chief B's check-ins back at the node: $checkins_node; chief A's cursor resets: $reset" >&2
if [ "$notes_a" = "$notes_node" ] && [ "$notes_node" -ge 3 ] && [ "$checkins_node" = 3 ]; then
  echo "rule 6: HELD"
else
  echo "rule 6: BROKEN (chief A holds $notes_a of the node's $notes_node notes; chief B's check-ins at the node: $checkins_node)"
  exit 1
fi
