"""Claim scenarios for e2e/loadbalancer/run.sh: agents claiming work through nginx.

claims     1000 tasks, 32 agents (threads) claiming and finishing through nginx in front of three
           replicas, one of which is SIGKILLed and restarted meanwhile. Every task ends done; no
           claim is ever answered with a task whose earlier claim was still live.
claimkill  an agent process claims a task with a 3 s lease and is SIGKILLed: nobody gets the task
           before its lease lapses; the next claim after it does.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from driver import fail, helper, new_project, request, sql

RETRIES = 8


def when(stamp):
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def claim(project, worker, lease=5, retries=RETRIES):
    return request("POST", f"/projects/{project}/tasks:claim", {"worker_id": worker, "lease_secs": lease},
                   retries=retries)


def claims_under_sigkill():
    project = new_project("claims")
    tasks = [{"title": f"t{i}", "priority_score": i % 10} for i in range(1000)]
    status, _ = request("POST", f"/projects/{project}/tasks:bulk", {"tasks": tasks}, retries=5)
    assert status == 201, status
    statuses = Counter()
    claimed = []  # (task id, claimed_at, claim_expires_at, worker)
    lock = threading.Lock()

    def agent(n):
        worker = f"agent-{n}"
        idle_since = None
        while True:
            status, task = claim(project, worker)
            with lock:
                statuses[f"claim {status}"] += 1
            if status == 204:
                # Tasks whose answer was lost with the killed replica come back after their lease.
                idle_since = idle_since or time.time()
                if time.time() - idle_since > 8:
                    return
                time.sleep(0.2)
                continue
            if status != 200:
                return
            idle_since = None
            with lock:
                claimed.append((task["id"], task["claimed_at"], task["claim_expires_at"], worker))
            path = f"/projects/{project}/tasks/{task['id']}"
            status, _ = request("PATCH", path, {"status": "done", "worker_id": worker}, retries=RETRIES)
            if status == 409:
                # A retried PATCH whose first attempt committed: the claim is already cleared.
                status, now = request("GET", path, retries=RETRIES)
                status = 200 if now and now.get("status") == "done" else 409
            with lock:
                statuses[f"done {status}"] += 1

    def disrupt():
        time.sleep(0.5)
        helper("kill-replica.sh", 2)
        time.sleep(1.5)
        helper("start-replica.sh", 2)

    killer = threading.Thread(target=disrupt)
    killer.start()
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(agent, range(32)))
    killer.join()
    left = sql(f"SELECT count(*) FROM tasks WHERE project_id = {project} AND status <> 'done'")
    by_task = defaultdict(list)
    for task_id, claimed_at, expires_at, worker in claimed:
        by_task[task_id].append((when(claimed_at), when(expires_at), worker))
    overlapping = 0
    for claims in by_task.values():
        claims.sort()
        for (_, first_expires, _), (second_at, _, _) in zip(claims, claims[1:]):
            overlapping += second_at < first_expires
    counts = {"statuses": dict(statuses), "claims": len(claimed), "tasks_claimed": len(by_task),
              "claimed_again_after_lease": len(claimed) - len(by_task), "not_done": int(left),
              "claims_while_held": overlapping}
    if overlapping:
        fail("a claim was answered with a task another agent still held", **counts)
    if int(left) or len(by_task) != 1000:
        fail("tasks were lost", **counts)
    if any(s.split()[-1] not in ("200", "204") for s in statuses):
        fail("a request failed", **counts)
    print(json.dumps({"result": "ok", **counts}))


def killed_agent():
    project = new_project("claimkill")
    status, task = request("POST", f"/projects/{project}/tasks", {"title": "held by a crashing agent"})
    assert status == 201, status
    agent = subprocess.Popen([sys.executable, __file__, "agent", str(project)], stdout=subprocess.PIPE, text=True)
    held = json.loads(agent.stdout.readline())
    os.kill(agent.pid, signal.SIGKILL)
    agent.wait()
    if held["id"] != task["id"]:
        fail("the agent did not get the task", held=held)
    expires = when(held["claim_expires_at"])
    early = Counter()
    while True:
        status, again = claim(project, "rescuer", retries=0)
        if status == 200:
            break
        early[status] += 1
        time.sleep(0.1)
    counts = {"before_lapse": dict(early), "claimed_again_at": again["claimed_at"],
              "lease_lapsed_at": held["claim_expires_at"]}
    if again["id"] != task["id"] or when(again["claimed_at"]) < expires:
        fail("the task was claimed again before its lease lapsed", **counts)
    if set(early) != {204} or early[204] < 10:
        fail("the task was not held for its lease", **counts)
    print(json.dumps({"result": "ok", **counts}))


def agent_process(project):
    """Claims one task, says which, then waits to be killed."""
    status, task = claim(project, "crashing-agent", lease=3)
    print(json.dumps(task if status == 200 else {"id": None, "status": status}), flush=True)
    time.sleep(600)


if __name__ == "__main__":
    scenario = sys.argv[1]
    if scenario == "agent":
        agent_process(int(sys.argv[2]))
    else:
        {"claims": claims_under_sigkill, "claimkill": killed_agent}[scenario]()
