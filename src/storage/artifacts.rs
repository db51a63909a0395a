//! Artifact SQL. A PUT is one upsert: created, replaced, or (same digest and content type)
//! left alone. Lists and writes read metadata only; the content is read by the one GET that
//! returns it.

use sqlx::Row;
use sqlx::postgres::PgRow;

use super::DATA_VERSION;
use crate::domain::{Artifact, ArtifactContent, ArtifactFilter, ArtifactKey};
use crate::pool::Pool;

/// How often a PUT is tried when its key's row changes between its statements (see [`put`]).
const PUT_ATTEMPTS: usize = 3;

/// The metadata columns of [`Artifact`], read from an unaliased `a` relation (or a CTE
/// returning them): never the content.
const COLUMNS: &str = "a.id, a.project_id, a.task_id, a.kind, a.iteration, a.content_type, \
                       a.byte_size, encode(a.sha256, 'hex'), a.version, a.created_at, a.updated_at";

/// The stored columns behind [`COLUMNS`], for RETURNING (never the content either).
const STORED_COLUMNS: &str = "a.id, a.project_id, a.task_id, a.kind, a.iteration, \
                              a.content_type, a.byte_size, a.sha256, a.version, a.created_at, a.updated_at";

fn artifact_at(row: &PgRow, at: usize) -> sqlx::Result<Artifact> {
    Ok(Artifact {
        id: row.try_get(at)?,
        project_id: row.try_get(at + 1)?,
        task_id: row.try_get(at + 2)?,
        kind: row.try_get(at + 3)?,
        iteration: row.try_get(at + 4)?,
        content_type: row.try_get(at + 5)?,
        byte_size: row.try_get(at + 6)?,
        sha256: row.try_get(at + 7)?,
        version: row.try_get(at + 8)?,
        created_at: row.try_get(at + 9)?,
        updated_at: row.try_get(at + 10)?,
    })
}

/// The condition on `a` that selects the key bound as $3 (task), $4 (kind), $5 (iteration) in
/// project $1. NULL task and iteration are matched with `IS NULL`, which the key's index serves
/// (`IS NOT DISTINCT FROM` would not): one statement text per combination.
fn key_condition(key: &ArtifactKey) -> &'static str {
    match (key.task_id.is_some(), key.iteration.is_some()) {
        (true, true) => "a.project_id = $1 AND a.task_id = $3 AND a.kind = $4 AND a.iteration = $5",
        (true, false) => {
            "a.project_id = $1 AND a.task_id = $3 AND a.kind = $4 AND a.iteration IS NULL"
        }
        (false, true) => {
            "a.project_id = $1 AND a.task_id IS NULL AND a.kind = $4 AND a.iteration = $5"
        }
        (false, false) => {
            "a.project_id = $1 AND a.task_id IS NULL AND a.kind = $4 AND a.iteration IS NULL"
        }
    }
}

/// What a PUT did.
#[derive(Debug)]
pub enum Put {
    Created(Artifact),
    Replaced(Artifact),
    /// The stored artifact already had this digest and content type: nothing was written.
    Unchanged(Artifact),
}

/// Why a PUT, GET or DELETE found nothing to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    Project,
    Task,
    Artifact,
    /// The key's row kept changing under a PUT: retry.
    Contended,
}

