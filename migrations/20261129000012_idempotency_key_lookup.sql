-- An Idempotency-Key's stored response, always read through the primary key.
--
-- Written inline, the lookup was planned like the rest of its statement: once per connection,
-- after five runs. A plan made while the table held a few keys was a sequential scan (the
-- cheapest way to read one page), and it stayed while the table grew, until an ANALYZE
-- invalidated it: every keyed request then read every key. In the bench, creates under fresh
-- keys at 16 connections fell from 0.76 to 0.17 of their ceiling within three 5-second rounds
-- (25 000 sequential scans, no index scan). A function with a SET clause is never inlined, so
-- this query is planned on each call, and with sequential scans off it takes the index whatever
-- the table's size. (Same distribution as the table: by tenant_id.)
CREATE FUNCTION idempotency_key(tenant bigint, idempotency_key text)
    RETURNS SETOF idempotency_keys
    LANGUAGE sql STABLE
    SET enable_seqscan = off
AS $$
    SELECT * FROM idempotency_keys k WHERE k.tenant_id = $1 AND k.key = $2
$$;
