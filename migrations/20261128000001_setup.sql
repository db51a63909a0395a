-- Shared helper: keep `updated_at` honest without every UPDATE having to remember it.
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$;

-- A tenant owns projects and API keys; every query of tenant data is scoped by tenant_id.
CREATE TABLE tenants (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL CONSTRAINT tenants_name_key UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Only a SHA-256 of the key is stored: keys are 256-bit random secrets, so a fast hash is enough
-- (there is nothing to brute-force) and lookups stay an index probe.
CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    secret_hash bytea NOT NULL CONSTRAINT api_keys_secret_hash_key UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
