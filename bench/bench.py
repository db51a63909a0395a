"""taskdash against its ceiling: each scenario runs the server under wrk, then pgbench running the
same SQL the server sends for that scenario at the same concurrency, in one run on one machine.

Shared machines drift (other tenants, checkpoints), so each scenario alternates server and
ceiling for BENCH_ROUNDS rounds of BENCH_SECONDS each; a round's ratio compares neighbours in
time, and the table shows the median round. After every server run the rows the scenario should
have written are counted in the database: a create that answered 200, or a re-run that inserted,
fails the run.

The run events scenarios (issue 12, bench/events.py): `events100 c1` (batches of 100 new events
posted to one run), `events100 c16` (16 connections, each on a run of its own, so that they do
not serialise on one run's counter row) and `events100 c16 hot run` (16 connections on one run);
the ceiling is pgbench running storage::run_events::insert's statement with the arrays the
server binds, at the same concurrency on the same runs. After each server round every
acknowledged batch must have written its 100 events, and every run's sequences must be 1..n
under its counter; the bench refuses to start when its copy of the statement differs from the
server's.

Prints one markdown table (throughput, p50, p99, server / ceiling), writes the raw numbers to
bench/results/latest.json and a plot to bench/results/latest.svg. Run through bench/run.sh.

With the list100 scenarios, a ceiling-only comparison (bench/json_in_database.py): the list
statement against the same statement with PostgreSQL building each task's JSON, the road issue 10
suggested and this project measured and did not take; a table of its own, "json_in_database".
With list100 c16, another (bench/pooled_ceiling.py): the list statement at 16 pgbench clients
against the same at BENCH_POOL_SIZE clients, the concurrency the server's pool allows PostgreSQL;
"pooled_ceiling" in the JSON.

After the throughput scenarios every maintained count (task_counts) is compared with count(*)
over the rows they wrote: any drift fails the run. Then the scale scenario, in a database of its
own (the throughput scenarios leave millions of tasks behind): a project of BENCH_SCALE_TASKS
tasks and one of 100, built the same way in SQL, and the latency of each dashboard read on both
(sequential requests from one client, after pg_prewarm and a warm-up): a second table, under the
"scale" key of the JSON.

Between the throughput and the scale scenarios, the change feed's (bench/feed.py and
bench/feed_client.py, issue 11), each on a fresh server and database:
`feed latency` (delivery latency, p50/p99, with BENCH_FEED_STREAMS open streams on one project
while a paced writer creates tasks at BENCH_FEED_RATE; the same with 1 stream as the reference;
every stream must get every event exactly once, in order) and `feed idle RSS` (server RSS with 0
and each of BENCH_FEED_IDLE_STREAMS idle streams open; KB per idle stream, goal <= 20). Two more
tables, under the "feed" key of the JSON.

Knobs (environment):
  BENCH_SECONDS          length of one round, server or ceiling (default 5)
  BENCH_ROUNDS           alternating rounds per scenario; the table shows the median (default 3)
  BENCH_LOG              the server's log level (default warn)
  BENCH_POOL_SIZE        the server's --pool-size (default 2 x this machine's cores, the sizing
                         docs/deployment.md gives: PostgreSQL runs here)
  BENCH_ONLY             comma-separated parts of scenario names (`create,list100 304`); picks
                         scenarios and writes partial.* instead of latest.*. The scale scenario
                         runs under BENCH_ONLY only when it names `scale`.
  BENCH_SCALE_TASKS      tasks in the scale project (default 1000000; 0 skips the scale scenario)
  BENCH_SCALE_REQUESTS   measured requests per read and project (default 200)
  BENCH_SCALE_READ_SECONDS  stop measuring a read after this long, whatever the count (default 10)
  BENCH_FEED_STREAMS     open streams in `feed latency` (default 1000)
  BENCH_FEED_TIMED       of those, the streams whose events are timed (default 100; the others are
                         read every 0.1 s, only to check them: see bench/feed.py)
  BENCH_FEED_RATE        creates per second in `feed latency` (default 200)
  BENCH_FEED_SECONDS     how long the creates go on in `feed latency`, per round (default 10)
  BENCH_FEED_IDLE_STREAMS   comma-separated idle stream counts of `feed idle RSS` (default 1000,10000)
  BENCH_FEED_IDLE_SECONDS   how long each count is held open before RSS is read (default 16: one
                         default heartbeat, 15 s, reaches every stream)
The feed scenarios are BENCH_ONLY names like the others (`feed` picks both).

The pieces, beside the scenario modules above: settings.py (the knobs as read, ports, paths),
cluster.py (the private PostgreSQL, psql, pgbench), server.py (the server, its API, its CPU and
RSS), wrk.py (a server round), ceiling.py (the pgbench scripts: the SQL the server sends),
scale.py (the scale scenario), lists.py (the list scenarios' project) and report.py (the tables and
the SVG); main() below runs them. Commands of their own: bench/pinned.py runs list100 with
PostgreSQL on a core of its own beside the shared layout; bench/versus.py runs list100 on two
builds of the server side by side.
"""

