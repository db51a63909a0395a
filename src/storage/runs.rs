//! Run SQL: idempotent creation by external_id (as for tasks), conditional writes, the list.
//! Triggers (see `migrations/*_runs.sql`) keep the run counts, bump the project's data version
//! and append to the change log in the same transaction.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{FromRow, Postgres, QueryBuilder, Row};

use super::{DATA_VERSION, MAX_PAGE_ROWS};
use crate::domain::{ExternalId, NewRun, Run, RunStatus, RunUpdate, ShortText};
use crate::pool::{Connection, Pool};

/// The columns of [`Run`], read by name.
const COLUMNS: &str = "id, project_id, external_id, workflow_type, status, source, model_profile, \
                       metadata, version, started_at, completed_at, created_at, updated_at";

/// How often a creation is retried when the run holding its external_id vanishes between our
/// INSERT and our SELECT (a concurrent DELETE): then the key is free again.
const CREATE_ATTEMPTS: usize = 3;

#[derive(Debug)]
pub enum Created {
    New(Run),
    /// The project already held the external_id: the stored run, unchanged.
    Existing(Run),
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("project not found")]
    ProjectNotFound,
    #[error("the run kept disappearing while being created; retry")]
    Contended,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// One statement: INSERT … ON CONFLICT DO NOTHING RETURNING, and the stored run when the key
/// was taken; a separate SELECT (a new snapshot) for a concurrent winner that committed after
/// the statement began. As `storage::tasks::create`.
#[tracing::instrument(skip(connection, run), fields(external_id = ?run.external_id))]
pub async fn create(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    run: &NewRun,
) -> Result<Created, CreateError> {
    for _ in 0..CREATE_ATTEMPTS {
        let row: Option<(bool, Run)> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH inserted AS (
                 INSERT INTO runs (project_id, external_id, workflow_type, status, source,
                                   model_profile, metadata, completed_at)
                 SELECT p.id, $3, $4, $5, $6, $7, $8,
                        CASE WHEN $5::text <> 'running' THEN now() END
                 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2
                 ON CONFLICT (project_id, external_id) DO NOTHING
                 RETURNING {COLUMNS})
             SELECT true AS created, inserted.* FROM inserted
             UNION ALL
             SELECT false, {COLUMNS} FROM runs
             WHERE project_id = $1 AND external_id = $3 AND NOT EXISTS (SELECT 1 FROM inserted)
               AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)"
        )))
        .bind(project_id)
        .bind(tenant_id)
        .bind(&run.external_id)
        .bind(&run.workflow_type)
        .bind(run.status)
        .bind(&run.source)
        .bind(&run.model_profile)
        .bind(Json(&run.metadata))
        .try_map(|row: PgRow| Ok((row.try_get("created")?, Run::from_row(&row)?)))
        .fetch_optional(&mut *connection)
        .await?;
        if let Some((created, run)) = row {
            return Ok(if created {
                Created::New(run)
            } else {
                Created::Existing(run)
            });
        }
        let Some(external_id) = &run.external_id else {
            return Err(CreateError::ProjectNotFound);
        };
        if let Some(existing) =
            by_external_id(connection, tenant_id, project_id, external_id).await?
        {
            return Ok(Created::Existing(existing));
        }
        if !super::project_exists_on(connection, tenant_id, project_id).await? {
            return Err(CreateError::ProjectNotFound);
        }
    }
    Err(CreateError::Contended)
}

async fn by_external_id(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    external_id: &ExternalId,
) -> sqlx::Result<Option<Run>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM runs
         WHERE project_id = $1 AND external_id = $3
           AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)"
    )))
    .bind(project_id)
    .bind(tenant_id)
    .bind(external_id)
    .fetch_optional(&mut *connection)
    .await
}

#[tracing::instrument(skip(pool))]
pub async fn get(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
) -> sqlx::Result<Option<Run>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM runs
         WHERE project_id = $1 AND id = $3
           AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)"
    )))
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *pool.acquire().await?)
    .await
}

#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub statuses: Vec<RunStatus>,
    pub workflow_type: Option<ShortText>,
    pub external_id: Option<ExternalId>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// One page of a project's runs, newest first (by id, which grows with creation), after the
