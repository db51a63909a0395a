"""The bench's settings, shared by its modules: the environment knobs (each described in
bench.py's docstring), the ports and the paths."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target/release/taskdash")
DURATION = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
# The server's log level: `warn` leaves out the one line per request that `info` (the default) writes.
LOG_LEVEL = os.environ.get("BENCH_LOG", "warn")
# Connections the server may open: docs/deployment.md's sizing, 2 x the cores of the machine
# PostgreSQL runs on (this one). pgbench cannot pool: its ceiling runs one backend per client.
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", str(2 * os.cpu_count())))
SCALE_TASKS = int(os.environ.get("BENCH_SCALE_TASKS", "1000000"))
SCALE_REQUESTS = int(os.environ.get("BENCH_SCALE_REQUESTS", "200"))
SCALE_READ_SECONDS = float(os.environ.get("BENCH_SCALE_READ_SECONDS", "10"))
# Below Linux's ephemeral range (32768-60999): a client socket of an earlier run still in TIME_WAIT
# on the port would keep PostgreSQL from binding it.
PG_PORT, HTTP_PORT = 15440, 18300
BASE = f"http://127.0.0.1:{HTTP_PORT}"
RESULTS = os.path.join(ROOT, "bench/results")

ONLY = [word for word in os.environ.get("BENCH_ONLY", "").split(",") if word]
