//! Running the binaries: as `postgres` when we are root, with a clean environment, failing
//! with the command and its stderr in one line.

use super::*;

/// Effective uid, from `/proc/self/status` or else `id -u`.
pub(crate) fn effective_uid() -> Result<u32, ClusterError> {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        let euid = status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .and_then(|euid| euid.parse().ok());
        if let Some(euid) = euid {
            return Ok(euid);
        }
    }
    let mut cmd = Command::new(system_program("id"));
    cmd.arg("-u");
    let output = run_checked(cmd)?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| ClusterError::Command {
            command: "id -u".to_owned(),
            status: "exit status: 0".to_owned(),
            stderr: "unexpected output".to_owned(),
        })
}

pub(crate) fn ensure_postgres_user() -> Result<(), ClusterError> {
    let mut cmd = Command::new(system_program("id"));
    cmd.args(["-u", PG_USER]);
    if succeeds(cmd)? {
        Ok(())
    } else {
        Err(ClusterError::NoPostgresUser)
    }
}

/// Clears `PG*` variables (PGPORT, PGHOST, PGDATA …) that would redirect the tools, and makes
/// their messages English so errors read the same everywhere.
pub(crate) fn sanitize(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.as_encoded_bytes().starts_with(b"PG") {
            cmd.env_remove(key);
        }
    }
    cmd.env("LC_ALL", "C").stdin(Stdio::null());
}

/// Runs `cmd` to completion, capturing its output.
pub(crate) fn run(mut cmd: Command) -> Result<Output, ClusterError> {
    tracing::debug!(command = %command_line(&cmd), "running");
    cmd.output().map_err(|error| ClusterError::Spawn {
        program: cmd.get_program().to_string_lossy().into_owned(),
        error,
    })
}

/// Runs `cmd`; a non-zero exit becomes [`ClusterError::Command`] carrying its stderr.
pub(crate) fn run_checked(cmd: Command) -> Result<Output, ClusterError> {
    let line = command_line(&cmd);
    let output = run(cmd)?;
    if output.status.success() {
        return Ok(output);
    }
    let mut stderr = one_line(&String::from_utf8_lossy(&output.stderr));
    if stderr.is_empty() {
        stderr = one_line(&String::from_utf8_lossy(&output.stdout));
    }
    Err(ClusterError::Command {
        command: line,
        status: output.status.to_string(),
        stderr,
    })
}

pub(crate) fn succeeds(cmd: Command) -> Result<bool, ClusterError> {
    Ok(run(cmd)?.status.success())
}

pub(crate) fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `error: source: source…` on one line (a refused login says why only in its sources).
pub(crate) fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let _ = write!(text, ": {e}");
        source = e.source();
    }
    text
}

/// Trimmed, non-empty lines joined with " | ".
pub(crate) fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The last few lines of the server log, on one line.
pub(crate) fn log_tail(log_file: &Path) -> Option<String> {
    let text = fs::read_to_string(log_file).ok()?;
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join(" | ");
    (!tail.is_empty()).then_some(tail)
}
