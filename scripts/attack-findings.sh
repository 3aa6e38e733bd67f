#!/usr/bin/env bash
# Attacks a `tianzhang` binary with real processes on loopback and says whether the defences of issue 10's
# findings 1, 2, 3, 5 and 6 hold.
#
#   scripts/attack-findings.sh PATH/TO/tianzhang
#
# Each finding gets its own county: `tianzhang seed`, a `tianzhang hub serve` process on a free port
# (--port 0 --port-file), credentials from `tianzhang hub enrol`, township nodes and a patrol device
# driven through the CLI as an operator would, and a hostile peer that is only a credential, curl and a
# body crafted by Python (bodies are signed with the sender's own key, HKDF of the credential, as SPEC
# §2.7 says: a binary without signatures ignores the `sig` member, one with them checks it).
# Prints one line per finding on stdout, `finding N: HELD` or `finding N: BROKEN (what happened)`, and
# what it observed on stderr; exits 0 only when all held. Needs python3 with `cryptography`, curl and
# faketime (apt: faketime). FINDINGS="1 5" runs only those; KEEP=1 keeps the temp folder (logs, stores).
set -uo pipefail

if [ $# -ne 1 ] || [ ! -x "$1" ]; then echo "usage: $0 PATH/TO/tianzhang" >&2; exit 2; fi
BIN=$(realpath "$1")
command -v faketime >/dev/null || { echo "faketime is missing (apt-get install faketime)" >&2; exit 2; }
python3 -c "import cryptography" 2>/dev/null || { echo "python3 needs the cryptography package" >&2; exit 2; }

WORK=$(mktemp -d /tmp/tz-attack.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

COUNTY=371312 TOWN_A=371312001 TOWN_B=371312004

# ---------------------------------------------------------------------------------------------------
# Python helpers: craft and sign changes, read JSON answers and the stores (sqlite3, an independent reader).
cat > "$WORK/tz.py" <<'PY'
import base64, json, sqlite3, sys, time
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

def now(): return int(time.time() * 1000)

def integral(value):
    """Numbers as the receiver re-encodes them: an integral double without a fraction (35.0 -> 35)."""
    if isinstance(value, float) and value.is_integer(): return int(value)
    if isinstance(value, dict): return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list): return [integral(v) for v in value]
    return value

def canonical(change):
    """SPEC §2.7: sorted keys, no whitespace, '/' unescaped, integers without a fraction, without `sig`."""
    unsigned = integral({k: v for k, v in change.items() if k != "sig"})
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

def sign(change, credential):
    """Signs with the key the holder of `credential` has (HKDF-SHA256 of the credential, SPEC §2.7)."""
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"tianzhang change signing", info=b"ed25519 seed v1").derive(credential.encode())
    change["sig"] = base64.b64encode(Ed25519PrivateKey.from_private_bytes(seed).sign(canonical(change))).decode()
    return change

def checkin(origin, seq, parcel, village, lon, lat, note, record):
    t = now()
    return {"origin": origin, "seq": seq, "type": "checkin", "record": record, "scope": village, "hlc": f"{t}-0",
            "author": origin.split(":", 1)[1], "ops": {
                "parcelID": {"set": parcel}, "village": {"set": village}, "author": {"set": origin.split(":", 1)[1]},
                "at": {"set": t}, "position": {"set": {"latitude": lat, "longitude": lon}}, "accuracyMetres": {"set": 8},
                "observation": {"set": note}}}

def comb(positions, x0, y0, width, height):
    """A simple (valid) ring of exactly `positions` positions: a spine on the west, teeth to the east."""
    teeth = (positions - 3) // 4
    extra = positions - (4 * teeth + 3)
    d, spine, east = height / (2 * teeth), x0 + width * 0.05, x0 + width
    ring = [(x0, y0)]
    for k in range(teeth):
        y = y0 + 2 * k * d
        ring += [(east, y), (east, y + d), (spine, y + d), (spine, y + 2 * d)]
    top = y0 + 2 * teeth * d
    ring.append((x0, top))
    ring += [(x0, top - (top - y0) * (j + 1) / (extra + 1)) for j in range(extra)]
    ring.append(ring[0])
    return [{"longitude": x, "latitude": y} for x, y in ring]

