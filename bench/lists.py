"""The list and summary scenarios' project: 100 000 tasks, two thirds of them in five milestones,
statuses spread (so that the summary has counts to add up), written in SQL."""

from scale import STATUS_OF_G


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
