//! `taskdash tenant …` and `taskdash key …`: each opens the database (migrating it), does one
//! thing, and prints what an operator needs — a new key's secret once, never again.

use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, SubsecRound, Utc};

use super::{finish, open_migrated};
use crate::auth::{self, IssuedKey, KeyOptions};
use crate::configuration::{DatabaseSettings, KeyCommand, TenantCommand};
use crate::domain::{Name, Scope};
use crate::pool::Pool;
use crate::storage::tenants::{self, KeyListing};

pub async fn tenant(command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create { name, database } => create_tenant(name, database).await,
        TenantCommand::Delete {
            name,
            yes,
            database,
        } => delete_tenant(name, yes, database).await,
    }
}

pub async fn key(command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create {
            tenant,
            scope,
            name,
            expires_in,
            database,
        } => create_key(tenant, scope, name, expires_in, database).await,
        KeyCommand::List {
            tenant,
            json,
            database,
        } => list_keys(tenant, json, database).await,
        KeyCommand::Revoke { key_id, database } => revoke_key(key_id, database).await,
    }
}

/// Runs `task` against the migrated database, then closes it (and stops an embedded cluster)
/// whatever the outcome.
async fn with_database<T, F>(settings: &DatabaseSettings, task: F) -> anyhow::Result<T>
where
    F: AsyncFnOnce(&Pool) -> anyhow::Result<T>,
{
    let (database, pool) = open_migrated(settings).await?;
    let outcome = task(&pool).await;
    pool.close().await;
    finish(database).await;
    outcome
}

async fn create_tenant(name: String, settings: DatabaseSettings) -> anyhow::Result<()> {
    let issued = with_database(&settings, async |pool| {
        Ok(auth::create_tenant(pool, &name).await?)
    })
    .await?;
    match issued {
        Some(issued) => print_issued(&issued),
        None => bail!(
            "a tenant named `{name}` already exists; use `taskdash key create --tenant {name}`"
        ),
    }
}

async fn delete_tenant(name: String, yes: bool, settings: DatabaseSettings) -> anyhow::Result<()> {
    let deleted = with_database(&settings, async |pool| {
        if yes {
            return Ok(tenants::delete_tenant(pool, &name).await?.map(Some));
        }
        // Unconfirmed: only tell whether there is anything to delete.
        Ok(tenants::find_tenant(pool, &name).await?.map(|_| None))
    })
    .await?;
    match deleted {
        None => bail!("no tenant named `{name}`"),
        Some(None) => bail!(
            "this deletes tenant `{name}` and everything it owns (API keys, projects with their \
             tasks, runs, artifacts and repositories, its change log) and cannot be undone; \
             run again with --yes to confirm"
        ),
        Some(Some(deleted)) => {
            eprintln!(
                "tenant `{name}` deleted, with {} project(s) and {} API key(s)",
                deleted.deleted_projects, deleted.deleted_keys
            );
            Ok(())
        }
    }
}

async fn create_key(
    tenant: String,
    scope: Scope,
    name: Option<Name>,
    expires_in: Option<Duration>,
    settings: DatabaseSettings,
) -> anyhow::Result<()> {
    let expires_at = expires_in.map(expiry_after).transpose()?;
    let options = KeyOptions {
        scope,
        name,
        expires_at,
    };
    let issued = with_database(&settings, async |pool| {
        Ok(auth::create_key(pool, &tenant, options).await?)
    })
    .await?;
    match issued {
        Some(issued) => print_issued(&issued),
        None => bail!("no tenant named `{tenant}`"),
    }
}

/// The instant `duration` from now, in whole seconds (as stored and shown).
fn expiry_after(duration: Duration) -> anyhow::Result<DateTime<Utc>> {
    if duration.is_zero() {
        bail!("--expires-in must be longer than zero");
    }
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|duration| Utc::now().checked_add_signed(duration))
        .map(|at| at.trunc_subsecs(0))
        .context("--expires-in is too long")
}

async fn list_keys(tenant: String, json: bool, settings: DatabaseSettings) -> anyhow::Result<()> {
    let keys = with_database(&settings, async |pool| {
        Ok(tenants::list_keys(pool, &tenant).await?)
    })
    .await?;
    let Some(keys) = keys else {
        bail!("no tenant named `{tenant}`");
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&keys)?);
    } else {
        print!("{}", key_table(&keys));
    }
    Ok(())
}

/// One line a key, in aligned columns; `-` for what is not set.
fn key_table(keys: &[KeyListing]) -> String {
    let time = |at: Option<DateTime<Utc>>| {
        at.map_or("-".to_owned(), |at| {
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
    };
    let mut rows = vec![
        [
            "ID",
            "NAME",
            "SCOPE",
            "PREFIX",
            "CREATED",
            "LAST USED",
            "EXPIRES",
            "REVOKED",
        ]
        .map(str::to_owned),
    ];
    for key in keys {
        rows.push([
            key.id.to_string(),
            key.name.clone().unwrap_or_else(|| "-".to_owned()),
            key.scope.to_string(),
            key.prefix.clone().unwrap_or_else(|| "-".to_owned()),
            time(Some(key.created_at)),
            time(key.last_used_at),
            time(key.expires_at),
            time(key.revoked_at),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut table = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        table.push_str(cells.join("  ").trim_end());
        table.push('\n');
    }
    table
}

async fn revoke_key(key_id: i64, settings: DatabaseSettings) -> anyhow::Result<()> {
    let revoked = with_database(&settings, async |pool| {
        Ok(tenants::revoke_key(pool, key_id).await?)
    })
    .await?;
    if revoked {
        eprintln!("API key {key_id} revoked");
        Ok(())
    } else {
        bail!("no active API key with id {key_id}")
    }
}

fn print_issued(issued: &IssuedKey) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(issued)?);
    Ok(())
}
