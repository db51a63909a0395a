-- Workflow runs and their events (a run's timeline); tasks may name their run.
--
-- Distribution (Citus): project_id leads every primary key, unique constraint and foreign key,
-- like every table of project data, so these tables distribute by project without changing a
-- constraint.

CREATE TABLE runs (
    project_id    bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    -- "C" collation: byte order, like tasks' external_id.
    external_id   text COLLATE "C"
                  CONSTRAINT runs_external_id_check CHECK (char_length(external_id) BETWEEN 1 AND 255),
    workflow_type text NOT NULL,
    status        text NOT NULL DEFAULT 'running'
                  CONSTRAINT runs_status_check
                  CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    source        text,
    model_profile text,
    metadata      jsonb NOT NULL DEFAULT '{}'
                  CONSTRAINT runs_metadata_check CHECK (jsonb_typeof(metadata) = 'object'),
    -- Optimistic concurrency: bumped by every PATCH, served as the ETag.
    version       integer NOT NULL DEFAULT 1,
    -- The run's event counter: the highest sequence of its events (given or assigned). An event
    -- write bumps it in its own statement, which locks the row: concurrent writes to one run
    -- take their sequences one after the other. Not part of the API's run: it moves without
    -- `version`, and nothing below fires for such an update.
    last_sequence bigint NOT NULL DEFAULT 0,
    started_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT runs_pkey PRIMARY KEY (project_id, id),
    CONSTRAINT runs_project_external_id_key UNIQUE (project_id, external_id)
);
-- The list (newest first, by id: the primary key) with a status filter, and the created range.
CREATE INDEX runs_status_idx ON runs (project_id, status, id);
CREATE INDEX runs_created_at_idx ON runs (project_id, created_at, id);

CREATE TRIGGER runs_set_updated_at BEFORE UPDATE ON runs
    FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version) EXECUTE FUNCTION set_updated_at();

-- A run's timeline. The primary key is its order; event_id is the client's idempotency key.
CREATE TABLE run_events (
    project_id  bigint NOT NULL,
    run_id      bigint NOT NULL,
    sequence    bigint NOT NULL CONSTRAINT run_events_sequence_check CHECK (sequence >= 0),
    event_id    text COLLATE "C" NOT NULL
                CONSTRAINT run_events_event_id_check CHECK (char_length(event_id) BETWEEN 1 AND 255),
    event_type  text NOT NULL,
    step_name   text,
    status      text,
    duration_ms bigint CONSTRAINT run_events_duration_ms_check CHECK (duration_ms >= 0),
    ts          timestamptz NOT NULL,
    payload     jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT run_events_pkey PRIMARY KEY (project_id, run_id, sequence),
    CONSTRAINT run_events_event_id_key UNIQUE (project_id, run_id, event_id),
    -- A run's events go with it.
    CONSTRAINT run_events_run_fkey FOREIGN KEY (project_id, run_id)
        REFERENCES runs (project_id, id) ON DELETE CASCADE
);

-- Tasks name their run (of the same project: a composite key, like milestones).
ALTER TABLE tasks ADD COLUMN run_id bigint,
    ADD CONSTRAINT tasks_run_fkey FOREIGN KEY (project_id, run_id)
        REFERENCES runs (project_id, id) ON DELETE SET NULL (run_id);
-- The task list's `run_id` filter, and the SET NULL of a run's deletion; most tasks have none.
-- (`IF NOT EXISTS`: on a big deployment, build it beforehand with CREATE INDEX CONCURRENTLY.)
CREATE INDEX IF NOT EXISTS tasks_run_idx ON tasks (project_id, run_id) WHERE run_id IS NOT NULL;

-- Runs per (project, status), for the summary: O(1) in the number of runs. Runs are written
-- rarely (a few per workflow), so one row per status is enough: no stripes.
CREATE TABLE run_counts (
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    status     text NOT NULL,
    n          bigint NOT NULL,
    CONSTRAINT run_counts_pkey PRIMARY KEY (project_id, status)
);

