//! A private PostgreSQL cluster for running j0 without `DATABASE_URL`.
//!
//! When no `DATABASE_URL` is configured, `j0 serve` (and the test harnesses) need a database
//! without any setup by the operator. [`PrivateCluster::start_or_reuse`] creates — once — a
//! cluster under a directory such as `./.j0/pg` from the PostgreSQL server binaries already
//! installed on the machine, starts it if it is not running, and hands back a connection URL.
//! The data survives restarts: a second call, from the same or another process, reuses it.
//!
//! Why it is shaped this way:
//!
//! * **Synchronous, `std::process` only.** It runs once, before the async runtime and the
//!   connection pool exist, and it only shells out to `initdb`, `pg_ctl` and `pg_isready`.
//!   Crates such as `pgtemp` were rejected: as root they call `sudo`, which is missing here, and
//!   they look for `initdb` only on `PATH`, while Debian keeps it in
//!   `/usr/lib/postgresql/<version>/bin`.
//! * **Unix socket only** (`listen_addresses=''`). The private server never opens a TCP port,
//!   so it cannot clash with a system server on `127.0.0.1:5432` or be reached from the
//!   network.
//! * **Closed to other local users.** The cluster holds every balance, so no other account on
//!   the host may reach it: the root and every directory in it are 0700, owned by the user the
//!   server runs as; the socket is 0700 (`unix_socket_permissions`); and every connection
//!   authenticates with `scram-sha-256` as `postgres`, with a password generated once into
//!   `<root>/password` (0600). A new cluster is created closed (`initdb --auth=scram-sha-256
//!   --pwfile`, directories made 0700); a cluster made by an older j0 with `trust` is tightened
//!   at start, under the lock: its password set, `pg_hba.conf` replaced and reloaded, and the
//!   server restarted for the socket's mode when no other client is connected (until then the
//!   0700 directories alone keep others out).
//! * **Runs as `postgres` when we are root.** PostgreSQL refuses to run as root, so the binaries
//!   are started with `runuser -u postgres --` (not `sudo`, which may be absent) after the
//!   directory tree has been handed to that user.
//! * **One process at a time.** Parallel test binaries may call it on the same directory at the
//!   same moment; an exclusive lock on `<root>/.lock` (`std::fs::File::try_lock`) serialises them,
//!   so exactly one of them runs `initdb` and starts the server and the others reuse it.
//!   `initdb` writes into a staging directory that is renamed to `data` only once it succeeded,
//!   so an interrupted `initdb` never leaves a half-made cluster behind.
//! * **One clear line on failure.** Every [`ClusterError`] displays as a single line naming what
//!   is wrong, including the failing command's stderr, and — where the operator has to act —
//!   what to do (install PostgreSQL, fix a directory's permissions, or set `DATABASE_URL`).
//!
//! Layout under the root directory (all 0700): `data/` (the cluster), `run/` (the Unix socket
//! `.s.PGSQL.5432`), `log/postgresql.log` (the server log), `password` (0600) and `.lock`.

use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The OS user and the database superuser the cluster runs as.
const PG_USER: &str = "postgres";
/// The port number; with no TCP listener it only names the socket file `.s.PGSQL.5432`.
const PORT: u16 = 5432;
/// Longest socket file path that fits in `sockaddr_un.sun_path` (108 bytes with the NUL).
const MAX_SOCKET_PATH_LEN: usize = 107;
/// Seconds `pg_ctl` waits for the server to start or stop.
const PG_CTL_TIMEOUT_SECS: u32 = 60;
/// How long a caller waits for another process holding the cluster lock.
const LOCK_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a running server may take to accept connections (e.g. crash recovery).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server reported running may leave its socket unanswered.
const NO_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Where Debian-style packages install each major version's server binaries.
const VERSIONED_BIN_ROOT: &str = "/usr/lib/postgresql";
/// Server binaries that must sit together in one directory.
const REQUIRED_BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];
/// Where system tools live when `PATH` lacks them.
const SYSTEM_DIRS: &[&str] = &["/usr/sbin", "/usr/bin", "/sbin", "/bin"];
/// Lines of the server log quoted in a start failure.
const LOG_TAIL_LINES: usize = 5;
/// Mode of every directory of the cluster and of its socket: the server's user only.
const PRIVATE_DIR_MODE: u32 = 0o700;
/// The only way in: the `postgres` role's password over the Unix socket.
const PG_HBA: &str = "# Written by j0: only password (SCRAM) logins over the private Unix socket.\n\
                      local all all scram-sha-256\n";
/// Random bytes in the generated password (hex-encoded in the file).
const PASSWORD_BYTES: usize = 32;

