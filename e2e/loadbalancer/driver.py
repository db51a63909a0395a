"""Load clients for e2e/loadbalancer/run.sh: real HTTP through nginx, bounded in requests and time.

Each scenario prints one JSON line of counts and exits non-zero when its promise is broken.
Clients behave like the existing workflow client: on a connection error, 502 or 503 they retry
the same request (same external_id) a bounded number of times.
"""

import http.client
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

HOST, PORT = "127.0.0.1", int(os.environ["LB_PORT"])
KEY = os.environ["LB_KEY"]
PSQL = shlex.split(os.environ["LB_PSQL"])  # psql command line for checks against the database
REPLICA_PORTS = [int(p) for p in os.environ["LB_REPLICA_PORTS"].split(",")]
HELPERS = os.environ["LB_DIR"]
RETRYABLE = {502, 503}
local = threading.local()


def request(method, path, body=None, retries=0, timeout=15, idempotency_key=None):
    """One logical request; returns (status, json). Status 0: gave up on connection errors.
    With an idempotency key, a 409 `idempotency_key_in_flight` is retried too."""
    payload = json.dumps(body) if body is not None else None
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = json.dumps(idempotency_key)
    status, data = 0, None
    for attempt in range(retries + 1):
        try:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
            conn.request(method, path, payload, headers)
            response = conn.getresponse()
            raw = response.read()
            status = response.status
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = raw.decode(errors="replace")[:200]
            in_flight = status == 409 and isinstance(data, dict) and data.get("code") == "idempotency_key_in_flight"
            if status not in RETRYABLE and not in_flight:
                return status, data
        except (OSError, http.client.HTTPException):
            local.conn = None
            status = 0
        if attempt < retries:
            time.sleep(min(0.05 * 2**attempt, 1.0))
    return status, data