def main(cmd, *a):
    out = sys.stdout
    if cmd == "forged-checkins":          # CRED SENDER DEVICE PARCEL VILLAGE LON LAT OUT
        cred, sender, device, parcel, village, lon, lat, path = a
        lon, lat = float(lon), float(lat)
        forged = [checkin(device, n, parcel, village, lon, lat, f"伪造 {n}", f"01FORGED000000000000000{n:03d}") for n in (1, 2, 3)]
        forged[1], forged[2] = sign(forged[1], cred), sign(forged[2], cred)   # seq 1 unsigned; 2, 3 signed with the relay's key
        ghost = sign(checkin("patrol:ghost-device", 1, parcel, village, lon, lat, "伪造 ghost", "01FORGED000000000000000G01"), cred)
        json.dump({"protocolVersion": 1, "sender": sender, "changes": forged + [ghost]}, open(path, "w"), ensure_ascii=False)
    elif cmd == "replay":                 # STORE ORIGIN SEQ SENDER OUT: a change exactly as its origin sent it
        store, origin, seq, sender, path = a
        body = sqlite3.connect(store).execute("select body from change_log where origin = ? and origin_seq = ?", (origin, int(seq))).fetchone()[0]
        json.dump({"protocolVersion": 1, "sender": sender, "changes": [json.loads(body)]}, open(path, "w"), ensure_ascii=False)
    elif cmd == "status-jump":            # CRED SENDER SEQ CASE VILLAGE BASE STATUS OUT
        cred, sender, seq, case, village, base, status, path = a
        change = {"origin": sender, "seq": int(seq), "type": "case", "record": case, "scope": village, "hlc": f"{now()}-0",
                  "author": "clerk", "base": [base], "ops": {"status": {"set": {"status": status, "round": 1, "decision": "confirmed"}}}}
        json.dump({"protocolVersion": 1, "sender": sender, "changes": [sign(change, cred)]}, open(path, "w"), ensure_ascii=False)
    elif cmd == "huge-correction":        # CRED SENDER PARCEL VILLAGE POSITIONS OUT
        cred, sender, parcel, village, positions, path = a
        ring = comb(int(positions), 118.3, 35.0, 0.01, 0.01)
        t = now()
        change = {"origin": sender, "seq": 1, "type": "correction", "record": "corr-attack-1", "scope": village, "hlc": f"{t}-0",
                  "author": "clerk", "ops": {"parcelID": {"set": parcel}, "proposed": {"set": {"geometry": {"rings": [ring]}}},
                                             "reason": {"set": "resurveyed"}, "requestedBy": {"set": "clerk"}, "requestedAt": {"set": t}}}
        json.dump({"protocolVersion": 1, "sender": sender, "changes": [sign(change, cred)]}, open(path, "w"), separators=(",", ":"))
    elif cmd == "outbox-push":            # SENDER OUT < `node outbox`: a push of the first change in the outbox
        sender, path = a
        change = json.loads(sys.stdin.readline())["change"]
        json.dump({"protocolVersion": 1, "sender": sender, "changes": [change]}, open(path, "w"), ensure_ascii=False)
    elif cmd == "codes":                  # FILE: a sync report's refusals, counted: "clock_ahead x12"
        codes = [r.get("code", "?") for r in json.load(open(a[0])).get("rejections", [])]
        print(", ".join(f"{c} x{codes.count(c)}" for c in sorted(set(codes))))
    elif cmd == "results":                # FILE: one line per change: id outcome code seq
        try: results = json.load(open(a[0]))["results"]
        except Exception: print("no-results " + open(a[0], errors="replace").read()[:200].replace("\n", " ")); return
        for r in results:
            print(r["id"], r["outcome"], (r.get("rejection") or {}).get("code", "-"), r.get("seq", "-"))
    elif cmd == "get":                    # KEY [FILE]: a top-level member of a JSON object (lists joined by ',')
        value = json.load(open(a[1]) if len(a) > 1 else sys.stdin).get(a[0])
        if isinstance(value, list):
            print(",".join(v.get("code", "?") if isinstance(v, dict) else str(v) for v in value))
        else:
            print("" if value is None else value)
    elif cmd == "sql":                    # STORE QUERY [ARGS…]: the first column of the first row
        row = sqlite3.connect(a[0]).execute(a[1], a[2:]).fetchone()
        print("" if row is None or row[0] is None else row[0])
    elif cmd == "parcel":                 # GEOJSON VILLAGE: a parcel of the village and a point inside it
        features = [f for f in json.load(open(a[0]))["features"] if f["properties"]["village"] == a[1]]
        f = sorted(features, key=lambda f: f["properties"]["id"])[0]
        ring = f["geometry"]["coordinates"][0][:-1]
        print(f["properties"]["id"], sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring))
    else:
        sys.exit(f"unknown helper {cmd}")

