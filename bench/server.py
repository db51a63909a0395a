"""The taskdash server under test: a fresh database and the server on it, its API, and what
/proc says about its CPU time and memory."""

import json
import os
import re
import signal
import subprocess
import time
import urllib.request

from settings import BASE, BINARY, HTTP_PORT, LOG_LEVEL, PG_PORT, POOL_SIZE


def start_server(cluster, db, workdir):
    """A fresh database `db` (migrated, one tenant) and the server on it: (server, api key, tenant id)."""
    subprocess.run([f"{cluster.bin}/createdb", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", db],
                   check=True)
    subprocess.run([BINARY, "migrate", "--database-url", cluster.url(db)], check=True, capture_output=True)
    issued = json.loads(subprocess.run([BINARY, "tenant", "create", "bench", "--database-url", cluster.url(db)],
                                       check=True, capture_output=True, text=True).stdout)
    server = subprocess.Popen([BINARY, "--bind", f"127.0.0.1:{HTTP_PORT}", "--database-url", cluster.url(db),
                               "--pool-size", str(POOL_SIZE), "--log", LOG_LEVEL, "--log-format", "json"], stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(workdir, f"server-{db}.log"), "w"))
    for _ in range(100):
        try:
            urllib.request.urlopen(BASE + "/health/ready", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    time.sleep(1)
    return server, issued["api_key"], issued["tenant"]["id"]


def stop_server(server):
    server.send_signal(signal.SIGINT)
    server.wait(timeout=60)


def http(method, path, key, body=None, headers=False):
    """The answer's JSON (and its headers when `headers`)."""
    request = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.loads(response.read())
        return (answer, response.headers) if headers else answer


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"{field}:\s+(\d+)", f.read()).group(1))