def sql(query):
    out = subprocess.run(PSQL + ["-Atc", query], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def new_project(slug):
    status, project = request("POST", "/projects", {"name": slug, "slug": slug}, retries=5)
    assert status == 201, (status, project)
    return project["id"]


def fail(message, **counts):
    print(json.dumps({"result": "FAILED", "why": message, **counts}))
    sys.exit(1)


def duplicate_storm():
    """Many clients, few keys, single and bulk creates racing: one row and one creation per key."""
    project = new_project("storm")
    keys = [f"storm:create:{i}" for i in range(40)]
    statuses = Counter()
    creations = Counter()
    lock = threading.Lock()

    def client(n):
        order = keys[n % len(keys):] + keys[: n % len(keys)]
        for key in order:
            status, _ = request("POST", f"/projects/{project}/tasks", {"title": key, "external_id": key})
            with lock:
                statuses[status] += 1
                if status == 201:
                    creations[key] += 1
        status, result = request(
            "POST", f"/projects/{project}/tasks:bulk", {"tasks": [{"title": k, "external_id": k} for k in order]}
        )
        with lock:
            statuses[f"bulk {status}"] += 1
            for task in (result or {}).get("created", []):
                creations[task["external_id"]] += 1

    with ThreadPoolExecutor(24) as pool:
        list(pool.map(client, range(24)))
    rows = sql(f"SELECT count(*), count(DISTINCT external_id) FROM tasks WHERE project_id = {project}")
    counts = {"statuses": {str(k): v for k, v in statuses.items()}, "rows": rows}
    if any(str(s).split()[-1].startswith("5") or s == 0 for s in statuses):
        fail("a request failed", **counts)
    if rows != f"{len(keys)}|{len(keys)}":
        fail("not exactly one row per key", **counts)
    if sorted(creations.values()) != [1] * len(keys) or len(creations) != len(keys):
        fail("not exactly one creation per key", creations=dict(creations), **counts)
    print(json.dumps({"result": "ok", **counts}))


def load_with_retries(name, disrupt, clients=16, per_client=150, bulk_every=10, keyed=False):
    """Unique keys, clients retrying like the workflow client while `disrupt` runs; afterwards
    every acknowledged task exists exactly once. `keyed`: the tasks have no external_id, and each
    request carries an Idempotency-Key instead (tasks are then told apart by title)."""
    column = "title" if keyed else "external_id"
    project = new_project(name)
    acknowledged, statuses = set(), Counter()
    lock = threading.Lock()
    done = threading.Event()

    def client(n):
        for i in range(per_client):
            key = f"{name}:{n}:{i}"
            idempotency_key = key if keyed else None
            if i % bulk_every == 0:
                items = [{"title": key + f"/{j}", "external_id": key + f"/{j}"} for j in range(10)]
                if keyed:
                    items = [{"title": item["title"]} for item in items]
                status, result = request("POST", f"/projects/{project}/tasks:bulk", {"tasks": items}, retries=30,
                                         idempotency_key=idempotency_key)
                created = [t[column] for t in (result or {}).get("created", [])]
                skipped = [s["task"][column] for s in (result or {}).get("skipped", [])]
                acked = created + skipped if status in (200, 201) else []
            else:
                task = {"title": key} if keyed else {"title": key, "external_id": key}
                status, _ = request("POST", f"/projects/{project}/tasks", task, retries=30,
                                    idempotency_key=idempotency_key)
                acked = [key] if status in (200, 201) else []
            with lock:
                statuses[status] += 1
                acknowledged.update(acked)
            time.sleep(0.002)

    with ThreadPoolExecutor(clients + 1) as pool:
        futures = [pool.submit(client, n) for n in range(clients)]
        disruption = pool.submit(disrupt, done)
        for f in futures:
            f.result()
        done.set()
        disruption.result()
    stored = sql(f"SELECT {column} FROM tasks WHERE project_id = {project}").split("\n")
    duplicates = sql(
        f"SELECT count(*) FROM (SELECT {column} FROM tasks WHERE project_id = {project} "
        f"GROUP BY {column} HAVING count(*) > 1) d"
    )
    missing = acknowledged - set(stored)
    counts = {"statuses": {str(k): v for k, v in statuses.items()}, "acknowledged": len(acknowledged),
              "stored": len(stored), "missing": len(missing), "duplicate_keys": int(duplicates)}
    if missing or int(duplicates) or statuses.get(500):
        fail("acknowledged tasks lost, duplicated, or a 500", **counts)
    return counts


def helper(*args):
    """Runs one of the scripts run.sh wrote into the scenario directory."""
    subprocess.run([os.path.join(HELPERS, args[0]), *map(str, args[1:])], check=True)


def kill_replica(keyed=False):
    def disrupt(done):
        time.sleep(1.0)
        helper("kill-replica.sh", 2)
        time.sleep(2.0)
        helper("start-replica.sh", 2)
    counts = load_with_retries("sigkillkeys" if keyed else "sigkill", disrupt, keyed=keyed)
    print(json.dumps({"result": "ok", **counts}))


def restart_postgres():
    outage = Counter()

    def disrupt(done):
        time.sleep(1.0)
        helper("pg.sh", "stop", "-m", "fast")
        # While it is down, what do requests get? (Without retries: the raw answer.)
        t_end = time.time() + 3
        while time.time() < t_end:
            started = time.time()
            status, _ = request("GET", "/projects?limit=1")
            outage[status] += 1
            if time.time() - started > 10:
                outage["hang"] += 1
        helper("pg.sh", "start", "-w")

    counts = load_with_retries("pgrestart", disrupt, per_client=120)
    # Every replica serves again by itself.
    for port in REPLICA_PORTS:
        conn = http.client.HTTPConnection(HOST, int(port), timeout=10)
        for _ in range(50):
            conn.request("GET", "/health/ready")
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                break
            time.sleep(0.2)
        else:
            fail(f"replica on {port} did not recover", **counts)
    counts["during_outage"] = {str(k): v for k, v in outage.items()}
    if outage.get(500) or outage.get("hang") or not outage.get(503):
        fail("the outage was not answered with 503s", **counts)
    print(json.dumps({"result": "ok", **counts}))


def rolling_restart():
    """Each replica gets SIGTERM in turn while clients (no retries of their own) keep writing."""
    project = new_project("rolling")
    statuses = Counter()
    lock = threading.Lock()
    done = threading.Event()

    def client(n):
        i = 0
        while not done.is_set() and i < 2000:
            key = f"rolling:{n}:{i}"
            status, _ = request("POST", f"/projects/{project}/tasks", {"title": key, "external_id": key})
            with lock:
                statuses[status] += 1
            i += 1
            time.sleep(0.005)

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(client, n) for n in range(8)]
        for replica in (1, 2, 3):
            time.sleep(0.5)
            helper("roll-replica.sh", replica)
        time.sleep(0.5)
        done.set()
        for f in futures:
            f.result()
    counts = {"statuses": {str(k): v for k, v in statuses.items()}}
    if set(statuses) - {201}:
        fail("a request failed during the rolling restart", **counts)
    print(json.dumps({"result": "ok", **counts}))


if __name__ == "__main__":
    scenario = sys.argv[1]
    {"storm": duplicate_storm, "sigkill": kill_replica, "sigkillkeys": lambda: kill_replica(keyed=True),
     "pgrestart": restart_postgres, "rolling": rolling_restart}[scenario]()
