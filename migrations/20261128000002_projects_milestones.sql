CREATE TABLE projects (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    slug        text NOT NULL,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projects_tenant_slug_key UNIQUE (tenant_id, slug)
);
-- Listing a tenant's projects pages by id.
CREATE INDEX projects_tenant_id_idx ON projects (tenant_id, id);
CREATE TRIGGER projects_set_updated_at BEFORE UPDATE ON projects
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE milestones (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        text NOT NULL,
    slug        text NOT NULL,
    status      text NOT NULL DEFAULT 'active'
                CONSTRAINT milestones_status_check CHECK (status IN ('active', 'completed', 'archived')),
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT milestones_project_slug_key UNIQUE (project_id, slug),
    -- Target of tasks' composite foreign key: a task can only point at a milestone of its own project.
    CONSTRAINT milestones_project_id_id_key UNIQUE (project_id, id)
);
CREATE TRIGGER milestones_set_updated_at BEFORE UPDATE ON milestones
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
