"""Shared by the feed scenarios (feed.py): requests through nginx, retried like the workflow
client and every answer counted; the change log paged from the start; a replica's open-streams
gauge; a scenario's deadline."""

import http.client
import json
import threading
import time
from collections import Counter

from driver import HOST, KEY, PORT, fail

SCENARIO_SECS = 60
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
