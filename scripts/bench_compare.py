#!/usr/bin/env python3
"""Side-by-side benchmarks: Tianzhang next to what users would pick instead, in one run on the same data.

Called by scripts/bench-compare.sh (which builds the release tool, installs pygeodiff and starts a
throwaway PostgreSQL). For each size, `tianzhang bench-compare` writes the generated parcels and the
edit sets as JSON lines and prints the project's figures; this script measures, on the very same rows:
  - raw SQLite upserts through Python's sqlite3 (WAL, one transaction): the floor of what a store can do;
  - Mergin Maps' geodiff (pygeodiff): changeset size (raw, gzip), apply rate, rebase of concurrent edits;
  - gzip of the changes as changed-field JSON lines: the byte floor for a JSON protocol;
then the bootstrap and slow-link figures (`tianzhang bench`) and a node's peak memory while it
bootstraps the largest township from a real `hub serve` process. Prints one markdown table per size.
"""
import argparse, gzip, json, os, shutil, sqlite3, subprocess, sys, tempfile, time

COLUMNS = ["id", "village", "land_class", "area_mu", "pbf", "field_chief", "note", "wkt"]


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def create(path, base, integer_key):
    """A parcel table holding `base`; geodiff needs an integer primary key (fid), plain SQLite uses the id."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    key = "fid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL" if integer_key else "id TEXT PRIMARY KEY"
    db.execute(f"CREATE TABLE parcel ({key}, village TEXT, land_class TEXT, area_mu REAL, pbf INTEGER, field_chief TEXT, note TEXT, wkt TEXT)")
    with db:
        db.executemany(f"INSERT INTO parcel ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})",
                       [tuple(row[c] for c in COLUMNS) for row in base])
    return db


def apply_edits(db, edits):
    """Applies an edit set as upserts and deletes, in one transaction."""
    with db:
        for edit in edits:
            op = edit["op"]
            if op == "update":
                sets = {k: v for k, v in edit.items() if k not in ("op", "id")}
                db.execute(f"UPDATE parcel SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?", (*sets.values(), edit["id"]))
            elif op == "insert":
                db.execute(f"INSERT INTO parcel ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))}) "
                           f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in COLUMNS[1:])}",
                           tuple(edit[c] for c in COLUMNS))
            else:
                db.execute("DELETE FROM parcel WHERE id = ?", (edit["id"],))


def raw_sqlite_rate(folder, base, edits):
    path = os.path.join(folder, "raw.sqlite")
    db = create(path, base, integer_key=False)
    start = time.perf_counter()
    apply_edits(db, edits)
    elapsed = time.perf_counter() - start
    db.close()
    return len(edits) / elapsed


def changed_field_json_bytes(edits):
    """gzip of one JSON line per change holding only what changed (ids and changed fields; whole rows for inserts)."""
    text = "".join(json.dumps({k: v for k, v in e.items() if k != "op"} | ({"deleted": True} if e["op"] == "delete" else {}),
                              ensure_ascii=False, sort_keys=True) + "\n" for e in edits)
    return len(gzip.compress(text.encode("utf-8"), 6))


def geodiff_figures(folder, base, edits, rebase_a, rebase_b):
    import pygeodiff
    g = pygeodiff.GeoDiff()
    base_path = os.path.join(folder, "gd-base.sqlite")
    create(base_path, base, integer_key=True).close()
    modified = os.path.join(folder, "gd-modified.sqlite")
    shutil.copy(base_path, modified)
    db = sqlite3.connect(modified)
    apply_edits(db, edits)
    db.close()
    changeset = os.path.join(folder, "gd.changeset")
    g.create_changeset(base_path, modified, changeset)
    raw = os.path.getsize(changeset)
    with open(changeset, "rb") as f:
        zipped = len(gzip.compress(f.read(), 6))
    target = os.path.join(folder, "gd-target.sqlite")
    shutil.copy(base_path, target)
    start = time.perf_counter()
    g.apply_changeset(target, changeset)
    apply_rate = len(edits) / (time.perf_counter() - start)

    # Rebase: the annex's edits (B) onto the office's (A), both from the same base.
    their, mine = os.path.join(folder, "gd-a.sqlite"), os.path.join(folder, "gd-b.sqlite")
    for path, edit_set in ((their, rebase_a), (mine, rebase_b)):
        shutil.copy(base_path, path)
        db = sqlite3.connect(path)
        apply_edits(db, edit_set)
        db.close()
    conflicts = os.path.join(folder, "gd-conflicts.json")
    start = time.perf_counter()
    g.rebase(base_path, their, mine, conflicts)
    rebase_rate = len(rebase_b) / (time.perf_counter() - start)
    return {"raw": raw, "gzip": zipped, "apply": apply_rate, "rebase": rebase_rate}


def geodiff_rebase_with_text_ids(folder, base, rebase_a, rebase_b):
    """Whether geodiff's rebase gives the expected rows when the table's key is the parcel's text id
    (as parcels are keyed in practice): every row keeps the other side's edits unless the local side
    edited it too. Returns (wrong rows, rows checked, error or None)."""
    import pygeodiff
    g = pygeodiff.GeoDiff()
    paths = {name: os.path.join(folder, f"gdt-{name}.sqlite") for name in ("base", "their", "mine")}
    create(paths["base"], base, integer_key=False).close()
    for name, edit_set in (("their", rebase_a), ("mine", rebase_b)):
        shutil.copy(paths["base"], paths[name])
        db = sqlite3.connect(paths[name])
        apply_edits(db, edit_set)
        db.close()
    try:
        g.rebase(paths["base"], paths["their"], paths["mine"], os.path.join(folder, "gdt-conflicts.json"))
    except Exception as error:  # geodiff refuses or fails: not correct either
        return None, 0, str(error).splitlines()[0][:80]
    expected = {row["id"]: row["note"] for row in base}
    for edit in rebase_a:
        expected[edit["id"]] = edit["note"]
    for edit in rebase_b:
        expected[edit["id"]] = edit["note"]
    db = sqlite3.connect(paths["mine"])
    got = dict(db.execute("SELECT id, note FROM parcel"))
    db.close()
    touched = {e["id"] for e in rebase_a} | {e["id"] for e in rebase_b}
    wrong = sum(1 for key in touched if got.get(key) != expected[key])
    return wrong, len(touched), None


def node_peak_memory(tool, folder):
    """A node's peak RSS (MiB) while it bootstraps the township from a `hub serve` process on the base hub."""
    hub = os.path.join(folder, "hub-base.sqlite")
    port_file = os.path.join(folder, "port")
    server = subprocess.Popen([tool, "hub", "serve", "--store", hub, "--county", "371312", "--port", "0", "--port-file", port_file],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(400):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        port = open(port_file).read().strip()
        secret = subprocess.run([tool, "hub", "enrol", "--store", hub, "--replica", "node:371312001-mem", "--township", "371312001"],
                                check=True, capture_output=True, text=True).stdout.strip()
        node = os.path.join(folder, "node-mem.sqlite")
        subprocess.run([tool, "node", "init", "--store", node, "--hub", f"http://127.0.0.1:{port}", "--credential", secret,
                        "--replica", "node:371312001-mem"], check=True, capture_output=True)
        start = time.perf_counter()
        child = subprocess.Popen([tool, "node", "sync", "--store", node, "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        output = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        report = json.loads(output or b"{}")
        return usage.ru_maxrss / 1024, report.get("received", 0), seconds, os.waitstatus_to_exitcode(status)
    finally:
        server.terminate()
        server.wait()


def fmt(value, digits=0):
    return "—" if value is None else f"{value:,.{digits}f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True)
    parser.add_argument("--sizes", default="25000,100000")
    parser.add_argument("--postgres", default=os.environ.get("TIANZHANG_TEST_POSTGRES"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="tianzhang-compare-")
    import pygeodiff
    print(f"machine: {os.cpu_count()} cores; geodiff {pygeodiff.GeoDiff().version()}; SQLite {sqlite3.sqlite_version}; Python {sys.version.split()[0]}")
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        for size in sizes:
            folder = os.path.join(work, str(size))
            os.makedirs(folder)
            command = [args.tool, "bench-compare", "--parcels", str(size), "--dir", folder] + (["--postgres", args.postgres] if args.postgres else [])
            ours = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            base = lines(os.path.join(folder, "base.jsonl"))
            rebase_a, rebase_b = lines(os.path.join(folder, "rebase-a.jsonl")), lines(os.path.join(folder, "rebase-b.jsonl"))
            print(f"\n### {ours['parcels']:,} parcels (one township of county 371312, 5-vertex polygons)\n")
            print("| edit set | measure | Tianzhang | other system | ratio (Tianzhang ÷ other) | target |")
            print("| --- | --- | --- | --- | --- | --- |")
            for share in ours["shares"]:
                edits = lines(os.path.join(folder, f"edits-{share['share']}.jsonl"))
                raw = raw_sqlite_rate(folder, base, edits)
                gd = geodiff_figures(folder, base, edits, rebase_a, rebase_b)
                floor = changed_field_json_bytes(edits) / len(edits)
                label = f"{share['share']}% ({share['updates']:,} updates, {share['inserts']:,} inserts, {share['deletes']:,} deletes)"
                ingest = share["sqliteIngestPerSecond"]
                print(f"| {label} | hub ingest on SQLite, changes/s | {fmt(ingest)} | geodiff apply {fmt(gd['apply'])} | {ingest / gd['apply']:.2f}× | ≥ 2× |")
                print(f"| | … next to raw SQLite upserts (Python sqlite3, WAL, one transaction) | {fmt(ingest)} | {fmt(raw)} | {ingest / raw:.3f}× | ≥ 1× |")
                if share.get("postgresIngestPerSecond"):
                    one, two = share["postgresIngestPerSecond"], share["postgresTwoHubsPerSecond"]
                    print(f"| | hub ingest on PostgreSQL, one hub / two hubs, changes/s | {fmt(one)} / {fmt(two)} | — | two ÷ one {two / one:.2f}× | ≥ 1.6× |")
                wire = share["wireBytesPerChange"]
                print(f"| | bytes per change (gzip push request + answer) | {wire:.1f} | gzip changed-field JSON {floor:.1f} | {wire / floor:.2f}× | ≤ 1× |")
                gd_per_change = gd["gzip"] / len(edits)
                print(f"| | … next to geodiff's changeset (raw {gd['raw'] / len(edits):.1f} B, gzip) | {wire:.1f} | {gd_per_change:.1f} | {wire / gd_per_change:.2f}× | ≤ 0.6× |")
            merge = ours["mergePerSecond"]
            wrong, checked, error = geodiff_rebase_with_text_ids(folder, base, rebase_a, rebase_b)
            verdict = f"fails: {error}" if error else f"{wrong:,} of {checked:,} rows wrong"
            print(f"| concurrent, rows keyed by their text id | rebase correct? | every row as the rules say (`merge` and golden vectors) | geodiff: {verdict} | — | correct |")
            print(f"| concurrent ({ours['mergeChanges']:,} edits onto {len(rebase_a):,}, {ours['mergeConflicts']:,} conflicting) | conflict merge, changes/s | {fmt(merge)} | geodiff rebase {fmt(gd['rebase'])} | {merge / gd['rebase']:.2f}× | ≥ 10× |")
            if size == sizes[-1]:
                peak, received, seconds, status = node_peak_memory(args.tool, folder)
                print(f"| bootstrap | node peak memory (RSS) bootstrapping {received:,} changes from `hub serve`, {seconds:.1f} s (exit {status}) | {peak:.0f} MiB | — | — | ≤ 150 MiB |")
        bench = json.loads(subprocess.run([args.tool, "bench", "--parcels", str(sizes[0]), "--changes", "1000", "--slow-changes", "1000", "--json"],
                                          check=True, capture_output=True, text=True).stdout)
        print(f"\n### Bootstrap and a slow link ({bench['parcels']:,} parcels; `tianzhang bench`)\n")
        print("| measure | Tianzhang | next to | ratio | target |")
        print("| --- | --- | --- | --- | --- |")
        print(f"| bootstrap bytes per parcel (on the wire) | {bench['bootstrapBytesPerParcel']:.1f} B | gzip(GeoJSON) {bench['geojsonGzipBytes'] / bench['parcels']:.1f} B | {bench['bootstrapToGeoJSONGzip']:.2f}× | ≤ 0.5× |")
        print(f"| bootstrap time on loopback | {bench['bootstrapSeconds']:.1f} s | — | — | ≤ 3 s |")
        print(f"| 1,000 changes at {bench['slowLinkKbits']} kbit/s, {bench['slowLinkLatencyMilliseconds']} ms | {bench['slowSeconds']:.1f} s | bound {bench['slowBoundSeconds']:.1f} s | {bench['slowToBound']:.2f}× | ≤ 1.3× |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
