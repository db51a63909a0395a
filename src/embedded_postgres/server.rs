//! The handle on the cluster: starts it (or attaches to the server already running on its
//! data directory), hands out connection options, and stops what it started.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use sqlx::postgres::PgConnectOptions;

use super::launch::{find_bin_dir, init_cluster, spawn_tied_to_this_process};
use super::owner::ClusterOwner;
use super::status::{log_tail, running_server_socket};
use super::{Durability, SUPERUSER};

const PORT: u16 = 5432;
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    socket_dir: PathBuf,
    /// Set when this process started the server (and so must stop it); unset when we attached
    /// to a server another taskdash process already runs on the same data directory.
    child: Option<Child>,
    _socket_tmp: Option<tempfile::TempDir>,
}

impl EmbeddedPostgres {
    /// Starts (initialising on first use) the cluster in `data_dir`, or attaches to the server
    /// already running there.
    pub fn start(data_dir: &Path, durability: Durability) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir().context(
            "no PostgreSQL server binaries found (looked on PATH, in `pg_config --bindir` and \
             /usr/lib/postgresql/*/bin): install PostgreSQL (e.g. `apt-get install postgresql`) \
             or set DATABASE_URL to use an existing server",
        )?;
        let owner = ClusterOwner::for_current_process()?;
        fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        owner.take(&data_dir)?;

        if !data_dir.join("PG_VERSION").exists() {
            init_cluster(&bin_dir, &data_dir, &owner, durability)?;
        }
        if let Some(socket_dir) = running_server_socket(&data_dir) {
            return Ok(Self {
                data_dir,
                socket_dir,
                child: None,
                _socket_tmp: None,
            });
        }

        let socket_tmp = tempfile::Builder::new()
            .prefix("taskdash-pg-")
            .tempdir_in("/tmp")
            .context("cannot create the socket directory")?;
        let socket_dir = socket_tmp.path().to_path_buf();
        owner.take(&socket_dir)?;

        let log_path = data_dir.join("server.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let mut command = Command::new(bin_dir.join("postgres"));
        command
            .arg("-D")
            .arg(&data_dir)
            .arg("-k")
            .arg(&socket_dir)
            .args(["-p", &PORT.to_string(), "-c", "listen_addresses="])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if durability == Durability::Throwaway {
            command.args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ]);
        }
        owner.apply(&mut command);
        let child = spawn_tied_to_this_process(command)?;
        let mut server = Self {
            data_dir,
            socket_dir,
            child: Some(child),
            _socket_tmp: Some(socket_tmp),
        };
        server.wait_until_ready(&log_path)?;
        Ok(server)
    }

    /// Connection options for the server's superuser (the cluster trusts its private socket).
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .port(PORT)
            .username(SUPERUSER)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The last lines of the server's log (empty when the server belongs to another process):
    /// what a caller that can no longer connect shows, so a crash explains itself.
    pub fn log_tail(&self) -> String {
        if self.child.is_none() {
            return String::new();
        }
        log_tail(&self.data_dir.join("server.log"))
    }

    /// Fast shutdown (rolls back open transactions, checkpoints, exits); blocks until done.
    /// A no-op when the server belongs to another process.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32);
            if signal::kill(pid, Signal::SIGINT).is_ok() {
                let _ = child.wait();
            }
        }
    }

    fn wait_until_ready(&mut self, log_path: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if running_server_socket(&self.data_dir).is_some() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                bail!(
                    "PostgreSQL exited during start-up ({status}); its log, {}, ends with:\n{}",
                    log_path.display(),
                    log_tail(log_path)
                );
            }
            if Instant::now() > deadline {
                self.stop();
                bail!("PostgreSQL did not become ready within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
