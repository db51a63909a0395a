"""The claim scenarios (issue 13), run by bench.py among the throughput scenarios:

claim c1, claim c16   agents claiming a task and finishing it, as an agent does: `POST
                      /projects/{p}/tasks:claim {"worker_id": <wrk thread>}`, then `PATCH
                      /projects/{p}/tasks/{id} {"status": "done", "worker_id": <same>}` (load.lua,
                      mode `claim`: each thread queues the ids its claims got and finishes them).

The project holds CLAIM_TASKS open tasks (enough that no round runs dry: a claim answered 204
would not be a claim). The ceiling is pgbench running the two statements the server runs for a
cycle (copied from src/storage/tasks/claims.rs and src/storage/tasks/write.rs: keep in step), at
the same concurrency. wrk counts requests, two per cycle; bench.py reports the server's cycles
per second (requests / 2) against pgbench's transactions (one cycle each). Latencies stay per
request (server) and per cycle (ceiling): compare throughput, not p50.

Exactly once: every PATCH names its claimer (`worker_id`), so a task answered to two claimers
would make the first one's PATCH a 409, a non-2xx answer that fails the round.
"""

CLAIM_TASKS = 400_000

# src/storage/tasks/claims.rs, claim(), for the default claim (open tasks, no filters); the
# server binds project, tenant, worker and lease.
CLAIM = """WITH project AS MATERIALIZED (SELECT id FROM projects WHERE id = :cproject AND tenant_id = :tenant),
 fresh AS (SELECT project_id, id, priority_score, created_at FROM tasks
     WHERE project_id = (SELECT id FROM project) AND status = 'open' AND blocked_by = 0 AND claimed_by IS NULL
     ORDER BY priority_score DESC, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED),
 lapsed AS (SELECT project_id, id, priority_score, created_at FROM tasks
     WHERE project_id = (SELECT id FROM project) AND claimed_by IS NOT NULL
       AND claim_expires_at <= now() AND blocked_by = 0
     ORDER BY priority_score DESC, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED),
 pick(pid, tid) AS (SELECT project_id, id FROM (SELECT * FROM fresh UNION ALL SELECT * FROM lapsed) c
     ORDER BY priority_score DESC, created_at, id LIMIT 1),
 claimed AS (UPDATE tasks SET status = 'in_progress', claimed_by = 'pg-' || :w, claimed_at = now(),
     claim_expires_at = now() + make_interval(secs => 300), version = version + 1
     FROM pick WHERE project_id = pick.pid AND id = pick.tid
     RETURNING {columns})
 SELECT EXISTS (SELECT 1 FROM project), claimed.* FROM (SELECT) one LEFT JOIN claimed ON true"""

# src/storage/tasks/write.rs, update_on: `{"status": "done", "worker_id": …}`.
DONE = """UPDATE tasks SET
     title = COALESCE(NULL, title),
     description = CASE WHEN false THEN NULL ELSE description END,
     status = COALESCE('done', status),
     priority_score = COALESCE(NULL, priority_score),
     milestone_id = CASE WHEN false THEN NULL ELSE milestone_id END,
     parent_task_id = CASE WHEN false THEN NULL ELSE parent_task_id END,
     labels = COALESCE(NULL, labels),
     run_id = CASE WHEN false THEN NULL ELSE run_id END,
     completed_at = CASE WHEN COALESCE('done', status) = 'done' THEN COALESCE(completed_at, now()) END,
     depends_on = COALESCE(NULL, depends_on),
     blocked_by = COALESCE(NULL, blocked_by),
     claimed_by = CASE WHEN 'done'::text IS NULL THEN claimed_by END,
     claimed_at = CASE WHEN 'done'::text IS NULL THEN claimed_at END,
     claim_expires_at = CASE WHEN 'done'::text IS NULL THEN claim_expires_at END,
     version = version + 1
 WHERE project_id = :cproject AND id = :id
   AND EXISTS (SELECT 1 FROM projects p WHERE p.id = :cproject AND p.tenant_id = :tenant)
   AND (NULL::text IS NULL OR status = NULL)
   AND (NULL::int IS NULL OR version = NULL)
   AND ('pg-' || :w IS NULL OR claimed_by = 'pg-' || :w)
 RETURNING {columns}"""


def setup(http, key, cluster):
    """The claims project, filled with open tasks; returns its id."""
    project = http("POST", "/projects", key, {"name": "claims", "slug": "claims"})["id"]
    cluster.psql(f"INSERT INTO tasks (project_id, title, priority_score) "
                 f"SELECT {project}, 'claimable ' || g, g % 100 FROM generate_series(1, {CLAIM_TASKS}) g")
    cluster.psql("VACUUM ANALYZE tasks")
    return project


def script(columns):
    """The pgbench script of one cycle: claim (its columns into variables), then finish."""
    return ("\\set w random(1, 1000000000)\n" + " ".join(CLAIM.replace("{columns}", columns).split()) + " \\gset\n"
            + " ".join(DONE.replace("{columns}", columns).split()) + ";\n")


def scenarios(project):
    path = f"/projects/{project}/tasks:claim"
    return [("claim c1", "claim", path, 1, "claims.sql", {"cproject": project}),
            ("claim c16", "claim", path, 16, "claims.sql", {"cproject": project})]


def load_env(project):
    return {"CLAIM_PROJECT": str(project)}
