"""The change feed's scenarios (issue 11), run by bench.py, each on a fresh server and database:

feed latency   BENCH_FEED_STREAMS (1000) open SSE streams on one project while a paced writer (a
               separate process, 8 keep-alive connections) creates tasks in it at BENCH_FEED_RATE
               (200/s) for BENCH_FEED_SECONDS (10 s); first the same with 1 stream, the reference.
               Latency of a (stream, event) pair = when the event reached the stream's socket (the
               kernel's receive timestamp, SO_TIMESTAMPNS, so the client's own delay is left out
               as long as it keeps up: the table shows its lag) minus when the create was sent
               (the commit is between sending and the answer, so this bounds commit -> event from
               above); also minus when the answer came (negative when the event came first).
               BENCH_FEED_TIMED (100) of the streams, spread over the opening order, are timed;
               the others are read in bulk every 0.1 s and only checked: Python spends about 3 µs
               per read, so reading all 1000 as events arrive (200 000 reads/s) takes most of a
               core, which the server it measures needs on a 2-core machine. Set BENCH_FEED_TIMED
               to BENCH_FEED_STREAMS to time every pair where cores are to spare.
               Every stream, timed or not, must get every created task's event exactly once, in
               the change log's order (GET /projects/{id}/changes), and nothing else; every create
               must answer 201; anything else fails the run.
feed idle RSS  the server's VmRSS with 0 then BENCH_FEED_IDLE_STREAMS (1000,10000) idle streams
               open, each level held BENCH_FEED_IDLE_SECONDS (16 s, longer than the default 15 s
               heartbeat, so every stream has had one); KB per idle stream = (RSS_n - RSS_0) / n.
               A stream that does not open (non-200) or is closed by the server fails the run.

The clients (stdlib only) are in bench/feed_client.py.
"""

import os
import re
import resource
import sys
import threading
import time

from feed_client import Streams, raise_fd_limit, write  # noqa: F401 (raise_fd_limit: for bench.py)

NAMES = ("feed latency", "feed idle RSS")
STREAMS = int(os.environ.get("BENCH_FEED_STREAMS", "1000"))
TIMED = int(os.environ.get("BENCH_FEED_TIMED", "100"))
RATE = float(os.environ.get("BENCH_FEED_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_FEED_SECONDS", "10"))
IDLE_STREAMS = [int(n) for n in os.environ.get("BENCH_FEED_IDLE_STREAMS", "1000,10000").split(",") if n]
IDLE_SECONDS = float(os.environ.get("BENCH_FEED_IDLE_SECONDS", "16"))
IDLE_GOAL_KB = 20
DRAIN_SECONDS = 15  # after the last create, how long streams may take to get every event


