"""Where `list100 304` c16's rare multi-second requests come from: the kernel's scheduler.

Rounds of bench.py's `list100 304` at 16 connections, each under `perf record` of every
wake-up and context switch on the machine. For each round it prints the slowest request (wrk's
max, and its timeouts: requests over 2 s) next to the longest time a thread spent runnable but
not running (from its wake-up to its next switch-in): of a PostgreSQL process, and of any
thread (named). In a round with a request over 250 ms, a PostgreSQL backend was left runnable
about as long: woken when the server's query reached its socket, then not run while the other
threads on its CPU were switched in tens of thousands of times.

    cargo build --release && python3 bench/stalls.py

Needs `perf` (Debian: linux-perf) and the right to trace the scheduler (root). Knobs:
BENCH_STALL_ROUNDS (12) and BENCH_SECONDS (5, each round's length).
"""

import os
import re
import subprocess
import sys
from collections import defaultdict

import lists
from server import http
from settings import DURATION
from wrk import wrk

ROUNDS = int(os.environ.get("BENCH_STALL_ROUNDS", "12"))
SLOW_MS = 250
EVENT = re.compile(r"^\s*(.+?)\s+(\d+)\s+\[\d+\]\s+([\d.]+):\s+sched:sched_(wakeup|switch):\s*(.*)$")
WOKEN = re.compile(r"comm=(.+?) pid=(\d+) ")
SWITCHED_IN = re.compile(r"==> next_comm=(.+?) next_pid=(\d+) ")


def longest_runnable_waits(trace):
    """The longest wake-up-to-run waits in a `perf script` of sched_wakeup and sched_switch
    events, in milliseconds: (of any thread, and which; of a PostgreSQL process)."""
    woken_at, any_thread, postgres = {}, (0.0, None), 0.0
    for line in trace.splitlines():
        event = EVENT.match(line)
        if not event:
            continue
        _, _, at, kind, rest = event.groups()
        if kind == "wakeup":
            woken = WOKEN.search(rest)
            if woken:
                woken_at.setdefault(woken.group(2), float(at))
            continue
        switched_in = SWITCHED_IN.search(rest)
        if switched_in and switched_in.group(2) in woken_at:
            comm, tid = switched_in.groups()
            waited = (float(at) - woken_at.pop(tid)) * 1000
            if waited > any_thread[0]:
                any_thread = (waited, f"{comm} ({tid})")
            if comm == "postgres":
                postgres = max(postgres, waited)
    return any_thread, postgres


def traced_round(workdir, path, key, etag):
    """One 304 round at c16 under `perf record`: wrk's result and the longest runnable waits."""
    data = os.path.join(workdir, "sched.data")
    perf = subprocess.Popen(["perf", "record", "-q", "-a", "-e", "sched:sched_wakeup", "-e", "sched:sched_switch",
                             "-o", data, "--", "sleep", str(DURATION + 1)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = wrk("304", path, 16, {"TASKDASH_KEY": key, "IF_NONE_MATCH": etag})
    if perf.wait() != 0:
        sys.exit("perf record failed: bench/stalls.py needs perf and the right to trace the scheduler (root)")
    trace = subprocess.run(["perf", "script", "-i", data, "-F", "comm,tid,cpu,time,event,trace"],
                           check=True, capture_output=True, text=True).stdout
    os.remove(data)  # a round's events are over 100 MB
    return result, longest_runnable_waits(trace)


def main():
    with lists.served("taskdash-stalls-") as bench:
        path = f"/projects/{bench.project}/tasks?limit=100"
        etag = http("GET", path, bench.key, headers=True)[1]["ETag"]
        print("| round | req/s | p99 ms | slowest request ms | wrk timeouts (> 2 s) | a PostgreSQL process's longest "
              "runnable wait ms | any thread's longest runnable wait ms | that thread |")
        print("|---|---|---|---|---|---|---|---|")
        slow = defaultdict(int)
        for number in range(1, ROUNDS + 1):
            result, ((waited, thread), postgres) = traced_round(bench.workdir, path, bench.key, etag)
            timeouts = re.search(r"timeout (\d+)", result["socket_errors"] or "")
            timeouts = int(timeouts.group(1)) if timeouts else 0
            print(f"| {number} | {result['throughput']:.0f} | {result['p99_ms']:.2f} | {result['max_ms']:.2f} "
                  f"| {timeouts} | {postgres:.1f} | {waited:.1f} | {thread} |", flush=True)
            slow_request = result["max_ms"] > SLOW_MS or timeouts > 0
            slow["requests"] += slow_request
            slow["both"] += slow_request and postgres > SLOW_MS
            slow["waits"] += postgres > SLOW_MS
        print(f"\nRounds with a request over {SLOW_MS} ms: {slow['requests']} of {ROUNDS}; of those, with a "
              f"PostgreSQL process left runnable over {SLOW_MS} ms: {slow['both']}. Rounds with such a wait: "
              f"{slow['waits']}.")


if __name__ == "__main__":
    main()