main(*sys.argv[1:])
PY
tzpy() { python3 "$WORK/tz.py" "$@"; }

# ---------------------------------------------------------------------------------------------------
# A world: a seeded county in its own folder and its hub process. The current world's folder is $W,
# its address $HUB.
W="" HUB=""
world() {
  W="$WORK/$1"; mkdir -p "$W"
  (cd "$W" && "$BIN" seed --county $COUNTY --parcels 3-5 --hub hub.sqlite --geojson p.geojson >seed.log 2>&1) || { echo "seed failed: $(tail -2 "$W/seed.log")"; return 1; }
  (cd "$W" && exec "$BIN" hub serve --store hub.sqlite --county $COUNTY --port 0 --port-file hub.port >hub.log 2>&1) &
  PIDS+=($!)
  for _ in $(seq 200); do [ -s "$W/hub.port" ] && break; sleep 0.1; done
  [ -s "$W/hub.port" ] || { echo "the hub never reported its port: $(tail -2 "$W/hub.log")"; return 1; }
  HUB="http://127.0.0.1:$(cat "$W/hub.port")"
}
tz() { (cd "$W" && "$BIN" "$@"); }
enrol() { tz hub enrol --store hub.sqlite --replica "$@" 2>>"$W/cli.log"; }   # prints the credential
# Enrols a township's node, inits its store TOWNSHIP.sqlite against the hub and bootstraps it.
node_up() {
  local cred; cred=$(enrol "node:$1" --township "$1")
  tz node init --store "$1.sqlite" --hub "$HUB" --credential "$cred" --replica "node:$1" >>"$W/cli.log" 2>&1
  tz node sync --store "$1.sqlite" --json >"$W/$1-bootstrap.json" 2>>"$W/cli.log"
  echo "$cred"
}
sync_json() { tz node sync --store "$1.sqlite" --json 2>>"$W/cli.log"; }
# POSTs a body file as a push with a credential; the answer goes to $3.
push() { curl -s -o "$3" --max-time "${4:-60}" -H "Content-Type: application/json" -H "Authorization: Bearer $1" --data-binary "@$2" "$HUB/v1/push"; }
health_seconds() { curl -s -o /dev/null --max-time 300 -w '%{time_total}' "$HUB/health"; }
health_line() { health_seconds; echo; }
first_village() { tzpy sql "$W/hub.sqlite" "select min(code) from division where length(code) = 12 and code like ?" "$1%"; }
hub_sql() { tzpy sql "$W/hub.sqlite" "$@"; }
stop_hub() { local pid=${PIDS[-1]}; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; return 0; }

