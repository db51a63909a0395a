"""The feed bench's clients (stdlib only): `Streams`, many SSE streams over raw non-blocking
sockets on epoll (HTTP/1.1, chunked; each event found by its `id:` line), and the paced writer,
a process of its own (`python3 bench/feed_client.py write ...`, run by `write`)."""

import array
import json
import os
import re
import resource
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection

WRITERS = 8  # the writer's connections: a slow answer does not hold back the next create
SO_TIMESTAMPNS = 35  # Linux; socket.SO_TIMESTAMPNS is not in every Python
CMSG_SPACE = socket.CMSG_SPACE(16)
# An event's `id:` line, with the line end before it (a leading literal: re searches it fast).
EVENT_ID = re.compile(rb"\nid:[^\r\n]*")


def raise_fd_limit():
    """10 000 streams need as many descriptors in this process and in the server (its child)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 65536), max(hard, 65536)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Stream:
    """One stream's `id:` lines as received, and per read that brought events: their count and
    the kernel's receive time (no per-event work while reading: the client must keep up)."""
    __slots__ = ("sock", "timed", "head", "status", "tail", "ids", "n", "counts", "ts", "beats", "closed")

    def __init__(self, sock, timed):
        self.sock, self.timed, self.head, self.status, self.tail = sock, timed, b"", None, b""
        self.ids, self.n, self.counts, self.ts = bytearray(), 0, array.array("i"), array.array("d")
        self.beats, self.closed = 0, False

    def cursors(self):
        return [line[3:].strip().decode() for line in self.ids.split(b"\n")[1:]]

    def arrivals(self):
        """The kernel receive time of each event, in order."""
        for count, ts in zip(self.counts, self.ts):
            for _ in range(count):
                yield ts


