#!/usr/bin/env bash
# The benchmark, one command: builds the release binary, then runs bench/bench.py (private
# durable PostgreSQL, the server, wrk against it and pgbench against the same SQL, in one run;
# the throughput scenarios include `events100 c1|c16|c16 hot run`, batches of 100 run events,
# see bench/events.py; then the scale scenario: each dashboard read on a 100-task and on a big project).
# BENCH_SECONDS (default 5) and BENCH_ROUNDS (default 3) set the length and number of the
# alternating rounds per scenario; BENCH_LOG (default warn) the server's log level;
# BENCH_POOL_SIZE (default 2 x the cores, docs/deployment.md's sizing) the server's --pool-size;
# BENCH_ONLY (comma-separated parts of scenario names, such as `create,list100 304`, or `scale`
# for the scale scenario) picks scenarios and writes bench/results/partial.* instead of latest.*.
# BENCH_SCALE_TASKS (default 1000000; 0 skips it) sizes the scale project; BENCH_SCALE_REQUESTS
# (default 200) and BENCH_SCALE_READ_SECONDS (default 10) bound the requests per read. Before the
# scale scenario, the change feed's (bench/feed.py): `feed latency` and `feed idle RSS` (BENCH_ONLY
# names; knobs BENCH_FEED_*, see bench/bench.py).
# The whole run takes about 18 minutes on 2 cores.
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