-- Every write of a run bumps its project's data version (the summary shows run counts), then
-- moves the counters of the statuses it left and entered. The version row is taken first, as
-- on every path of the task counters, so the lock order stays the same. In a project's
-- deletion (cascade) the project is gone: nothing is counted (its counters go with it).
-- Row-level: runs are written one at a time.
CREATE FUNCTION runs_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pid        bigint := COALESCE(NEW.project_id, OLD.project_id);
    left_from  text;
    entered    text;
BEGIN
    PERFORM apply_task_deltas('{}', '{}', '{}', '{}', ARRAY[pid]);
    IF TG_OP = 'INSERT' THEN
        entered := NEW.status;
    ELSIF TG_OP = 'DELETE' THEN
        left_from := OLD.status;
    ELSIF OLD.status IS DISTINCT FROM NEW.status THEN
        left_from := OLD.status;
        entered := NEW.status;
    END IF;
    INSERT INTO run_counts AS c (project_id, status, n)
    SELECT pid, d.status, d.n
    FROM (VALUES (left_from, -1), (entered, 1)) AS d(status, n)
    WHERE d.status IS NOT NULL AND EXISTS (SELECT 1 FROM projects p WHERE p.id = pid)
    ORDER BY d.status
    ON CONFLICT (project_id, status) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END;
$$;
CREATE TRIGGER runs_count_written AFTER INSERT OR DELETE ON runs
    FOR EACH ROW EXECUTE FUNCTION runs_count();
-- Only a PATCH bumps the version; an event write's counter update fires nothing.
CREATE TRIGGER runs_count_updated AFTER UPDATE ON runs
    FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version) EXECUTE FUNCTION runs_count();

-- The change feed: `run.created|updated|deleted`, the run as its GET returns it.
CREATE FUNCTION runs_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO changes (project_id, tenant_id, type, resource_id, data)
        VALUES (OLD.project_id, project_tenant(OLD.project_id), 'run.deleted', OLD.id, NULL);
    ELSE
        INSERT INTO changes (project_id, tenant_id, type, resource_id, data)
        VALUES (NEW.project_id, project_tenant(NEW.project_id),
                CASE TG_OP WHEN 'INSERT' THEN 'run.created' ELSE 'run.updated' END, NEW.id,
                to_jsonb(NEW) - 'last_sequence');
    END IF;
    PERFORM notify_changes();
    RETURN NULL;
END;
$$;
CREATE TRIGGER runs_log_written AFTER INSERT OR DELETE ON runs
    FOR EACH ROW EXECUTE FUNCTION runs_log();
CREATE TRIGGER runs_log_updated AFTER UPDATE ON runs
    FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version) EXECUTE FUNCTION runs_log();

-- `run_event.created`, one per event, resource_id the run's id: one INSERT per statement, so a
-- batch of 100 events is one INSERT of 100 changes; replayed events append nothing. (A run's
-- deletion logs `run.deleted` only: its events go with it.) Events do not bump the project's
-- data version: they would invalidate every cached task list at each batch; the events list is
-- tagged by its content instead.
CREATE FUNCTION run_events_log() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    appended bigint;
BEGIN
    INSERT INTO changes (project_id, tenant_id, type, resource_id, data)
    SELECT r.project_id, o.tenant_id, 'run_event.created', r.run_id, to_jsonb(r)
    FROM new_rows r
    JOIN (SELECT p.project_id, project_tenant(p.project_id) AS tenant_id
          FROM (SELECT DISTINCT project_id FROM new_rows) p) o USING (project_id)
    ORDER BY r.run_id, r.sequence;
    GET DIAGNOSTICS appended = ROW_COUNT;
    IF appended > 0 THEN
        PERFORM notify_changes();
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER run_events_log AFTER INSERT ON run_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION run_events_log();