/// run `before_id`: `limit + 1` rows, to tell whether another page follows. With the project's
/// data version, read in the same statement (every run write bumps it); `None` when the
/// tenant has no such project. Built with only the filters present, so that each combination
/// is planned for its own index (as the task list).
#[tracing::instrument(skip(pool, filter))]
pub async fn list(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    filter: &RunFilter,
    before_id: Option<i64>,
    limit: i64,
) -> sqlx::Result<Option<(Vec<Run>, i64)>> {
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "WITH v AS MATERIALIZED (
             SELECT {DATA_VERSION} AS data_version FROM projects WHERE id = "
    ));
    query
        .push_bind(project_id)
        .push(" AND tenant_id = ")
        .push_bind(tenant_id)
        .push(format!(
            ") SELECT v.data_version, r.* FROM v LEFT JOIN LATERAL (SELECT * FROM (
                 SELECT {COLUMNS} FROM runs WHERE project_id = "
        ))
        .push_bind(project_id);
    match filter.statuses.as_slice() {
        [] => {}
        [status] => {
            query.push(" AND status = ").push_bind(*status);
        }
        statuses => {
            query
                .push(" AND status = ANY(")
                .push_bind(statuses.to_vec())
                .push(")");
        }
    }
    if let Some(workflow_type) = &filter.workflow_type {
        query
            .push(" AND workflow_type = ")
            .push_bind(workflow_type.clone());
    }
    if let Some(external_id) = &filter.external_id {
        query
            .push(" AND external_id = ")
            .push_bind(external_id.clone());
    }
    if let Some(after) = filter.created_after {
        query.push(" AND created_at > ").push_bind(after);
    }
    if let Some(before) = filter.created_before {
        query.push(" AND created_at < ").push_bind(before);
    }
    if let Some(before_id) = before_id {
        query.push(" AND id < ").push_bind(before_id);
    }
    // Bounded by a constant inside, by the page outside: see `MAX_PAGE_ROWS`.
    query
        .push(format_args!(
            " ORDER BY id DESC LIMIT {MAX_PAGE_ROWS}) r ORDER BY id DESC LIMIT "
        ))
        .push_bind(limit + 1)
        .push(") r ON true ORDER BY r.id DESC");
    let rows = query.build().fetch_all(&mut *pool.acquire().await?).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let version = first.try_get("data_version")?;
    let mut runs = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<i64>, _>("id")?.is_some() {
            runs.push(Run::from_row(row)?);
        }
    }
    Ok(Some((runs, version)))
}

/// Conditions under which an update or delete may happen.
#[derive(Clone, Debug, Default)]
pub struct Preconditions {
    /// The run's status must be this one (`expected_status`).
    pub status: Option<RunStatus>,
    /// The run's version must be one of these (`If-Match`; none: no version will do).
    pub versions: Option<Vec<i32>>,
}

/// Why a conditional write did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    /// The run's status is this one, not the expected one.
    StatusMismatch(RunStatus),
    VersionMismatch,
}

/// Applies `update` in one statement when the preconditions hold; otherwise says which failed.
/// `completed_at` is set when the run leaves `running` and cleared when it returns to it.
#[tracing::instrument(skip(pool, update))]
pub async fn update(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    update: &RunUpdate,
    preconditions: Preconditions,
) -> sqlx::Result<Result<Run, Refusal>> {
    let updated: Option<Run> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE runs SET
             status = COALESCE($4, status),
             metadata = COALESCE($5, metadata),
             completed_at = CASE WHEN COALESCE($4, status) <> 'running'
                                 THEN COALESCE(completed_at, now()) END,
             version = version + 1
         WHERE project_id = $1 AND id = $3
           AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)
           AND ($6::text IS NULL OR status = $6)
           AND ($7::int[] IS NULL OR version = ANY($7))
         RETURNING {COLUMNS}"
    )))
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .bind(update.status)
    .bind(update.metadata.as_ref().map(Json))
    .bind(preconditions.status)
    .bind(preconditions.versions.as_deref())
    .fetch_optional(&mut *pool.acquire().await?)
    .await?;
    match updated {
        Some(run) => Ok(Ok(run)),
        None => explain_refusal(pool, tenant_id, project_id, id, preconditions)
            .await
            .map(Err),
    }
}

/// Deletes the run with its events (cascade); its tasks stay, with `run_id` cleared.
#[tracing::instrument(skip(pool))]
pub async fn delete(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    versions: Option<Vec<i32>>,
) -> sqlx::Result<Result<(), Refusal>> {
    let result = sqlx::query(
        "DELETE FROM runs
         WHERE project_id = $1 AND id = $3
           AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)
           AND ($4::int[] IS NULL OR version = ANY($4))",
    )
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .bind(versions.as_deref())
    .execute(&mut *pool.acquire().await?)
    .await?;
    if result.rows_affected() == 1 {
        return Ok(Ok(()));
    }
    let preconditions = Preconditions {
        status: None,
        versions,
    };
    explain_refusal(pool, tenant_id, project_id, id, preconditions)
        .await
        .map(Err)
}

/// Cold path: why a conditional write touched no row.
async fn explain_refusal(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    preconditions: Preconditions,
) -> sqlx::Result<Refusal> {
    let Some(current) = get(pool, tenant_id, project_id, id).await? else {
        return Ok(Refusal::NotFound);
    };
    if (preconditions.versions.as_ref()).is_some_and(|v| !v.contains(&current.version)) {
        return Ok(Refusal::VersionMismatch);
    }
    if preconditions.status.is_some_and(|s| s != current.status) {
        return Ok(Refusal::StatusMismatch(current.status));
    }
    // The row changed between the two statements; report it as a lost race on the version.
    Ok(Refusal::VersionMismatch)
}