mod binaries;
mod errors;
mod locking;
mod process;

use binaries::*;
pub use errors::ClusterError;
use errors::*;
use locking::*;
use process::*;

/// A private PostgreSQL cluster listening only on a Unix socket under its root directory.
///
/// Obtained from [`PrivateCluster::start_or_reuse`]; dropping it leaves the server running
/// (call [`PrivateCluster::stop`] to shut it down).
#[derive(Debug, Clone)]
pub struct PrivateCluster {
    password: Password,
    root: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    bin_dir: PathBuf,
    run_as_postgres: bool,
    /// `runuser`, resolved when `run_as_postgres` (PATH may lack `/usr/sbin`).
    runuser: PathBuf,
}

/// The `postgres` role's password; `Debug` does not show it.
#[derive(Clone, Default)]
struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl PrivateCluster {
    /// Starts (or reuses, if already running) a cluster under `root` (e.g. `./.j0/pg`):
    /// data in `root/data`, Unix socket in `root/run`, server log in `root/log/postgresql.log`.
    ///
    /// Creates the directories and runs `initdb` when `root/data/PG_VERSION` is missing. When
    /// the effective user is root, the tree is handed to the `postgres` user and the binaries
    /// run as that user. Safe to call from several processes at once on the same `root`.
    ///
    /// # Errors
    ///
    /// Missing binaries, an unusable directory, or a failing `initdb`/`pg_ctl` — see
    /// [`ClusterError`].
    pub fn start_or_reuse(root: &Path) -> Result<Self, ClusterError> {
        let bin_dir = find_bin_dir()?;
        let run_as_postgres = effective_uid()? == 0;
        let runuser = if run_as_postgres {
            ensure_postgres_user()?;
            find_program("runuser", SYSTEM_DIRS).ok_or(ClusterError::NoRunuser)?
        } else {
            PathBuf::from("runuser")
        };
        let root = prepare_root(root)?;
        let socket_dir = root.join("run");

        let mut cluster = Self {
            password: Password::default(),
            data_dir: root.join("data"),
            log_file: root.join("log").join("postgresql.log"),
            socket_dir,
            root,
            bin_dir,
            run_as_postgres,
            runuser,
        };

        let _lock = ClusterLock::acquire(&cluster.root.join(".lock"))?;
        for dir in [&cluster.socket_dir, &cluster.root.join("log")] {
            create_private_dir(dir)?;
        }
        // Trees made by older versions were 0755; close them before anything else happens.
        for dir in [
            &cluster.root,
            &cluster.socket_dir,
            &cluster.root.join("log"),
        ] {
            set_mode(dir, PRIVATE_DIR_MODE)?;
        }

        let created = !cluster.data_dir.join("PG_VERSION").is_file();
        if created {
            cluster.new_password()?;
            if cluster.run_as_postgres {
                cluster.hand_to_postgres()?;
            }
            cluster.initdb()?;
        } else {
            if cluster.run_as_postgres {
                cluster.hand_to_postgres()?;
            }
            cluster.match_data_version()?;
        }

        let mut running = cluster.is_running()?;
        if running && !matches!(cluster.wait_ready()?, Readiness::Ready) {
            tracing::warn!(
                data_dir = %cluster.data_dir.display(),
                "private PostgreSQL server went away while probed; starting it again"
            );
            running = false;
        }
        match cluster.read_password()? {
            Some(password) => cluster.password = password,
            None => {
                // Made by an older j0 with `trust`: its old `pg_hba.conf` still lets the
                // postgres role in without a password, once, to set one.
                if !running {
                    cluster.start_and_wait()?;
                    running = true;
                }
                cluster.set_first_password()?;
            }
        }
        // Only now, with the password set, is `trust` replaced.
        let hba_changed = cluster.write_hba()?;
        if running && hba_changed {
            cluster.reload()?;
        }

        if running {
            cluster.close_socket()?;
            if let Readiness::Ready = cluster.wait_ready()? {
                tracing::info!(
                    data_dir = %cluster.data_dir.display(),
                    "reusing running private PostgreSQL cluster"
                );
                return Ok(cluster);
            }
            tracing::warn!(
                data_dir = %cluster.data_dir.display(),
                "private PostgreSQL server went away while probed; starting it again"
            );
        }
        cluster.start_and_wait()?;
        Ok(cluster)
    }

    /// Starts the server and waits until it accepts connections.
    fn start_and_wait(&self) -> Result<(), ClusterError> {
        self.start()?;
        match self.wait_ready()? {
            Readiness::Ready => Ok(()),
            Readiness::Gone => Err(ClusterError::Exited {
                detail: log_tail(&self.log_file).unwrap_or_else(|| "no server log".to_owned()),
                log_file: self.log_file.clone(),
            }),
        }
    }

    fn password_file(&self) -> PathBuf {
        self.root.join("password")
    }

    /// Generates the password and writes it, 0600, to `<root>/password` (for `initdb --pwfile`
    /// and for every later start).
    fn new_password(&self) -> Result<Password, ClusterError> {
        let mut bytes = [0u8; PASSWORD_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| ClusterError::Randomness(e.to_string()))?;
        let password = hex::encode(bytes);
        let path = self.password_file();
        let staged = self.root.join("password.new");
        let _ = fs::remove_file(&staged);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&staged)
            .map_err(|error| io_error("cannot create", &staged, error))?;
        file.write_all(format!("{password}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|error| io_error("cannot write", &staged, error))?;
        fs::rename(&staged, &path).map_err(|error| io_error("cannot rename to", &path, error))?;
        Ok(Password(password))
    }

    /// The password on record; `None` for a cluster an older j0 made without one.
    fn read_password(&self) -> Result<Option<Password>, ClusterError> {
        let path = self.password_file();
        match fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => {
                set_mode(&path, 0o600)?;
                Ok(Some(Password(text.trim().to_owned())))
            }
            Ok(_) => Ok(None),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(io_error("cannot read", &path, error)),
        }
    }

    /// Sets a first password on a running cluster that still trusts local connections.
    fn set_first_password(&mut self) -> Result<(), ClusterError> {
        tracing::warn!(
            data_dir = %self.data_dir.display(),
            "the private PostgreSQL cluster trusted every local connection: setting a password"
        );
        let password = self.new_password()?;
        if self.run_as_postgres {
            self.hand_to_postgres()?;
        }
        // The password is hex, so it needs no quoting beyond the literal's quotes.
        sql(
            &self.url_with(&Password::default(), "postgres"),
            &format!("ALTER ROLE {PG_USER} PASSWORD '{}'", password.0),
        )?;
        self.password = password;
        Ok(())
    }

    /// Writes j0's `pg_hba.conf` unless it is already in place; returns whether it changed.
    fn write_hba(&self) -> Result<bool, ClusterError> {
        let path = self.data_dir.join("pg_hba.conf");
        if fs::read_to_string(&path).is_ok_and(|current| current == PG_HBA) {
            return Ok(false);
        }
        // Written in place so it keeps the owner (postgres) and mode initdb gave it.
        fs::write(&path, PG_HBA).map_err(|error| io_error("cannot write", &path, error))?;
        Ok(true)
    }

    /// `pg_ctl reload`: the server rereads `pg_hba.conf`.
    fn reload(&self) -> Result<(), ClusterError> {
        let mut cmd = self.pg_command("pg_ctl");
        cmd.arg("-D").arg(&self.data_dir).arg("reload");
        run_checked(cmd)?;
        Ok(())
    }

    /// Restarts a server started by an older j0 with a world-writable socket, if no other
    /// client is connected: `unix_socket_permissions` only takes effect at start.
    fn close_socket(&self) -> Result<(), ClusterError> {
        let socket = socket_file(&self.socket_dir);
        let open = fs::metadata(&socket)
            .is_ok_and(|meta| meta.permissions().mode() & 0o777 != PRIVATE_DIR_MODE);
        if !open {
            return Ok(());
        }
        let others = sql_count(
            &self.url("postgres"),
            "SELECT count(*) FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
        )?;
        if others > 0 {
            tracing::warn!(
                socket = %socket.display(),
                clients = others,
                "the private PostgreSQL socket keeps its old mode until a start with no other \
                 client connected; its 0700 directory already closes it"
            );
            return Ok(());
        }
        tracing::info!(socket = %socket.display(), "restarting the private PostgreSQL server to close its socket");
        self.stop_locked()?;
        self.start_and_wait()
    }

    /// Connection URL for `database` as user `postgres` over the cluster's Unix socket:
    /// `postgresql://postgres@/DATABASE?host=/abs/path/run&port=5432`.
    ///
    /// The host part is left empty on purpose: `tokio-postgres` treats a host in the authority
    /// *and* a `host=` parameter as two hosts and would try TCP `localhost:5432` — possibly a
    /// system server — first. Both `tokio-postgres` and libpq (`psql`) read `host=` starting
    /// with `/` as a socket directory. The database name and path are percent-encoded.
    ///
    /// It carries the password (`postgres:<password>@`), so it is a secret: never log it.
    #[must_use]
    pub fn url(&self, database: &str) -> String {
        self.url_with(&self.password, database)
    }

    fn url_with(&self, password: &Password, database: &str) -> String {
        let credentials = if password.0.is_empty() {
            PG_USER.to_owned()
        } else {
            format!(
                "{PG_USER}:{}",
                percent_encode(password.0.as_bytes(), COMPONENT)
            )
        };
        format!(
            "postgresql://{credentials}@/{}?host={}&port={PORT}",
            percent_encode(database.as_bytes(), COMPONENT),
            percent_encode(self.socket_dir.as_os_str().as_encoded_bytes(), PATH),
        )
    }

    /// The directory holding the server's Unix socket (`.s.PGSQL.5432`).
    #[must_use]
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The cluster's data directory.
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server log file.
    #[must_use]
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// Stops the server (`pg_ctl stop -m fast`, waiting for it to exit). Does nothing when it
    /// is not running.
    ///
    /// # Errors
    ///
    /// The lock cannot be taken or `pg_ctl stop` fails.
    pub fn stop(&self) -> Result<(), ClusterError> {
        let _lock = ClusterLock::acquire(&self.root.join(".lock"))?;
        self.stop_locked()
    }

    /// [`PrivateCluster::stop`] for a caller that holds the lock.
    fn stop_locked(&self) -> Result<(), ClusterError> {
        if !self.is_running()? {
            tracing::debug!(
                data_dir = %self.data_dir.display(),
                "private PostgreSQL cluster already stopped"
            );
            return Ok(());
        }
        let mut cmd = self.pg_command("pg_ctl");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "-t"])
            .arg(PG_CTL_TIMEOUT_SECS.to_string())
            .arg("stop");
        run_checked(cmd)?;
        tracing::info!(data_dir = %self.data_dir.display(), "stopped private PostgreSQL cluster");
        Ok(())
    }

    /// A command running `program` from the bin dir, as `postgres` when we are root.
    fn pg_command(&self, program: &str) -> Command {
        let binary = self.bin_dir.join(program);
        let mut cmd = if self.run_as_postgres {
            let mut cmd = Command::new(&self.runuser);
            cmd.args(["-u", PG_USER, "--"]).arg(binary);
            cmd
        } else {
            Command::new(binary)
        };
        sanitize(&mut cmd);
        // The caller's working directory may be unreadable for `postgres` (e.g. under /root).
        cmd.current_dir(&self.root);
        cmd
    }

    /// A command running `program` (not a PostgreSQL binary) as `postgres`.
    fn as_postgres(&self, program: &str) -> Command {
        let mut cmd = Command::new(&self.runuser);
        cmd.args(["-u", PG_USER, "--"]).arg(system_program(program));
        sanitize(&mut cmd);
        cmd.current_dir("/");
        cmd
    }

    /// `chown -R` the root to `postgres`, then check that user can reach and write it.
    fn hand_to_postgres(&self) -> Result<(), ClusterError> {
        let mut chown = Command::new(system_program("chown"));
        chown.arg("-R").arg(format!("{PG_USER}:")).arg(&self.root);
        sanitize(&mut chown);
        run_checked(chown)?;

        let mut writable = self.as_postgres("test");
        writable.arg("-w").arg(&self.root);
        if succeeds(writable)? {
            return Ok(());
        }
        // Find the first ancestor the user cannot search, to name it.
        let mut ancestors: Vec<&Path> = self.root.ancestors().skip(1).collect();
        ancestors.reverse();
        for dir in ancestors {
            let mut search = self.as_postgres("test");
            search.arg("-x").arg(dir);
            if !succeeds(search)? {
                return Err(ClusterError::Directory {
                    path: dir.to_path_buf(),
                    reason: format!(
                        "the `{PG_USER}` user has no search (x) permission on it, \
                         so it cannot reach {}",
                        self.root.display()
                    ),
                });
            }
        }
        Err(ClusterError::Directory {
            path: self.root.clone(),
            reason: format!("the `{PG_USER}` user cannot write to it"),
        })
    }

    /// Runs `initdb` into a staging directory and renames it to `data` on success.
    fn initdb(&self) -> Result<(), ClusterError> {
        if self.data_dir.exists() {
            let empty = fs::read_dir(&self.data_dir)
                .map_err(|error| io_error("cannot read", &self.data_dir, error))?
                .next()
                .is_none();
            if !empty {
                return Err(ClusterError::NotADataDirectory {
                    path: self.data_dir.clone(),
                });
            }
        }
        let staging = self.root.join("data.initdb");
        if staging.exists() {
            tracing::warn!(path = %staging.display(), "removing leftover of an interrupted initdb");
            fs::remove_dir_all(&staging)
                .map_err(|error| io_error("cannot remove", &staging, error))?;
        }
        tracing::info!(
            data_dir = %self.data_dir.display(),
            bin_dir = %self.bin_dir.display(),
            "initialising private PostgreSQL cluster"
        );
        let mut cmd = self.pg_command("initdb");
        cmd.arg("-D")
            .arg(&staging)
            .args([
                "-U",
                PG_USER,
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ])
            .arg("--pwfile")
            .arg(self.password_file())
            .arg("--no-instructions");
        run_checked(cmd)?;
        // rename(2) replaces an empty `data` directory.
        fs::rename(&staging, &self.data_dir)
            .map_err(|error| io_error("cannot rename initdb output to", &self.data_dir, error))
    }

    /// Makes sure the binaries match the data directory's major version, switching to
    /// `/usr/lib/postgresql/<version>/bin` when that directory has the right ones.
    fn match_data_version(&mut self) -> Result<(), ClusterError> {
        let version_file = self.data_dir.join("PG_VERSION");
        let data_version = fs::read_to_string(&version_file)
            .map_err(|error| io_error("cannot read", &version_file, error))?
            .trim()
            .to_owned();
        let bin_version = binaries_major_version(&self.bin_dir)?;
        if bin_version == data_version {
            return Ok(());
        }
        let matching = Path::new(VERSIONED_BIN_ROOT)
            .join(&data_version)
            .join("bin");
        if has_binaries(&matching) {
            tracing::info!(
                bin_dir = %matching.display(),
                version = %data_version,
                "using the PostgreSQL binaries matching the data directory"
            );
            self.bin_dir = matching;
            return Ok(());
        }
        Err(ClusterError::VersionMismatch {
            path: self.data_dir.clone(),
            data_version,
            bin_dir: self.bin_dir.clone(),
            bin_version,
        })
    }

    /// `pg_ctl status`: exit 0 means a live postmaster owns the data directory.
    fn is_running(&self) -> Result<bool, ClusterError> {
        let mut cmd = self.pg_command("pg_ctl");
        cmd.arg("-D").arg(&self.data_dir).arg("status");
        let output = run(cmd)?;
        Ok(output.status.success())
    }

    /// `pg_ctl start`, socket only; a stale `postmaster.pid` is cleaned up by the server.
    fn start(&self) -> Result<(), ClusterError> {
        tracing::info!(
            data_dir = %self.data_dir.display(),
            socket_dir = %self.socket_dir.display(),
            "starting private PostgreSQL cluster"
        );
        // pg_ctl runs the server through `/bin/sh -c`, so the value is shell-quoted;
        // `prepare_root` rejects the characters that would break this quoting.
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c port={PORT} \
             -c unix_socket_permissions={PRIVATE_DIR_MODE:04o} \
             -c max_connections=200 -c fsync=on",
            self.socket_dir.display()
        );
        let mut cmd = self.pg_command("pg_ctl");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&self.log_file)
            .args(["-w", "-t"])
            .arg(PG_CTL_TIMEOUT_SECS.to_string())
            .arg("-o")
            .arg(options)
            .arg("start");
        match run_checked(cmd) {
            Ok(_) => Ok(()),
            Err(ClusterError::Command {
                command,
                status,
                mut stderr,
            }) => {
                if let Some(tail) = log_tail(&self.log_file) {
                    let _ = write!(stderr, "; server log {}: {tail}", self.log_file.display());
                }
                Err(ClusterError::Command {
                    command,
                    status,
                    stderr,
                })
            }
            Err(other) => Err(other),
        }
    }

    /// Waits until the server accepts connections on our socket (`pg_isready`), or reports
    /// [`Readiness::Gone`] once `pg_ctl status` no longer sees it (e.g. it was just killed).
    fn wait_ready(&self) -> Result<Readiness, ClusterError> {
        let pg_isready = self.bin_dir.join("pg_isready");
        let started = Instant::now();
        loop {
            let (ready, detail, patience) = if is_executable(&pg_isready) {
                let mut cmd = Command::new(&pg_isready);
                cmd.arg("-q").arg("-h").arg(&self.socket_dir).args([
                    "-p",
                    &PORT.to_string(),
                    "-U",
                    PG_USER,
                    "-d",
                    "postgres",
                ]);
                sanitize(&mut cmd);
                // "Rejecting" (startup, crash recovery) resolves itself in time; "no response"
                // from a live server only in the moment before its socket appears.
                match run(cmd)?.status.code() {
                    Some(0) => (true, "", Duration::ZERO),
                    Some(1) => (false, "server is rejecting connections", READY_TIMEOUT),
                    Some(2) => (false, "no response", NO_RESPONSE_TIMEOUT),
                    _ => (
                        false,
                        "pg_isready could not attempt a connection",
                        Duration::ZERO,
                    ),
                }
            } else {
                let socket = socket_file(&self.socket_dir);
                (socket.exists(), "no socket file", NO_RESPONSE_TIMEOUT)
            };
            if ready {
                return Ok(Readiness::Ready);
            }
            if !self.is_running()? {
                return Ok(Readiness::Gone);
            }
            if started.elapsed() >= patience {
                return Err(ClusterError::NotReady {
                    data_dir: self.data_dir.clone(),
                    socket_dir: self.socket_dir.clone(),
                    detail: detail.to_owned(),
                });
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Result of [`PrivateCluster::wait_ready`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Readiness {
    /// Accepting connections on the cluster's socket.
    Ready,
    /// No longer running.
    Gone,
}

/// Creates `root` and returns its canonical absolute path, after checking (before and after
/// resolving symlinks) that `pg_ctl` can quote it and the socket path fits.
fn prepare_root(root: &Path) -> Result<PathBuf, ClusterError> {
    let absolute =
        std::path::absolute(root).map_err(|error| io_error("cannot resolve", root, error))?;
    check_root_path(&absolute)?;
    // The ancestors keep the operator's modes (the server user must pass through them); the
    // root itself is private from the moment it exists.
    if let Some(parent) = absolute.parent() {
        create_dir(parent)?;
    }
    create_private_dir(&absolute)?;
    let canonical = fs::canonicalize(&absolute)
        .map_err(|error| directory_error(&absolute, "cannot resolve", error))?;
    check_root_path(&canonical)?;
    Ok(canonical)
}

fn check_root_path(root: &Path) -> Result<(), ClusterError> {
    let Some(text) = root.to_str() else {
        return Err(ClusterError::UnsupportedPath {
            path: root.to_path_buf(),
            found: "bytes that are not UTF-8".to_owned(),
        });
    };
    // pg_ctl wraps paths in double quotes for /bin/sh; we wrap the socket directory in single
    // quotes; unix_socket_directories is a comma-separated list.
    if let Some(c) = text
        .chars()
        .find(|c| matches!(c, '"' | '\'' | '\\' | '$' | '`' | ',') || c.is_control())
    {
        return Err(ClusterError::UnsupportedPath {
            path: root.to_path_buf(),
            found: format!("the character {c:?}"),
        });
    }
    let socket = socket_file(&root.join("run"));
    let len = socket.as_os_str().len();
    if len > MAX_SOCKET_PATH_LEN {
        return Err(ClusterError::SocketPathTooLong {
            path: socket,
            len,
            max: MAX_SOCKET_PATH_LEN,
        });
    }
    Ok(())
}

fn socket_file(socket_dir: &Path) -> PathBuf {
    socket_dir.join(format!(".s.PGSQL.{PORT}"))
}

fn create_dir(dir: &Path) -> Result<(), ClusterError> {
    fs::create_dir_all(dir).map_err(|error| directory_error(dir, "cannot create it", error))
}

/// Creates `dir` (its parent exists) with mode 0700 from the start, whatever the umask.
fn create_private_dir(dir: &Path) -> Result<(), ClusterError> {
    match fs::DirBuilder::new().mode(PRIVATE_DIR_MODE).create(dir) {
        Ok(()) => set_mode(dir, PRIVATE_DIR_MODE),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(error) => Err(directory_error(dir, "cannot create it", error)),
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ClusterError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|error| directory_error(path, "cannot change its mode", error))
}

/// Runs `statement` over one connection to `url`.
fn sql(url: &str, statement: &str) -> Result<(), ClusterError> {
    let statement = statement.to_owned();
    on_own_runtime(url, move |mut conn| async move {
        diesel_async::RunQueryDsl::execute(diesel::sql_query(statement), &mut conn)
            .await
            .map(|_| ())
    })
}

/// The single `count` column `query` returns, over one connection to `url`.
fn sql_count(url: &str, query: &str) -> Result<i64, ClusterError> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let query = query.to_owned();
    on_own_runtime(url, move |mut conn| async move {
        diesel_async::RunQueryDsl::get_result::<Count>(diesel::sql_query(query), &mut conn)
            .await
            .map(|c| c.count)
    })
}

/// Connects to `url` and runs `work` on a thread with its own runtime: the cluster is managed
/// synchronously, sometimes from inside another runtime, where none can be entered.
fn on_own_runtime<T, F, Fut>(url: &str, work: F) -> Result<T, ClusterError>
where
    T: Send + 'static,
    F: FnOnce(diesel_async::AsyncPgConnection) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = diesel::QueryResult<T>>,
{
    use diesel_async::AsyncConnection;
    let url = url.to_owned();
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClusterError::Sql(e.to_string()))?;
        runtime.block_on(async move {
            let conn = diesel_async::AsyncPgConnection::establish(&url)
                .await
                .map_err(|e| ClusterError::Sql(with_sources(&e)))?;
            work(conn)
                .await
                .map_err(|e| ClusterError::Sql(with_sources(&e)))
        })
    })
    .join()
    .map_err(|_| ClusterError::Sql("the connection thread panicked".to_owned()))?
}

