-- The change log: every write of a project, milestone or task appends one change per row
-- written, in the same transaction as the write (triggers, so cascades are included), and
-- dashboards follow it (`/changes`, `/events`).
--
-- Order and the gap-free cursor. A change's position is (xid, seq): the id of the transaction
-- that wrote it, then a sequence within it. Readers only take changes whose transaction is
-- older than the oldest one still running (`xid < pg_snapshot_xmin(pg_current_snapshot())`),
-- in position order. Every change not yet handed out then belongs to a transaction at or above
-- that horizon, which only grows; so a reader that has seen position c gets every later change
-- exactly once, also when a transaction that started earlier commits later. (Ordering by a
-- sequence alone does not give this: a lower number can commit after a reader passed it.)
-- The price: a long-running transaction anywhere in the cluster holds the feed back until it
-- ends.
--
-- Distribution (Citus): project_id leads the primary key, like every table of project data.
-- There is no foreign key to projects: a project's deletion is itself a change, kept after it.
CREATE TABLE changes (
    project_id  bigint NOT NULL,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id   bigint NOT NULL,
    type        text NOT NULL,
    resource_id bigint NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    -- The row as written (`to_jsonb`), or NULL for a delete; the API reshapes it as its GET does.
    data        jsonb,
    CONSTRAINT changes_pkey PRIMARY KEY (project_id, xid, seq)
);
-- A tenant's feed (`/changes`, `/events`).
CREATE INDEX changes_tenant_idx ON changes (tenant_id, xid, seq);
-- Each replica's one read per wake-up, for all its subscribers; and pruning, oldest first.
CREATE INDEX changes_position_idx ON changes (xid, seq);

-- The highest position pruned: a cursor below it may have missed changes (410 / `reset`).
CREATE TABLE changes_pruned (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    xid      xid8 NOT NULL,
    seq      bigint NOT NULL
);
INSERT INTO changes_pruned (xid, seq) VALUES ('0', 0);

-- Short-lived tokens that let a browser's EventSource (which cannot send `Authorization`)
-- open a stream: only their SHA-256 is stored.
CREATE TABLE stream_tokens (
    token_hash bytea PRIMARY KEY,
    tenant_id  bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    project_id bigint,
    expires_at timestamptz NOT NULL
);
CREATE INDEX stream_tokens_expires_at_idx ON stream_tokens (expires_at);

-- A project's tenant, also while the project is being deleted: its `project.deleted` change,
-- written before the cascades run, carries it.
CREATE FUNCTION project_tenant(pid bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT tenant_id FROM projects WHERE id = pid),
        (SELECT tenant_id FROM changes WHERE project_id = pid ORDER BY xid DESC, seq DESC LIMIT 1))
$$;

-- Replicas LISTEN on this channel; the payload is empty: the log is the truth, the
-- notification only a wake-up (delivered at commit, one per transaction).
CREATE FUNCTION notify_changes() RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('taskdash_changes', '')
$$;

-- One INSERT per statement, whatever the number of rows; a statement that wrote no row (a
-- replayed create) appends nothing and wakes no one.
CREATE FUNCTION tasks_log() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    appended bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO changes (project_id, tenant_id, type, resource_id, data)
        SELECT r.project_id, o.tenant_id, 'task.deleted', r.id, NULL
        FROM old_rows r
        JOIN (SELECT p.project_id, project_tenant(p.project_id) AS tenant_id
              FROM (SELECT DISTINCT project_id FROM old_rows) p) o USING (project_id)
        ORDER BY r.id;
    ELSE
        INSERT INTO changes (project_id, tenant_id, type, resource_id, data)
        SELECT r.project_id, o.tenant_id,
               CASE TG_OP WHEN 'INSERT' THEN 'task.created' ELSE 'task.updated' END, r.id, to_jsonb(r)
        FROM new_rows r
        JOIN (SELECT p.project_id, project_tenant(p.project_id) AS tenant_id
              FROM (SELECT DISTINCT project_id FROM new_rows) p) o USING (project_id)
        ORDER BY r.id;
    END IF;
    GET DIAGNOSTICS appended = ROW_COUNT;
    IF appended > 0 THEN
        PERFORM notify_changes();
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tasks_log_inserted AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tasks_log();
CREATE TRIGGER tasks_log_updated AFTER UPDATE ON tasks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tasks_log();
CREATE TRIGGER tasks_log_deleted AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tasks_log();

-- A milestone's data carries its task counts, as its GET does.
CREATE FUNCTION milestones_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO changes (project_id, tenant_id, type, resource_id, data)
        VALUES (OLD.project_id, project_tenant(OLD.project_id), 'milestone.deleted', OLD.id, NULL);
    ELSE
        INSERT INTO changes (project_id, tenant_id, type, resource_id, data)
        VALUES (NEW.project_id, project_tenant(NEW.project_id),
                CASE TG_OP WHEN 'INSERT' THEN 'milestone.created' ELSE 'milestone.updated' END, NEW.id,
                to_jsonb(NEW) || jsonb_build_object('task_counts',
                    (SELECT COALESCE(jsonb_object_agg(s.status, s.n), '{}')
                     FROM (SELECT c.status, sum(c.n) AS n FROM task_counts c
                           WHERE c.project_id = NEW.project_id AND c.milestone_id = NEW.id
                           GROUP BY c.status) s)));
    END IF;
    PERFORM notify_changes();
    RETURN NULL;
END;
$$;
CREATE TRIGGER milestones_log AFTER INSERT OR UPDATE OR DELETE ON milestones
    FOR EACH ROW EXECUTE FUNCTION milestones_log();

-- A project's deletion is logged BEFORE the row goes, so that the changes of its cascades
-- (its milestones and tasks) find its tenant, and follow it in the log.
CREATE FUNCTION projects_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO changes (project_id, tenant_id, type, resource_id, data)
        VALUES (OLD.id, OLD.tenant_id, 'project.deleted', OLD.id, NULL);
        PERFORM notify_changes();
        RETURN OLD;
    END IF;
    INSERT INTO changes (project_id, tenant_id, type, resource_id, data)
    VALUES (NEW.id, NEW.tenant_id,
            CASE TG_OP WHEN 'INSERT' THEN 'project.created' ELSE 'project.updated' END, NEW.id,
            to_jsonb(NEW));
    PERFORM notify_changes();
    RETURN NULL;
END;
$$;
CREATE TRIGGER projects_log_deleted BEFORE DELETE ON projects
    FOR EACH ROW EXECUTE FUNCTION projects_log();
CREATE TRIGGER projects_log_written AFTER INSERT OR UPDATE ON projects
    FOR EACH ROW EXECUTE FUNCTION projects_log();
