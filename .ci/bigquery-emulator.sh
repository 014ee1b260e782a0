#!/usr/bin/env bash
# Installs (once, into target/bqemulator) and starts the BigQuery REST emulator the
# Log Analytics tests run against, on 127.0.0.1. Prints its URL on stdout and writes
# its pid to target/bqemulator/pid. Pins from ../shared/docs/log-analytics.md §8:
# bqemulator 1.4.0 with duckdb 1.5.5 and numpy; the spatial extension (a download at
# start) is skipped, which only loses GEOGRAPHY.
set -euo pipefail
cd "$(dirname "$0")/.."
home=target/bqemulator
mkdir -p "$home"
if [ ! -x "$home/venv/bin/python" ] || ! "$home/venv/bin/python" -c 'import bqemulator' 2>/dev/null; then
  python3 -m venv "$home/venv" >&2
  "$home/venv/bin/pip" install --quiet --disable-pip-version-check \
    bqemulator==1.4.0 duckdb==1.5.5 numpy >&2
fi
cat >"$home/start.py" <<'PY'
import sys
import bqemulator.storage.engine as _eng
_eng.DuckDBEngine._load_spatial = lambda self: None
from bqemulator.cli import main
sys.exit(main())
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$home/venv/bin/python" "$home/start.py" start --rest-host 127.0.0.1 --rest-port "$port" \
  --grpc-host 127.0.0.1 --grpc-port 0 --project logs-proj --log-level warning \
  >"$home/log" 2>&1 &
echo $! >"$home/pid"
for _ in $(seq 60); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" 2>/dev/null; then
    echo "http://127.0.0.1:$port"
    exit 0
  fi
  sleep 0.5
done
echo "the BigQuery emulator did not start; its log:" >&2
tail -20 "$home/log" >&2
exit 1
