"""The list100 c16 ceiling with PostgreSQL's concurrency bounded as the server's pool bounds it.

pgbench opens one backend per client, so the ceiling of a 16-connection scenario runs 16
backends on the machine's cores; the server, with a pool of BENCH_POOL_SIZE connections, runs at
most that many statements at once and queues the rest in the pool. This ceiling-only comparison
alternates pgbench running the list statement (`list.sql`) at 16 clients with the same at
BENCH_POOL_SIZE clients, so the tables say how much of list100 c16's ratio is the pool sparing
PostgreSQL that contention, and the server's ratio to a ceiling that is spared it too.
"""

import statistics

from settings import POOL_SIZE


def run(cluster, scripts, variables, rounds):
    """Median tx/s of the list statement at 16 clients and at the pool's size, alternated."""
    wide, pooled = [], []
    for _ in range(rounds):
        wide.append(cluster.pgbench(scripts["list.sql"], 16, variables)[0])
        pooled.append(cluster.pgbench(scripts["list.sql"], POOL_SIZE, variables)[0])
    return {"pool_size": POOL_SIZE, "c16_tps": statistics.median(wide), "pooled_tps": statistics.median(pooled)}


def print_table(result, rows):
    """`rows`: the bench's scenario rows, for the server's own list100 c16 throughput."""
    server = next((r["server"]["throughput"] for r in rows if r["scenario"] == "list100 c16"), None)
    pool = result["pool_size"]
    print(f"| list100 c16, ceiling only | pgbench 16 clients tx/s | pgbench {pool} clients tx/s "
          f"| {pool} ÷ 16 | server req/s (pool of {pool}) | server ÷ {pool}-client ceiling |")
    print("|---|---|---|---|---|---|")
    share = f"{server / result['pooled_tps']:.2f}" if server else "–"
    print(f"| c16 | {result['c16_tps']:.0f} | {result['pooled_tps']:.0f} "
          f"| {result['pooled_tps'] / result['c16_tps']:.2f} | {f'{server:.0f}' if server else '–'} | {share} |")
    print()
