//! One process at a time: an exclusive lock on `<root>/.lock`.

use super::*;

/// An exclusive lock on `<root>/.lock`, released on drop.
pub(crate) struct ClusterLock {
    file: File,
}

impl ClusterLock {
    pub(crate) fn acquire(path: &Path) -> Result<Self, ClusterError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|error| directory_error(path, "cannot open lock file", error))?;
        let started = Instant::now();
        let mut announced = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { file }),
                Err(TryLockError::WouldBlock) => {
                    if started.elapsed() >= LOCK_TIMEOUT {
                        return Err(ClusterError::LockTimeout {
                            path: path.to_path_buf(),
                            secs: LOCK_TIMEOUT.as_secs(),
                        });
                    }
                    if !announced {
                        tracing::debug!(
                            lock = %path.display(),
                            "waiting for another process using the private PostgreSQL cluster"
                        );
                        announced = true;
                    }
                    thread::sleep(Duration::from_millis(50));
                }
                Err(TryLockError::Error(error)) => {
                    return Err(io_error("cannot lock", path, error));
                }
            }
        }
    }
}

impl Drop for ClusterLock {
    fn drop(&mut self) {
        // Closing the file releases the lock as well; unlocking first just makes it explicit.
        let _ = self.file.unlock();
    }
}