def selected(only):
    return [name for name in NAMES if not only or any(word in name for word in only)]


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quantile(ordered, q):
    return ordered[max(0, -(-len(ordered) * q // 100) - 1)] if ordered else None


def change_log(http, key, project):
    """The project's changes in log order: [(cursor, type, resource_id)]."""
    changes, after = [], ""
    while True:
        page = http("GET", f"/projects/{project}/changes?limit=1000{after}", key)
        changes += [(c["id"], c["type"], c["resource_id"]) for c in page["data"]]
        if not page["data"]:
            return changes
        after = f"&after={page['next_cursor']}"


def latency_round(port, pid, http, key, project, n_streams, workdir):
    """n_streams on the project while the writer runs; the figures of one row."""
    streams = Streams(port, key, f"/projects/{project}/events")
    try:
        timed = min(TIMED, n_streams)
        opened = streams.open(n_streams, timed)
        streams.pump(1)  # let the last streams settle (retry: field, catch-up read)
        cpu_before, usage_before = cpu_seconds(pid), resource.getrusage(resource.RUSAGE_SELF)
        writes = write(port, key, project, RATE, SECONDS, os.path.join(workdir, f"writer-{n_streams}.json"), streams)
        sends = sorted(w[2] for w in writes)
        created = {w[1]: w for w in writes if w[0] == 201}
        live = streams.live()
        streams.pump(DRAIN_SECONDS, lambda: all(st.n >= len(created) for st in live))
        server_cpu = cpu_seconds(pid) - cpu_before
        usage = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = usage.ru_utime + usage.ru_stime - usage_before.ru_utime - usage_before.ru_stime
        log = [c for c in change_log(http, key, project) if c[1] == "task.created" and c[2] in created]
        expected = [c[0] for c in log]
        by_cursor = {cursor: created[task] for cursor, _, task in log}  # [status, task, sent, answered]
        from_sent, from_answer, wrong, deliveries = [], [], 0, 0
        for st in streams.streams.values():
            cursors = st.cursors()
            if cursors != expected or st.status != 200 or st.closed:
                wrong += 1
            deliveries += len(cursors)
            if not st.timed:
                continue
            for cursor, ts in zip(cursors, st.arrivals()):
                if cursor in by_cursor:
                    from_sent.append((ts - by_cursor[cursor][2]) * 1000)
                    from_answer.append((ts - by_cursor[cursor][3]) * 1000)
        from_sent.sort()
        from_answer.sort()
        lag = sorted(streams.lag)
        return {
            "streams": n_streams, "opened": opened and streams.failed() == 0, "writes": len(writes),
            "writes_failed": len(writes) - len(created), "write_rate": (len(sends) - 1) / max(sends[-1] - sends[0], 1e-9),
            "events_in_log": len(log), "deliveries": deliveries, "timed_streams": timed,
            "timed_pairs": len(from_sent),
            "deliveries_expected": len(log) * n_streams, "streams_wrong": wrong,
            "p50_ms": quantile(from_sent, 50), "p99_ms": quantile(from_sent, 99),
            "max_ms": from_sent[-1] if from_sent else None,
            "from_answer_p50_ms": quantile(from_answer, 50), "from_answer_p99_ms": quantile(from_answer, 99),
            "client_lag_p99_ms": (quantile(lag, 99) or 0) * 1000,
            "server_cpu_s": server_cpu, "client_cpu_s": client_cpu,
            "server_cpu_us_per_delivery": server_cpu * 1e6 / max(deliveries, 1),
            "failures": int(not opened) + streams.failed() + wrong + (len(writes) - len(created))
                        + (len(log) != len(created)),
        }
    finally:
        streams.close()


def feed_latency(port, pid, http, key, workdir):
    project = http("POST", "/projects", key, {"name": "feed", "slug": "feed"})["id"]
    # Warm-up, not measured: the writer's connections, the server's pool, the log's pages.
    write(port, key, project, RATE, 1, os.path.join(workdir, "writer-warm-up.json"))
    rounds = []
    for n in (1, STREAMS):
        r = latency_round(port, pid, http, key, project, n, workdir)
        rounds.append(r)
        print(f"feed latency, {n} streams: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
              f"{r['deliveries']}/{r['deliveries_expected']} deliveries, {r['failures']} failures", file=sys.stderr)
    reference, loaded = rounds
    return {"rate_per_s": RATE, "seconds": SECONDS, "rounds": rounds,
            "p50_ratio": loaded["p50_ms"] / reference["p50_ms"] if loaded["p50_ms"] and reference["p50_ms"] else None,
            "p99_ratio": loaded["p99_ms"] / reference["p99_ms"] if loaded["p99_ms"] and reference["p99_ms"] else None,
            "failures": sum(r["failures"] for r in rounds)}


def feed_idle_rss(port, pid, http, key):
    project = http("POST", "/projects", key, {"name": "idle", "slug": "idle"})["id"]
    streams = Streams(port, key, f"/projects/{project}/events", count_beats=True)
    try:
        # Warm-up: the request pool's connections (plain requests: a stream closed by its client
        # keeps its place until the server next writes to it, a heartbeat).
        def reads():
            for _ in range(10):
                http("GET", f"/projects/{project}/changes?limit=1", key)
        warm = [threading.Thread(target=reads) for _ in range(32)]
        for t in warm:
            t.start()
        for t in warm:
            t.join()
        time.sleep(1)
        rss_0 = vm_rss_kb(pid)
        levels, failures = [{"streams": 0, "rss_kb": rss_0}], 0
        for n in sorted(IDLE_STREAMS):
            started = time.monotonic()
            opened = streams.open(n - len(streams.streams))
            open_seconds = time.monotonic() - started
            streams.pump(IDLE_SECONDS)
            rss = vm_rss_kb(pid)
            failed = int(not opened) + streams.failed()
            beats = sum(st.beats >= 2 for st in streams.streams.values())  # past the opening comment
            failures += failed
            levels.append({"streams": n, "rss_kb": rss, "kb_per_stream": (rss - rss_0) / n,
                           "open_seconds": open_seconds, "streams_with_heartbeat": beats, "failed_streams": failed})
            print(f"feed idle RSS, {n} streams: {rss / 1024:.1f} MB ({(rss - rss_0) / n:.1f} KB per stream), "
                  f"{beats} had a heartbeat, {failed} failed", file=sys.stderr)
        return {"hold_seconds": IDLE_SECONDS, "goal_kb_per_stream": IDLE_GOAL_KB, "levels": levels,
                "failures": failures}
    finally:
        streams.close()


def run(names, cluster, workdir, start_server, stop_server, http, port):
    """Each selected scenario on a fresh server and database (a baseline RSS untouched by the
    throughput scenarios)."""
    result = {}
    for name, db in (("feed idle RSS", "taskdash_feed_idle"), ("feed latency", "taskdash_feed")):
        if name not in names:
            continue
        server, key, _ = start_server(cluster, db, workdir)
        try:
            if name == "feed latency":
                result["latency"] = feed_latency(port, server.pid, http, key, workdir)
            else:
                result["idle_rss"] = feed_idle_rss(port, server.pid, http, key)
        finally:
            stop_server(server)
    return result


def print_tables(feed):
    if "latency" in feed:
        lat = feed["latency"]
        print(f"\nFeed latency: creates at {lat['rate_per_s']:g}/s for {lat['seconds']:g} s (a paced writer); "
              "latency = the event at a stream's socket (kernel receive time) - the create request sent, "
              f"over the timed streams' pairs (BENCH_FEED_TIMED); every stream must get every event once, in order.\n")
        print("| scenario | streams | writes/s | deliveries | timed pairs | p50 ms | p99 ms | max ms | p50 from answer ms "
              "| p99 from answer ms | p50 ÷ 1 stream | p99 ÷ 1 stream | server CPU µs/delivery | client lag p99 ms "
              "| failures |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        reference = lat["rounds"][0]
        for r in lat["rounds"]:
            cells = [f"{r[k]:.2f}" if r[k] is not None else "-" for k in
                     ("p50_ms", "p99_ms", "max_ms", "from_answer_p50_ms", "from_answer_p99_ms")]
            ratios = [f"{r[k] / reference[k]:.2f}" if r[k] and reference[k] else "-" for k in ("p50_ms", "p99_ms")]
            print(f"| feed latency | {r['streams']} | {r['write_rate']:.0f} | {r['deliveries']}/{r['deliveries_expected']} "
                  f"| {r['timed_pairs']} | {' | '.join(cells)} | {' | '.join(ratios)} | {r['server_cpu_us_per_delivery']:.1f} "
                  f"| {r['client_lag_p99_ms']:.1f} | {r['failures']} |")
        if any(r["client_lag_p99_ms"] > 50 for r in lat["rounds"]):
            print("\nThe client lagged (read time - kernel receive time, p99 > 50 ms): queued events were merged "
                  "and stamped late, so those latencies are overestimates (CPU-bound machine).")
    if "idle_rss" in feed:
        idle = feed["idle_rss"]
        print(f"\nFeed idle RSS: streams held {idle['hold_seconds']:g} s (default heartbeat); "
              f"goal ≤ {idle['goal_kb_per_stream']} KB per idle stream.\n")
        print("| scenario | idle streams | server RSS MB | KB per idle stream | goal met | streams with a heartbeat "
              "| failures |")
        print("|---|---|---|---|---|---|---|")
        for level in idle["levels"]:
            per = level.get("kb_per_stream")
            print(f"| feed idle RSS | {level['streams']} | {level['rss_kb'] / 1024:.1f} | "
                  + (f"{per:.1f} | {'yes' if per <= idle['goal_kb_per_stream'] else 'NO'} | "
                     f"{level['streams_with_heartbeat']} | {level['failed_streams']} |" if per is not None
                     else "- | - | - | - |"))


def failures(feed):
    return sum(part["failures"] for part in feed.values())


