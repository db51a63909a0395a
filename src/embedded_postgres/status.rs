//! What a server leaves in its data directory: whether one is running there (and where its
//! socket is), and the end of its log for error messages.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use nix::sys::signal;
use nix::unistd::Pid;

/// The socket directory of a live, ready server on `data_dir`, read from its `postmaster.pid`
/// (line 1: pid, line 5: socket directory, line 8: status).
pub(super) fn running_server_socket(data_dir: &Path) -> Option<PathBuf> {
    let pid_file = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let lines: Vec<&str> = pid_file.lines().collect();
    let pid: i32 = lines.first()?.trim().parse().ok()?;
    let alive = signal::kill(Pid::from_raw(pid), None).is_ok();
    let ready = lines.get(7).is_some_and(|status| status.trim() == "ready");
    let socket_dir = PathBuf::from(lines.get(4)?.trim());
    (alive && ready && socket_dir.is_dir()).then_some(socket_dir)
}

pub(super) fn log_tail(path: &Path) -> String {
    let Ok(file) = fs::File::open(path) else {
        return String::new();
    };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
