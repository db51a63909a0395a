"""The ceiling's side of a throughput round: the pgbench scripts, each the SQL the server sends
for one scenario, and the stats of a pgbench run."""

import os
import statistics

import claims
import events
import json_in_database

TASK_COLUMNS = ("id, project_id, milestone_id, parent_task_id, title, description, status, "
                "priority_score, external_id, labels, version, created_at, updated_at, completed_at, run_id, "
                "claimed_by, claimed_at, claim_expires_at, depends_on, blocked_by")

# src/storage/tasks/keyed.rs (keep in step): a task creation under an Idempotency-Key, in one
# statement, for a fresh key per request (its fingerprint stands in for the request's SHA-256).
KEYED_CREATE = (
    "WITH lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(1768187245, "
    "hashtext(:tenant::text || ':' || ('key-' || :r))) AS held), "
    "stored AS MATERIALIZED (SELECT k.expires_at > now() AS live, k.fingerprint, k.status, k.headers, "
    "k.body, k.task FROM lock CROSS JOIN idempotency_key(:tenant, 'key-' || :r) k WHERE lock.held), "
    "go AS MATERIALIZED (SELECT FROM lock WHERE lock.held AND NOT EXISTS (SELECT FROM stored)), "
    "inserted AS (INSERT INTO tasks (project_id, title, description, status, priority_score, external_id, "
    "milestone_id, parent_task_id, labels, completed_at, run_id) "
    "SELECT p.id, 'bench task', NULL, 'open', :prio, ('pg-' || :r), NULL, NULL, '{}'::text[], "
    "CASE WHEN 'open'::text = 'done' THEN now() END, NULL "
    "FROM projects p WHERE p.id = :project AND p.tenant_id = :tenant AND EXISTS (SELECT FROM go) "
    "ON CONFLICT (project_id, external_id) DO NOTHING RETURNING TASK_COLUMNS), "
    "answer AS MATERIALIZED (SELECT true AS created, inserted.* FROM inserted UNION ALL "
    "SELECT false, TASK_COLUMNS FROM tasks WHERE project_id = :project AND external_id = ('pg-' || :r) "
    "AND EXISTS (SELECT FROM go) AND NOT EXISTS (SELECT 1 FROM inserted) "
    "AND EXISTS (SELECT 1 FROM projects p WHERE p.id = :project AND p.tenant_id = :tenant)), "
    "kept AS (INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status, headers, task, expires_at) "
    "SELECT :tenant, ('key-' || :r), sha256(('key-' || :r)::bytea), CASE WHEN a.created THEN 201 ELSE 200 END, "
    "'[]', to_jsonb(a) - 'created', now() + make_interval(secs => 86400) FROM answer a) "
    "SELECT lock.held, s.live, s.fingerprint, s.status, s.headers, s.body, s.task, a.* "
    "FROM lock LEFT JOIN stored s ON true LEFT JOIN answer a ON true;\n")


