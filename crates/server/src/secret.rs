//! The JWT secret: from `J0_JWT_SECRET`, or generated once and kept in `<state>/jwt_secret`.

use std::{
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
};

use anyhow::{Context, bail};

use j0_api::token::MIN_SECRET_BYTES;

/// The secret to sign tokens with.
pub fn load(configured: Option<&str>, state_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        if secret.len() < MIN_SECRET_BYTES {
            bail!(
                "J0_JWT_SECRET is {} bytes; it must be at least {MIN_SECRET_BYTES} bytes",
                secret.len()
            );
        }
        return Ok(secret.as_bytes().to_vec());
    }
    let path = state_dir.join("jwt_secret");
    match fs::read_to_string(&path) {
        Ok(secret) if secret.trim().len() >= MIN_SECRET_BYTES => {
            return Ok(secret.trim().as_bytes().to_vec());
        }
        Ok(_) => bail!(
            "{} is shorter than {MIN_SECRET_BYTES} bytes; delete it or set J0_JWT_SECRET",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    crate::state_dir::prepare(state_dir)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no randomness for the JWT secret: {e}"))?;
    let secret = hex::encode(bytes);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    tracing::warn!(
        path = %path.display(),
        "J0_JWT_SECRET is not set: generated a secret and saved it; set J0_JWT_SECRET in production"
    );
    Ok(secret.into_bytes())
}
