"""list100 with PostgreSQL on a core of its own: where the list's gap to its ceiling comes from.

In `bash bench/run.sh` the server, PostgreSQL and the load generator share the machine's cores,
so every microsecond the server spends decoding rows and writing JSON is taken from PostgreSQL,
and a list (about 250 us of server CPU against about 500 us of PostgreSQL's) cannot come near
the ceiling, where PostgreSQL has the cores to itself. In production the replicas run on
machines of their own and the database's cores are its own. This command measures both
layouts in one run, alternating as bench.py does: `shared` (all processes on every core, as in
bench.py) and `pinned` (PostgreSQL on CPU 0; the server, wrk and pgbench on the others). The
ceiling is the same pgbench statement as bench.py's `list100`, laid out the same way.

    cargo build --release && python3 bench/pinned.py

Knobs: BENCH_SECONDS and BENCH_ROUNDS as in bench.py. Needs at least 2 CPUs.
"""

import os
import sys

import lists
from ceiling import ceiling_stats, write_scripts
from cluster import pin
from settings import ROUNDS
from wrk import wrk


def main():
    cpus = os.cpu_count() or 1
    if cpus < 2:
        sys.exit("bench/pinned.py needs at least 2 CPUs")
    everything = f"0-{cpus - 1}"
    layouts = {"shared": (everything, everything), "pinned": ("0", f"1-{cpus - 1}")}
    with lists.served("taskdash-pinned-") as bench:
        cluster, key, project = bench.cluster, bench.key, bench.project
        scripts = write_scripts(bench.workdir)
        variables = {"project": project, "tenant": bench.tenant, "lproject": project, "limit": 101}
        path = f"/projects/{project}/tasks?limit=100"
        print("| layout | clients | server req/s | ceiling tx/s | ratio | server p50 ms | ceiling p50 ms "
              "| p50 ratio | rounds' ratios |")
        print("|---|---|---|---|---|---|---|---|---|")
        for clients in (1, 16):
            for layout, (database_cpus, client_cpus) in layouts.items():
                rounds = []
                for _ in range(ROUNDS):
                    # Backends started since the last round (pool growth) are moved too.
                    cluster.pin(database_cpus)
                    pin(bench.server.pid, client_cpus)
                    served = wrk("get", path, clients, {"TASKDASH_KEY": key}, cpus=client_cpus)
                    ceiling = ceiling_stats(*cluster.pgbench(scripts["list.sql"], clients, variables,
                                                             cpus=client_cpus))
                    rounds.append((served["throughput"] / ceiling["throughput"], served, ceiling))
                ratio, served, ceiling = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]
                print(f"| {layout} | {clients} | {served['throughput']:.0f} | {ceiling['throughput']:.0f} "
                      f"| {ratio:.2f} | {served['p50_ms']:.2f} | {ceiling['p50_ms']:.2f} "
                      f"| {served['p50_ms'] / ceiling['p50_ms']:.2f} "
                      f"| {', '.join(f'{r[0]:.2f}' for r in rounds)} |", flush=True)
        cluster.pin(everything)


if __name__ == "__main__":
    main()
