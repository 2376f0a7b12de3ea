//! VAPID (RFC 8292): the key pair every instance signs push requests with, and the signed
//! token, cached per push-service origin as the finished `Authorization` header (signing is
//! an ECDSA operation; one token serves every message to that origin until shortly before
//! it expires, and a cached header costs a message one reference count).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use race_office::services::vapid_keys::{self, VapidKey};
use reqwest::header::{HeaderValue, InvalidHeaderValue};
use sea_orm::{DatabaseConnection, DbErr};
use secrecy::{ExposeSecret, SecretString};
use web_push::{
    PartialVapidSignatureBuilder, SubscriptionInfo, VapidSignature, VapidSignatureBuilder,
    WebPushError,
};

/// How long a signed token is valid (RFC 8292 allows at most 24 hours).
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// A cached token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(3600);

/// Why there is no key pair to sign with, or no signature.
#[derive(Debug, thiserror::Error)]
pub enum VapidError {
    /// The cryptographic library could not make a key pair.
    #[error("generating a P-256 key pair")]
    Generate(#[source] ece::Error),
    #[error("private key longer than 32 bytes")]
    KeyTooLong,
    /// The configured (or stored) private key is not one. The key itself is never shown.
    #[error("VAPID_PRIVATE_KEY is not a base64url P-256 private key")]
    NotAKey(#[source] WebPushError),
    #[error("signing VAPID")]
    Sign(#[source] WebPushError),
    #[error("the VAPID header")]
    Header(#[source] InvalidHeaderValue),
    /// The race office's key store (the database) failed.
    #[error("{doing} the VAPID key")]
    Store {
        /// `reading` or `storing`.
        doing: &'static str,
        #[source]
        source: DbErr,
    },
}

/// A fresh P-256 key pair: (private scalar, uncompressed public point), base64url.
pub fn generate() -> Result<(SecretString, String), VapidError> {
    let (pair, _) = ece::generate_keypair_and_auth_secret().map_err(VapidError::Generate)?;
    let components = pair.raw_components().map_err(VapidError::Generate)?;
    // The scalar may come out shorter than 32 bytes; the key format wants exactly 32.
    let scalar = components.private_key();
    let mut private = [0u8; 32];
    let offset = 32usize
        .checked_sub(scalar.len())
        .ok_or(VapidError::KeyTooLong)?;
    private[offset..].copy_from_slice(scalar);
    Ok((
        URL_SAFE_NO_PAD.encode(private).into(),
        URL_SAFE_NO_PAD.encode(components.public_key()),
    ))
}

/// The public key of a private key given as base64url.
pub fn public_key_of(private: &SecretString) -> Result<String, VapidError> {
    let builder = VapidSignatureBuilder::from_base64_no_sub(private.expose_secret())
        .map_err(VapidError::NotAKey)?;
    Ok(URL_SAFE_NO_PAD.encode(builder.get_public_key()))
}

/// The key pair in force: VAPID_PRIVATE_KEY when configured, else the one in the race
/// office's key store, generated here and stored by the first instance that starts (an
/// instance that loses that race gets the winner's key back).
pub async fn load_or_create(
    db: &DatabaseConnection,
    configured: Option<&SecretString>,
) -> Result<(SecretString, String), VapidError> {
    if let Some(private) = configured {
        let public = public_key_of(private)?;
        return Ok((private.clone(), public));
    }
    let stored = vapid_keys::stored(db)
        .await
        .map_err(|source| VapidError::Store {
            doing: "reading",
            source,
        })?;
    if let Some(key) = stored {
        return Ok((key.private_key.into(), key.public_key));
    }
    let (private, public) = generate()?;
    let candidate = VapidKey {
        private_key: private.expose_secret().to_owned(),
        public_key: public,
    };
    let key = vapid_keys::keep_first(db, Utc::now(), candidate)
        .await
        .map_err(|source| VapidError::Store {
            doing: "storing",
            source,
        })?;
    tracing::info!(public_key = %key.public_key, "generated the VAPID key pair");
    Ok((key.private_key.into(), key.public_key))
}

/// Signs VAPID tokens, one per push-service origin, and reuses them until near expiry.
pub struct VapidSigner {
    key: PartialVapidSignatureBuilder,
    subject: String,
    cache: Mutex<HashMap<String, (HeaderValue, Instant)>>,
}

impl VapidSigner {
    pub fn new(private: &SecretString, subject: String) -> Result<Self, VapidError> {
        let key = VapidSignatureBuilder::from_base64_no_sub(private.expose_secret())
            .map_err(VapidError::NotAKey)?;
        Ok(Self {
            key,
            subject,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The `Authorization` header for `origin` (scheme, host and any non-default port: the
    /// `aud` claim): `vapid t=<signed token>, k=<our public key>`.
    pub fn authorization(&self, origin: &str) -> Result<HeaderValue, VapidError> {
        let now = Instant::now();
        if let Ok(cache) = self.cache.lock()
            && let Some((header, renew_at)) = cache.get(origin)
            && now < *renew_at
        {
            return Ok(header.clone());
        }
        let signature = self.sign(origin)?;
        let header = HeaderValue::try_from(format!(
            "vapid t={}, k={}",
            signature.auth_t,
            URL_SAFE_NO_PAD.encode(&signature.auth_k)
        ))
        .map_err(VapidError::Header)?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(
                origin.to_owned(),
                (header.clone(), now + TOKEN_LIFETIME - RENEW_BEFORE),
            );
        }
        Ok(header)
    }

    fn sign(&self, origin: &str) -> Result<VapidSignature, VapidError> {
        let info = SubscriptionInfo::new(origin, "", "");
        let mut builder = self.key.clone().add_sub_info(&info);
        let expires = Utc::now().timestamp() + TOKEN_LIFETIME.as_secs() as i64;
        builder.add_claim("aud", origin);
        builder.add_claim("sub", self.subject.as_str());
        builder.add_claim("exp", expires);
        builder.build().map_err(VapidError::Sign)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_derives_the_public_key_it_came_with() {
        let (private, public) = generate().unwrap();
        assert_eq!(public_key_of(&private).unwrap(), public);
        assert_eq!(URL_SAFE_NO_PAD.decode(&public).unwrap().len(), 65);
    }

    #[test]
    fn one_token_is_signed_per_origin_and_reused() {
        let (private, _) = generate().unwrap();
        let signer = VapidSigner::new(&private, "mailto:ops@example.kz".into()).unwrap();
        let a = signer.authorization("https://fcm.googleapis.com").unwrap();
        let again = signer.authorization("https://fcm.googleapis.com").unwrap();
        let other = signer.authorization("http://127.0.0.1:9000").unwrap();
        assert_eq!(a, again);
        assert_ne!(a, other);
        let (token, key) = a
            .to_str()
            .unwrap()
            .strip_prefix("vapid t=")
            .unwrap()
            .split_once(", k=")
            .unwrap();
        assert_eq!(key, public_key_of(&private).unwrap());
        let claims = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://fcm.googleapis.com");
        assert_eq!(claims["sub"], "mailto:ops@example.kz");
    }
}
