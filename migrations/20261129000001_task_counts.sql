-- Maintained aggregates, so that dashboards read counts in O(1) of the number of tasks.
--
-- Both tables are project data: project_id leads every key, so they distribute by project with
-- the tasks (Citus) without changing a constraint.
--
-- Contention: many connections creating into one milestone would serialise on a single counter
-- row. Each counter is striped instead: a statement adds its delta to the stripe of its own
-- database session (pg_backend_pid() % 16), so up to 16 pooled connections each own a stripe
-- and never wait on each other; readers sum the stripes (at most 16 rows per counter).
--
-- Exactness: the counters move in the same transaction as the rows, in statement-level
-- triggers over the transition tables (one upsert per statement, whatever the batch size), so
-- every path is covered: single and bulk creates, PATCH, DELETE, and the cascades of milestone
-- and project deletes. Upserts are sorted by key so that concurrent statements sharing a stripe
-- lock counter rows in the same order.

-- Tasks per (milestone, status). milestone_id 0 stands for "no milestone" (a key cannot be NULL).
CREATE TABLE task_counts (
    project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    milestone_id bigint NOT NULL,
    status       text NOT NULL,
    stripe       smallint NOT NULL,
    n            bigint NOT NULL,
    CONSTRAINT task_counts_pkey PRIMARY KEY (project_id, milestone_id, status, stripe)
);

-- A project's data version: grows with every write of its tasks, milestones or the project
-- itself. Its sum over the stripes is the validator (ETag) of lists and the summary, so a
-- conditional GET is answered 304 from at most 16 rows without building the page.
CREATE TABLE project_versions (
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    stripe     smallint NOT NULL,
    version    bigint NOT NULL,
    CONSTRAINT project_versions_pkey PRIMARY KEY (project_id, stripe)
);

CREATE FUNCTION session_stripe() RETURNS smallint LANGUAGE sql STABLE AS
$$ SELECT (pg_backend_pid() % 16)::smallint $$;

