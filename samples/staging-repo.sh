#!/usr/bin/env bash
# Makes a small git repository to go with staging-incident.json: the module its
# traceback points into, before and after the deploy that broke it, so that
#   gcp-triage analyze samples/staging-incident.json --repo DIR --commits HEAD~2..HEAD
# shows the code section (the failing line, its blame, the commits that came near it).
#
# usage: bash samples/staging-repo.sh DIR   (DIR must not exist yet)
set -euo pipefail
dir="${1:?usage: staging-repo.sh DIR}"
[ -e "$dir" ] && { echo "$dir exists already" >&2; exit 2; }
mkdir -p "$dir/netra_backend/app/agents" "$dir/netra_backend/app/routes" "$dir/netra_backend/app/core"
cd "$dir"
export GIT_AUTHOR_NAME="Sample Author" GIT_AUTHOR_EMAIL="author@example.com"
export GIT_COMMITTER_NAME="Sample Author" GIT_COMMITTER_EMAIL="author@example.com"
git init -q -b main .

# supervisor.py: `execute` calls `_run_pipeline` at line 212, which reads the thread
# id at line 287.
module() {
  local read_thread="$1"
  for n in $(seq 1 320); do
    case $n in
      1) echo '"""The supervisor agent: runs the pipeline for one request."""' ;;
      200) echo 'class Supervisor:' ;;
      205) echo '    async def execute(self, context):' ;;
      212) echo '        result = await self._run_pipeline(context)' ;;
      213) echo '        return result' ;;
      280) echo '    async def _run_pipeline(self, context):' ;;
      287) echo "        $read_thread" ;;
      288) echo '        return await self.pipeline.run(thread_id, context)' ;;
      *) echo "    # $n" ;;
    esac
  done
}
# routes/websocket.py: the endpoint reads the health report at line 557.
websocket() {
  local fetch="$1"
  for n in $(seq 1 600); do
    case $n in
      540) echo 'async def websocket_endpoint(websocket):' ;;
      555) echo "    $fetch" ;;
      557) echo '    status = health_report.get("status")' ;;
      558) echo '    await websocket.send_json({"status": status})' ;;
      *) echo "# $n" ;;
    esac
  done
}
# core/health.py: the health report, synchronous before the deploy, async after.
health() {
  printf '"""Service health."""\n\n\n%s get_health_report():\n    return {"status": "ok"}\n' "$1"
}
module 'thread_id = context.metadata.get("thread_id") or context.request_id' \
  > netra_backend/app/agents/supervisor.py
websocket 'health_report = get_health_report()' > netra_backend/app/routes/websocket.py
health def > netra_backend/app/core/health.py
printf 'fastapi==0.110.0\nredis==5.0.1\n' > requirements.txt
git add -A
GIT_AUTHOR_DATE="2026-01-12T09:00:00Z" GIT_COMMITTER_DATE="2026-01-12T09:00:00Z" \
  git commit -q -m "Agents supervisor, WebSocket endpoint and health report"

module 'thread_id = context.metadata["thread_id"]' > netra_backend/app/agents/supervisor.py
git add -A
GIT_AUTHOR_DATE="2026-01-14T16:20:00Z" GIT_COMMITTER_DATE="2026-01-14T16:20:00Z" \
  git commit -q -m "Supervisor: require a thread id in the request metadata"

health 'async def' > netra_backend/app/core/health.py
websocket 'health_report = get_health_report()  # now async, see core/health.py' \
  > netra_backend/app/routes/websocket.py
printf 'fastapi==0.115.2\nredis==5.0.1\n' > requirements.txt
git add -A
GIT_AUTHOR_DATE="2026-01-14T16:45:00Z" GIT_COMMITTER_DATE="2026-01-14T16:45:00Z" \
  git commit -q -m "Health: one async source for the health report; bump fastapi"
echo "made $dir: 3 commits; the last two are the deploy (HEAD~2..HEAD)"
