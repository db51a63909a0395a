"""The feed scenarios' SSE client (feed.py): an EventSource-like thread on one events route
through nginx, built on the standard library's http.client: a socket timeout (5 heartbeats) as the
watchdog, lines parsed as the EventSource specification says, reconnection with Last-Event-ID
after an end of stream or an error, with a short backoff; and its verdict on what arrived."""

import http.client
import json
import os
import socket
import threading
import time
from collections import Counter

from driver import HOST, KEY, PORT
from feed_common import cursor

HEARTBEAT = float(os.environ.get("LB_EVENTS_HEARTBEAT_SECS", "15"))
READ_TIMEOUT = 5 * HEARTBEAT


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
