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
absent), and the table with what the writers meant; a replica LISTENs on one
connection while it has streams, and not at all once they have closed.
One JSON line per scenario; exit 1 on any loss, duplicate, disorder, mismatch or 5xx answer
(feedpg: 503s while PostgreSQL is down are retried; a 500 or a final 5xx fails), or when the
median delivery (create sent -> event received) exceeds LB_FEED_MAX_P50_MS (150 ms).

The SSE client (feed_subscriber.py) is the standard library's http.client: a socket timeout
(5 heartbeats) as the watchdog, lines parsed as the EventSource specification says, reconnection
with Last-Event-ID after an end of stream or an error, with a short backoff. This file holds the
scenarios; the requests and deadlines they share are in feed_common.py, the writers in
feed_writers.py, the checks above in feed_verdict.py.
"""

import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True  # no __pycache__ in the repository (set before the imports below)
from driver import REPLICA_PORTS, fail, helper, new_project
from feed_common import Attempts, Deadline, call, head, streams_open
from feed_subscriber import Subscriber
from feed_verdict import verdict
from feed_writers import Writers


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
