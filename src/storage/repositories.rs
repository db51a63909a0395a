//! Repository SQL. Creation is idempotent by the normalised URL, like tasks by external_id:
//! `INSERT … ON CONFLICT (project_id, normalized_url) DO NOTHING`, then the stored repository.

use sqlx::postgres::PgRow;
use sqlx::{FromRow, Row};

use super::DATA_VERSION;
use crate::domain::{NewRepository, Repository, RepositoryChanges};
use crate::pool::{Connection, Pool};

/// How often a creation is retried when the repository holding its URL vanishes between our
/// statements (a concurrent DELETE): then the URL is free again.
const CREATE_ATTEMPTS: usize = 3;

const COLUMNS: &str = "r.id, r.project_id, r.url, r.normalized_url, r.default_branch, \
                       r.created_at, r.updated_at";

/// The unique key that makes a URL name one repository per project.
const URL_KEY: &str = "repositories_project_normalized_url_key";

#[derive(Debug)]
pub enum Created {
    New(Repository),
    /// The project already held a repository with this normalised URL: it, unchanged.
    Existing(Repository),
}

/// Why a write did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    ProjectNotFound,
    RepositoryNotFound,
    /// Another repository of the project has this normalised URL.
    UrlTaken,
    /// The stored repository kept disappearing while being created: retry.
    Contended,
}

/// One statement: INSERT … ON CONFLICT DO NOTHING RETURNING, and the stored repository when the
/// URL was taken. A winner committed after the statement's snapshot is read by a second one.
#[tracing::instrument(skip(connection, repository), fields(url = %repository.url.normalized))]
pub async fn create(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    repository: &NewRepository,
) -> sqlx::Result<Result<Created, Refusal>> {
    for _ in 0..CREATE_ATTEMPTS {
        let row: Option<(bool, Repository)> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH inserted AS (
                 INSERT INTO repositories AS r (project_id, url, normalized_url, default_branch)
                 SELECT p.id, $3, $4, $5 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2
                 ON CONFLICT (project_id, normalized_url) DO NOTHING
                 RETURNING {COLUMNS}
             )
             SELECT true AS created, r.* FROM inserted r
             UNION ALL
             SELECT false, {COLUMNS} FROM repositories r
             WHERE r.project_id = $1 AND r.normalized_url = $4
               AND NOT EXISTS (SELECT 1 FROM inserted)
               AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)"
        )))
        .bind(project_id)
        .bind(tenant_id)
        .bind(&repository.url.given)
        .bind(&repository.url.normalized)
        .bind(&repository.default_branch)
        .try_map(|row: PgRow| Ok((row.try_get(0)?, Repository::from_row(&row)?)))
        .fetch_optional(&mut *connection)
        .await?;
        if let Some((created, repository)) = row {
            return Ok(Ok(if created {
                Created::New(repository)
            } else {
                Created::Existing(repository)
            }));
        }
        let existing = find(
            connection,
            tenant_id,
            project_id,
            &repository.url.normalized,
        )
        .await?;
        if let Some(existing) = existing {
            return Ok(Ok(Created::Existing(existing)));
        }
        if !super::project_exists_on(connection, tenant_id, project_id).await? {
            return Ok(Err(Refusal::ProjectNotFound));
        }
    }
    Ok(Err(Refusal::Contended))
}

async fn find(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    normalized_url: &str,
) -> sqlx::Result<Option<Repository>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM repositories r JOIN projects p ON p.id = r.project_id
         WHERE r.project_id = $1 AND p.tenant_id = $2 AND r.normalized_url = $3"
    )))
    .bind(project_id)
    .bind(tenant_id)
    .bind(normalized_url)
    .fetch_optional(&mut *connection)
    .await
}

/// One page ordered by id, with the project's data version, in one statement; `None` when the
/// tenant has no such project.
#[tracing::instrument(skip(pool))]
pub async fn list(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    after_id: Option<i64>,
    limit: i64,
) -> sqlx::Result<Option<(Vec<Repository>, i64)>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH v AS MATERIALIZED (
             SELECT {DATA_VERSION} AS data_version FROM projects WHERE id = $1 AND tenant_id = $2
         )
         SELECT v.data_version, w.* FROM v LEFT JOIN LATERAL (
             SELECT {COLUMNS} FROM repositories r
             WHERE r.project_id = $1 AND ($3::bigint IS NULL OR r.id > $3)
             ORDER BY r.id LIMIT $4) w ON true
         ORDER BY w.id"
    )))
    .bind(project_id)
    .bind(tenant_id)
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(&mut *pool.acquire().await?)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let version = first.try_get("data_version")?;
    let mut repositories = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<i64>, _>("id")?.is_some() {
            repositories.push(Repository::from_row(row)?);
        }
    }
    Ok(Some((repositories, version)))
}

/// The repository and the project's data version, in one statement.
#[tracing::instrument(skip(pool))]
pub async fn get(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
) -> sqlx::Result<Option<(Repository, i64)>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, {DATA_VERSION} AS data_version
         FROM repositories r JOIN projects ON projects.id = r.project_id
         WHERE r.project_id = $1 AND projects.tenant_id = $2 AND r.id = $3"
    )))
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .try_map(|row: PgRow| Ok((Repository::from_row(&row)?, row.try_get("data_version")?)))
    .fetch_optional(&mut *pool.acquire().await?)
    .await
}

#[tracing::instrument(skip(pool, changes))]
pub async fn update(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    changes: &RepositoryChanges,
) -> sqlx::Result<Result<Repository, Refusal>> {
    let updated = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE repositories r SET
             url = COALESCE($4, r.url),
             normalized_url = COALESCE($5, r.normalized_url),
             default_branch = COALESCE($6, r.default_branch)
         FROM projects p
         WHERE r.project_id = $1 AND r.id = $3 AND p.id = r.project_id AND p.tenant_id = $2
         RETURNING {COLUMNS}"
    )))
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .bind(changes.url.as_ref().map(|url| &url.given))
    .bind(changes.url.as_ref().map(|url| &url.normalized))
    .bind(&changes.default_branch)
    .fetch_optional(&mut *pool.acquire().await?)
    .await;
    match updated {
        Ok(Some(repository)) => Ok(Ok(repository)),
        Ok(None) => Ok(Err(Refusal::RepositoryNotFound)),
        Err(error) if is_url_taken(&error) => Ok(Err(Refusal::UrlTaken)),
        Err(error) => Err(error),
    }
}

fn is_url_taken(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.constraint())
        .is_some_and(|constraint| constraint == URL_KEY)
}

#[tracing::instrument(skip(pool))]
pub async fn delete(pool: &Pool, tenant_id: i64, project_id: i64, id: i64) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "DELETE FROM repositories r USING projects p
         WHERE r.project_id = $1 AND r.id = $3 AND p.id = r.project_id AND p.tenant_id = $2",
    )
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .execute(&mut *pool.acquire().await?)
    .await?;
    Ok(result.rows_affected() == 1)
}
