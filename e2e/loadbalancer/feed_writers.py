"""The feed scenarios' writers (feed.py): threads creating, patching and deleting tasks through
nginx, remembering what they meant for the final check against the tasks table."""

import threading
import time

from feed_common import call, local


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
