#!/usr/bin/env bash
# Speed and memory of `gcp-triage analyze` on generated Cloud Run exports, measured in
# one run on the same files against:
#   - the floor: a bare, single-threaded, typed serde_json parse (examples/parse-floor.rs);
#   - the everyday alternative: jq | sort | uniq -c over ERROR messages;
#   - for gzip input, zcat alone.
# Prints wall time, MB/s, entries/s and peak RSS (the largest single process, from
# /usr/bin/time's %M) for each, the median of the runs (peak RSS also with its range
# over the runs: it moves by a few MB between runs of the same input), and the ratios. With --curve, also the cost per entry
# as distinct error signatures grow from 10 to 10,000. With --big GB, the bounded-memory
# check: an export of about GB gigabytes (NDJSON, then a JSON array) at the smallest
# size's rate (that many entries a day, so over many days) is generated into a pipe and
# read by `gcp-triage analyze -`, never written to disk; its peak RSS is set against the
# smallest size's (medians of the runs), and the script exits 1 if it is more than 10%
# higher or entries went missing. The same gigabytes written into one day (a busier service) are measured too,
# and reported without a bar: the errors kept for linking 5xx requests cover a window of
# time, so they grow with the rate of errors up to their cap, not with the input.
#
# usage: bench/speed.sh [--sizes "100000 1000000"] [--runs N] [--curve] [--big GB] [--dir DIR]
#   The generated files (about 2.1 GB per million entries in all shapes) go to DIR,
#   default a temporary directory removed at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sizes="100000 1000000"
runs=3
curve=0
big=0
dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --curve) curve=1; shift ;;
    --big) big="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    *) echo "usage: bench/speed.sh [--sizes \"N...\"] [--runs N] [--curve] [--big GB] [--dir DIR]" >&2; exit 2 ;;
  esac
done
for tool in jq zcat /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "bench/speed.sh needs $tool" >&2; exit 2; }
done
if [ -z "$dir" ]; then
  dir="$(mktemp -d)"
  trap 'rm -rf "$dir"' EXIT
fi
mkdir -p "$dir"
cargo build --release --locked --quiet --manifest-path "$root/Cargo.toml" \
  --bin gcp-triage --example gen-export --example parse-floor
rel="$root/target/release"
gen="$rel/examples/gen-export"
for n in $sizes; do
  [ -s "$dir/$n.ndjson" ] || "$gen" --entries "$n" --format ndjson -o "$dir/$n.ndjson"
  [ -s "$dir/$n.json" ] || "$gen" --entries "$n" --format array -o "$dir/$n.json"
  [ -s "$dir/$n.ndjson.gz" ] || "$gen" --entries "$n" --format ndjson --gzip -o "$dir/$n.ndjson.gz"
done
if [ "$curve" = 1 ]; then
  for k in 10 100 1000 10000; do
    [ -s "$dir/curve-$k.ndjson" ] || "$gen" --entries 200000 --signatures "$k" -o "$dir/curve-$k.ndjson"
  done
fi
python3 - "$dir" "$rel" "$runs" "$curve" "$big" $sizes <<'PY'
import json, os, statistics, subprocess, sys, tempfile
folder, rel, runs, curve, big, sizes = (sys.argv[1], sys.argv[2], int(sys.argv[3]),
                                        sys.argv[4] == "1", float(sys.argv[5]), sys.argv[6:])
triage, floor = f"{rel}/gcp-triage", f"{rel}/examples/parse-floor"
JQ = ('select(.severity == "ERROR" or .severity == "CRITICAL") '
      '| (.jsonPayload.message // .textPayload // .httpRequest.requestUrl // "") | split("\\n")[0]')

def measure(cmd, times):
    """Median wall seconds, and the median, least and largest peak RSS (MB), over `times`
    runs of a shell command."""
    walls, rss = [], []
    for _ in range(times):
        with tempfile.NamedTemporaryFile("r") as t:
            subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", t.name, "bash", "-c", cmd],
                           stdout=subprocess.DEVNULL, check=True)
            wall, kb = t.read().split()[-2:]
            walls.append(float(wall)); rss.append(int(kb) / 1024)
    return statistics.median(walls), (statistics.median(rss), min(rss), max(rss))

def q(p): return "'" + p.replace("'", "'\\''") + "'"

rows = []
def row(label, tool, cmd, path, entries, times, base=None, plain=None):
    """One measured command; MB/s counts the uncompressed bytes (`plain`)."""
    wall, rss = measure(cmd, times)
    mb = os.path.getsize(plain or path) / 1e6
    rows.append((label, tool, wall, mb / wall, entries / wall, rss, wall / base if base else None))
    return wall

for n in sizes:
    n_int = int(n)
    nd, arr, gz = (f"{folder}/{n}.{s}" for s in ("ndjson", "json", "ndjson.gz"))
    analyze = f"{q(triage)} -q analyze --format json"
    for label, path in ((f"{n} NDJSON", nd), (f"{n} array", arr)):
        base = row(label, "parse floor (1 thread)", f"{q(floor)} {q(path)}", path, n_int, runs)
        row(label, "gcp-triage analyze", f"{analyze} {q(path)}", path, n_int, runs, base)
        jq_prog = JQ if path == nd else ".[] | " + JQ
        row(label, "jq \\| sort \\| uniq -c", f"jq -r {q(jq_prog)} {q(path)} | sort | uniq -c", path, n_int, 1, base)
    label = f"{n} NDJSON.gz"
    base = row(label, "zcat", f"zcat {q(gz)}", gz, n_int, runs, plain=nd)
    row(label, "gcp-triage analyze", f"{analyze} {q(gz)}", gz, n_int, runs, base, plain=nd)
    row(label, "zcat \\| jq \\| sort \\| uniq -c", f"zcat {q(gz)} | jq -r {q(JQ)} | sort | uniq -c", gz, n_int, 1, base, plain=nd)

