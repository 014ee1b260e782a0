#!/usr/bin/env bash
# Grouping accuracy (GA) of gcp-triage's signatures on Loghub-2k.
#
# Runs `gcp-triage analyze --input-format text --min-severity DEFAULT --assignments`
# on each system's messages (one per line), turns the assignments into one cluster id
# per line in input order, and scores them with the benchmark's ga.py.
#
# usage: bench/loghub.sh [LOGHUB_DIR] [GA_PY]
#   defaults: ../shared/bench/loghub2k and ../shared/bench/ga.py next to the repository
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$root/../shared/bench/loghub2k}"
ga="${2:-$root/../shared/bench/ga.py}"
[ -d "$data" ] || { echo "no Loghub data at $data" >&2; exit 2; }
[ -f "$ga" ] || { echo "no ga.py at $ga" >&2; exit 2; }

cargo build --release --locked --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/gcp-triage"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/csv"

total_lines=0
start=$(date +%s.%N)
for dir in "$data"/*/; do
  sys="$(basename "$dir")"
  content="$dir/${sys}_2k.content.txt"
  [ -f "$content" ] || continue
  "$bin" -q analyze --input-format text --min-severity DEFAULT --top 1 --format json \
    --assignments "$work/csv/$sys.csv" "$content" >/dev/null
  lines=$(wc -l <"$content")
  total_lines=$((total_lines + lines))
  # position,fingerprint rows (any order) -> one id per input line, in order
  python3 - "$work/csv/$sys.csv" "$lines" >"$work/$sys.txt" <<'PY'
import csv, sys
rows = {}
with open(sys.argv[1], newline="") as f:
    for r in csv.DictReader(f):
        rows[int(r["insert_id"])] = r["fingerprint"]
for i in range(1, int(sys.argv[2]) + 1):
    print(rows.get(i, f"unclustered-{i}"))
PY
done
end=$(date +%s.%N)

python3 "$ga" --batch "$data" "$work"
python3 - "$start" "$end" "$total_lines" <<'PY'
import sys
s, e, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"{n} lines in {e - s:.2f} s including the scoring glue ({n / (e - s):,.0f} lines/s)")
PY