class Streams:
    """SSE streams over raw sockets. Timed streams are read as events arrive (one epoll) with the
    kernel's receive time (SO_TIMESTAMPNS): while this process keeps up it is each event's; when
    it lags, TCP merges queued segments and the time is the last one's (an overestimate), hence
    `lag` (read time - receive time). The others are read every LAZY seconds (another epoll), in
    big reads, for the exactly-once check only: this process then takes little of the CPU the
    server needs (Python spends about 3 µs on a read, and 1000 streams at 200/s are 200 000 a second)."""

    LAZY = 0.1

    def __init__(self, port, key, path, count_beats=False):
        self.port, self.count_beats = port, count_beats
        self.request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
                        "Accept: text/event-stream\r\n\r\n").encode()
        self.epoll, self.lazy = select.epoll(), select.epoll()
        self.next_lazy = 0.0
        self.buffer = memoryview(bytearray(1 << 18))
        self.streams = {}  # fd -> Stream
        self.waiting = 0  # streams without their answer's head yet
        self.lag = array.array("d")  # per read: when this process read it - when the kernel got it

    def open(self, n, timed=0, wave=250, timeout=120):
        """Opens n more streams, `timed` of them timed (spread evenly), `wave` at a time; returns
        when every one has its answer's head."""
        deadline = time.monotonic() + timeout
        every = max(1, n // timed) if timed else 0
        for start in range(0, n, wave):
            for i in range(start, min(start + wave, n)):
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
                is_timed = bool(every) and i % every == 0 and i // every < timed
                if is_timed:
                    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                sock.sendall(self.request)
                sock.setblocking(False)
                self.streams[sock.fileno()] = Stream(sock, is_timed)
                (self.epoll if is_timed else self.lazy).register(sock.fileno(), select.EPOLLIN)
                self.waiting += 1
            self.pump(deadline - time.monotonic(), lambda: self.waiting == 0)
        return self.waiting == 0

    def pump(self, seconds, done=lambda: False):
        end = time.monotonic() + seconds
        while not done():
            left = end - time.monotonic()
            if left <= 0:
                return
            for fd, _ in self.epoll.poll(min(left, 0.02)):
                self.read(self.streams[fd])
            if time.monotonic() >= self.next_lazy:
                self.next_lazy = time.monotonic() + self.LAZY
                for fd, _ in self.lazy.poll(0):
                    self.read(self.streams[fd])

    def read(self, st):
        try:
            if st.timed:
                data, ancillary, _, _ = st.sock.recvmsg(65536, CMSG_SPACE)
            else:
                data, ancillary = self.buffer[:st.sock.recv_into(self.buffer)].tobytes(), None
        except BlockingIOError:
            return
        except OSError:
            data, ancillary = b"", []
        now = time.time()
        if not data:
            st.closed = True
            (self.epoll if st.timed else self.lazy).unregister(st.sock.fileno())
            if st.head is not None:
                self.waiting -= 1
            return
        if ancillary:
            seconds, nanos = struct.unpack("qq", ancillary[0][2][:16])
            ts = seconds + nanos / 1e9
            self.lag.append(now - ts)
        else:
            ts = now
        if st.head is not None:  # still reading the answer's head
            st.head += data
            end = st.head.find(b"\r\n\r\n")
            if end < 0:
                return
            st.status = int(st.head.split(b" ", 2)[1])
            data, st.head = st.head[end + 3:], None  # from the head's last line end
            self.waiting -= 1
        # Lines are complete up to the last line end, which the next read starts with.
        text = st.tail + data if st.tail else data
        cut = text.rfind(b"\n")
        if cut < 0:
            st.tail = text
            return
        st.tail = text[cut:]
        ids = EVENT_ID.findall(text, 0, cut)
        if ids:
            st.ids += b"".join(ids)
            st.n += len(ids)
            st.counts.append(len(ids))
            st.ts.append(ts)
        if self.count_beats:  # comments: one when the stream opens, then heartbeats (a scan: idle only)
            st.beats += text.count(b"\n:", 0, cut)

    def live(self):
        return [st for st in self.streams.values() if st.status == 200 and not st.closed]

    def failed(self):
        """Streams that did not open with a 200 or that the server closed."""
        return sum(st.status != 200 or st.closed for st in self.streams.values())

    def close(self):
        for st in self.streams.values():
            st.sock.close()
        self.epoll.close()
        self.lazy.close()
        self.streams.clear()


def writer_main(port, key, project, rate, seconds, out):
    """The paced writer: create i is sent at start + i / rate (or as soon as a connection is free),
    spread over WRITERS keep-alive connections; writes [status, task id, sent, answered] per create."""
    n = int(rate * seconds)
    results = [None] * n
    start = time.time() + 0.2
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def work(k):
        connection = HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(k, n, WRITERS):
            delay = start + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            body = json.dumps({"title": f"feed {i}"})
            sent = time.time()
            try:
                connection.request("POST", f"/projects/{project}/tasks", body, headers)
                response = connection.getresponse()
                answer = response.read()
                status = response.status
            except OSError:  # counted as a failed create (status 0); a new connection goes on
                connection.close()
                connection = HTTPConnection("127.0.0.1", port, timeout=60)
                status = 0
            answered = time.time()
            task = json.loads(answer)["id"] if status == 201 else None
            results[i] = [status, task, sent, answered]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(out, "w") as f:
        json.dump(results, f)


def write(port, key, project, rate, seconds, out, streams=None):
    """Runs the writer process (pumping `streams` meanwhile): its [status, task, sent, answered]."""
    writer = subprocess.Popen([sys.executable, os.path.abspath(__file__), "write", str(port), key,
                               str(project), str(rate), str(seconds), out])
    if streams:
        streams.pump(seconds * 10 + 60, lambda: writer.poll() is not None)
    if writer.wait() != 0:
        raise RuntimeError("the feed writer failed")
    with open(out) as f:
        return json.load(f)


if __name__ == "__main__" and sys.argv[1:2] == ["write"]:
    port, key, project, rate, seconds, out = sys.argv[2:8]
    writer_main(int(port), key, int(project), float(rate), float(seconds), out)
