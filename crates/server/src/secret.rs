//! The JWT secret: from `J0_JWT_SECRET`, or generated once and kept in `<state>/jwt_secret`.

use std::{
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
};

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};

use j0_api::token::MIN_SECRET_BYTES;

/// The secret saved at `path`, if there is one.
fn read_saved(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match fs::read_to_string(path) {
        Ok(secret) if secret.trim().len() >= MIN_SECRET_BYTES => {
            Ok(Some(secret.trim().as_bytes().to_vec()))
        }
        Ok(_) => bail!(
            "{} is shorter than {MIN_SECRET_BYTES} bytes; delete it or set J0_JWT_SECRET",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The secret to sign tokens with.
pub fn load(configured: Option<&SecretString>, state_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured.map(ExposeSecret::expose_secret) {
        if secret.len() < MIN_SECRET_BYTES {
            bail!(
                "J0_JWT_SECRET is {} bytes; it must be at least {MIN_SECRET_BYTES} bytes",
                secret.len()
            );
        }
        return Ok(secret.as_bytes().to_vec());
    }
    let path = state_dir.join("jwt_secret");
    if let Some(secret) = read_saved(&path)? {
        return Ok(secret);
    }
    crate::state_dir::prepare(state_dir)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no randomness for the JWT secret: {e}"))?;
    let secret = hex::encode(bytes);
    // Written whole under a name of its own, then linked into place: an instance starting at the
    // same moment either wins the link or reads the complete secret of the one that did.
    let draft = state_dir.join(format!("jwt_secret.{}.tmp", hex::encode(&bytes[..8])));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&draft)
        .with_context(|| format!("creating {}", draft.display()))?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    fs::set_permissions(&draft, fs::Permissions::from_mode(0o600))?;
    let linked = fs::hard_link(&draft, &path);
    let _ = fs::remove_file(&draft);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return read_saved(&path)?
                .with_context(|| format!("{} vanished while starting", path.display()));
        }
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    }
    tracing::warn!(
        path = %path.display(),
        "J0_JWT_SECRET is not set: generated a secret and saved it; set J0_JWT_SECRET in production"
    );
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_starting_together_share_one_secret() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let state = dir.path().join("state");
            let barrier = std::sync::Barrier::new(8);
            let secrets: Vec<Vec<u8>> = std::thread::scope(|scope| {
                let starts: Vec<_> = (0..8)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            load(None, &state).unwrap()
                        })
                    })
                    .collect();
                starts.into_iter().map(|s| s.join().unwrap()).collect()
            });
            assert!(
                secrets.windows(2).all(|w| w[0] == w[1]),
                "one secret for all"
            );
            assert_eq!(load(None, &state).unwrap(), secrets[0]);
            let leftovers = fs::read_dir(&state).unwrap().count();
            assert_eq!(leftovers, 1, "only jwt_secret is left");
        }
    }
}