/// Everything but RFC 3986 unreserved characters is encoded in URL parts.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// A socket directory keeps its slashes.
const PATH: &AsciiSet = &COMPONENT.remove(b'/');

fn percent_encode(bytes: &[u8], set: &'static AsciiSet) -> String {
    percent_encoding::percent_encode(bytes, set).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn cluster_at(root: &Path) -> PrivateCluster {
        PrivateCluster {
            password: Password::default(),
            root: root.to_path_buf(),
            data_dir: root.join("data"),
            socket_dir: root.join("run"),
            log_file: root.join("log").join("postgresql.log"),
            bin_dir: find_bin_dir().unwrap_or_default(),
            run_as_postgres: effective_uid().is_ok_and(|uid| uid == 0),
            runuser: system_program("runuser"),
        }
    }

    /// Stops whatever cluster a test started under `base` and removes the directory, even
    /// when the test panics.
    struct Cleanup {
        base: PathBuf,
    }

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let root = self.base.join("pg");
            if root.join("data").join("postmaster.pid").exists() {
                let _ = cluster_at(&root).stop();
            }
            let _ = fs::remove_dir_all(&self.base);
        }
    }

    fn unique_base() -> Result<PathBuf, Box<dyn std::error::Error>> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .subsec_nanos();
        Ok(std::env::temp_dir().join(format!("j0-cluster-test-{}-{nanos}", std::process::id())))
    }

    fn mode(path: &Path) -> Result<u32, io::Error> {
        Ok(fs::metadata(path)?.permissions().mode() & 0o777)
    }

    /// Nothing of the cluster is open to other users, and the socket wants the password.
    fn assert_closed(cluster: &PrivateCluster) -> TestResult {
        for dir in [
            cluster.root.clone(),
            cluster.data_dir.clone(),
            cluster.socket_dir.clone(),
            cluster.root.join("log"),
        ] {
            assert_eq!(mode(&dir)?, 0o700, "{}", dir.display());
        }
        assert_eq!(mode(&socket_file(&cluster.socket_dir))?, 0o700);
        assert_eq!(mode(&cluster.password_file())?, 0o600);
        assert_eq!(
            sql_count(&cluster.url("postgres"), "SELECT 1::bigint AS count")?,
            1
        );
        let refused = sql(
            &cluster.url_with(&Password::default(), "postgres"),
            "SELECT 1",
        );
        // The client will not even try without one: the server asked for a password.
        assert!(matches!(refused, Err(ClusterError::Sql(_))), "{refused:?}");
        let wrong = sql(
            &cluster.url_with(&Password("not-it".to_owned()), "postgres"),
            "SELECT 1",
        );
        assert!(
            matches!(&wrong, Err(ClusterError::Sql(e)) if e.contains("password authentication failed")),
            "{wrong:?}"
        );
        let hba = fs::read_to_string(cluster.data_dir.join("pg_hba.conf"))?;
        assert!(!hba.contains("trust"), "{hba}");
        Ok(())
    }

    fn postmaster_pid(cluster: &PrivateCluster) -> Result<String, io::Error> {
        let text = fs::read_to_string(cluster.data_dir().join("postmaster.pid"))?;
        Ok(text.lines().next().unwrap_or_default().to_owned())
    }

    #[test]
    fn url_names_the_socket_directory_and_no_tcp_host() {
        let cluster = cluster_at(Path::new("/tmp/a b/pg"));
        assert_eq!(
            cluster.url("j0 test/db"),
            "postgresql://postgres@/j0%20test%2Fdb?host=/tmp/a%20b/pg/run&port=5432"
        );
    }

    #[test]
    fn major_version_follows_pg_version_file_format() {
        assert_eq!(major_version("15.14"), "15");
        assert_eq!(major_version("9.6.24"), "9.6");
        assert_eq!(major_version("16beta1"), "16");
        assert_eq!(parse_version("15"), Some(vec![15]));
        assert_eq!(parse_version("9.6"), Some(vec![9, 6]));
        assert_eq!(parse_version("main"), None);
    }

    #[test]
    fn unusable_paths_give_one_line_errors() {
        let long = Path::new("/tmp").join("x".repeat(100));
        let err = check_root_path(&long).err();
        assert!(matches!(
            err,
            Some(ClusterError::SocketPathTooLong { len: 123, .. })
        ));

        let quoted = check_root_path(Path::new("/tmp/it's")).err();
        assert!(matches!(quoted, Some(ClusterError::UnsupportedPath { .. })));

        for err in [err, quoted, Some(ClusterError::BinariesNotFound)]
            .into_iter()
            .flatten()
        {
            let text = err.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(text.contains("DATABASE_URL"), "{text}");
        }
        assert!(check_root_path(Path::new("/tmp/j0/.j0/pg")).is_ok());
    }

    #[test]
    fn command_output_is_flattened_to_one_line() {
        assert_eq!(one_line("  a\n\n b \n"), "a | b");
    }

    /// Needs PostgreSQL server binaries; takes about two seconds.
    #[test]
    fn concurrent_start_then_reuse_then_stop() -> TestResult {
        let base = unique_base()?;
        let _cleanup = Cleanup { base: base.clone() };
        let root = base.join("pg");

        let handles: Vec<_> = (0..4)
            .map(|_| {
                let root = root.clone();
                thread::spawn(move || PrivateCluster::start_or_reuse(&root))
            })
            .collect();
        let mut clusters = Vec::new();
        for handle in handles {
            clusters.push(handle.join().map_err(|_| "start_or_reuse panicked")??);
        }
        let first = &clusters[0];
        let url = first.url("postgres");
        assert!(clusters.iter().all(|c| c.url("postgres") == url));
        assert!(!first.root.join("data.initdb").exists());
        assert_closed(first)?;

        let psql = first.bin_dir.join("psql");
        let psql = if is_executable(&psql) {
            psql
        } else {
            PathBuf::from("psql")
        };
        let mut cmd = Command::new(psql);
        cmd.args(["-XAtq", &url, "-c", "show data_directory"]);
        sanitize(&mut cmd);
        let output = cmd.output()?;
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let data_dir = String::from_utf8_lossy(&output.stdout);
        assert_eq!(Path::new(data_dir.trim()), first.data_dir());

        let pid = postmaster_pid(first)?;
        let again = PrivateCluster::start_or_reuse(&root)?;
        assert_eq!(postmaster_pid(&again)?, pid);

        again.stop()?;
        assert!(!again.data_dir().join("postmaster.pid").exists());
        again.stop()?;
        Ok(())
    }

    /// What j0 made before clusters were closed: 0755 directories, `trust` for every local
    /// connection and a world-writable socket; the next start closes all of it.
    #[test]
    fn a_cluster_an_older_version_left_open_is_closed_at_start() -> TestResult {
        let base = unique_base()?;
        let _cleanup = Cleanup { base: base.clone() };
        let root = base.join("pg");
        for dir in [root.join("run"), root.join("log")] {
            fs::create_dir_all(&dir)?;
        }
        for dir in [root.clone(), root.join("run"), root.join("log")] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        }
        let old = cluster_at(&fs::canonicalize(&root)?);
        if old.run_as_postgres {
            old.hand_to_postgres()?;
        }
        let mut initdb = old.pg_command("initdb");
        initdb.arg("-D").arg(old.data_dir()).args([
            "-U",
            PG_USER,
            "--auth=trust",
            "--no-instructions",
        ]);
        run_checked(initdb)?;
        let mut start = old.pg_command("pg_ctl");
        start
            .arg("-D")
            .arg(old.data_dir())
            .arg("-l")
            .arg(old.log_file())
            .args(["-w", "-o"])
            .arg(format!(
                "-c listen_addresses='' -c unix_socket_directories='{}' -c port={PORT}",
                old.socket_dir().display()
            ))
            .arg("start");
        run_checked(start)?;
        assert_eq!(mode(&socket_file(old.socket_dir()))?, 0o777);
        let old_pid = postmaster_pid(&old)?;

        let cluster = PrivateCluster::start_or_reuse(&root)?;
        assert_closed(&cluster)?;
        assert_ne!(
            postmaster_pid(&cluster)?,
            old_pid,
            "restarted for the socket's mode"
        );

        let again = PrivateCluster::start_or_reuse(&root)?;
        assert_eq!(again.url("postgres"), cluster.url("postgres"));
        assert_eq!(postmaster_pid(&again)?, postmaster_pid(&cluster)?);
        Ok(())
    }
}
