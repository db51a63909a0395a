-- A task created under an Idempotency-Key stores its key in the creating statement itself (one
-- round trip instead of five): that statement cannot hold the response the server has not
-- rendered yet, so it stores the task as created, and a replay renders the very same answer from
-- it. Every other keyed request still stores its response's bytes. Exactly one of the two.
-- (Same distribution as the table: by tenant_id.)
ALTER TABLE idempotency_keys
    ALTER COLUMN body DROP NOT NULL,
    ADD COLUMN task jsonb,
    ADD CONSTRAINT idempotency_keys_body_or_task_check CHECK (num_nonnulls(body, task) = 1);
