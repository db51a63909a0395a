"""The feed scenarios' verdict (feed.py): every subscriber against the change log of its scope,
the log against the tasks table and the writers, delivery latency, LISTEN connections and the
answers; one JSON line, exit 1 on failure."""

import json
import os
import time

from driver import REPLICA_PORTS, fail, sql
from feed_common import call, cursor, page_changes

# Median from sending a create to its event at a subscriber. A replica delivers in ~10 ms here
# (the writers' NOTIFY wakes its reader); at the one-second poll it would be ~500 ms.
MAX_P50_MS = float(os.environ.get("LB_FEED_MAX_P50_MS", "150"))


def check_state(expected_all, projects, meant):
    """The latest change of each task against the tasks table, and the table against what the
    writers meant. Returns a list of disagreements."""
    wrong = []
    latest = {}
    for change in expected_all:
        if change["type"].startswith("task.") and change["project_id"] in projects:
            latest[(change["project_id"], change["resource_id"])] = change
    ids = ",".join(map(str, projects))
    rows = sql(f"SELECT project_id, id, status, version, external_id FROM tasks WHERE project_id IN ({ids})")
    table = {}
    for row in filter(None, rows.split("\n")):
        project_id, task_id, status, version, external_id = row.split("|")
        table[(int(project_id), int(task_id))] = (status, int(version), external_id)
    for key, change in latest.items():
        row = table.get(key)
        if change["type"] == "task.deleted":
            if row is not None:
                wrong.append(f"task {key} deleted in the log, present in the table")
        elif row is None:
            wrong.append(f"task {key} absent from the table, its last change is {change['type']}")
        elif (change["data"]["status"], change["data"]["version"]) != row[:2]:
            wrong.append(f"task {key}: log says {change['data']['status']} v{change['data']['version']}, "
                         f"table {row[0]} v{row[1]}")
    for key in table.keys() - latest.keys():
        wrong.append(f"task {key} in the table without a change")
    stored = {external_id: status for status, _, external_id in table.values()}
    for external_id, status in meant.items():
        if stored.get(external_id) != status:
            wrong.append(f"{external_id}: meant {status}, table has {stored.get(external_id)}")
    return wrong, len(latest), len(table)


def listeners(accept, seconds=10):
    """LISTEN connections in PostgreSQL, once `accept(count)` holds (or after `seconds`): at most
    one per replica while streams are open (also after a replica's or PostgreSQL's restart), not
    one per stream, and none once every stream has closed (an idle replica does not LISTEN)."""
    end = time.time() + seconds
    while True:
        found = int(sql("SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'listen %'"))
        if accept(found) or time.time() > end:
            return found
        time.sleep(0.2)


def settle(subscribers, expected, deadline):
    """Waits until every subscriber has the last change of its scope (bounded; not for those
    whose streams are refused)."""
    end = time.time() + min(deadline.left(), 20)
    while True:
        behind = [s for s in subscribers
                  if expected[s.name] and (not s.events or cursor(s.events[-1][0]) < cursor(expected[s.name][-1]["id"]))]
        if not behind or time.time() > end or all(s.refused >= 3 for s in behind):
            return [s.name for s in behind]
        time.sleep(0.1)


