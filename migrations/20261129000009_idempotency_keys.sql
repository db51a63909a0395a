-- Idempotency-Key (draft-ietf-httpapi-idempotency-key-header): per tenant and key, the
-- fingerprint of the first request (method, path, body) and its response, written in the same
-- transaction as the request's effect: a key is stored exactly when the effect committed.
--
-- Keyed by tenant, not project (a key may create a project): under Citus this table would be
-- distributed by tenant_id, or kept on the coordinator; it is small (keys expire after
-- --idempotency-key-ttl, 24 h by default, and are pruned with the change log).
CREATE TABLE idempotency_keys (
    tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key         text NOT NULL CONSTRAINT idempotency_keys_key_check CHECK (char_length(key) BETWEEN 1 AND 255),
    -- SHA-256 of the method, the path and the body.
    fingerprint bytea NOT NULL,
    status      smallint NOT NULL,
    -- The response headers a replay repeats, as [[name, value], ...].
    headers     jsonb NOT NULL,
    body        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (tenant_id, key)
);
-- Pruning takes the oldest first.
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
