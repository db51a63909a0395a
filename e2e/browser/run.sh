#!/usr/bin/env bash
# Browser tests in headless Chromium (Debian's package, driven by playwright-core from npm).
# Installs what is missing (chromium via apt, node_modules via `npm ci`), starts a taskdash with
# zero configuration (its own PostgreSQL in a temp dir) that allows the test pages' origin
# (CORS; the board's tests use the server's own /board/ instead), runs tests/*.test.mjs (or the
# files given) with node's test runner, and stops and removes everything it started on exit.
# Usage: e2e/browser/run.sh [path/to/taskdash] [tests/x.test.mjs ...]
# Environment: BROWSER_KEEP=1 keeps the temp dir (server log); CHROMIUM_PATH another Chromium.
set -euo pipefail
binary=$(realpath "${1:-target/release/taskdash}")
shift || true
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
tests=("${@}")
[ ${#tests[@]} -gt 0 ] || tests=(tests/*.test.mjs)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v "${CHROMIUM_PATH:-chromium}" >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]} (Debian)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}"
fi
if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "==> npm ci"
    # playwright-core downloads no browser; this makes sure nothing else would either.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
data=$(mktemp -d /tmp/taskdash-browser-XXXXXX)
# mktemp makes it 0700; when run as root, the cluster runs as `postgres`, which must get in.
chmod 755 "$data"
api_port=${BROWSER_API_PORT:-$(free_port)}
pages_port=${BROWSER_PAGES_PORT:-$(free_port)}
while [ "$pages_port" = "$api_port" ]; do pages_port=$(free_port); done
log="$data/server.log"
pid=
node_pid=
cleanup() {
    set +e
    # timeout passes the signal on to node; playwright-core closes Chromium when node stops.
    [ -n "$node_pid" ] && kill -TERM "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    fi
    # The server stops its PostgreSQL on SIGTERM; make sure of it after a SIGKILL too.
    for pg_pid in $(pgrep -f "postgres -D $data"); do kill -QUIT "$pg_pid" 2>/dev/null; done
    if [ -n "${BROWSER_KEEP:-}" ]; then echo "kept $data"; else rm -rf "$data"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> taskdash on 127.0.0.1:$api_port (allows http://127.0.0.1:$pages_port)"
started=$EPOCHREALTIME
"$binary" --data-dir "$data" --bind "127.0.0.1:$api_port" --log warn --drain-secs 0 \
    --cors-allowed-origins "http://127.0.0.1:$pages_port" >"$log" 2>&1 &
pid=$!
ready=
for _ in $(seq 1 300); do
    if curl -fs "http://127.0.0.1:$api_port/health/ready" >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$ready" ]; then cat "$log"; echo "taskdash did not become ready"; exit 1; fi
awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "    ready in %.1f s\n", b - a }'

export TASKDASH_BASE="http://127.0.0.1:$api_port"
TASKDASH_API_KEY=$(cat "$data/api-key.txt")
export TASKDASH_API_KEY
export TASKDASH_PAGES_PORT=$pages_port
echo "==> node --test ${tests[*]}"
status=0
# In the background, so that a signal to this script runs its cleanup at once.
timeout -k 5 120 node --test --test-reporter=spec --test-concurrency=1 --test-timeout=30000 "${tests[@]}" &
node_pid=$!
wait "$node_pid" || status=$?
node_pid=
if [ "$status" != 0 ]; then
    echo "--- server log ($log)"; tail -n 50 "$log"
    [ "$status" = 124 ] && echo "browser tests timed out after 120 s"
fi
exit "$status"
