-- What a key may do, what it is for, and until when. `api_keys` is tenant data, not project
-- data: a small reference table (like `tenants`), so no project_id in its key.
--
-- scope: `read` keys (a browser dashboard's) may only read: GET, event streams and stream
-- tokens; `write` keys (a workflow's) may do everything. Existing keys keep working as before:
-- they are `write`.
-- prefix: the first characters of the secret (`tdk_` + 8 hex digits, 32 of its 256 bits), so
-- an operator can tell keys apart in `taskdash key list`; NULL for keys issued before.
-- expires_at: refused from then on, like a revoked key; NULL never expires.
-- last_used_at: approximate, recorded at most every few minutes per key and replica, never a
-- write per request.
ALTER TABLE api_keys
    ADD COLUMN scope text NOT NULL DEFAULT 'write'
        CONSTRAINT api_keys_scope_check CHECK (scope IN ('read', 'write')),
    ADD COLUMN name text,
    ADD COLUMN prefix text,
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN last_used_at timestamptz;

-- `key list` by tenant, and the cascade of `tenant delete`.
CREATE INDEX api_keys_tenant_id_idx ON api_keys (tenant_id, id);

-- `taskdash tenant delete`: the tenant and everything it owns, in one statement (so one
-- transaction). Keys, stream tokens and projects go by cascade, and each project takes its
-- milestones, tasks, runs, artifacts and repositories with it; the change-log triggers log
-- those deletions as usual. Then the tenant's changes go too: they have no foreign key (a
-- deletion is itself a change, kept after its row), and no key can read them any more.
-- No row when there is no such tenant.
CREATE FUNCTION delete_tenant(tenant_name text)
RETURNS TABLE (deleted_projects bigint, deleted_keys bigint) LANGUAGE plpgsql AS $$
DECLARE
    doomed bigint;
BEGIN
    SELECT id INTO doomed FROM tenants WHERE name = tenant_name FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    deleted_projects := (SELECT count(*) FROM projects WHERE tenant_id = doomed);
    deleted_keys := (SELECT count(*) FROM api_keys WHERE tenant_id = doomed);
    DELETE FROM tenants WHERE id = doomed;
    DELETE FROM changes WHERE tenant_id = doomed;
    RETURN NEXT;
END;
$$;
