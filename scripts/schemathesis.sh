#!/usr/bin/env bash
# Fuzzes a live server with Schemathesis against the committed spec, with every check, a fixed
# seed and a bounded number of examples. Usage: scripts/schemathesis.sh [path/to/taskdash]
# Installs Schemathesis into a private virtualenv when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-target/debug/taskdash}
venv=${SCHEMATHESIS_VENV:-/tmp/taskdash-schemathesis-venv}
examples=${SCHEMATHESIS_EXAMPLES:-50}
port=${SCHEMATHESIS_PORT:-18090}

if [ ! -x "$venv/bin/st" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'schemathesis>=4.32,<5'
fi

data=$(mktemp -d /tmp/taskdash-fuzz-XXXXXX)
chmod 755 "$data"  # reachable by the `postgres` user when run as root
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT
"$binary" --data-dir "$data" --bind "127.0.0.1:$port" --log warn >"$data/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 150); do
    curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
    sleep 0.2
done
key=$(cat "$data/api-key.txt")
base="http://127.0.0.1:$port"
# Something to find: generated ids 1..n hit real rows, not only 404s.
for i in 1 2 3; do
    curl -fs -o /dev/null -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        "$base/projects" -d "{\"name\": \"seed $i\", \"slug\": \"seed-$i\"}"
    curl -fs -o /dev/null -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        "$base/projects/1/tasks" -d "{\"title\": \"seed $i\", \"external_id\": \"seed:$i\"}"
done

status=0
# One worker: with two threads, CPython 3.11's `ast` module (which Hypothesis uses to describe
# lambdas) can fail with "AST constructor recursion depth mismatch" — a crash of the tool, not a
# finding about the API (seen twice in CI).
SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$PWD/scripts" timeout 900 "$venv/bin/st" --config-file scripts/schemathesis.toml run openapi/openapi.json \
    --url "$base" \
    --header "Authorization: Bearer $key" \
    --checks all \
    --seed 20261128 \
    --max-examples "$examples" \
    --workers 1 \
    --request-timeout 10 \
    || status=$?
if grep -q "panicked" "$data/server.log"; then
    echo "the server panicked:"; grep -A5 panicked "$data/server.log"; status=1
fi
exit $status