# ---------------------------------------------------------------------------------------------------
# Finding 1: forged origins. Township A's node credential pushes check-ins in the name of an enrolled
# patrol device (seq 1 unsigned, seq 2 and 3 signed with A's own key), one of `patrol:ghost-device` (never
# enrolled), and replays township B's real change. Then the device itself checks in three times (its
# real seq 1–3) and syncs with the hub. Held: every forgery refused, the replay refused without a log
# seq, the device's three accepted, and the hub's log holds the device's text and no forged one.
finding1() {
  world f1 || return
  local village parcel lon lat lonB latB; village=$(first_village $TOWN_A)
  read -r parcel lon lat < <(tzpy parcel "$W/p.geojson" "$village")
  local credA; credA=$(node_up $TOWN_A)
  node_up $TOWN_B >/dev/null
  local villageB; villageB=$(first_village $TOWN_B)
  read -r _ lonB latB < <(tzpy parcel "$W/p.geojson" "$villageB")
  tz node case create --store $TOWN_B.sqlite --village "$villageB" --violation soilExtraction --lon "$lonB" --lat "$latB" --summary "B 的案件" --json >"$W/b-case.json" 2>>"$W/cli.log"
  sync_json $TOWN_B >"$W/b-sync.json"
  local credP; credP=$(enrol patrol:chief-1 --villages "$village")
  tz patrol init --store patrol.sqlite --upstream "$HUB" --credential "$credP" --replica patrol:chief-1 >>"$W/cli.log" 2>&1
  tz patrol sync --store patrol.sqlite --json >"$W/p-sync0.json" 2>>"$W/cli.log"

  # The attacks, all with township A's credential.
  tzpy forged-checkins "$credA" "node:$TOWN_A" patrol:chief-1 "$parcel" "$village" "$lon" "$lat" "$W/forged.json"
  push "$credA" "$W/forged.json" "$W/forged.out"
  tzpy replay "$W/$TOWN_B.sqlite" "node:$TOWN_B" 1 "node:$TOWN_A" "$W/replay.json"
  push "$credA" "$W/replay.json" "$W/replay.out"

  # The device's real work.
  for n in 1 2 3; do tz patrol checkin "$parcel" --lon "$lon" --lat "$lat" --observation "巡田 $n: 无异常" --store patrol.sqlite >>"$W/cli.log" 2>&1; done
  tz patrol sync --store patrol.sqlite --json >"$W/p-sync.json" 2>>"$W/cli.log"

  local forged replay accepted duplicates held_text forged_rows problems=()
  forged=$(tzpy results "$W/forged.out" | awk '{print $1" "$2 ($3 != "-" ? " "$3 : "") ($4 != "-" ? " (log seq "$4")" : "")}' | paste -sd',' | sed 's/,/, /g')
  replay=$(tzpy results "$W/replay.out" | awk '{print $2 ($3 != "-" ? " "$3 : "") ($4 != "-" ? " (log seq "$4")" : "")}')
  accepted=$(tzpy get accepted "$W/p-sync.json"); duplicates=$(tzpy get duplicates "$W/p-sync.json")
  held_text=$(hub_sql "select group_concat(json_extract(body, '\$.ops.observation.set'), ' | ') from (select body from change_log where origin = 'patrol:chief-1' order by origin_seq)")
  forged_rows=$(hub_sql "select count(*) from change_log where body like '%伪造%' or origin = 'patrol:ghost-device'")
  [ "$(tzpy results "$W/forged.out" | awk '{print $3}' | paste -sd' ')" = "missing_signature bad_signature bad_signature unknown_origin" ] \
    || problems+=("forged pushes answered: $forged")
  [ "$(tzpy results "$W/replay.out" | awk '{print $2, $3, $4}')" = "rejected outside_jurisdiction -" ] || problems+=("replay of node:$TOWN_B/1 answered $replay")
  [ "$accepted" = 3 ] && [ "$duplicates" = 0 ] || problems+=("the device's real seq 1-3: accepted $accepted, duplicate $duplicates")
  [ "$forged_rows" = 0 ] || problems+=("$forged_rows forged changes in the hub's log")
  [ "$held_text" = "巡田 1: 无异常 | 巡田 2: 无异常 | 巡田 3: 无异常" ] || problems+=("hub holds for patrol:chief-1: '$held_text'")
  OBSERVED="forged: $forged; replay of node:$TOWN_B/1: $replay; the device's real seq 1-3: accepted $accepted, duplicate $duplicates; the hub's log holds for patrol:chief-1: '$held_text', forged changes: $forged_rows"
  verdict 1 "${problems[@]}"
}

