"""The scale scenario (issue 10): each dashboard read on a 100-task project and on a
BENCH_SCALE_TASKS one, built alike in SQL in a database of their own; sequential requests from
one client, after pg_prewarm and a warm-up."""

import json
import statistics
import sys
import time
import urllib.parse
from http.client import HTTPConnection

from cluster import counter_drift
from server import http
from settings import HTTP_PORT, ONLY, SCALE_READ_SECONDS, SCALE_REQUESTS, SCALE_TASKS

# A task's status from its ordinal g, spread and uncorrelated with the other columns.
STATUS_OF_G = ("(ARRAY['open', 'open', 'open', 'in_progress', 'in_review', 'blocked', 'done', 'done', 'done', "
               "'archived'])[1 + abs(hashint4(g)) % 10]")


def run_scale():
    """The scale scenario runs unless BENCH_SCALE_TASKS=0, and under BENCH_ONLY when it names it."""
    return SCALE_TASKS > 0 and (not ONLY or "scale" in ONLY)


def build_scale_project(cluster, key, db, slug, n):
    """A project of n tasks, written in SQL (the triggers maintain its counts as for any insert).
    Columns are spread independently (hashes of the ordinal g): status as STATUS_OF_G, priority
    0..999, two thirds of the tasks in one of 20 milestones, labels 2 % ['rare'], 18 %
    ['backend', 'p1'], the rest ['backend'], external_id `wf-<g/100>:step:<g%100>` (runs of 100
    steps), created one every 20 s and updated up to 30 days later; in every block of 1000
    tasks, 20 are subtasks of the block's first. Returns what the reads need."""
    project = http("POST", "/projects", key, {"name": slug, "slug": slug})["id"]
    milestones = [http("POST", f"/projects/{project}/milestones", key,
                       {"name": f"milestone {i}", "slug": f"m-{i}"})["id"] for i in range(20)]
    # Ids reserved up front (task g gets base + g), so that parents can be named in the INSERT.
    base = int(cluster.psql("SELECT nextval('tasks_id_seq')", db))
    cluster.psql(f"SELECT setval('tasks_id_seq', {base + n})", db)
    ms = "'{" + ",".join(map(str, milestones)) + "}'::bigint[]"
    chunk = 100_000  # a multiple of 1000: each block's parent is inserted with its subtasks
    for first in range(1, n + 1, chunk):
        last = min(n, first + chunk - 1)
        cluster.psql(
            "INSERT INTO tasks (project_id, id, milestone_id, parent_task_id, title, status, priority_score, "
            "external_id, labels, created_at, updated_at, completed_at) "
            f"SELECT {project}, {base} + g, "
            f"CASE WHEN abs(hashint4(g + 2)) % 3 < 2 THEN ({ms})[1 + abs(hashint4(g + 3)) % 20] END, "
            f"CASE WHEN g % 1000 BETWEEN 2 AND 21 THEN {base} + g - g % 1000 + 1 END, "
            "'scale task ' || g, s.status, abs(hashint4(g + 1)) % 1000, 'wf-' || (g / 100) || ':step:' || (g % 100), "
            "CASE WHEN abs(hashint4(g + 5)) % 100 < 2 THEN ARRAY['rare'] "
            "WHEN abs(hashint4(g + 5)) % 100 < 20 THEN ARRAY['backend', 'p1'] ELSE ARRAY['backend'] END, "
            "s.created, s.updated, CASE WHEN s.status = 'done' THEN s.updated END "
            f"FROM generate_series({first}, {last}) g, LATERAL (SELECT {STATUS_OF_G} AS status, "
            "timestamptz '2026-01-01' + g * interval '20 seconds' AS created, "
            "timestamptz '2026-01-01' + g * interval '20 seconds' "
            "+ (abs(hashint4(g + 4)) % (30 * 86400)) * interval '1 second' AS updated) s", db)
    mid = n // 2
    return {"id": project, "tasks": n, "milestone": milestones[7], "parent": base + 1 + 1000 * (n // 2000),
            "external_id": f"wf-{mid // 100}:step:{mid % 100}", "run": f"wf-{mid // 100}:"}


def scale_reads(p):
    """(read, path) for each dashboard read of issue 10, on the project `p`."""
    q = urllib.parse.quote
    tasks = f"/projects/{p['id']}/tasks"
    filters = [
        ("milestone_id", f"milestone_id={p['milestone']}"),
        ("parent_task_id", f"parent_task_id={p['parent']}"),
        ("label no match", "label=nomatch"),
        ("label 2 % (rare)", "label=rare"),
        ("label 18 % (p1)", "label=p1"),
        ("external_id", f"external_id={q(p['external_id'])}"),
        ("external_id_prefix one run", f"external_id_prefix={q(p['run'])}"),
        ("external_id_prefix broad (wf-5)", "external_id_prefix=wf-5"),
        ("priority_min=990", "priority_min=990"),
        ("priority_max=9", "priority_max=9"),
        ("priority 500..504", "priority_min=500&priority_max=504"),
        ("sort=created_at", "sort=created_at"),
        ("sort=-updated_at", "sort=-updated_at"),
    ]
    reads = [
        ("milestones list", f"/projects/{p['id']}/milestones"),
        ("one milestone", f"/projects/{p['id']}/milestones/{p['milestone']}"),
        ("summary", f"/projects/{p['id']}/summary"),
        ("tasks (default: priority)", tasks),
        ("tasks after a cursor (from task 51)", None),  # the path comes from a first page's next_cursor
        ("status=blocked", f"{tasks}?status=blocked"),
    ]
    for name, query in filters:
        reads.append((name, f"{tasks}?{query}"))
        reads.append((f"{name} + status=blocked", f"{tasks}?status=blocked&{query}"))
    return reads


def measure(connection, key, path, requests):
    """Sequential GETs on one kept-alive connection: (latencies in ms, bad answers, last answer)."""
    latencies, bad, answer = [], 0, None
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + SCALE_READ_SECONDS
    for _ in range(requests):
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            bad += 1
        else:
            answer = body
        if time.monotonic() > deadline:
            break
    return latencies, bad, answer


def percentiles(latencies):
    ordered = sorted(latencies)
    return {"p50_ms": statistics.median(ordered), "p99_ms": ordered[max(0, -(-len(ordered) * 99 // 100) - 1)],
            "requests": len(ordered)}


def scale(cluster, key, db):
    """Issue 10's scale table: each dashboard read on a 100-task project and on a SCALE_TASKS one,
    in their own database `db` (the throughput scenarios leave millions of tasks in theirs)."""
    started = time.monotonic()
    small = build_scale_project(cluster, key, db, "scale-small", 100)
    big = build_scale_project(cluster, key, db, "scale-big", SCALE_TASKS)
    built = time.monotonic()
    cluster.psql("VACUUM ANALYZE", db)
    # Warm: every table and index of the reads in shared_buffers (then a few requests per read).
    cluster.psql("CREATE EXTENSION IF NOT EXISTS pg_prewarm", db)
    cluster.psql("SELECT sum(pg_prewarm(c.oid)) FROM pg_class c WHERE c.relkind IN ('r', 'i') "
                 "AND c.relnamespace = 'public'::regnamespace", db)
    print(f"scale: built {SCALE_TASKS} + 100 tasks in {built - started:.0f} s, vacuumed and warmed in "
          f"{time.monotonic() - built:.0f} s", file=sys.stderr)
    connection = HTTPConnection("127.0.0.1", HTTP_PORT, timeout=120)
    failures, reads = 0, []
    expected = {}
    for p in (small, big):
        expected[p["id"]] = p["tasks"]
    for (name, small_path), (_, big_path) in zip(scale_reads(small), scale_reads(big)):
        row = {"read": name}
        for label, p, path in (("small", small, small_path), ("big", big, big_path)):
            if path is None:  # a later page: after the 50th task (the small project has only 100)
                first = json.loads(measure(connection, key, f"/projects/{p['id']}/tasks?limit=50", 1)[2])
                path = f"/projects/{p['id']}/tasks?cursor={urllib.parse.quote(first['next_cursor'])}"
            measure(connection, key, path, 3)  # warm-up, not counted
            latencies, bad, answer = measure(connection, key, path, SCALE_REQUESTS)
            stats = {"path": path, **percentiles(latencies), "non_200": bad}
            if answer is not None:
                body = json.loads(answer)
                if isinstance(body, dict) and isinstance(body.get("data"), list):
                    stats["rows"] = len(body["data"])
                if name == "summary" and body["tasks"]["total"] != p["tasks"]:
                    stats["wrong_total"] = body["tasks"]["total"]
                    bad += 1
            failures += bad
            row[label] = stats
        reads.append(row)
        print(f"scale: {name}: {row['small']['p50_ms']:.2f}/{row['small']['p99_ms']:.2f} ms, "
              f"{row['big']['p50_ms']:.2f}/{row['big']['p99_ms']:.2f} ms", file=sys.stderr)
    connection.close()
    drift = counter_drift(cluster, db)
    if drift:
        print(f"scale: {drift} maintained counts differ from count(*)", file=sys.stderr)
    return {"tasks": SCALE_TASKS, "counter_drift": drift, "requests_per_read": SCALE_REQUESTS, "read_seconds_max": SCALE_READ_SECONDS,
            "build_seconds": round(built - started, 1), "reads": reads, "failures": failures + drift}


def print_scale(scaled):
    print(f"\nScale: each read {scaled['requests_per_read']} times in a row (at most "
          f"{scaled['read_seconds_max']:g} s), one client, after a warm-up; status=blocked is 10 % of the tasks.\n")
    print(f"| read | 100 tasks p50/p99 ms | {scaled['tasks']:,} tasks p50/p99 ms |")
    print("|---|---|---|")
    for r in scaled["reads"]:
        cells = [f"{r[k]['p50_ms']:.2f} / {r[k]['p99_ms']:.2f}" for k in ("small", "big")]
        print(f"| {r['read']} | {cells[0]} | {cells[1]} |")
