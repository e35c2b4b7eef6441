//! What can go wrong starting the private cluster, each as one line naming what to do.

use super::*;

/// Errors from starting, reusing or stopping a [`PrivateCluster`].
///
/// Each variant displays as one line; those the operator must act on say what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No directory with `initdb`, `pg_ctl` and `postgres` was found.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or under \
         /usr/lib/postgresql/*/bin: install PostgreSQL or set DATABASE_URL"
    )]
    BinariesNotFound,

    /// Running as root, but there is no `postgres` OS user to run the server as.
    #[error(
        "running as root, but there is no `postgres` OS user to run the private PostgreSQL \
         cluster as: install PostgreSQL (it creates that user), run j0 as a non-root user, \
         or set DATABASE_URL"
    )]
    NoPostgresUser,

    /// Running as root, but `runuser` (util-linux) is not installed.
    #[error(
        "running as root, but `runuser` (util-linux) is not installed to run the private \
         PostgreSQL cluster as the `postgres` user: install util-linux, run j0 as a non-root \
         user, or set DATABASE_URL"
    )]
    NoRunuser,

    /// A directory of the cluster cannot be created or reached.
    #[error(
        "cannot use {path} for the private PostgreSQL cluster ({reason}): fix the directory's \
         permissions or set DATABASE_URL"
    )]
    Directory {
        /// The directory at fault.
        path: PathBuf,
        /// What went wrong with it.
        reason: String,
    },

    /// The cluster path holds a character `pg_ctl` or the URL cannot carry safely.
    #[error(
        "the private PostgreSQL cluster path {path} contains {found}, which pg_ctl cannot quote: \
         run j0 from another directory or set DATABASE_URL"
    )]
    UnsupportedPath {
        /// The absolute cluster root.
        path: PathBuf,
        /// Description of the offending character.
        found: String,
    },

    /// The Unix socket path would not fit in `sockaddr_un`.
    #[error(
        "the private PostgreSQL socket path {path} is {len} bytes, longer than the {max}-byte \
         Unix socket limit: run j0 from a directory with a shorter path or set DATABASE_URL"
    )]
    SocketPathTooLong {
        /// The socket file path that would be used.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },

    /// `data` exists but was not made by `initdb`.
    #[error(
        "{path} exists but is not a PostgreSQL data directory (no PG_VERSION): move it away \
         or set DATABASE_URL"
    )]
    NotADataDirectory {
        /// The data directory.
        path: PathBuf,
    },

    /// The data directory belongs to another PostgreSQL major version than the binaries.
    #[error(
        "{path} was created by PostgreSQL {data_version} but the binaries found in {bin_dir} \
         are PostgreSQL {bin_version}: install PostgreSQL {data_version}, move the directory \
         away, or set DATABASE_URL"
    )]
    VersionMismatch {
        /// The data directory.
        path: PathBuf,
        /// Major version recorded in `PG_VERSION`.
        data_version: String,
        /// Directory of the binaries that were found.
        bin_dir: PathBuf,
        /// Major version of those binaries.
        bin_version: String,
    },

    /// Another process held the cluster lock for too long.
    #[error("timed out after {secs} s waiting for the lock {path} held by another j0 process")]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// Seconds waited.
        secs: u64,
    },

    /// A program could not be started at all.
    #[error("could not run `{program}`: {error}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        error: io::Error,
    },

    /// A command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// Its trimmed stderr (or stdout when stderr is empty), on one line, plus any context.
        stderr: String,
    },

    /// The server is reported running but does not answer on the cluster's socket.
    #[error(
        "the private PostgreSQL server for {data_dir} is running but not accepting connections \
         on {socket_dir} ({detail}); if no server runs there, remove {data_dir}/postmaster.pid"
    )]
    NotReady {
        /// The data directory.
        data_dir: PathBuf,
        /// The socket directory probed.
        socket_dir: PathBuf,
        /// Last probe result.
        detail: String,
    },

    /// The server stopped again right after `pg_ctl start` reported it started.
    #[error(
        "the private PostgreSQL server exited right after starting: {detail} \
         (server log {log_file})"
    )]
    Exited {
        /// The server log.
        log_file: PathBuf,
        /// The last lines of the server log, on one line.
        detail: String,
    },

    /// No randomness for the password.
    #[error("no randomness for the private PostgreSQL cluster's password: {0}")]
    Randomness(String),

    /// A statement run to tighten an older cluster failed.
    #[error("cannot tighten the private PostgreSQL cluster: {0}")]
    Sql(String),

    /// Any other file-system error.
    #[error("{action} {path}: {error}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
}

/// Permission problems are the operator's to fix; others are plain I/O errors.
pub(crate) fn directory_error(path: &Path, action: &'static str, error: io::Error) -> ClusterError {
    if error.kind() == io::ErrorKind::PermissionDenied
        || error.kind() == io::ErrorKind::ReadOnlyFilesystem
    {
        ClusterError::Directory {
            path: path.to_path_buf(),
            reason: format!("{action}: {error}"),
        }
    } else {
        io_error(action, path, error)
    }
}

pub(crate) fn io_error(action: &'static str, path: &Path, error: io::Error) -> ClusterError {
    ClusterError::Io {
        action,
        path: path.to_path_buf(),
        error,
    }
}
