"""list100 on two builds of the server, side by side: this checkout's release binary and a
baseline binary, both serving one database (each on a port of its own), in alternating rounds
with the ceiling. What a change to the list path gained, measured in one run, so that the
machine's drift between runs (often ±10 %) cancels out. Prints each build's req/s, p50 and
server CPU per request, their ratios to the ceiling, and this build ÷ the baseline.

    cargo build --release && python3 bench/versus.py BASELINE_BINARY

A baseline of commit REV (it must have the same migrations):
    git worktree add /tmp/baseline REV && cargo build --release --manifest-path /tmp/baseline/Cargo.toml
    python3 bench/versus.py /tmp/baseline/target/release/taskdash

Knobs: BENCH_SECONDS and BENCH_ROUNDS as in bench.py.
"""

import os
import statistics
import subprocess
import sys
import time
import urllib.request

import lists
from ceiling import ceiling_stats, write_scripts
from server import cpu_seconds
from settings import HTTP_PORT, LOG_LEVEL, POOL_SIZE, ROUNDS
from wrk import wrk

BASELINE_BASE = f"http://127.0.0.1:{HTTP_PORT + 1}"


def start_baseline(binary, url, workdir):
    """The baseline binary on the database the current one serves (already migrated)."""
    server = subprocess.Popen([binary, "--bind", BASELINE_BASE.removeprefix("http://"), "--database-url", url,
                               "--pool-size", str(POOL_SIZE), "--log", LOG_LEVEL], stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(workdir, "server-baseline.log"), "w"))
    for _ in range(100):
        try:
            urllib.request.urlopen(BASELINE_BASE + "/health/ready", timeout=1)
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    sys.exit(f"the baseline {binary} did not become ready (see {workdir}/server-baseline.log)")


def measured_round(server, base, path, clients, key):
    """One wrk round and the server's CPU per request in it."""
    before = cpu_seconds(server.pid)
    result = wrk("get", path, clients, {"TASKDASH_KEY": key}, base=base)
    result["cpu_us"] = (cpu_seconds(server.pid) - before) / max(result["requests"], 1) * 1e6
    return result


def main():
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit(__doc__)
    with lists.served("taskdash-versus-") as bench:
        baseline = start_baseline(sys.argv[1], bench.cluster.url("taskdash"), bench.workdir)
        try:
            compare(bench, baseline)
        finally:
            baseline.kill()


def compare(bench, baseline):
    """The rounds and the table: both builds alternating with the ceiling."""
    cluster, key, project = bench.cluster, bench.key, bench.project
    scripts = write_scripts(bench.workdir)
    variables = {"project": project, "tenant": bench.tenant, "lproject": project, "limit": 101}
    path = f"/projects/{project}/tasks?limit=100"
    builds = {"baseline": (baseline, BASELINE_BASE), "current": (bench.server, None)}
    print("| clients | build | req/s | ratio to ceiling | p50 ms | p50 ratio | server CPU µs/req "
          "| current ÷ baseline (req/s, CPU) |")
    print("|---|---|---|---|---|---|---|---|")
    for clients in (1, 16):
        rounds = {name: [] for name in builds}
        for round in range(ROUNDS):
            ceiling = ceiling_stats(*cluster.pgbench(scripts["list.sql"], clients, variables))
            # Each build goes first in every other round.
            order = list(builds.items()) if round % 2 == 0 else list(builds.items())[::-1]
            for name, (server, base) in order:
                result = measured_round(server, base or f"http://127.0.0.1:{HTTP_PORT}", path, clients, key)
                result["ratio"] = result["throughput"] / ceiling["throughput"]
                result["p50_ratio"] = result["p50_ms"] / ceiling["p50_ms"]
                rounds[name].append(result)
        median = {name: {field: statistics.median(r[field] for r in results)
                         for field in ("throughput", "ratio", "p50_ms", "p50_ratio", "cpu_us")}
                  for name, results in rounds.items()}
        for name, m in median.items():
            versus = ""
            if name == "current":
                b = median["baseline"]
                versus = f"{m['throughput'] / b['throughput']:.2f}, {m['cpu_us'] / b['cpu_us']:.2f}"
            print(f"| {clients} | {name} | {m['throughput']:.0f} | {m['ratio']:.2f} | {m['p50_ms']:.2f} "
                  f"| {m['p50_ratio']:.2f} | {m['cpu_us']:.0f} | {versus} |", flush=True)


if __name__ == "__main__":
    main()
