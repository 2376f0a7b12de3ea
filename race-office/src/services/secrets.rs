//! Opaque tokens and password hashes. Tokens are random and stored only as their SHA-256;
//! passwords as argon2id PHC strings.
//!
//! Each argon2id hash or verification takes 19 MiB for its duration, so they run under a
//! semaphore: at most as many at once in the process as [`limit_password_hashing`] was
//! given (`PASSWORD_HASH_CONCURRENCY`; by default twice the cores, which keeps every core
//! busy). A burst of sign-ins waits for permits instead of growing the process by 19 MiB
//! per request.

use std::sync::{Arc, RwLock};

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Hashing permits: `None` until configured, then the configured semaphore. Replaced, not
/// resized, when configured again; hashes holding a permit of the old one finish as they
/// were.
static HASHING: RwLock<Option<Arc<Semaphore>>> = RwLock::new(None);

/// Twice the cores this process may use.
pub fn default_hashing_limit() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
}

/// Sets how many password hashes may run at once (at least one).
pub fn limit_password_hashing(concurrency: usize) {
    let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
    *HASHING
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(semaphore);
}

fn hashing_permits() -> Arc<Semaphore> {
    if let Some(semaphore) = HASHING
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .as_ref()
    {
        return semaphore.clone();
    }
    let mut slot = HASHING
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    slot.get_or_insert_with(|| Arc::new(Semaphore::new(default_hashing_limit())))
        .clone()
}

/// Runs `work` (an argon2 hash) on the blocking threads once a hashing permit is free.
async fn hash_limited<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    run_limited(hashing_permits(), work).await
}

async fn run_limited<T: Send + 'static>(
    permits: Arc<Semaphore>,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let permit = permits
        .acquire_owned()
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("hashing permits closed")))?;
    tokio::task::spawn_blocking(move || {
        let done = work();
        drop(permit);
        done
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("hashing task")))?
}

/// A fresh 256-bit token, URL-safe, with a prefix that makes leaked tokens easy to grep.
pub fn new_token(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What we store in place of a token: a lookup by hash needs no slow KDF because the
/// token already carries 256 bits of entropy.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes a password with argon2id off the async threads (it is deliberately slow),
/// once a hashing permit is free.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    hash_limited(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("hashing password")))
    })
    .await
}

/// Checks a password against a stored hash; with no stored hash it still does the work,
/// so that response time does not tell which emails have accounts.
pub async fn verify_password(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    hash_limited(move || {
        let hasher = Argon2::default();
        match stored {
            Some(stored) if PasswordHash::new(&stored).is_ok() => {
                let parsed = PasswordHash::new(&stored).map_err(|e| {
                    ApiError::Internal(anyhow::Error::new(e).context("stored hash unreadable"))
                })?;
                Ok(hasher.verify_password(password.as_bytes(), &parsed).is_ok())
            }
            // No account, or one that cannot sign in with a password (load-test runners).
            _ => {
                let salt = SaltString::generate(&mut OsRng);
                let _ = hasher.hash_password(password.as_bytes(), &salt);
                Ok(false)
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_to_hex() {
        let (a, b) = (new_token("rdg"), new_token("rdg"));
        assert_ne!(a, b);
        assert!(a.starts_with("rdg_") && a.len() == 4 + 43);
        assert_eq!(hash_token(&a).len(), 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[tokio::test]
    async fn a_password_verifies_only_against_its_own_hash() {
        let hash = hash_password("correct horse battery".into()).await.ok();
        assert!(hash.as_deref().is_some_and(|h| h.starts_with("$argon2id$")));
        assert_eq!(
            verify_password("correct horse battery".into(), hash.clone())
                .await
                .ok(),
            Some(true)
        );
        assert_eq!(
            verify_password("wrong horse battery".into(), hash)
                .await
                .ok(),
            Some(false)
        );
        assert_eq!(
            verify_password("anything at all".into(), None).await.ok(),
            Some(false)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_hashes_run_at_once_than_there_are_permits() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let permits = Arc::new(Semaphore::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let hashes = (0..12).map(|_| {
            let (running, peak) = (running.clone(), peak.clone());
            run_limited(permits.clone(), move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            })
        });
        let done = futures_util::future::join_all(hashes).await;
        assert!(done.iter().all(Result::is_ok));
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_default_limit_is_twice_the_cores() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(default_hashing_limit(), 2 * cores);
    }
}