def mb(rss):
    """A peak RSS as its median, with the range when the runs differ."""
    mid, low, high = rss
    return f"{mid:.1f}" if low == high else f"{mid:.1f} ({low:.1f}–{high:.1f})"

print("| input | tool | wall s | MB/s (uncompressed) | entries/s | peak RSS MB (range) | × floor (× zcat for .gz) |")
print("|---|---|---:|---:|---:|---:|---:|")
for label, tool, wall, mbs, eps, rss, ratio in rows:
    r = f"{ratio:.2f}" if ratio else "1.00" if tool in ("zcat",) or tool.startswith("parse") else ""
    print(f"| {label} | {tool} | {wall:.2f} | {mbs:,.0f} | {eps:,.0f} | {mb(rss)} | {r} |")
if len(sizes) > 1:
    print()
    print(f"`gcp-triage analyze` peak RSS at {sizes[-1]} against {sizes[0]} entries (medians):", ", ".join(
        f"{shape} {big_row[5][0] / small_row[5][0]:.2f}"
        for shape in ("NDJSON", "array", "NDJSON.gz")
        for small_row in rows if small_row[0] == f"{sizes[0]} {shape}" and small_row[1] == "gcp-triage analyze"
        for big_row in rows if big_row[0] == f"{sizes[-1]} {shape}" and big_row[1] == "gcp-triage analyze"))

if curve:
    print()
    print("| distinct signatures | clusters | wall s | entries/s | µs per entry | peak RSS MB (range) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for k in (10, 100, 1000, 10000):
        path = f"{folder}/curve-{k}.ndjson"
        wall, rss = measure(f"{q(triage)} -q analyze --format json {q(path)}", runs)
        out = subprocess.run([triage, "-q", "analyze", "--format", "json", path],
                             capture_output=True, check=True).stdout
        clusters = json.loads(out)["summary"]["clusters_total"]
        print(f"| {k:,} | {clusters:,} | {wall:.2f} | {200000 / wall:,.0f} | {wall / 200000 * 1e6:.2f} | {mb(rss)} |")

def streamed(fmt, entries, days):
    """Generates `entries` over `days` into a pipe read by `analyze -`: (bytes, entries
    read, wall s, peak RSS MB of analyze alone)."""
    with tempfile.NamedTemporaryFile("r") as t, tempfile.NamedTemporaryFile("r") as count:
        cmd = (f"set -o pipefail; {q(rel + '/examples/gen-export')} --entries {entries} --format {fmt}"
               f" --days {days:.4f}"
               f" | tee >(wc -c > {q(count.name)})"
               f" | /usr/bin/time -f '%e %M' -o {q(t.name)} {q(triage)} -q analyze --format json -")
        out = subprocess.run(["bash", "-c", cmd], capture_output=True, check=True).stdout
        wall, kb = t.read().split()[-2:]
        read = json.loads(out)["summary"]["entries_read"]
        # tee's counter may finish a moment after the pipeline.
        size = 0
        for _ in range(50):
            count.seek(0)
            text = count.read().strip()
            if text:
                size = int(text)
                break
            subprocess.run(["sleep", "0.1"])
        return size, read, float(wall), int(kb) / 1024

def streamed_runs(fmt, entries, days, times):
    """`streamed` `times` times: (bytes, whether every run read every entry, median wall s,
    peak RSS as in `measure`)."""
    results = [streamed(fmt, entries, days) for _ in range(times)]
    rss = [r[3] for r in results]
    return (results[0][0], all(r[1] == entries for r in results), statistics.median(r[2] for r in results),
            (statistics.median(rss), min(rss), max(rss)))

failed = False
if big:
    small = sizes[0]
    print()
    print(f"Bounded memory: about {big:g} GB generated into a pipe, read by `gcp-triage analyze -`,"
          f" against {small} entries (one day) read from a file.")
    print()
    print("| input | days | bytes | entries | wall s (generator shares the cores) | peak RSS MB (range) "
          f"| × RSS at {small} (medians) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for fmt, ext in (("ndjson", "ndjson"), ("array", "json")):
        path = f"{folder}/{small}.{ext}"
        _, base = measure(f"{q(triage)} -q analyze --format json {q(path)}", runs)
        per_entry = os.path.getsize(path) / int(small)
        entries = int(big * 1e9 / per_entry) + 1
        print(f"| {fmt}, from a file | 1 | {os.path.getsize(path):,} | {int(small):,} | | {mb(base)} | 1.00 |")
        # Checked: the same rate as the file, so only the length differs.
        days = entries / int(small)
        size, whole, wall, rss = streamed_runs(fmt, entries, days, runs)
        ratio = rss[0] / base[0]
        failed |= ratio > 1.10 or not whole
        print(f"| {fmt}, streamed, same rate | {days:.1f} | {size:,} | {entries:,} | {wall:.1f} | {mb(rss)} "
              f"| {ratio:.2f} |")
        if fmt == "ndjson":
            # Reported: the same bytes in one day, that many times the rate.
            size, whole, wall, rss = streamed_runs(fmt, entries, 1, 1)
            failed |= not whole
            print(f"| {fmt}, streamed, one day ({days:.0f}× the rate; not checked) | 1 | {size:,} | {entries:,} "
                  f"| {wall:.1f} | {mb(rss)} | {rss[0] / base[0]:.2f} |")
    print()
    print("Bounded-memory check (same rate, medians):",
          "FAILED (more than 10% above, or entries lost)" if failed else "passed (within 10%)")
sys.exit(1 if failed else 0)
PY
