//! A private PostgreSQL cluster started from the machine's own server binaries, so that
//! `cargo run` and `cargo test` need nothing configured.
//!
//! The server is a direct child process that listens only on a Unix socket in a fresh 0700
//! directory (no TCP port to collide with, no password to manage). It is asked to exit with us
//! in two ways: [`EmbeddedPostgres::stop`] on a clean shutdown, and the kernel's parent-death
//! signal when we die without one.
//!
//! `server` is the handle (start or attach, connect, stop), `owner` the account the cluster
//! runs as (never root), `launch` finds the binaries and runs `initdb` and `postgres`, and
//! `status` reads what a server leaves in its data directory (`postmaster.pid`, its log).

mod launch;
mod owner;
mod server;
mod status;

pub use server::EmbeddedPostgres;

const SUPERUSER: &str = "postgres";

/// How the cluster trades durability for speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Production defaults: every commit is flushed.
    Durable,
    /// For throwaway test clusters: no fsync at all.
    Throwaway,
}