/// Creates, replaces or leaves alone the artifact at `key`, in one statement: INSERT … ON
/// CONFLICT DO UPDATE … WHERE the content differs, so concurrent PUTs of a key never fail and
/// never duplicate it (the last to lock the row wins), and an identical upload writes nothing
/// (no version, no change in the feed). When nothing was written the same statement reads the
/// stored row, unless it was committed after the statement's snapshot: then a second statement
/// reads it.
#[tracing::instrument(skip(pool, content), fields(kind = key.kind.as_str(), bytes = content.bytes.len()))]
pub async fn put(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    key: &ArtifactKey,
    content: &ArtifactContent,
) -> sqlx::Result<Result<Put, Missing>> {
    let condition = key_condition(key);
    let sql = format!(
        "WITH target AS (
             SELECT p.id FROM projects p
             WHERE p.id = $1 AND p.tenant_id = $2
               AND ($3::bigint IS NULL
                    OR EXISTS (SELECT 1 FROM tasks t WHERE t.project_id = $1 AND t.id = $3))
         ), written AS (
             INSERT INTO artifacts AS a (project_id, task_id, kind, iteration, content_type,
                                         byte_size, sha256, content)
             SELECT id, $3, $4, $5, $6, $7, $8, $9 FROM target
             ON CONFLICT (project_id, task_id, kind, iteration) DO UPDATE SET
                 content_type = EXCLUDED.content_type, byte_size = EXCLUDED.byte_size,
                 sha256 = EXCLUDED.sha256, content = EXCLUDED.content, version = a.version + 1
             WHERE (a.sha256, a.content_type) IS DISTINCT FROM (EXCLUDED.sha256, EXCLUDED.content_type)
             RETURNING {STORED_COLUMNS}
         )
         SELECT CASE WHEN a.version = 1 THEN 'created' ELSE 'replaced' END, {COLUMNS} FROM written a
         UNION ALL
         SELECT 'unchanged', {COLUMNS} FROM artifacts a
         WHERE {condition} AND EXISTS (SELECT 1 FROM target) AND NOT EXISTS (SELECT 1 FROM written)"
    );
    for _ in 0..PUT_ATTEMPTS {
        let written = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(project_id)
            .bind(tenant_id)
            .bind(key.task_id)
            .bind(&key.kind)
            .bind(key.iteration)
            .bind(&content.content_type)
            .bind(content.bytes.len() as i64)
            .bind(&content.sha256[..])
            .bind(&content.bytes)
            .try_map(|row: PgRow| Ok((row.try_get::<String, _>(0)?, artifact_at(&row, 1)?)))
            .fetch_optional(&mut *pool.acquire().await?)
            .await;
        let row = match written {
            // The task went between the statement's check and its insert.
            Err(error) if is_constraint(&error, "artifacts_task_fkey") => {
                return Ok(Err(Missing::Task));
            }
            other => other?,
        };
        match row {
            Some((outcome, artifact)) => {
                return Ok(Ok(match outcome.as_str() {
                    "created" => Put::Created(artifact),
                    "replaced" => Put::Replaced(artifact),
                    _ => Put::Unchanged(artifact),
                }));
            }
            None => match get(pool, tenant_id, project_id, key).await? {
                Ok(stored)
                    if stored.sha256 == hex::encode(content.sha256)
                        && stored.content_type == content.content_type =>
                {
                    return Ok(Ok(Put::Unchanged(stored)));
                }
                // Replaced or deleted since: write again.
                Ok(_) | Err(Missing::Artifact) => continue,
                Err(missing) => return Ok(Err(missing)),
            },
        }
    }
    Ok(Err(Missing::Contended))
}

fn is_constraint(error: &sqlx::Error, name: &str) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.constraint())
        .is_some_and(|constraint| constraint == name)
}

/// The metadata at `key`, or what is missing.
#[tracing::instrument(skip(pool))]
pub async fn get(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    key: &ArtifactKey,
) -> sqlx::Result<Result<Artifact, Missing>> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM artifacts a JOIN projects p ON p.id = a.project_id
         WHERE {} AND p.tenant_id = $2",
        key_condition(key)
    )))
    .bind(project_id)
    .bind(tenant_id)
    .bind(key.task_id)
    .bind(&key.kind)
    .bind(key.iteration)
    .try_map(|row: PgRow| artifact_at(&row, 0))
    .fetch_optional(&mut *pool.acquire().await?)
    .await?;
    match found {
        Some(artifact) => Ok(Ok(artifact)),
        None => missing(pool, tenant_id, project_id, key.task_id)
            .await
            .map(Err),
    }
}

/// The metadata and content at `key`.
#[tracing::instrument(skip(pool))]
pub async fn content(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    key: &ArtifactKey,
) -> sqlx::Result<Result<(Artifact, Vec<u8>), Missing>> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, a.content FROM artifacts a JOIN projects p ON p.id = a.project_id
         WHERE {} AND p.tenant_id = $2",
        key_condition(key)
    )))
    .bind(project_id)
    .bind(tenant_id)
    .bind(key.task_id)
    .bind(&key.kind)
    .bind(key.iteration)
    .try_map(|row: PgRow| Ok((artifact_at(&row, 0)?, row.try_get(11)?)))
    .fetch_optional(&mut *pool.acquire().await?)
    .await?;
    match found {
        Some(found) => Ok(Ok(found)),
        None => missing(pool, tenant_id, project_id, key.task_id)
            .await
            .map(Err),
    }
}

