-- Claims with leases, and dependencies between tasks.
--
-- A claim is three columns on the task (who, since when, until when): a claimed task is
-- `in_progress`; its lease lapsing needs no job: the claim statement treats a lapsed claim as
-- free. Claims go through `FOR UPDATE SKIP LOCKED`, so claimers never wait on each other.
--
-- Dependencies are the ids a task depends on, as an array on the task (read with the task,
-- no join), and `blocked_by`: how many of them are unfinished (not `done` or `archived`),
-- maintained in the same transaction as every write that changes it, so the claim can walk a
-- partial index of claimable tasks instead of checking dependencies row by row: at 10 million
-- tasks, a claim reads the first claimable entry, whatever lies behind it.
--
-- Who keeps `blocked_by` exact:
-- * creates and PATCHes of `depends_on` count the unfinished dependencies themselves, after
--   locking them `FOR SHARE`: a dependency's status cannot change until the writer commits;
-- * a status change that finishes or reopens a task counts its dependents down or up (trigger
--   below);
-- * a deleted task disappears from its dependents' `depends_on` (trigger below).
-- Cycles (and parent loops) are refused by PATCHes that hold the project's graph lock (an
-- advisory lock; see storage/tasks/graph.rs); a create cannot close a cycle, since nobody can
-- depend on a task before it exists.
--
-- Distribution (Citus): no new key; dependencies stay within the project, the indexes lead
-- with project_id except the GIN one, whose lookups are always filtered by project_id too.
ALTER TABLE tasks
    ADD COLUMN claimed_by       text CONSTRAINT tasks_claimed_by_check CHECK (char_length(claimed_by) BETWEEN 1 AND 255),
    ADD COLUMN claimed_at       timestamptz,
    ADD COLUMN claim_expires_at timestamptz,
    ADD COLUMN depends_on       bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN blocked_by       integer NOT NULL DEFAULT 0 CONSTRAINT tasks_blocked_by_check CHECK (blocked_by >= 0);
-- NOT VALID, then VALIDATE: the check of existing rows does not block writes meanwhile.
ALTER TABLE tasks ADD CONSTRAINT tasks_claim_check
    CHECK ((claimed_by IS NULL) = (claim_expires_at IS NULL) AND (claimed_by IS NULL) = (claimed_at IS NULL)) NOT VALID;
ALTER TABLE tasks VALIDATE CONSTRAINT tasks_claim_check;

-- (`IF NOT EXISTS`: on a big deployment, build them beforehand with CREATE INDEX CONCURRENTLY.)
-- The default claim (open tasks, dependencies finished) in work-queue order.
CREATE INDEX IF NOT EXISTS tasks_claimable_idx ON tasks (project_id, priority_score DESC, created_at, id)
    WHERE status = 'open' AND blocked_by = 0;
-- Lapsed leases, and the `claimed_by` list filter.
CREATE INDEX IF NOT EXISTS tasks_claim_expiry_idx ON tasks (project_id, claim_expires_at)
    WHERE claimed_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_claimed_by_idx ON tasks (project_id, claimed_by)
    WHERE claimed_by IS NOT NULL;
-- A task's dependents (when it finishes, reopens or goes); most tasks have no dependencies.
CREATE INDEX IF NOT EXISTS tasks_depends_on_idx ON tasks USING gin (depends_on)
    WHERE depends_on <> '{}';

CREATE FUNCTION task_finished(status text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT status IN ('done', 'archived')
$$;

-- The dependents of a task that finished or reopened count one fewer or one more unfinished
-- dependency (an UPDATE, so they get a new version and a `task.updated` change). By deltas,
-- not recounts: a recount under a concurrent writer would read the other's change from the
-- statement's snapshot, while `blocked_by - 1` and the `depends_on` condition are re-checked on
-- the latest version of a row another transaction just changed.
CREATE FUNCTION tasks_recount_dependents() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    flip record;
BEGIN
    FOR flip IN
        SELECT u.project_id, u.id, CASE WHEN task_finished(u.status) THEN -1 ELSE 1 END AS delta
        FROM old_rows o JOIN new_rows u ON u.project_id = o.project_id AND u.id = o.id
        WHERE task_finished(o.status) <> task_finished(u.status)
    LOOP
        UPDATE tasks SET blocked_by = blocked_by + flip.delta
        WHERE project_id = flip.project_id AND depends_on @> ARRAY[flip.id] AND depends_on <> '{}';
    END LOOP;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tasks_recount_dependents AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_recount_dependents();

-- A deleted task leaves its dependents' `depends_on` (and their count, if it was unfinished).
-- Not for a project's delete (its tasks all go; the project row is already gone when this runs).
CREATE FUNCTION tasks_forget_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gone record;
BEGIN
    FOR gone IN
        SELECT r.project_id, r.id, CASE WHEN task_finished(r.status) THEN 0 ELSE 1 END AS counted
        FROM old_rows r
        WHERE EXISTS (SELECT 1 FROM projects p WHERE p.id = r.project_id)
    LOOP
        UPDATE tasks SET depends_on = array_remove(depends_on, gone.id),
                         blocked_by = blocked_by - gone.counted
        WHERE project_id = gone.project_id AND depends_on @> ARRAY[gone.id] AND depends_on <> '{}';
    END LOOP;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tasks_forget_deleted AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tasks_forget_deleted();
