//! A private PostgreSQL cluster started from the machine's own server binaries, so that
//! `cargo run` and `cargo test` need nothing configured.
//!
//! The server is a direct child process that listens only on a Unix socket in a fresh 0700
//! directory (no TCP port to collide with, no password to manage). It is asked to exit with us
//! in two ways: [`EmbeddedPostgres::stop`] on a clean shutdown, and the kernel's parent-death
//! signal when we die without one.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{self, Signal};
use nix::unistd::{Gid, Pid, Uid, User};
use sqlx::postgres::PgConnectOptions;

const SUPERUSER: &str = "postgres";
const PORT: u16 = 5432;
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How the cluster trades durability for speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Production defaults: every commit is flushed.
    Durable,
    /// For throwaway test clusters: no fsync at all.
    Throwaway,
}

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

/// The unprivileged account that owns and runs the cluster: PostgreSQL refuses to run as root
/// (initdb and postgres both exit with an error), so a taskdash started as root hands the
/// cluster to the `postgres` system user, creating that user with `useradd` if the machine has
/// none. Both cases are logged, the creation as a warning: a server adding a user to the host
/// is not something an operator should discover by surprise.
struct ClusterOwner {
    ids: Option<(Uid, Gid)>,
}

impl ClusterOwner {
    fn for_current_process() -> anyhow::Result<Self> {
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
    fn take(&self, dir: &Path) -> anyhow::Result<()> {
        if let Some((uid, gid)) = self.ids {
            nix::unistd::chown(dir, Some(uid), Some(gid))
                .with_context(|| format!("cannot hand {} to the postgres user", dir.display()))?;
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        Ok(())
    }

    fn apply(&self, command: &mut Command) {
        if let Some((uid, gid)) = self.ids {
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
    }
}

fn init_cluster(
    bin_dir: &Path,
    data_dir: &Path,
    owner: &ClusterOwner,
    durability: Durability,
) -> anyhow::Result<()> {
    let mut command = Command::new(bin_dir.join("initdb"));
    command
        .arg("-D")
        .arg(data_dir)
        .args([
            "--username",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        ])
        .current_dir("/");
    if durability == Durability::Throwaway {
        command.arg("--no-sync");
    }
    owner.apply(&mut command);
    let output = command.output().context("cannot run initdb")?;
    if !output.status.success() {
        bail!(
            "initdb failed for {} ({}): {}\nIs every directory above it reachable by the `postgres` \
             user? If not, choose another --data-dir.",
            data_dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Spawns `command` from a thread that lives as long as the process, with the parent-death
/// signal set, so the server never outlives us (the signal fires when the spawning *thread*
/// exits, hence the dedicated thread).
fn spawn_tied_to_this_process(mut command: Command) -> anyhow::Result<Child> {
    // SAFETY: the closure only calls async-signal-safe prctl/getppid.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
            Ok(())
        });
    }
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("postgres-parent".into())
        .spawn(move || {
            let _ = sender.send(command.spawn());
            loop {
                std::thread::park();
            }
        })?;
    receiver
        .recv()
        .context("postgres launcher thread died")?
        .context("cannot start postgres")
}

/// The socket directory of a live, ready server on `data_dir`, read from its `postmaster.pid`
/// (line 1: pid, line 5: socket directory, line 8: status).
fn running_server_socket(data_dir: &Path) -> Option<PathBuf> {
    let pid_file = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let lines: Vec<&str> = pid_file.lines().collect();
    let pid: i32 = lines.first()?.trim().parse().ok()?;
    let alive = signal::kill(Pid::from_raw(pid), None).is_ok();
    let ready = lines.get(7).is_some_and(|status| status.trim() == "ready");
    let socket_dir = PathBuf::from(lines.get(4)?.trim());
    (alive && ready && socket_dir.is_dir()).then_some(socket_dir)
}

fn find_bin_dir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("postgres").is_file() && dir.join("initdb").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_server(&dir) {
                return Some(dir);
            }
        }
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && has_server(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|dir| has_server(dir))
        .collect();
    // Newest major version first.
    versions.sort_by_key(|dir| {
        dir.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

fn log_tail(path: &Path) -> String {
    let Ok(file) = fs::File::open(path) else {
        return String::new();
    };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