-- Adds signed deltas (parallel arrays: project, milestone, status, n) to the counters, and
-- bumps the version of every project in `touched`. Deltas of a project or milestone deleted in
-- this transaction are dropped: their counter rows go with them (cascade, or the milestone
-- trigger below). PL/pgSQL, not SQL, so that its plans are cached per session.
CREATE FUNCTION apply_task_deltas(project_ids bigint[], milestone_ids bigint[], statuses text[],
                                  ns bigint[], touched bigint[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- The version row first, on every path: sessions that share a stripe then queue on it
    -- before touching any counter, so they cannot lock counters in opposite orders.
    IF cardinality(touched) > 0 THEN
        INSERT INTO project_versions AS v (project_id, stripe, version)
        SELECT p.id, session_stripe(), 1
        FROM projects p WHERE p.id = ANY (touched)
        ORDER BY p.id
        ON CONFLICT (project_id, stripe) DO UPDATE SET version = v.version + 1;
    END IF;
    IF cardinality(project_ids) > 0 THEN
        INSERT INTO task_counts AS c (project_id, milestone_id, status, stripe, n)
        SELECT d.project_id, d.milestone_id, d.status, session_stripe(), sum(d.n)
        FROM unnest(project_ids, milestone_ids, statuses, ns) AS d(project_id, milestone_id, status, n)
        WHERE EXISTS (SELECT 1 FROM projects p WHERE p.id = d.project_id)
          AND (d.milestone_id = 0 OR EXISTS (
              SELECT 1 FROM milestones m WHERE m.project_id = d.project_id AND m.id = d.milestone_id))
        GROUP BY d.project_id, d.milestone_id, d.status
        HAVING sum(d.n) <> 0
        ORDER BY d.project_id, d.milestone_id, d.status
        ON CONFLICT (project_id, milestone_id, status, stripe) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
END;
$$;

CREATE FUNCTION tasks_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM apply_task_deltas(array_agg(project_id), array_agg(milestone_id), array_agg(status),
                              array_agg(n), array_agg(DISTINCT project_id))
    FROM (SELECT project_id, COALESCE(milestone_id, 0) AS milestone_id, status, count(*) AS n
          FROM new_rows GROUP BY 1, 2, 3) s;
    RETURN NULL;
END;
$$;

CREATE FUNCTION tasks_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM apply_task_deltas(array_agg(project_id), array_agg(milestone_id), array_agg(status),
                              array_agg(-n), array_agg(DISTINCT project_id))
    FROM (SELECT project_id, COALESCE(milestone_id, 0) AS milestone_id, status, count(*) AS n
          FROM old_rows GROUP BY 1, 2, 3) s;
    RETURN NULL;
END;
$$;

-- Only rows whose milestone or status changed move between counters; every updated row bumps
-- its project's version.
CREATE FUNCTION tasks_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM apply_task_deltas(array_agg(project_id), array_agg(milestone_id), array_agg(status),
                              array_agg(n), ARRAY(SELECT DISTINCT project_id FROM new_rows))
    FROM (SELECT o.project_id, COALESCE(o.milestone_id, 0) AS milestone_id, o.status, -1 AS n
          FROM old_rows o JOIN new_rows u ON u.project_id = o.project_id AND u.id = o.id
          WHERE (o.milestone_id, o.status) IS DISTINCT FROM (u.milestone_id, u.status)
          UNION ALL
          SELECT u.project_id, COALESCE(u.milestone_id, 0), u.status, 1
          FROM old_rows o JOIN new_rows u ON u.project_id = o.project_id AND u.id = o.id
          WHERE (o.milestone_id, o.status) IS DISTINCT FROM (u.milestone_id, u.status)) s;
    RETURN NULL;
END;
$$;

-- Transition tables allow one event per trigger, hence three.
CREATE TRIGGER tasks_count_inserted AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tasks_count_inserted();
CREATE TRIGGER tasks_count_updated AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_count_updated();
CREATE TRIGGER tasks_count_deleted AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tasks_count_deleted();

-- A deleted milestone's counters go with it (its tasks move to "no milestone" through the
-- foreign key's SET NULL, which the update trigger counts); milestone and project writes
-- bump the project's version (a milestone's name and status show in the summary).
CREATE FUNCTION milestones_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM apply_task_deltas('{}', '{}', '{}', '{}', ARRAY[COALESCE(NEW.project_id, OLD.project_id)]);
    IF TG_OP = 'DELETE' THEN
        DELETE FROM task_counts WHERE project_id = OLD.project_id AND milestone_id = OLD.id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER milestones_changed AFTER INSERT OR UPDATE OR DELETE ON milestones
    FOR EACH ROW EXECUTE FUNCTION milestones_changed();

CREATE FUNCTION projects_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM apply_task_deltas('{}', '{}', '{}', '{}', ARRAY[NEW.id]);
    RETURN NULL;
END;
$$;
CREATE TRIGGER projects_changed AFTER UPDATE ON projects
    FOR EACH ROW EXECUTE FUNCTION projects_changed();

-- Counts of the tasks that exist before this migration.
INSERT INTO task_counts (project_id, milestone_id, status, stripe, n)
SELECT project_id, COALESCE(milestone_id, 0), status, 0, count(*) FROM tasks GROUP BY 1, 2, 3;
INSERT INTO project_versions (project_id, stripe, version) SELECT id, 0, 1 FROM projects;

-- Filters that must not scan a big project.
-- The list orders' indexes carry status and milestone_id as trailing key columns: a filter on
-- them is checked on the index entries while walking the order, without reading a row.
DROP INDEX tasks_queue_idx, tasks_created_at_idx, tasks_updated_at_idx;
CREATE INDEX tasks_queue_idx ON tasks (project_id, priority_score DESC, created_at, id, status, milestone_id);
CREATE INDEX tasks_created_at_idx ON tasks (project_id, created_at, id, status, milestone_id);
CREATE INDEX tasks_updated_at_idx ON tasks (project_id, updated_at, id, status, milestone_id);
-- Status with the time orders (the queue order has tasks_queue_by_status_idx): a rare status
-- is read directly, not looked for. Also the summary's oldest open task.
CREATE INDEX tasks_status_created_at_idx ON tasks (project_id, status, created_at, id);
CREATE INDEX tasks_status_updated_at_idx ON tasks (project_id, status, updated_at, id);
-- Labels: a GIN index answers `labels @> ARRAY[…]`, also for a label no task carries.
CREATE INDEX tasks_labels_idx ON tasks USING gin (labels);
