-- Artifacts (what workflow steps produce, keyed by task, kind and iteration) and repositories
-- (where a project's code lives).
--
-- Both are project data: project_id leads the primary key, every unique constraint and every
-- foreign key, so they distribute by project with the tasks (Citus) without changing a
-- constraint. The API scopes every statement by the project's tenant.
--
-- Every write appends its change to the change log in the same transaction (row triggers, so
-- the cascades of task and project deletes are included) and bumps the project's data version
-- (the validator of its conditional GETs).

CREATE TABLE artifacts (
    project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    -- NULL: an artifact of the project itself.
    task_id      bigint,
    kind         text NOT NULL CONSTRAINT artifacts_kind_check CHECK (kind ~ '^[a-z0-9_-]{1,64}$'),
    -- NULL: stored without an iteration.
    iteration    integer CONSTRAINT artifacts_iteration_check CHECK (iteration >= 0),
    content_type text NOT NULL
                 CONSTRAINT artifacts_content_type_check CHECK (char_length(content_type) BETWEEN 1 AND 255),
    byte_size    bigint NOT NULL,
    sha256       bytea NOT NULL CONSTRAINT artifacts_sha256_check CHECK (octet_length(sha256) = 32),
    -- Out of line (TOAST) beyond ~2 kB: lists, which never read it, do not pay for it.
    content      bytea NOT NULL,
    -- 1 at creation, bumped by every replacement (an identical upload writes nothing).
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT artifacts_pkey PRIMARY KEY (project_id, id),
    CONSTRAINT artifacts_byte_size_check CHECK (byte_size = octet_length(content)),
    -- The key a PUT upserts on. NULLS NOT DISTINCT (PostgreSQL 15): one project artifact (no
    -- task) and one un-iterated artifact per kind, like any other key. Also serves the key
    -- lookups, a task's artifacts, the `latest` filter and the task foreign key's cascade.
    CONSTRAINT artifacts_key UNIQUE NULLS NOT DISTINCT (project_id, task_id, kind, iteration),
    -- A task's artifacts go with it.
    CONSTRAINT artifacts_task_fkey FOREIGN KEY (project_id, task_id)
        REFERENCES tasks (project_id, id) ON DELETE CASCADE
);
CREATE TRIGGER artifacts_set_updated_at BEFORE UPDATE ON artifacts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The change's data is the metadata as the API returns it, never the content: built field by
-- field (to_jsonb(NEW) would read and hex-encode the whole content), the digest in hex.
CREATE FUNCTION artifacts_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO changes (project_id, tenant_id, type, resource_id, data)
        VALUES (OLD.project_id, project_tenant(OLD.project_id), 'artifact.deleted', OLD.id, NULL);
        PERFORM apply_task_deltas('{}', '{}', '{}', '{}', ARRAY[OLD.project_id]);
    ELSE
        INSERT INTO changes (project_id, tenant_id, type, resource_id, data)
        VALUES (NEW.project_id, project_tenant(NEW.project_id),
                CASE TG_OP WHEN 'INSERT' THEN 'artifact.created' ELSE 'artifact.updated' END, NEW.id,
                jsonb_build_object(
                    'id', NEW.id, 'project_id', NEW.project_id, 'task_id', NEW.task_id,
                    'kind', NEW.kind, 'iteration', NEW.iteration,
                    'content_type', NEW.content_type, 'byte_size', NEW.byte_size,
                    'sha256', encode(NEW.sha256, 'hex'), 'version', NEW.version,
                    'created_at', NEW.created_at, 'updated_at', NEW.updated_at));
        PERFORM apply_task_deltas('{}', '{}', '{}', '{}', ARRAY[NEW.project_id]);
    END IF;
    PERFORM notify_changes();
    RETURN NULL;
END;
$$;
CREATE TRIGGER artifacts_log AFTER INSERT OR UPDATE OR DELETE ON artifacts
    FOR EACH ROW EXECUTE FUNCTION artifacts_log();

CREATE TABLE repositories (
    project_id     bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    -- As the client gave it (a clone URL: scp-style stays scp-style).
    url            text NOT NULL CONSTRAINT repositories_url_check CHECK (char_length(url) BETWEEN 1 AND 2048),
    -- Host (lower case, non-default port) and path without `.git` or trailing slash: what
    -- makes two spellings one repository (see `domain::RepositoryUrl`).
    normalized_url text NOT NULL,
    default_branch text NOT NULL DEFAULT 'main'
                   CONSTRAINT repositories_default_branch_check CHECK (char_length(default_branch) BETWEEN 1 AND 255),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT repositories_pkey PRIMARY KEY (project_id, id),
    -- Idempotent creation: INSERT … ON CONFLICT on this key.
    CONSTRAINT repositories_project_normalized_url_key UNIQUE (project_id, normalized_url)
);
CREATE TRIGGER repositories_set_updated_at BEFORE UPDATE ON repositories
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE FUNCTION repositories_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO changes (project_id, tenant_id, type, resource_id, data)
        VALUES (OLD.project_id, project_tenant(OLD.project_id), 'repository.deleted', OLD.id, NULL);
        PERFORM apply_task_deltas('{}', '{}', '{}', '{}', ARRAY[OLD.project_id]);
    ELSE
        INSERT INTO changes (project_id, tenant_id, type, resource_id, data)
        VALUES (NEW.project_id, project_tenant(NEW.project_id),
                CASE TG_OP WHEN 'INSERT' THEN 'repository.created' ELSE 'repository.updated' END,
                NEW.id, to_jsonb(NEW));
        PERFORM apply_task_deltas('{}', '{}', '{}', '{}', ARRAY[NEW.project_id]);
    END IF;
    PERFORM notify_changes();
    RETURN NULL;
END;
$$;
CREATE TRIGGER repositories_log AFTER INSERT OR UPDATE OR DELETE ON repositories
    FOR EACH ROW EXECUTE FUNCTION repositories_log();
