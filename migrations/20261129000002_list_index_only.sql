-- Lists filtered by label or external_id prefix walk the page order without reading rows.
--
-- The order indexes carry `labels` and `external_id` as INCLUDE columns, so a label or prefix
-- filter is checked on the index entries of an index-only scan that yields the page's ids;
-- only the page's rows are then read (by primary key). Reading a row per entry walked cost
-- ~5 µs, an index entry ~0.3 µs: a label on 2 % of a 1M-task project went from 27 ms to 1.7 ms.
-- (Entries of heap pages changed since the last vacuum are still checked against the row:
-- autovacuum keeps that set small.)
--
-- Distribution (Citus): every index leads with project_id, like the tables' keys.
--
-- New names, `IF NOT EXISTS`: on a big deployment an operator can build them beforehand with
-- CREATE INDEX CONCURRENTLY under these names; this migration then only drops the old ones.
CREATE INDEX IF NOT EXISTS tasks_page_queue_idx
    ON tasks (project_id, priority_score DESC, created_at, id, status, milestone_id) INCLUDE (labels, external_id);
CREATE INDEX IF NOT EXISTS tasks_page_created_at_idx
    ON tasks (project_id, created_at, id, status, milestone_id) INCLUDE (labels, external_id);
CREATE INDEX IF NOT EXISTS tasks_page_updated_at_idx
    ON tasks (project_id, updated_at, id, status, milestone_id) INCLUDE (labels, external_id);
CREATE INDEX IF NOT EXISTS tasks_page_status_queue_idx
    ON tasks (project_id, status, priority_score DESC, created_at, id) INCLUDE (milestone_id, labels, external_id);
CREATE INDEX IF NOT EXISTS tasks_page_status_created_at_idx
    ON tasks (project_id, status, created_at, id) INCLUDE (milestone_id, labels, external_id);
CREATE INDEX IF NOT EXISTS tasks_page_status_updated_at_idx
    ON tasks (project_id, status, updated_at, id) INCLUDE (milestone_id, labels, external_id);
DROP INDEX tasks_queue_idx, tasks_created_at_idx, tasks_updated_at_idx, tasks_queue_by_status_idx,
    tasks_status_created_at_idx, tasks_status_updated_at_idx;
