//! The state directory (`J0_STATE_DIR`, `./.j0`): the generated JWT secret and the private
//! cluster live in it, so nobody but j0 may list or read it.
//!
//! It is 0711, not 0700: when j0 runs as root the private cluster runs as `postgres`, which must
//! pass through it to reach its own `pg/` (0700, owned by `postgres`). Others may pass through
//! too, but every entry inside is closed to them (`jwt_secret` 0600, `pg/` 0700), and without
//! read permission they cannot list what is there.

use std::{
    fs,
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::Path,
};

use anyhow::Context;

const MODE: u32 = 0o711;

/// Creates `dir` closed, or closes one an older version left 0755.
pub fn prepare(dir: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(MODE)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(MODE))
        .with_context(|| format!("closing {} to other users", dir.display()))
}