# ---------------------------------------------------------------------------------------------------
# Finding 2: the hub does not check workflow edges. Township A reports a case through the CLI (reported,
# round 1) and syncs it; then a crafted push of A (signed with A's key) moves it straight to `rectified`,
# building on the creation. Held: refused `illegal_transition`, and the hub's case is still `reported`.
finding2() {
  world f2 || return
  local credA village; credA=$(node_up $TOWN_A); village=$(first_village $TOWN_A)
  tz node case create --store $TOWN_A.sqlite --village "$village" --violation soilExtraction --lon 118.3 --lat 35.0 --summary "挖土" --json >"$W/case.json" 2>>"$W/cli.log"
  sync_json $TOWN_A >"$W/sync1.json"
  local case created; case=$(tzpy get id "$W/case.json"); created=$(tzpy get change "$W/case.json")
  tzpy status-jump "$credA" "node:$TOWN_A" 100 "$case" "$village" "$created" rectified "$W/jump.json"
  push "$credA" "$W/jump.json" "$W/jump.out"
  local answer status; answer=$(tzpy results "$W/jump.out" | awk '{print $2 ($3 != "-" ? " "$3 : "")}')
  status=$(hub_sql "select status from enforcement_case where id = ?" "$case")
  local problems=()
  [ "$answer" = "rejected illegal_transition" ] || problems+=("reported -> rectified answered $answer")
  [ "$status" = reported ] || problems+=("the hub's case is now '$status'")
  OBSERVED="reported -> rectified answered $answer; the hub's case is '$status'"
  verdict 2 "${problems[@]}"
}

