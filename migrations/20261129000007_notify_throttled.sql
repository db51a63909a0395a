-- NOTIFY as a wake-up, throttled. A transaction that has notified takes a cluster-wide lock at
-- commit and holds it through its WAL flush, so notifying writers commit one at a time: under
-- 16 concurrent creates that halved throughput. Only one writer at a time notifies now (the
-- holder of a transaction-level advisory lock, taken without waiting); the others skip it. A
-- change whose writer skipped is read at the next wake-up: the next writer's notification
-- under load, or each replica's poll (every 250 ms) when writes stop.
CREATE OR REPLACE FUNCTION notify_changes() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF pg_try_advisory_xact_lock(7461736468617368) THEN
        PERFORM pg_notify('taskdash_changes', '');
    END IF;
END;
$$;
