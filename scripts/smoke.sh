#!/usr/bin/env bash
# Starts the server the way a newcomer does (no DATABASE_URL: embedded PostgreSQL in a fresh data
# dir), checks the README's idempotency example end to end, then stops it with SIGTERM and checks
# that it exits 0 and takes its PostgreSQL with it.
set -euo pipefail
binary=${1:-target/release/taskdash}
data=$(mktemp -d /tmp/taskdash-smoke-XXXXXX)
# mktemp makes it 0700; when run as root, the cluster runs as `postgres`, which must get in.
chmod 755 "$data"
port=${SMOKE_PORT:-18080}
log="$data/server.log"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT

"$binary" --data-dir "$data" --bind "127.0.0.1:$port" >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 150); do
    curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "server died"; exit 1; }
    sleep 0.2
done
key=$(cat "$data/api-key.txt")
base="http://127.0.0.1:$port"
call() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" -H 'Content-Type: application/json' "$@"; }
expect() { [ "$1" = "$2" ] || { echo "expected $2, got $1 ($3)"; cat "$log"; exit 1; }; echo "ok: $3 -> $1"; }

expect "$(call -X POST "$base/projects" -d '{"name":"Demo","slug":"demo"}')" 201 "create project"
task='{"title":"Add retry","external_id":"wf-123:create_tasks:0"}'
expect "$(call -X POST "$base/projects/1/tasks" -d "$task")" 201 "create task"
expect "$(call -X POST "$base/projects/1/tasks" -d "$task")" 200 "same external_id again"
expect "$(call -X POST "$base/projects/1/tasks:bulk" -d "{\"tasks\":[$task]}")" 200 "bulk re-run"
expect "$(curl -s -o /dev/null -w '%{http_code}' "$base/projects")" 401 "no API key"
expect "$(curl -s -o /dev/null -w '%{http_code}' "$base/docs/")" 200 "Swagger UI"

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
expect "$status" 0 "exit status after SIGTERM"
if pgrep -f "postgres -D $data" >/dev/null; then
    echo "PostgreSQL still running after the server stopped"; exit 1
fi
echo "smoke test passed"
