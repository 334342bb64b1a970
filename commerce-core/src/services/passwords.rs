//! Password hashing with argon2id, off the async executor and bounded.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{self, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordVerifier, Version};
use tokio::sync::{OnceCell, Semaphore};

use crate::domain::{Password, PasswordHash};
use crate::error::{Error, Result};

/// OWASP's recommended argon2id parameters: 19 MiB of memory, two passes, one lane.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

/// Hashes and verifies passwords on the blocking thread pool.
///
/// Each hash takes tens of milliseconds of one core and 19 MiB, so at most one runs per core at
/// a time; more would only queue in memory. Logins per second are bounded by this, by design.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    dummy_hash: Arc<OnceCell<PasswordHash>>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl PasswordHasher {
    /// A hasher running as many hashes at once as there are cores.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            permits: Arc::new(Semaphore::new(cores)),
            dummy_hash: Arc::new(OnceCell::new()),
        }
    }

    /// The argon2id hash of `password` with a fresh random salt.
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash> {
        let password = password.expose().to_owned();
        self.run(move |argon| {
            let salt = SaltString::generate(&mut OsRng);
            use argon2::PasswordHasher as _;
            let phc = argon.hash_password(password.as_bytes(), &salt)?.to_string();
            Ok(PasswordHash::from_phc(phc))
        })
        .await
    }

    /// Whether `password` matches `hash`.
    pub async fn verify(&self, password: &str, hash: &PasswordHash) -> Result<bool> {
        let password = password.to_owned();
        let phc = hash.as_phc().to_owned();
        self.run(move |argon| {
            let parsed = password_hash::PasswordHash::new(&phc)?;
            Ok(argon.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
    }

    /// Spends the same time as [`verify`](Self::verify) against a real hash and answers false:
    /// used when the user does not exist, so timing does not reveal which usernames do.
    pub async fn verify_nothing(&self, password: &str) -> Result<bool> {
        let dummy = self
            .dummy_hash
            .get_or_try_init(|| async {
                let password = Password::parse("dummy password for timing", "")
                    .map_err(|e| Error::backend("argon2", e))?;
                self.hash(&password).await
            })
            .await?
            .clone();
        self.verify(password, &dummy).await?;
        Ok(false)
    }

    async fn run<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&Argon2<'static>) -> Result<T, password_hash::Error> + Send + 'static,
        T: Send + 'static,
    {
        // The permit moves into the blocking task: a request abandoned mid-hash must not free
        // its core while the hash still runs.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::backend("argon2", e))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)?;
            work(&Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
        })
        .await
        .map_err(|e| Error::backend("argon2", e))?
        .map_err(|e| Error::backend("argon2", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_owasp_parameters_and_verifies() {
        let hasher = PasswordHasher::new();
        let password = Password::parse("testpassword", "testuser").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.verify("testpassword", &hash).await.unwrap());
        assert!(!hasher.verify("wrongpassword", &hash).await.unwrap());
        assert!(!hasher.verify_nothing("testpassword").await.unwrap());
    }
}
