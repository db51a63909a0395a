-- A task changed by a foreign key's cascade (its milestone or parent deleted: SET NULL) gets a
-- new version like any other change: its ETag must change with its content, and If-Match on
-- the old version must fail. The API's own UPDATEs bump the version themselves; this bumps it
-- only when an UPDATE did not.
CREATE FUNCTION tasks_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.version = OLD.version THEN
        NEW.version := OLD.version + 1;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER tasks_bump_version BEFORE UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_bump_version();