def write_scripts(workdir):
    """pgbench scripts: the statements the server sends per request of each scenario, copied from
    src/storage (keep them in step). pgbench binds each `:name` as a parameter of the prepared
    statement, as sqlx does; where the server binds a request's text, the script has a literal."""
    # storage::tasks::create: the INSERT and, in the same statement, the stored task when the key
    # is taken. (Its second statement runs only when a concurrent creation commits mid-statement.)
    # MILESTONE is NULL, or :milestone for the hot-milestone scenario.
    create_one = (
        "WITH inserted AS (INSERT INTO tasks (project_id, title, description, status, priority_score, "
        "external_id, milestone_id, parent_task_id, labels, completed_at) "
        "SELECT p.id, 'bench task', NULL, 'open', :prio, :key, MILESTONE, NULL, '{}'::text[], "
        "CASE WHEN 'open'::text = 'done' THEN now() END "
        "FROM projects p WHERE p.id = :project AND p.tenant_id = :tenant "
        f"ON CONFLICT (project_id, external_id) DO NOTHING RETURNING {TASK_COLUMNS}) "
        "SELECT true AS created, inserted.* FROM inserted UNION ALL "
        f"SELECT false, {TASK_COLUMNS} FROM tasks "
        "WHERE project_id = :project AND external_id = :key AND NOT EXISTS (SELECT 1 FROM inserted) "
        "AND EXISTS (SELECT 1 FROM projects p WHERE p.id = :project AND p.tenant_id = :tenant);\n")
    plain = create_one.replace("MILESTONE", "NULL")
    # storage::tasks::create_many (insert_batch), all items new: one statement.
    bulk = (
        "WITH input AS MATERIALIZED (SELECT nextval('tasks_id_seq') AS id, g::int AS ordinal, "
        "'bench task ' || g AS title, NULL::text AS description, 'open'::text AS status, (g % 100)::int "
        "AS priority_score, 'pg:' || :base || ':' || g AS external_id, NULL::bigint AS milestone_id, "
        "NULL::bigint AS parent_task_id, '[]'::jsonb AS labels FROM generate_series(1, :n) g), "
        "inserted AS (INSERT INTO tasks (project_id, id, title, description, status, priority_score, "
        "external_id, milestone_id, parent_task_id, labels, completed_at, depends_on, blocked_by) SELECT p.id, "
        "i.id, i.title, i.description, i.status, i.priority_score, i.external_id, i.milestone_id, i.parent_task_id, "
        "ARRAY(SELECT jsonb_array_elements_text(i.labels)), CASE WHEN i.status = 'done' THEN now() END, "
        "'{}'::bigint[], 0 "
        "FROM input i JOIN projects p ON p.id = :project AND p.tenant_id = :tenant "
        "ORDER BY i.external_id COLLATE \"C\" ON CONFLICT (project_id, external_id) DO NOTHING "
        f"RETURNING {TASK_COLUMNS}) SELECT i.ordinal, inserted.* FROM inserted JOIN input i USING (id);\n")
    # storage::tasks::list without filters or cursor: the page (limit + 1 rows), each row
    # carrying the project's data version (an InitPlan), so no sort of the whole page; the rows
    # come from a subquery bounded by storage::MAX_PAGE_ROWS (1001), so the plan is kept.
    order = "ORDER BY priority_score DESC, created_at ASC, id ASC"
    # storage::DATA_VERSION: a project's data version, as a column over `projects`.
    version = ("COALESCE((SELECT sum(v.version) FROM project_versions v "
               "WHERE v.project_id = projects.id), 0)::bigint")
    listing = (
        f"WITH v AS MATERIALIZED (SELECT {version} AS version FROM projects WHERE id = :lproject "
        f"AND tenant_id = :tenant) SELECT (SELECT version FROM v) AS version, t.* FROM (SELECT {TASK_COLUMNS} "
        f"FROM tasks WHERE project_id = :lproject AND EXISTS (SELECT FROM v) {order} LIMIT 1001) "
        f"t {order} LIMIT :limit;\n")
    # storage::projects::data_version: all that a conditional GET with the current tag runs, and
    # what the milestone reads run first to know their tag.
    data_version = f"SELECT {version} FROM projects WHERE id = :lproject AND tenant_id = :tenant;\n"
    # storage::summary::get.
    summary = (
        "WITH counts AS (SELECT c.milestone_id, c.status, sum(c.n)::bigint AS n FROM task_counts c "
        "WHERE c.project_id = :lproject GROUP BY 1, 2) SELECT "
        "(SELECT COALESCE(jsonb_object_agg(s.status, s.n), '{}') FROM (SELECT status, sum(n)::bigint AS n "
        "FROM counts GROUP BY status) s) AS by_status, "
        "(SELECT COALESCE(jsonb_agg(jsonb_build_object('id', m.id, 'name', m.name, 'status', m.status, "
        "'by_status', (SELECT COALESCE(jsonb_object_agg(c.status, c.n), '{}') FROM counts c "
        "WHERE c.milestone_id = m.id)) ORDER BY m.id), '[]') FROM milestones m "
        "WHERE m.project_id = :lproject) AS milestones, "
        "(SELECT t.created_at FROM tasks t WHERE t.project_id = :lproject AND t.status = 'open' "
        "ORDER BY t.created_at, t.id LIMIT 1) AS oldest_open_created_at, "
        "(SELECT t.updated_at FROM tasks t WHERE t.project_id = :lproject "
        "ORDER BY t.updated_at DESC, t.id DESC LIMIT 1) AS last_activity_at, "
        f"{version} AS version FROM projects WHERE id = :lproject AND tenant_id = :tenant;\n")
    scripts = {
        # pgbench has no string variables: keys are built in SQL from a random number.
        "create.sql": "\\set r random(1, 1000000000000)\n\\set prio random(0, 99)\n"
                      + plain.replace(":key", "('pg-' || :r)"),
        # The same create under an Idempotency-Key: one statement (src/storage/tasks/keyed.rs).
        "create_keyed.sql": "\\set r random(1, 1000000000000)\n\\set prio random(0, 99)\n"
                            + KEYED_CREATE.replace("TASK_COLUMNS", TASK_COLUMNS),
        "create_hot.sql": "\\set r random(1, 1000000000000)\n\\set prio random(0, 99)\n"
                          + create_one.replace("MILESTONE", ":milestone").replace(":key", "('pg-' || :r)"),
        # Keys rerun:1..5000 are stored: the INSERT conflicts and the same statement reads the task.
        "rerun.sql": "\\set r random(1, 5000)\n\\set prio 1\n" + plain.replace(":key", "('rerun:' || :r)"),
        "storm.sql": "\\set r random(1, 10)\n\\set prio 1\n" + plain.replace(":key", "('storm:' || :r)"),
        # The server binds arrays and UNNESTs them; pgbench cannot bind arrays, so the same rows
        # come from generate_series. The INSERT, its ordering, conflict handling and RETURNING match.
        "bulk.sql": "\\set base random(1, 1000000000000)\n" + bulk,
        "list.sql": listing,
        # The page joined to its version, as the server sent it up to d247e4e, and the same
        # page as JSON built by PostgreSQL (bench/json_in_database.py).
        "list_joined.sql": json_in_database.script(version, order, "t.*"),
        "list_json.sql": json_in_database.script(version, order, "row_to_json(t)::text"),
        "data_version.sql": data_version,
        # The summary reads the data version (for its ETag) in its own statement.
        "summary.sql": summary,
        # storage::run_events::insert, copied in bench/events.py (checked against the source).
        "events.sql": events.script(),
        # storage::tasks::claim, then the PATCH that finishes the task (bench/claims.py).
        "claims.sql": claims.script(TASK_COLUMNS),
    }
    out = {}
    for name, text in scripts.items():
        path = os.path.join(workdir, name)
        with open(path, "w") as f:
            f.write(text)
        out[name] = path
    return out


def ceiling_stats(tps, latencies):
    latencies.sort()
    return {"throughput": tps, "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1]}
