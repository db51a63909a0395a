"""Change feed scenarios for e2e/loadbalancer/run.sh: Server-Sent Events through nginx while
writers hit every replica, bounded in requests and time (each scenario fails after 60 s).

  feed     6 subscribers through nginx (2 on /events, 4 on three projects' /events, one with a
           stream token) while 6 writers create, patch and delete ~100 tasks (~300 writes) and
           one project is deleted with its cascade. The replica one subscriber streams from
           (found through the replicas' event_streams_open gauge) is SIGKILLed mid-way; that
           subscriber, like a browser, reconnects through nginx with Last-Event-ID.
  feedpg   4 subscribers while PostgreSQL restarts under write load: streams recover by
           themselves (clients reconnect with Last-Event-ID when a stream ends).
  feedrolling  4 subscribers while each replica in turn gets SIGTERM: every stream ends at
           the start of its replica's drain and resumes on another, none is refused.
  feeddeleted  a project's subscriber loses its connection just before the project is
           deleted and reconnects with Last-Event-ID: it must still get the project.deleted
           change and the cascade (GET /projects/{id}/changes serves them).

At the end every subscriber must hold every change of its scope exactly once, in cursor order,
equal (type and data) to GET /changes or GET /projects/{id}/changes paged from the start; the
latest change of every task must agree with the tasks table (status and version; deleted ones
absent), and the table with what the writers meant; every replica keeps one LISTEN connection.
One JSON line per scenario; exit 1 on any loss, duplicate, disorder, mismatch or 5xx answer
(feedpg: 503s while PostgreSQL is down are retried; a 500 or a final 5xx fails), or when the
median delivery (create sent -> event received) exceeds LB_FEED_MAX_P50_MS (150 ms).

The SSE client is the standard library's http.client: a socket timeout (5 heartbeats) as the
watchdog, lines parsed as the EventSource specification says, reconnection with
Last-Event-ID after an end of stream or an error, with a short backoff.
"""

import http.client
import json
import os
import socket
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True  # no __pycache__ in the repository
from driver import HOST, KEY, PORT, REPLICA_PORTS, fail, helper, new_project, sql

HEARTBEAT = float(os.environ.get("LB_EVENTS_HEARTBEAT_SECS", "15"))
READ_TIMEOUT = 5 * HEARTBEAT
SCENARIO_SECS = 60
# Median from sending a create to its event at a subscriber. A replica delivers in ~10 ms here
# (the writers' NOTIFY wakes its reader); at the one-second poll it would be ~500 ms.
MAX_P50_MS = float(os.environ.get("LB_FEED_MAX_P50_MS", "150"))
RETRYABLE = {0, 502, 503}
local = threading.local()


def cursor(value):
    """A change cursor `<xid>-<seq>` as a comparable tuple."""
    xid, seq = value.split("-")
    return int(xid), int(seq)


class Attempts:
    """Every answer any client got, retried or not (status 0: connection error)."""

    def __init__(self):
        self.statuses = Counter()
        self.lock = threading.Lock()

    def add(self, what, status):
        with self.lock:
            self.statuses[f"{what} {status}"] += 1

    def server_errors(self):
        return {k: v for k, v in self.statuses.items() if k.split()[-1].startswith("5")}

    def as_dict(self):
        return dict(sorted(self.statuses.items()))


def call(attempts, method, path, body=None, retries=30):
    """One logical request, retried like the workflow client on connection errors, 502 and 503.
    Returns (status, json, retried); local.started: when the last attempt was sent."""
    payload = json.dumps(body) if body is not None else None
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    status, data = 0, None
    for attempt in range(retries + 1):
        local.started = time.time()
        try:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(HOST, PORT, timeout=15)
            conn.request(method, path, payload, headers)
            response = conn.getresponse()
            raw = response.read()
            status = response.status
            data = json.loads(raw) if raw and response.getheader("Content-Type", "").endswith("json") else None
        except (OSError, http.client.HTTPException, ValueError):
            local.conn = None
            status, data = 0, None
        attempts.add(method, status)
        if status not in RETRYABLE:
            return status, data, attempt > 0
        if attempt < retries:
            time.sleep(min(0.05 * 2**attempt, 1.0))
    return status, data, True


