#!/usr/bin/env bash
# Throughput of the fallback on Loghub-2k lines: all systems' messages, repeated to
# 160,000 lines, analysed as text 5 times; prints the median wall time and lines/s.
#
# usage: bench/loghub-speed.sh [BIN...]     (default: this repository's release build)
#   e.g. bench/loghub-speed.sh target/release/gcp-triage /tmp/old/gcp-triage
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${LOGHUB_DIR:-$root/../shared/bench/loghub2k}"
[ -d "$data" ] || { echo "no Loghub data at $data" >&2; exit 2; }
if [ $# -eq 0 ]; then
  cargo build --release --locked --quiet --manifest-path "$root/Cargo.toml"
  set -- "$root/target/release/gcp-triage"
fi
input="$(mktemp)"
trap 'rm -f "$input"' EXIT
for _ in $(seq 10); do cat "$data"/*/*_2k.content.txt; done >"$input"
python3 - "$input" "$@" <<'PY'
import statistics, subprocess, sys, time
path, bins = sys.argv[1], sys.argv[2:]
lines = sum(1 for _ in open(path, encoding="utf-8", errors="replace"))
for b in bins:
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([b, "-q", "analyze", "--input-format", "text", "--min-severity", "DEFAULT",
                        "--format", "json", path], stdout=subprocess.DEVNULL, check=True)
        runs.append(time.perf_counter() - t)
    m = statistics.median(runs)
    print(f"{b}: {lines} lines, median {m:.3f} s over 5 runs, {lines / m:,.0f} lines/s")
PY
