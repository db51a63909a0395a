"""The list and summary scenarios' project: 100 000 tasks, two thirds of them in five milestones,
statuses spread (so that the summary has counts to add up), written in SQL."""

import os
import tempfile
from contextlib import contextmanager
from types import SimpleNamespace

from cluster import Cluster
from scale import STATUS_OF_G
from server import http, start_server, stop_server


def setup(http, key, cluster):
    """Creates the project and its tasks; returns the project's id."""
    project = http("POST", "/projects", key, {"name": "queue", "slug": "queue"})["id"]
    milestones = [http("POST", f"/projects/{project}/milestones", key,
                       {"name": f"queue {i}", "slug": f"queue-{i}"})["id"] for i in range(5)]
    cluster.psql(f"INSERT INTO tasks (project_id, title, priority_score, external_id, status, completed_at, "
                 f"milestone_id) SELECT {project}, 'queued ' || g, g % 1000, 'q:' || g, s.status, "
                 "CASE WHEN s.status = 'done' THEN now() END, "
                 f"CASE WHEN g % 3 > 0 THEN ('{{{','.join(map(str, milestones))}}}'::bigint[])[1 + g % 5] END "
                 f"FROM generate_series(1, 100000) g, LATERAL (SELECT {STATUS_OF_G} AS status) s")
    cluster.psql("VACUUM ANALYZE")
    return project


@contextmanager
def served(prefix):
    """A private cluster in a new /tmp/`prefix`* directory, the server on it and the list
    project, as a namespace (workdir, cluster, server, key, tenant, project); both are stopped on
    the way out."""
    workdir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(workdir, 0o755)
    cluster = Cluster(workdir)
    server = None
    try:
        server, key, tenant = start_server(cluster, "taskdash", workdir)
        yield SimpleNamespace(workdir=workdir, cluster=cluster, server=server, key=key, tenant=tenant,
                              project=setup(http, key, cluster))
    finally:
        if server:
            stop_server(server)
        cluster.stop()