def verdict(name, subscribers, scopes, c0, attempts, writers, projects, deadline, extra, allow_5xx=False):
    """Pages the log, waits for the subscribers, compares; prints the line, exits 1 on failure."""
    logs, ends = {}, {}
    for path in set(scopes.values()):
        changes, ends[path] = page_changes(attempts, path)
        logs[path] = [c for c in changes if cursor(c["id"]) > cursor(c0)]
    # How long one read of the log takes when there is nothing new (the read every replica does
    # per wake-up and per second, and every stream per catch-up): a few ms when healthy.
    timings = []
    for _ in range(3):
        started = time.time()
        call(attempts, "GET", f"/changes?after={ends['/changes']}&limit=1000")
        timings.append(time.time() - started)
    expected = {s.name: logs[scopes[s.name]] for s in subscribers}
    behind = settle(subscribers, expected, deadline)
    listening = listeners(lambda n: 1 <= n <= len(REPLICA_PORTS))
    for s in subscribers:
        s.stop()
    for s in subscribers:
        s.join(timeout=5)
    # A closed stream is noticed at its next heartbeat (LB_EVENTS_HEARTBEAT_SECS).
    left_listening = listeners(lambda n: n == 0, seconds=15)
    results, ok = {}, True
    for s in subscribers:
        good, report = s.check(expected[s.name])
        report.update(s.summary())
        results[s.name] = report
        ok &= good
    # The logs of the scopes agree with each other: a project's changes are the tenant's
    # changes of that project.
    tenant = logs["/changes"]
    inconsistent = [path for path, log in logs.items()
                    if path != "/changes" and log != [c for c in tenant if path == f"/projects/{c['project_id']}/changes"]]
    wrong, tasks_logged, rows = check_state(tenant, projects, writers.meant)
    latencies = sorted(
        e[3] - writers.acked[e[2]["resource_id"]]
        for s in subscribers for e in s.events
        if e[1] == "task.created" and e[2]["resource_id"] in writers.acked
    )
    counts = {
        "scenario": name,
        "changes": len(tenant),
        "writes": writers.done_ops,
        "listen_connections": listening,
        "listen_connections_after_streams_closed": left_listening,
        "empty_changes_page_ms": round(1000 * sorted(timings)[1]),
        "tasks_logged": tasks_logged,
        "task_rows": rows,
        # From sending a create (its last attempt) to its task.created at each subscriber: the
        # create's own time included, and the catch-ups after reconnections.
        "delivery_ms": {q: round(1000 * latencies[int(f * (len(latencies) - 1))]) if latencies else None
                        for q, f in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))},
        **extra,
        "answers": attempts.as_dict(),
        "subscribers": results,
    }
    why = []
    if behind:
        why.append(f"subscribers still behind at the deadline: {behind}")
    if not ok:
        bad = [n for n, r in results.items()
               if r["received"] != r["expected"] or r["duplicates"] or r["out_of_order"] or r["missing"]
               or r["unexpected"] or r["mismatched"] or r.get("problems")]
        why.append(f"subscribers lost, repeated, reordered or altered changes: {bad}")
    p50 = counts["delivery_ms"]["p50"]
    if p50 is not None and p50 > MAX_P50_MS:
        why.append(f"slow delivery: median {p50} ms from a create to its event (over {MAX_P50_MS:.0f} ms; "
                   "healthy replicas take ~10 ms): wake-ups not acted on, or each replica's read of the "
                   "log is slow (EXPLAIN ANALYZE storage::changes::read with Scope::All; compare a run "
                   "with LB_PG_EXTRA='-c jit=off')")
    if not 1 <= listening <= len(REPLICA_PORTS):
        why.append(f"{listening} LISTEN connections for {len(REPLICA_PORTS)} replicas with streams open")
    if left_listening:
        why.append(f"{left_listening} LISTEN connections left after every stream closed")
    if inconsistent:
        why.append(f"the project change logs disagree with the tenant's: {inconsistent}")
    if wrong:
        counts["state_disagreements"] = wrong[:10]
        why.append(f"{len(wrong)} disagreements between the log, the tasks table and the writers")
    if writers.failures:
        counts["write_failures"] = writers.failures[:10]
        why.append(f"{len(writers.failures)} writes failed")
    if attempts.statuses.get("GET 500") or attempts.statuses.get("POST 500") or attempts.statuses.get("PATCH 500") \
            or attempts.statuses.get("DELETE 500"):
        why.append("a 500")
    if not allow_5xx and attempts.server_errors():
        why.append(f"5xx answers: {attempts.server_errors()}")
    for s in subscribers:
        if s.statuses.get(404) and s.path.startswith("/projects/"):
            why.append(f"{s.name}: reopening {s.path} with Last-Event-ID {s.last_id} answered 404 "
                       f"{s.statuses[404]} times (its project was deleted meanwhile; its changes are kept "
                       "and GET /projects/{{id}}/changes serves them, the events route refuses)")
        fives = {k: v for k, v in s.statuses.items() if str(k).startswith("5") or str(k).endswith(" 500")}
        if fives and (not allow_5xx or s.statuses.get(500)):
            why.append(f"{s.name}: 5xx opening streams: {fives}")
    if why:
        fail("; ".join(why), **counts)
    # Succeeded: one short line per subscriber.
    counts["subscribers"] = {
        n: f"{r['received']}/{r['expected']} in order, {r['opens']} stream(s), {r['keep_alives']} keep-alives"
        for n, r in results.items()
    }
    print(json.dumps({"result": "ok", **counts}))
