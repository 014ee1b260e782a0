#!/usr/bin/env python3
"""What comes back from the Log Analytics engine as the entries scanned grow.

Loads N made-up Cloud Run entries (five error classes with varying ids, 5xx request
logs sharing traces, INFO noise) into a BigQuery emulator, runs the engine on them, and
prints per N: groups returned, clusters, the binary's peak RSS and wall time.

usage: bench/bigquery-scale.py EMULATOR_URL BINARY N [N...]
e.g.   bench/bigquery-scale.py "$(bash .ci/bigquery-emulator.sh)" target/release/gcp-triage 2000 20000 100000
"""
import json, os, random, subprocess, sys, time, urllib.request

url, binary, sizes = sys.argv[1], sys.argv[2], [int(n) for n in sys.argv[3:]]
project = "logs-proj"


def call(method, path, body=None):
    req = urllib.request.Request(f"{url}/bigquery/v2/projects/{project}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return {"http_error": e.code}


S = lambda n, t, f=None: dict(name=n, type=t, mode="NULLABLE", **({"fields": f} if f else {}))
SCHEMA = [S("timestamp", "TIMESTAMP"), S("log_name", "STRING"), S("insert_id", "STRING"), S("severity", "STRING"),
          S("resource", "RECORD", [S("type", "STRING"), S("labels", "JSON")]), S("labels", "JSON"),
          S("json_payload", "JSON"), S("text_payload", "STRING"),
          S("proto_payload", "RECORD", [S("audit_log", "RECORD", [S("status", "RECORD", [S("code", "INTEGER"), S("message", "STRING")])])]),
          S("http_request", "RECORD", [S("request_method", "STRING"), S("request_url", "STRING"), S("user_agent", "STRING"),
                                       S("status", "INTEGER"), S("latency", "RECORD", [S("seconds", "INTEGER"), S("nanos", "INTEGER")])]),
          S("trace", "STRING"), S("span_id", "STRING"),
          S("source_location", "RECORD", [S("file", "STRING"), S("line", "INTEGER"), S("function", "STRING")])]


def rows(n, seed=7):
    rnd = random.Random(seed)
    t0 = 1_762_164_000  # 2025-11-03T10:00:00Z
    for i in range(n):
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 + i * 86_400 // n)) + f".{i % 1000:03d}Z"
        inst = f"inst-{rnd.randrange(40):02d}"
        trace = f"projects/p/traces/{rnd.getrandbits(64):016x}"
        k = i % 10
        res = {"type": "cloud_run_revision", "labels": json.dumps({"service_name": "orders", "revision_name": f"orders-000{1 + i * 3 // n}-abc"})}
        base = {"timestamp": ts, "insert_id": f"e{i}", "resource": res, "labels": json.dumps({"instanceId": inst}),
                "log_name": "projects/p/logs/run.googleapis.com%2Fstderr", "trace": trace}
        if k == 0:
            base.update(severity="ERROR", text_payload=f"rpc error: code = Unavailable desc = dial tcp 10.0.{rnd.randrange(255)}.{rnd.randrange(255)}:443: connect: connection refused")
        elif k == 1:
            base.update(severity="ERROR", text_payload=f"KeyError: 'customer_{rnd.randrange(10**6)}'")
        elif k == 2:
            base.update(severity="WARNING", json_payload=json.dumps({"message": f"order {rnd.randrange(10**9)} retried after {rnd.randrange(900)} ms", "level": "warning"}))
        elif k == 3:
            base.update(severity="ERROR", log_name="projects/p/logs/run.googleapis.com%2Frequests",
                        http_request={"request_method": "POST", "request_url": f"https://orders.example.run.app/v1/orders/{rnd.randrange(10**6)}",
                                      "status": 503, "latency": {"seconds": 0, "nanos": rnd.randrange(10**9)}})
        else:
            base.update(severity="INFO", text_payload=f"served order {rnd.randrange(10**6)} in {rnd.randrange(900)} ms")
        yield {"json": base}


for n in sizes:
    dataset = f"scale_{n}"
    call("POST", "/datasets", {"datasetReference": {"projectId": project, "datasetId": dataset}})
    call("DELETE", f"/datasets/{dataset}/tables/_AllLogs")
    call("POST", f"/datasets/{dataset}/tables", {"tableReference": {"projectId": project, "datasetId": dataset, "tableId": "_AllLogs"}, "schema": {"fields": SCHEMA}})
    batch = []
    for r in rows(n):
        batch.append(r)
        if len(batch) == 1000:
            call("POST", f"/datasets/{dataset}/tables/_AllLogs/insertAll", {"rows": batch})
            batch = []
    if batch:
        call("POST", f"/datasets/{dataset}/tables/_AllLogs/insertAll", {"rows": batch})
    env = dict(os.environ, GCP_TRIAGE_BIGQUERY_ENDPOINT=url, GOOGLE_OAUTH_ACCESS_TOKEN="bench")
    start = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-f", "%M", binary, "-q", "analyze", "--bigquery-table", f"{project}.{dataset}._AllLogs", "--project", project,
                          "--from", "2025-11-03T10:00:00Z", "--until", "2025-11-04T10:00:00Z", "--no-code", "--format", "json"],
                         capture_output=True, env=env)
    wall = time.perf_counter() - start
    if out.returncode not in (0, 1):
        sys.exit(out.stderr.decode())
    peak = int(out.stderr.decode().strip().splitlines()[-1])  # KiB, from /usr/bin/time
    report = json.loads(out.stdout)
    q = report["query"]["bigquery"]
    print(f"N={n:>7}: {q['groups']} groups returned, {q['follow_ups']} follow-ups, {len(report['clusters'])} clusters, "
          f"{report['summary']['entries_clustered']} entries clustered, peak RSS {peak / 1024:.1f} MiB, {wall:.2f} s (emulator included)")
