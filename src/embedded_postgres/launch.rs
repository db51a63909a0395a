//! Finding the server binaries and running them: `initdb` once, `postgres` tied to our life.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use anyhow::{Context, bail};
use nix::sys::signal::Signal;

use super::owner::ClusterOwner;
use super::{Durability, SUPERUSER};

pub(super) fn init_cluster(
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
pub(super) fn spawn_tied_to_this_process(mut command: Command) -> anyhow::Result<Child> {
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

pub(super) fn find_bin_dir() -> Option<PathBuf> {
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