import json
import os
import shutil
import sys
import tempfile

import claims
import events
import feed
import json_in_database
import lists
import pooled_ceiling
from ceiling import ceiling_stats, write_scripts
from cluster import Cluster, counter_drift
from report import machine, print_report, svg, throughput_ratios
from scale import run_scale, scale
from server import cpu_seconds, http, rss_kb, start_server, stop_server
from settings import DURATION, HTTP_PORT, LOG_LEVEL, ONLY, RESULTS, ROUNDS
from wrk import rows_as_expected, wrk


def main():
    stale = events.in_step()
    if stale:
        sys.exit(stale)
    feed.raise_fd_limit()  # 10 000 streams, in this process and in the server it starts
    workdir = tempfile.mkdtemp(prefix="taskdash-bench-", dir="/tmp")
    os.chmod(workdir, 0o755)
    cluster = Cluster(workdir)
    server = None
    try:
        server, key, tenant = start_server(cluster, "taskdash", workdir)
        idle_rss = rss_kb(server.pid, "VmRSS")

        project = http("POST", "/projects", key, {"name": "bench", "slug": "bench"})["id"]
        # The re-run case: 5000 keys already stored, for both the server and pgbench.
        for chunk in range(5):
            http("POST", f"/projects/{project}/tasks:bulk", key,
                 {"tasks": [{"title": "stored", "external_id": f"rerun:{chunk * 1000 + i + 1}"} for i in range(1000)]})
        # The hot-milestone case: every create of that scenario counts into this one milestone.
        hot = http("POST", f"/projects/{project}/milestones", key, {"name": "hot", "slug": "hot"})["id"]
        # The list and summary case (bench/lists.py): a project holding 100 000 tasks.
        list_project = lists.setup(http, key, cluster)
        # The conditional GET case: the list page's current tag (nothing writes to that project
        # from here on, so every If-None-Match below holds it).
        list_path = f"/projects/{list_project}/tasks?limit=100"
        etag = http("GET", list_path, key, headers=True)[1]["ETag"]
        # The run events case (bench/events.py): a project of its own, its runs.
        ev = events.setup(http, key, cluster)
        # The claims case (bench/claims.py): a project of open tasks to claim.
        claim_project = claims.setup(http, key, cluster)
        scripts = write_scripts(workdir)
        env = {"TASKDASH_KEY": key}
        variables = {"project": project, "tenant": tenant, "lproject": list_project, "limit": 101}

        tasks, bulk = f"/projects/{project}/tasks", f"/projects/{project}/tasks:bulk"
        scenarios = [
            ("create c1", "create", tasks, 1, "create.sql", {}),
            ("create c16", "create", tasks, 16, "create.sql", {}),
            ("create c16 hot milestone", "create", tasks, 16, "create_hot.sql", {"milestone": hot}),
            ("create c16 idempotency-key", "create", tasks, 16, "create_keyed.sql", {"keyed": 1}),
            ("create c64", "create", tasks, 64, "create.sql", {}),
            ("re-run c16", "rerun", tasks, 16, "rerun.sql", {}),
            ("storm c64", "storm", tasks, 64, "storm.sql", {}),
            ("bulk100 c1", "bulk", bulk, 1, "bulk.sql", {"n": 100}),
            ("bulk100 c16", "bulk", bulk, 16, "bulk.sql", {"n": 100}),
            ("bulk1000 c1", "bulk", bulk, 1, "bulk.sql", {"n": 1000}),
            ("bulk1000 c16", "bulk", bulk, 16, "bulk.sql", {"n": 1000}),
            ("list100 c1", "get", list_path, 1, "list.sql", {}),
            ("list100 c16", "get", list_path, 16, "list.sql", {}),
            ("list100 304 c1", "304", list_path, 1, "data_version.sql", {}),
            ("list100 304 c16", "304", list_path, 16, "data_version.sql", {}),
            ("summary c16", "get", f"/projects/{list_project}/summary", 16, "summary.sql", {}),
            *events.scenarios(ev),
            *claims.scenarios(claim_project),
        ]
        rows = []
        for name, mode, path, connections, sql, extra in scenarios:
            if ONLY and not any(word in name for word in ONLY):
                continue
            load_env = {**env, "BULK_SIZE": str(extra.get("n", 0)), "MILESTONE_ID": str(extra.get("milestone", "")),
                        "IF_NONE_MATCH": etag, "IDEMPOTENCY_KEYS": str(extra.get("keyed", 0))}
            # The rows a round writes: run events for the events scenarios, tasks for the others.
            # The events scenarios run one wrk thread per connection (see bench/events.py).
            if mode == "claim":
                load_env.update(claims.load_env(claim_project))
            if mode == "events":
                load_env.update(events.load_env(extra))
                count, threads = (lambda: events.count(cluster, ev)), connections
            else:
                count, threads = (lambda: cluster.count_tasks(project)), None
            cluster.quiesce()
            rounds = []
            for _ in range(ROUNDS):
                before, cpu_before = count(), cpu_seconds(server.pid)
                server_result = wrk(mode, path, connections, load_env, threads)
                if mode == "claim":
                    # Two requests per cycle (claim, finish); the ceiling's transaction is a cycle.
                    server_result["throughput"] /= 2
                server_result["cpu_us_per_request"] = ((cpu_seconds(server.pid) - cpu_before) * 1e6
                                                       / max(server_result["requests"], 1))
                server_result["rows_written"] = count() - before
                server_result["rows_as_expected"] = rows_as_expected(mode, server_result, connections, extra)
                if mode == "events":
                    # Runs whose events are not numbered 1..n under their counter.
                    gaps = events.sequence_gaps(cluster, ev)
                    server_result["sequence_gaps"] = gaps
                    server_result["rows_as_expected"] = server_result["rows_as_expected"] and gaps == 0
                ceiling = ceiling_stats(*cluster.pgbench(scripts[sql], connections, {**variables, **extra}))
                rounds.append({"server": server_result, "ceiling": ceiling,
                               "ratio": server_result["throughput"] / ceiling["throughput"],
                               "p50_ratio": server_result["p50_ms"] / ceiling["p50_ms"]})
            median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
            row = {"scenario": name, **median, "rounds": rounds,
                   "failures": sum(not r["server"]["rows_as_expected"] or r["server"]["non_2xx"]
                                   or r["server"].get("not_304", 0)
                                   or r["server"]["socket_errors"] is not None for r in rounds)}
            rows.append(row)
            print(f"{name}: ratios " + ", ".join(f"{r['ratio']:.2f}" for r in rounds), file=sys.stderr)
        peak_rss = rss_kb(server.pid, "VmHWM")
        json_road = pooled = None
        if any(r["scenario"].startswith("list100 c") for r in rows):
            json_road = json_in_database.run(cluster, scripts, variables, ROUNDS)
        if any(r["scenario"] == "list100 c16" for r in rows):
            pooled = pooled_ceiling.run(cluster, scripts, variables, ROUNDS)
        drift = counter_drift(cluster, "taskdash")
        stop_server(server)
        server = None
        feed_names = feed.selected(ONLY)
        fed = feed.run(feed_names, cluster, workdir, start_server, stop_server, http, HTTP_PORT) if feed_names else None
        scaled = None
        if run_scale():
            server, scale_key, _ = start_server(cluster, "taskdash_scale", workdir)
            scaled = scale(cluster, scale_key, "taskdash_scale")
            stop_server(server)
            server = None
    finally:
        if server:
            stop_server(server)
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    result = {"duration_s": DURATION, "rounds": ROUNDS, "server_log_level": LOG_LEVEL, "machine": machine(),
              "rss_kb": {"idle": idle_rss, "peak": peak_rss}, "scenarios": rows, "throughput_ratios": throughput_ratios(rows),
              "counter_drift": drift}
    if fed:
        result["feed"] = fed
    if json_road:
        result["json_in_database"] = json_road
    if pooled:
        result["pooled_ceiling"] = pooled
    if scaled:
        result["scale"] = scaled
    os.makedirs(RESULTS, exist_ok=True)
    # A partial run (BENCH_ONLY) does not replace the full results the README shows.
    name = "partial" if ONLY else "latest"
    with open(os.path.join(RESULTS, f"{name}.json"), "w") as f:
        json.dump(result, f, indent=2)
    if rows:
        svg(rows, os.path.join(RESULTS, f"{name}.svg"))

    print_report(result)
    failed = False
    if any(r["failures"] for r in rows):
        print("Some rounds failed (non-2xx answers, a 304 scenario answered otherwise, socket errors, rows "
              f"not written as answered, or a run's event sequences with gaps): see bench/results/{name}.json")
        failed = True
    if scaled and scaled["failures"]:
        print(f"Scale reads failed (non-200 answers, a wrong summary total or drifted counts): "
              f"see bench/results/{name}.json")
        failed = True
    if fed and feed.failures(fed):
        print(f"Feed scenarios failed (a stream refused or closed, a create not answered 201, or a stream "
              f"missing, repeating or reordering events): see bench/results/{name}.json")
        failed = True
    if drift:
        failed = True
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
