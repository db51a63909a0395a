//! Who owns and runs the cluster: the current user, or `postgres` when we run as root.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use nix::unistd::{Gid, Uid, User};

use super::SUPERUSER;

/// The unprivileged account that owns and runs the cluster: PostgreSQL refuses to run as root
/// (initdb and postgres both exit with an error), so a taskdash started as root hands the
/// cluster to the `postgres` system user, creating that user with `useradd` if the machine has
/// none. Both cases are logged, the creation as a warning: a server adding a user to the host
/// is not something an operator should discover by surprise.
pub(super) struct ClusterOwner {
    ids: Option<(Uid, Gid)>,
}

impl ClusterOwner {
    pub(super) fn for_current_process() -> anyhow::Result<Self> {
        if !Uid::effective().is_root() {
            return Ok(Self { ids: None });
        }
        let user = match User::from_name(SUPERUSER)? {
            Some(user) => {
                tracing::info!(
                    user = SUPERUSER,
                    uid = user.uid.as_raw(),
                    "running as root: the embedded PostgreSQL cluster is owned and run by the \
                     existing `{SUPERUSER}` user, because PostgreSQL refuses to run as root"
                );
                user
            }
            None => {
                let status = Command::new("useradd")
                    .args([
                        "--system",
                        "--no-create-home",
                        "--shell",
                        "/usr/sbin/nologin",
                    ])
                    .arg(SUPERUSER)
                    .status()
                    .context(
                        "running as root, and cannot run `useradd` to create the `postgres` user \
                         that the embedded cluster needs (PostgreSQL refuses to run as root): \
                         create it, run as another user, or set DATABASE_URL",
                    )?;
                if !status.success() {
                    bail!(
                        "running as root, and `useradd {SUPERUSER}` failed ({status}); the embedded \
                         cluster needs that user (PostgreSQL refuses to run as root): create it, \
                         run as another user, or set DATABASE_URL"
                    );
                }
                let user =
                    User::from_name(SUPERUSER)?.context("`postgres` user missing after useradd")?;
                tracing::warn!(
                    user = SUPERUSER,
                    uid = user.uid.as_raw(),
                    "running as root: created the system user `{SUPERUSER}` (`useradd --system \
                     --no-create-home --shell /usr/sbin/nologin {SUPERUSER}`) to own and run the \
                     embedded PostgreSQL cluster, because PostgreSQL refuses to run as root; \
                     run as an unprivileged user or set DATABASE_URL to avoid this"
                );
                user
            }
        };
        Ok(Self {
            ids: Some((user.uid, user.gid)),
        })
    }

    /// Makes `dir` private to the owner.
    pub(super) fn take(&self, dir: &Path) -> anyhow::Result<()> {
        if let Some((uid, gid)) = self.ids {
            nix::unistd::chown(dir, Some(uid), Some(gid))
                .with_context(|| format!("cannot hand {} to the postgres user", dir.display()))?;
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        Ok(())
    }

    pub(super) fn apply(&self, command: &mut Command) {
        if let Some((uid, gid)) = self.ids {
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
    }
}