# ---------------------------------------------------------------------------------------------------
# Finding 3: one wrong clock blocks a node. After a synced case, one note is written with the node's
# clock 6 h ahead (faketime -f +6h around the one `node note` process: the same for every binary, since
# older ones have no test knob), then ten notes and a case edit with the right clock, then a sync.
# Held: the eleven later edits are accepted. (The skewed note itself was refused `clock_ahead` by the
# first fixed version; since `clock_ahead` is not final and stamps ahead are re-recorded at hello, it is
# accepted too: SPEC §2.4.)
finding3() {
  world f3 || return
  node_up $TOWN_A >/dev/null
  local village; village=$(first_village $TOWN_A)
  tz node case create --store $TOWN_A.sqlite --village "$village" --violation houseOnFarmland --lon 118.3 --lat 35.0 --summary "新建房屋地基" --json >"$W/case.json" 2>>"$W/cli.log"
  local case; case=$(tzpy get id "$W/case.json")
  sync_json $TOWN_A >"$W/sync1.json"
  (cd "$W" && faketime -f '+6h' "$BIN" node note "$case" "钟快时的记录" --store $TOWN_A.sqlite >>cli.log 2>&1)
  local ahead_ms; ahead_ms=$(( $(tz node outbox --store $TOWN_A.sqlite | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["change"]["hlc"].split("-")[0])') - $(date +%s%3N) ))
  for n in $(seq 10); do tz node note "$case" "记录 $n" --store $TOWN_A.sqlite >>"$W/cli.log" 2>&1; done
  tz node case edit "$case" --summary "已停工" --store $TOWN_A.sqlite >>"$W/cli.log" 2>&1
  sync_json $TOWN_A >"$W/sync2.json"
  local accepted codes entries problems=()
  accepted=$(tzpy get accepted "$W/sync2.json"); codes=$(tzpy codes "$W/sync2.json")
  entries=$(hub_sql "select count(*) from timeline_entry where case_id = ?" "$case")
  [ "$ahead_ms" -gt 18000000 ] || problems+=("setup: the skewed note was stamped only ${ahead_ms} ms ahead")
  { [ "$accepted" = 11 ] && [ "$codes" = "clock_ahead x1" ]; } || { [ "$accepted" = 12 ] && [ -z "$codes" ]; } \
    || problems+=("of the skewed note and the 11 edits after it, accepted $accepted, refused ${codes:-none}")
  [ "$entries" -ge 10 ] || problems+=("hub holds $entries of the 10 later notes")
  OBSERVED="the skewed note was stamped $(( (ahead_ms + 30000) / 60000 )) min ahead; the sync of it and the 11 edits after it: accepted $accepted, refused ${codes:-none}; the hub holds $entries of the 10 later notes"
  verdict 3 "${problems[@]}"
}

# ---------------------------------------------------------------------------------------------------
# Finding 5: one polygon freezes the county. Township A's credential pushes a correction proposing a
# valid 40,000-position ring (about 2 MB, under the 4 MiB batch limit). While it runs, every half second
# /health is timed, and so is a push of township B (one ordinary change its node recorded with the CLI,
# taken from `node outbox` and sent with curl so that it can be timed; the first is accepted, the
# repeats answered `duplicate`). Held: the ring is refused `geometry_too_large` within 10 s, and every
# /health and every push of B answers within 1 s.
finding5() {
  world f5 || return
  local credA village parcel lonB latB; credA=$(enrol node:$TOWN_A --township $TOWN_A); village=$(first_village $TOWN_A)
  read -r parcel _ _ < <(tzpy parcel "$W/p.geojson" "$village")
  tzpy huge-correction "$credA" "node:$TOWN_A" "$parcel" "$village" 40000 "$W/huge.json"
  local credB villageB; credB=$(node_up $TOWN_B); villageB=$(first_village $TOWN_B)
  read -r _ lonB latB < <(tzpy parcel "$W/p.geojson" "$villageB")
  tz node case create --store $TOWN_B.sqlite --village "$villageB" --violation soilExtraction --lon "$lonB" --lat "$latB" --summary "B 的案件" >>"$W/cli.log" 2>&1
  tz node outbox --store $TOWN_B.sqlite | tzpy outbox-push "node:$TOWN_B" "$W/other.json"
  local size idle; size=$(stat -c %s "$W/huge.json"); idle=$(health_seconds | xargs printf '%.3f')

  local start=$SECONDS; push "$credA" "$W/huge.json" "$W/huge.out" 300 & local pusher=$!
  other_push() {   # B's push: seconds and outcome
    curl -s -o "$W/other.out" --max-time 300 -w '%{time_total}' -H "Content-Type: application/json" -H "Authorization: Bearer $credB" \
      --data-binary "@$W/other.json" "$HUB/v1/push"; echo " $(tzpy results "$W/other.out" | awk '{print $2}')"
  }
  sample() { while kill -0 $pusher 2>/dev/null; do "$@"; sleep 0.5; done; }   # while the push runs
  sample health_line >"$W/health.times" & local h=$!
  sample other_push >"$W/other.times" & local o=$!
  wait $pusher; local took=$((SECONDS - start)); wait $h $o

  local answer worst samples otherWorst otherSamples outcomes
  answer=$(tzpy results "$W/huge.out" | awk '{print $2 ($3 != "-" ? " "$3 : "")}')
  samples=$(grep -c . "$W/health.times"); worst=$(sort -g "$W/health.times" | tail -1 | xargs printf "%.3f")
  otherSamples=$(grep -c . "$W/other.times"); otherWorst=$(awk '{print $1}' "$W/other.times" | sort -g | tail -1 | xargs printf "%.3f")
  outcomes=$(awk '{print $2}' "$W/other.times" | sort | uniq -c | awk '{print $2" x"$1}' | paste -sd' ')
  local problems=()
  [ "$size" -lt 4194304 ] || problems+=("setup: the body is $size bytes, over 4 MiB")
  [ "$answer" = "rejected geometry_too_large" ] && [ $took -le 10 ] || problems+=("the 40,000-position ring ($size bytes) took ${took} s and was answered ${answer:-nothing}")
  python3 -c "import sys; sys.exit(0 if ${otherWorst:-999} < 1 else 1)" && ! grep -qv ' \(accepted\|duplicate\)$' "$W/other.times" \
    || problems+=("township B's one-change push during it took up to ${otherWorst:-?} s ($otherSamples pushes: $outcomes)")
  python3 -c "import sys; sys.exit(0 if ${worst:-0} < 1 else 1)" || problems+=("/health took up to ${worst} s during the push (${idle} s idle)")
  [ ${#problems[@]} -eq 0 ] || problems+=("$samples /health samples during the push")
  OBSERVED="the ring ($size bytes) answered ${answer:-nothing} after $took s; B's $otherSamples pushes during it ($outcomes): slowest $otherWorst s; /health: $samples samples, slowest $worst s ($idle s before the push)"
  verdict 5 "${problems[@]}"
}

# ---------------------------------------------------------------------------------------------------
# Finding 6: a node restored from an earlier copy of its store. With no node process running, the
# node's store files are copied; ten notes are made and synced; the copy is put back (a restore from
# backup, or lost commits: no command run, as `node restored` is optional and older binaries lack it),
# ten more notes are made and synced. Held: none of those ten comes back `duplicate`, all ten are
# accepted, and the hub holds them.
finding6() {
  world f6 || return
  node_up $TOWN_A >/dev/null
  local village; village=$(first_village $TOWN_A)
  tz node case create --store $TOWN_A.sqlite --village "$village" --violation other --lon 118.3 --lat 35.0 --summary "x" --json >"$W/case.json" 2>>"$W/cli.log"
  local case; case=$(tzpy get id "$W/case.json")
  sync_json $TOWN_A >"$W/sync1.json"
  mkdir "$W/backup" && for f in "$W/$TOWN_A.sqlite"{,-wal,-shm}; do [ -e "$f" ] && cp "$f" "$W/backup/"; done
  for n in $(seq 10); do tz node note "$case" "备份后 $n" --store $TOWN_A.sqlite >>"$W/cli.log" 2>&1; done
  sync_json $TOWN_A >"$W/sync2.json"
  rm -f "$W/$TOWN_A.sqlite"{,-wal,-shm}; cp "$W/backup/"* "$W/"
  for n in $(seq 10); do tz node note "$case" "恢复后 $n" --store $TOWN_A.sqlite >>"$W/cli.log" 2>&1; done
  sync_json $TOWN_A >"$W/sync3.json"
  local before accepted duplicates after problems=()
  before=$(tzpy get accepted "$W/sync2.json"); accepted=$(tzpy get accepted "$W/sync3.json"); duplicates=$(tzpy get duplicates "$W/sync3.json")
  after=$(hub_sql "select count(*) from timeline_entry where case_id = ? and body like '%恢复后%'" "$case")
  [ "$before" = 10 ] || problems+=("setup: the ten notes before the restore: accepted $before")
  [ "$duplicates" = 0 ] && [ "$accepted" = 10 ] || problems+=("the 10 edits after the restore: accepted $accepted, duplicate $duplicates")
  [ "$after" = 10 ] || problems+=("the hub holds $after of them")
  OBSERVED="before the restore: accepted $before of 10; after it: accepted $accepted, duplicate $duplicates of 10; the hub holds $after of those 10"
  verdict 6 "${problems[@]}"
}

# ---------------------------------------------------------------------------------------------------
# Prints the verdict on stdout and, on stderr, what was observed ($OBSERVED).
FAILED=0 OBSERVED=""
verdict() {
  local n=$1; shift
  if [ $# -eq 0 ]; then echo "finding $n: HELD"
  else FAILED=1; local text; text=$(printf '%s; ' "$@"); echo "finding $n: BROKEN (${text%; })"; fi
  [ -n "$OBSERVED" ] && echo "  observed: $OBSERVED" >&2
  OBSERVED=""
  stop_hub
}

echo "binary: $BIN"
for n in ${FINDINGS:-1 2 3 5 6}; do
  "finding$n" || { echo "finding $n: BROKEN (setup failed)"; FAILED=1; }
done
exit $FAILED
