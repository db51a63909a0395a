#!/usr/bin/env bash
# The benchmark, one command: builds the release binary, then runs bench/bench.py (private
# durable PostgreSQL, the server, wrk against it and pgbench against the same SQL, in one run).
# BENCH_SECONDS (default 5) and BENCH_ROUNDS (default 3) set the length and number of the
# alternating rounds per scenario; BENCH_LOG (default warn) the server's log level;
# BENCH_ONLY (comma-separated parts of scenario names, such as `create,list`) picks scenarios.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v psql >/dev/null || missing+=(postgresql-client)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    else
        echo "install: ${missing[*]}"; exit 1
    fi
fi
cargo build --release --quiet
python3 bench/bench.py
