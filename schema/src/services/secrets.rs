//! Opaque tokens and password hashes. Tokens are random and stored only as their SHA-256;
//! passwords as argon2id PHC strings.

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

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

/// Hashes a password with argon2id off the async threads (it is deliberately slow).
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| ApiError::Internal(format!("hashing password: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("hashing task: {e}")))?
}

/// Checks a password against a stored hash; with no stored hash it still does the work,
/// so that response time does not tell which emails have accounts.
pub async fn verify_password(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let hasher = Argon2::default();
        match stored {
            Some(stored) if PasswordHash::new(&stored).is_ok() => {
                let parsed = PasswordHash::new(&stored)
                    .map_err(|e| ApiError::Internal(format!("stored hash unreadable: {e}")))?;
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
    .map_err(|e| ApiError::Internal(format!("hashing task: {e}")))?
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
}
