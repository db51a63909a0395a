//! Tasks over HTTP: creation (idempotent by `external_id`, also under races), validation,
//! references to milestones and parents, and updates (partial PATCH, `completed_at`,
//! `expected_status`, `If-Match`).
//!
//! `creation`: a new task and a missing project; `external_ids`: one task per external id and
//! project, whatever the races; `validation`: bad fields and unreadable bodies; `references`:
//! milestones and parents must be of the project and form no loop; `updates`: PATCH and DELETE.

mod creation;
mod external_ids;
mod references;
mod updates;
mod validation;
