//! Finding the PostgreSQL server binaries installed on the machine, and their version.

use super::*;

/// Directory holding `initdb`, `pg_ctl` and `postgres`: `PATH` first, then the highest
/// version under `/usr/lib/postgresql/*/bin`.
pub(crate) fn find_bin_dir() -> Result<PathBuf, ClusterError> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if !is_executable(&initdb) {
                continue;
            }
            // Prefer the real directory behind a symlink such as /usr/local/bin/initdb.
            let real_dir = fs::canonicalize(&initdb)
                .ok()
                .and_then(|real| real.parent().map(Path::to_path_buf));
            for candidate in real_dir.into_iter().chain(std::iter::once(dir.clone())) {
                if candidate.is_absolute() && has_binaries(&candidate) {
                    return Ok(candidate);
                }
            }
        }
    }
    let mut versioned: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(VERSIONED_BIN_ROOT)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = parse_version(&entry.file_name().to_string_lossy())?;
            let bin = entry.path().join("bin");
            has_binaries(&bin).then_some((version, bin))
        })
        .collect();
    versioned.sort();
    versioned
        .pop()
        .map(|(_, bin)| bin)
        .ok_or(ClusterError::BinariesNotFound)
}

/// `name` on `PATH`, else in the first of `fallback_dirs` that has it.
pub(crate) fn find_program(name: &str, fallback_dirs: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .chain(fallback_dirs.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// A system tool (`chown`, `id`, `test`) by absolute path when it can be found.
pub(crate) fn system_program(name: &str) -> PathBuf {
    find_program(name, SYSTEM_DIRS).unwrap_or_else(|| PathBuf::from(name))
}

/// `"15"` → `[15]`, `"9.6"` → `[9, 6]`; `None` for anything else.
pub(crate) fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

pub(crate) fn has_binaries(dir: &Path) -> bool {
    REQUIRED_BINARIES
        .iter()
        .all(|name| is_executable(&dir.join(name)))
}

pub(crate) fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Major version of the binaries in `bin_dir` as written in `PG_VERSION` (`15`, `9.6`).
pub(crate) fn binaries_major_version(bin_dir: &Path) -> Result<String, ClusterError> {
    let mut cmd = Command::new(bin_dir.join("pg_ctl"));
    cmd.arg("--version");
    sanitize(&mut cmd);
    let output = run_checked(cmd)?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "pg_ctl (PostgreSQL) 15.14 (Debian 15.14-1.pgdg12+1)"
    let full = text
        .split_once(')')
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default();
    Ok(major_version(full))
}

/// `"15.14"` → `"15"`, `"9.6.24"` → `"9.6"`, `"16beta1"` → `"16"`.
pub(crate) fn major_version(full: &str) -> String {
    let digits_end = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let mut parts = full.split('.');
    let first = parts.next().unwrap_or_default();
    let first = &first[..digits_end(first)];
    match first.parse::<u32>() {
        Ok(major) if major < 10 => match parts.next() {
            Some(minor) => format!("{first}.{}", &minor[..digits_end(minor)]),
            None => first.to_owned(),
        },
        _ => first.to_owned(),
    }
}