def page_changes(attempts, scope_path):
    """GET /changes (or a project's) paged from the start: every change kept, in order."""
    changes, after = [], None
    for _ in range(1000):
        query = "limit=1000" + (f"&after={after}" if after else "")
        status, page, _ = call(attempts, "GET", f"{scope_path}?{query}")
        if status != 200:
            fail(f"GET {scope_path} answered {status}", body=page)
        changes += page["data"]
        after = page["next_cursor"]
        if len(page["data"]) < 1000:
            return changes, after
    fail(f"GET {scope_path}: more than 1000 pages")


class Subscriber(threading.Thread):
    """An EventSource-like client of one events route, through nginx."""

    def __init__(self, name, path, after, token_for=None):
        super().__init__(daemon=True, name=name)
        self.path, self.after, self.token_for = path, after, token_for
        self.token = None
        self.events = []  # (id, type, data as parsed JSON, arrival time)
        self.last_id = None  # the EventSource's "last event ID string"
        self.opens = 0  # streams that answered 200
        self.resumed_with = []  # Last-Event-ID sent on each reconnection
        self.statuses = Counter()  # answers to opening a stream
        self.refused = 0  # 4xx answers in a row
        self.ends = Counter()  # why streams ended
        self.comments = 0  # keep-alive comments
        self.retry = None
        self.problems = []
        self.connected = threading.Event()
        self.stopping = threading.Event()
        self.hold = threading.Event()  # while set, do not reconnect
        self.conn = None
        self.lock = threading.Lock()

    # -- control, from other threads
    def interrupt(self, hold=False):
        """Cuts the current connection (a network blip); with hold, stays away until resume()."""
        if hold:
            self.hold.set()
        self._cut()

    def resume(self):
        self.hold.clear()

    def stop(self):
        self.stopping.set()
        self.hold.clear()
        self._cut()

    def _cut(self):
        with self.lock:
            conn = self.conn
        try:
            if conn is not None and conn.sock is not None:
                conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- the client
    def run(self):
        failures = 0
        while not self.stopping.is_set():
            while self.hold.is_set() and not self.stopping.is_set():
                time.sleep(0.02)
            delivered = len(self.events)
            outcome = self._stream()
            if self.stopping.is_set():
                break
            self.ends[outcome] += 1
            while self.hold.is_set() and not self.stopping.is_set():
                time.sleep(0.02)
            # Like a browser: `retry:` (1 s) after a stream that worked; a little longer after
            # failures, up to 1 s (shortened here: 0.1 s first, to keep the scenario short).
            failures = 0 if len(self.events) > delivered or outcome == "eof" else failures + 1
            time.sleep(min(0.1 * 2**failures, 1.0))

    def _url(self):
        url = f"{self.path}?after={self.after}"
        return url + (f"&token={self.token}" if self.token else "")

    def _new_token(self):
        body = json.dumps({"project_id": self.token_for})
        conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
        try:
            conn.request("POST", "/stream-tokens", body,
                         {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
            response = conn.getresponse()
            raw = response.read()
            self.statuses[f"token {response.status}"] += 1
            if response.status == 201:
                self.token = json.loads(raw)["token"]
        finally:
            conn.close()

    def _stream(self):
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.token_for is not None:
            if self.token is None:
                try:
                    self._new_token()
                except (OSError, http.client.HTTPException) as error:
                    return f"token {type(error).__name__}"
                if self.token is None:
                    return "no token"
        else:
            headers["Authorization"] = f"Bearer {KEY}"
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        conn = http.client.HTTPConnection(HOST, PORT, timeout=READ_TIMEOUT)
        with self.lock:
            self.conn = conn
        try:
            conn.request("GET", self._url(), headers=headers)
            response = conn.getresponse()
            self.statuses[response.status] += 1
            self.refused = self.refused + 1 if 400 <= response.status < 500 else 0
            if response.status != 200:
                response.read()
                if response.status == 401 and self.token:
                    self.token = None  # expired: the dashboard asks for another
                return f"http {response.status}"
            if not response.getheader("Content-Type", "").startswith("text/event-stream"):
                self.problems.append(f"Content-Type {response.getheader('Content-Type')}")
                return "not an event stream"
            self.opens += 1
            if self.opens > 1:
                self.resumed_with.append(self.last_id)
            self.connected.set()
            return self._read(response)
        except TimeoutError:
            return "timeout"
        except http.client.IncompleteRead:
            return "cut"
        except (OSError, http.client.HTTPException) as error:
            return type(error).__name__
        finally:
            with self.lock:
                self.conn = None
            conn.close()

    def _read(self, response):
        data, kind, id_buffer = [], "", self.last_id
        while True:
            raw = response.readline()
            if not raw:
                return "eof"
            line = raw.decode()
            line = line[:-1] if line.endswith("\n") else line
            line = line[:-1] if line.endswith("\r") else line
            if line == "":
                # Dispatch: the last event id is taken even for an event without data.
                self.last_id = id_buffer
                if data:
                    self._dispatch(id_buffer, kind or "message", "\n".join(data))
                data, kind = [], ""
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            elif field == "event":
                kind = value
            elif field == "id" and "\0" not in value:
                id_buffer = value
            elif field == "retry":
                self.retry = value

    def _dispatch(self, event_id, kind, data):
        try:
            change = json.loads(data)
        except ValueError:
            self.problems.append(f"data is not JSON: {data[:100]}")
            return
        self.events.append((event_id, kind, change, time.time()))

    # -- the verdict
    def check(self, expected):
        """Compares what arrived with the change log of the same scope (after the start)."""
        got = [e[0] for e in self.events]
        want = [c["id"] for c in expected]
        by_id = {c["id"]: c for c in expected}
        counts = Counter(got)
        report = {
            "received": len(got),
            "expected": len(want),
            "duplicates": sum(n - 1 for n in counts.values() if n > 1),
            "out_of_order": sum(1 for a, b in zip(got, got[1:]) if cursor(a) >= cursor(b)),
            "missing": len(set(want) - set(got)),
            "unexpected": len(set(got) - set(want)),
            "mismatched": sum(
                1 for event_id, kind, change, _ in self.events
                if event_id in by_id and (kind != by_id[event_id]["type"] or change != by_id[event_id])
            ),
            "resets": sum(1 for e in self.events if e[1] == "reset"),
        }
        ok = got == want and not report["mismatched"] and not self.problems
        if not ok:
            missing = [i for i in want if i not in counts]
            report["first_missing"] = missing[:5]
            report["first_missing_types"] = [by_id[i]["type"] for i in missing[:5]]
            report["problems"] = self.problems[:5]
        return ok, report

    def summary(self):
        return {
            "opens": self.opens,
            "ends": dict(self.ends),
            "open_statuses": {str(k): v for k, v in self.statuses.items()},
            "keep_alives": self.comments,
            "retry": self.retry,
        }


def streams_open(port):
    """The event_streams_open gauge of one replica (0 when it has not been set yet)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    for line in text.splitlines():
        if line.startswith("event_streams_open"):
            return float(line.split()[-1])
    return 0.0


def head(attempts):
    """Where the subscribers start: the end of the tenant's change log now."""
    return page_changes(attempts, "/changes")[1]


class Deadline:
    def __init__(self, name, seconds=SCENARIO_SECS):
        self.name, self.end = name, time.time() + seconds

    def left(self):
        return self.end - time.time()

    def check(self, what, **counts):
        if self.left() < 0:
            fail(f"{self.name}: over {SCENARIO_SECS} s ({what})", **counts)


class Writers:
    """Writers through nginx: each creates its tasks (one bulk, then one by one), sets them
    in_progress, then deletes a third, finishes a third and relabels the rest. Remembers what
    it meant (by external_id) and when each create was sent (by task id)."""

    def __init__(self, name, attempts, projects, writers, per_writer, pace):
        self.name, self.attempts, self.projects = name, attempts, projects
        self.writers, self.per_writer, self.pace = writers, per_writer, pace
        self.meant = {}  # external_id -> final status, or None when deleted
        self.acked = {}  # task id -> when its create (last attempt) was sent
        self.done_ops = 0
        self.active = writers
        self.total_ops = writers * (1 + 3 * per_writer)
        self.failures = []
        self.lock = threading.Lock()

    def progress(self):
        return self.done_ops / max(self.total_ops, 1)

    def _op(self, method, path, body, accept, accept_retried=()):
        status, data, retried = call(self.attempts, method, path, body)
        with self.lock:
            self.done_ops += 1
            if status not in accept and not (retried and status in accept_retried):
                self.failures.append(f"{method} {path} -> {status} {str(data)[:200]}")
                return None
        time.sleep(self.pace)
        return data if data is not None else {}

    def run(self, n):
        try:
            self._run(n)
        finally:
            with self.lock:
                self.active -= 1

    def waiting(self, share):
        """Until this share of the writes is done (False: the writers stopped short)."""
        while self.progress() < share:
            if not self.active:
                return False
            time.sleep(0.01)
        return True

    def _run(self, n):
        project = self.projects[n % len(self.projects)]
        base = f"/projects/{project}/tasks"
        keys = [f"{self.name}:{n}:bulk:{j}" for j in range(5)]
        result = self._op("POST", f"{base}:bulk", {"tasks": [{"title": k, "external_id": k} for k in keys]},
                          (200, 201))
        if result is not None:
            with self.lock:
                self.meant.update({k: "open" for k in keys})
        for i in range(self.per_writer):
            key = f"{self.name}:{n}:{i}"
            # 200 is a replay: nginx (or this client) sent the create again after a replica
            # died with it in flight; exactly one task exists either way (checked at the end).
            task = self._op("POST", base, {"title": key, "external_id": key}, (200, 201))
            if task is None:
                return
            with self.lock:
                self.acked[task["id"]] = local.started  # this thread's last attempt
            path = f"{base}/{task['id']}"
            if self._op("PATCH", path, {"status": "in_progress", "priority_score": i}, (200,)) is None:
                return
            if i % 3 == 0:
                # 404: a repetition (by nginx or this client) of a delete that went through.
                outcome = self._op("DELETE", path, None, (204, 404))
                meant = None
            elif i % 3 == 1:
                outcome = self._op("PATCH", path, {"status": "done"}, (200,))
                meant = "done"
            else:
                outcome = self._op("PATCH", path, {"labels": ["feed", f"w{n}"]}, (200,))
                meant = "in_progress"
            if outcome is None:
                return
            with self.lock:
                self.meant[key] = meant


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


def listeners(expected, seconds=10):
    """LISTEN connections in PostgreSQL: one per replica (also after a replica's or PostgreSQL's
    restart), not one per stream."""
    end = time.time() + seconds
    while True:
        found = int(sql("SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'listen %'"))
        if found == expected or time.time() > end:
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
    for s in subscribers:
        s.stop()
    for s in subscribers:
        s.join(timeout=5)
    listening = listeners(len(REPLICA_PORTS))
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
    if listening != len(REPLICA_PORTS):
        why.append(f"{listening} LISTEN connections for {len(REPLICA_PORTS)} replicas")
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


def subscribe(subscribers, deadline):
    for s in subscribers:
        s.start()
    for s in subscribers:
        if not s.connected.wait(timeout=max(deadline.left(), 0.1)):
            fail(f"{s.name} could not open its stream", statuses=dict(s.statuses), ends=dict(s.ends))


def feed_sigkill():
    deadline = Deadline("feed")
    attempts = Attempts()
    a, b, c = (new_project(f"feed-{x}") for x in "abc")
    status, _, _ = call(attempts, "POST", f"/projects/{c}/milestones", {"name": "doomed", "slug": "doomed"})
    status_c, _, _ = call(attempts, "POST", f"/projects/{c}/tasks:bulk",
                          {"tasks": [{"title": f"c{j}", "external_id": f"feed:c:{j}"} for j in range(20)]})
    if (status, status_c) != (201, 201):
        fail("setting up project c failed", statuses=[status, status_c])
    c0 = head(attempts)
    scopes = {"victim/events": "/changes", "all/events": "/changes",
              "a1/events": f"/projects/{a}/changes", "a2/events": f"/projects/{a}/changes",
              "b/events+token": f"/projects/{b}/changes", "c/events": f"/projects/{c}/changes"}
    paths = {"/changes": "/events"} | {f"/projects/{p}/changes": f"/projects/{p}/events" for p in (a, b, c)}
    subscribers = {name: Subscriber(name, paths[scope], c0, token_for=b if "token" in name else None)
                   for name, scope in scopes.items()}
    victim = subscribers["victim/events"]

    # Which replica does the victim's stream go to? The one whose open-streams gauge rose.
    before = {port: streams_open(port) for port in REPLICA_PORTS}
    subscribe([victim], deadline)
    after = {port: streams_open(port) for port in REPLICA_PORTS}
    risen = [port for port in REPLICA_PORTS if after[port] > before[port]]
    if len(risen) != 1:
        fail("cannot tell which replica the victim's stream is on", before=before, after=after)
    victim_replica = REPLICA_PORTS.index(risen[0]) + 1
    others = [s for s in subscribers.values() if s is not victim]
    subscribe(others, deadline)
    gauges = {port: streams_open(port) for port in REPLICA_PORTS}

    writers = Writers("feed", attempts, [a, b], writers=6, per_writer=16, pace=0.08)
    events_at_kill = {}

    def disrupt():
        if not writers.waiting(1 / 3):
            return
        events_at_kill["victim"] = len(victim.events)
        helper("kill-replica.sh", victim_replica)
        try:
            writers.waiting(2 / 3)
            # Project c goes, with its milestone and tasks (a cascade), under its subscriber.
            status, _, retried = call(attempts, "DELETE", f"/projects/{c}")
            if status != 204 and not (retried and status == 404):
                writers.failures.append(f"DELETE /projects/{c} -> {status}")
        finally:
            helper("start-replica.sh", victim_replica)

    with ThreadPoolExecutor(writers.writers + 1) as pool:
        disruption = pool.submit(disrupt)
        list(pool.map(writers.run, range(writers.writers)))
        disruption.result()
    deadline.check("writing", writes=writers.done_ops)
    if "victim" not in events_at_kill:
        fail("the writers stopped before the replica was killed", write_failures=writers.failures[:10])
    if victim.opens < 2 or not victim.resumed_with or victim.resumed_with[0] is None:
        fail("the victim did not reconnect with Last-Event-ID after its replica was killed",
             opens=victim.opens, resumed_with=victim.resumed_with, events_at_kill=events_at_kill)
    extra = {"killed_replica": victim_replica, "streams_per_replica": {str(p): g for p, g in gauges.items()},
             "victim_resumed_with": victim.resumed_with[:3], "events_at_disruptions": events_at_kill}
    verdict("feed", list(subscribers.values()), scopes, c0, attempts, writers, [a, b, c], deadline, extra)


def feed_pgrestart():
    deadline = Deadline("feedpg")
    attempts = Attempts()
    p, q = new_project("feedpg-p"), new_project("feedpg-q")
    c0 = head(attempts)
    scopes = {"all1/events": "/changes", "all2/events": "/changes",
              "p1/events": f"/projects/{p}/changes", "p2/events": f"/projects/{p}/changes"}
    paths = {"/changes": "/events", f"/projects/{p}/changes": f"/projects/{p}/events"}
    subscribers = [Subscriber(name, paths[scope], c0) for name, scope in scopes.items()]
    subscribe(subscribers, deadline)
    writers = Writers("feedpg", attempts, [p, q], writers=4, per_writer=20, pace=0.05)
    timeline = {}

    def disrupt():
        if not writers.waiting(1 / 4):
            return
        timeline["events_before"] = [len(s.events) for s in subscribers]
        helper("pg.sh", "stop", "-m", "fast")
        time.sleep(3)
        helper("pg.sh", "start", "-w")
        timeline["restarted"] = time.time()
        timeline["events_at_restart"] = [len(s.events) for s in subscribers]

    with ThreadPoolExecutor(writers.writers + 1) as pool:
        disruption = pool.submit(disrupt)
        list(pool.map(writers.run, range(writers.writers)))
        disruption.result()
    deadline.check("writing", writes=writers.done_ops)
    restarted = timeline.pop("restarted", time.time())
    # How soon after PostgreSQL was back each subscriber got its next change.
    timeline["first_event_after_restart_ms"] = [
        next((round(1000 * (e[3] - restarted)) for e in s.events if e[3] >= restarted), None) for s in subscribers
    ]
    verdict("feedpg", subscribers, scopes, c0, attempts, writers, [p, q], deadline, timeline, allow_5xx=True)


def feed_rolling():
    deadline = Deadline("feedrolling")
    attempts = Attempts()
    p = new_project("feedrolling")
    c0 = head(attempts)
    scopes = {"all1/events": "/changes", "all2/events": "/changes",
              "p1/events": f"/projects/{p}/changes", "p2/events": f"/projects/{p}/changes"}
    paths = {"/changes": "/events", f"/projects/{p}/changes": f"/projects/{p}/events"}
    subscribers = [Subscriber(name, paths[scope], c0) for name, scope in scopes.items()]
    subscribe(subscribers, deadline)
    writers = Writers("feedrolling", attempts, [p], writers=4, per_writer=40, pace=0.05)
    rolls = []

    def disrupt():
        for replica in (1, 2, 3):
            writers.waiting(replica / 5)
            started = time.time()
            helper("roll-replica.sh", replica)
            rolls.append(round(time.time() - started, 1))

    with ThreadPoolExecutor(writers.writers + 1) as pool:
        disruption = pool.submit(disrupt)
        list(pool.map(writers.run, range(writers.writers)))
        disruption.result()
    deadline.check("writing", writes=writers.done_ops)
    # Every replica was stopped, so every stream ended at least once (at the start of its
    # replica's drain) and was resumed elsewhere; none was refused (nginx skips a draining
    # replica's 503).
    not_resumed = [s.name for s in subscribers if s.opens < 2]
    if not_resumed:
        fail("streams did not end when their replica was stopped", not_resumed=not_resumed,
             ends={s.name: dict(s.ends) for s in subscribers})
    extra = {"roll_secs": rolls}
    verdict("feedrolling", subscribers, scopes, c0, attempts, writers, [p], deadline, extra)


def feed_deleted_project():
    deadline = Deadline("feeddeleted", 30)
    attempts = Attempts()
    d = new_project("feeddeleted")
    c0 = head(attempts)
    scopes = {"live/events": f"/projects/{d}/changes", "blip/events": f"/projects/{d}/changes",
              "all/events": "/changes"}
    paths = {"/changes": "/events", f"/projects/{d}/changes": f"/projects/{d}/events"}
    subscribers = {name: Subscriber(name, paths[scope], c0) for name, scope in scopes.items()}
    subscribe(list(subscribers.values()), deadline)
    blip = subscribers["blip/events"]
    writers = Writers("feeddeleted", attempts, [d], writers=0, per_writer=0, pace=0)
    keys = [f"feeddeleted:{j}" for j in range(10)]
    answers = [call(attempts, "POST", f"/projects/{d}/milestones", {"name": "m", "slug": "m"})[0],
               call(attempts, "POST", f"/projects/{d}/tasks:bulk",
                    {"tasks": [{"title": k, "external_id": k} for k in keys]})[0]]
    writers.meant = {k: None for k in keys}
    if answers != [201, 201]:
        fail("setting up the project failed", answers=answers)
    # The subscriber has these 11 changes, then its connection drops; the project goes; it
    # reconnects (Last-Event-ID: the bulk's last task.created).
    while len(blip.events) < 11 and deadline.left() > 20:
        time.sleep(0.02)
    blip.interrupt(hold=True)
    status, _, _ = call(attempts, "DELETE", f"/projects/{d}")
    if status != 204:
        writers.failures.append(f"DELETE /projects/{d} -> {status}")
    blip.resume()
    extra = {"blip_had": 11, "blip_resumes_with": blip.last_id}
    verdict("feeddeleted", list(subscribers.values()), scopes, c0, attempts, writers, [d], deadline, extra)


if __name__ == "__main__":
    {"feed": feed_sigkill, "feedpg": feed_pgrestart, "feedrolling": feed_rolling,
     "feeddeleted": feed_deleted_project}[sys.argv[1]]()