/// Deletes the artifact at `key`.
#[tracing::instrument(skip(pool))]
pub async fn delete(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    key: &ArtifactKey,
) -> sqlx::Result<Result<(), Missing>> {
    let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM artifacts a USING projects p
         WHERE {} AND p.id = a.project_id AND p.tenant_id = $2",
        key_condition(key)
    )))
    .bind(project_id)
    .bind(tenant_id)
    .bind(key.task_id)
    .bind(&key.kind)
    .bind(key.iteration)
    .execute(&mut *pool.acquire().await?)
    .await?;
    if deleted.rows_affected() == 1 {
        return Ok(Ok(()));
    }
    missing(pool, tenant_id, project_id, key.task_id)
        .await
        .map(Err)
}

/// Cold path, after a statement found nothing: what is missing (the project, for another
/// tenant's).
async fn missing(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    task_id: Option<i64>,
) -> sqlx::Result<Missing> {
    let (project, task): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1 AND tenant_id = $2),
                $3::bigint IS NULL OR EXISTS (SELECT 1 FROM tasks WHERE project_id = $1 AND id = $3)",
    )
    .bind(project_id)
    .bind(tenant_id)
    .bind(task_id)
    .fetch_one(&mut *pool.acquire().await?)
    .await?;
    Ok(match (project, task) {
        (false, _) => Missing::Project,
        (true, false) => Missing::Task,
        (true, true) => Missing::Artifact,
    })
}

/// One page of metadata in creation (id) order after `after_id`, with the project's data
/// version, in one statement; `within_task` (the task's own route) requires the task to exist.
/// The `latest` filter is an anti-join on the key's index per row walked, so a page stops
/// reading once it is full.
#[tracing::instrument(skip(pool))]
pub async fn list(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    filter: &ArtifactFilter,
    within_task: bool,
    after_id: Option<i64>,
    limit: i64,
) -> sqlx::Result<Result<(Vec<Artifact>, i64), Missing>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH v AS MATERIALIZED (
             SELECT {DATA_VERSION} AS data_version FROM projects
             WHERE id = $1 AND tenant_id = $2
               AND (NOT $7 OR EXISTS (SELECT 1 FROM tasks t WHERE t.project_id = $1 AND t.id = $3))
         )
         SELECT v.data_version, w.* FROM v LEFT JOIN LATERAL (
             SELECT {COLUMNS} FROM artifacts a
             WHERE a.project_id = $1 AND ($3::bigint IS NULL OR a.task_id = $3)
               AND ($4::text IS NULL OR a.kind = $4) AND ($5::bigint IS NULL OR a.id > $5)
               AND (NOT $6 OR NOT EXISTS (
                   SELECT 1 FROM artifacts b
                   WHERE b.project_id = a.project_id AND b.kind = a.kind
                     AND (b.task_id = a.task_id OR (a.task_id IS NULL AND b.task_id IS NULL))
                     AND b.iteration > COALESCE(a.iteration, -1)))
             ORDER BY a.id LIMIT $8) w ON true
         ORDER BY w.id"
    )))
    .bind(project_id)
    .bind(tenant_id)
    .bind(filter.task_id)
    .bind(&filter.kind)
    .bind(after_id)
    .bind(filter.latest)
    .bind(within_task)
    .bind(limit + 1)
    .fetch_all(&mut *pool.acquire().await?)
    .await?;
    let Some(first) = rows.first() else {
        let task = if within_task { filter.task_id } else { None };
        return missing(pool, tenant_id, project_id, task).await.map(Err);
    };
    let version = first.try_get(0)?;
    let mut artifacts = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<i64>, _>(1)?.is_some() {
            artifacts.push(artifact_at(row, 1)?);
        }
    }
    Ok(Ok((artifacts, version)))
}
