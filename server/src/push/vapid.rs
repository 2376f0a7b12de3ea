//! VAPID (RFC 8292): the key pair every instance signs push requests with, and the signed
//! token, cached per push-service origin as the finished `Authorization` header (signing is
//! an ECDSA operation; one token serves every message to that origin until shortly before
//! it expires, and a cached header costs a message one reference count).
//!
//! The token is a JWT signed with ES256 (RFC 7515 §A.3: the signature is r‖s, 64 bytes),
//! made here with `p256` rather than a JWT library: the claims are three and fixed, and the
//! web-push crate's JWT stack drew in OpenSSL and an RSA implementation nothing here needs.
//! The key format is the one web-push read and the database keeps: the private scalar as
//! 32 bytes of base64url, the public key as the uncompressed point (65 bytes) in base64url.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use race_office::services::vapid_keys::{self, VapidKey};
use reqwest::header::{HeaderValue, InvalidHeaderValue};
use ring::rand::{SecureRandom, SystemRandom};
use sea_orm::{DatabaseConnection, DbErr};
use secrecy::{ExposeSecret, SecretString};

/// How long a signed token is valid (RFC 8292 allows at most 24 hours).
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// A cached token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(3600);
/// The JOSE header of every token, already base64url: `{"typ":"JWT","alg":"ES256"}`.
const JWT_HEADER: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9";

/// Why there is no key pair to sign with, or no signature.
#[derive(Debug, thiserror::Error)]
pub enum VapidError {
    /// The system's random source failed.
    #[error("generating a P-256 key pair: no randomness")]
    Generate,
    /// The configured (or stored) private key is not base64url. The key itself is never
    /// shown.
    #[error("the VAPID private key is not base64url")]
    NotBase64(#[source] base64::DecodeError),
    /// It decodes, but not to a P-256 private scalar (24 to 32 bytes, in range).
    #[error("the VAPID private key is not a P-256 private key")]
    NotAKey(#[source] p256::ecdsa::Error),
    #[error("signing VAPID")]
    Sign(#[source] p256::ecdsa::Error),
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
    let random = SystemRandom::new();
    // 32 random bytes are a valid scalar unless zero or at least the group order, a chance
    // of about 2^-32; draw again then.
    for _ in 0..8 {
        let mut scalar = [0u8; 32];
        random.fill(&mut scalar).map_err(|_| VapidError::Generate)?;
        if let Ok(key) = SigningKey::from_slice(&scalar) {
            return Ok((
                URL_SAFE_NO_PAD.encode(key.to_bytes()).into(),
                public_key(&key),
            ));
        }
    }
    Err(VapidError::Generate)
}

/// The public key of a private key given as base64url.
pub fn public_key_of(private: &SecretString) -> Result<String, VapidError> {
    Ok(public_key(&signing_key(private)?))
}

fn signing_key(private: &SecretString) -> Result<SigningKey, VapidError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(private.expose_secret().trim())
        .map_err(VapidError::NotBase64)?;
    SigningKey::from_slice(&bytes).map_err(VapidError::NotAKey)
}

/// The uncompressed point (0x04, x, y) in base64url: what browsers take as
/// `applicationServerKey` and push services read in `k=`.
fn public_key(key: &SigningKey) -> String {
    URL_SAFE_NO_PAD.encode(key.verifying_key().to_encoded_point(false).as_bytes())
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
    key: SigningKey,
    /// `k=`: the public key, base64url.
    public_key: String,
    subject: String,
    cache: Mutex<HashMap<String, (HeaderValue, Instant)>>,
}

impl VapidSigner {
    pub fn new(private: &SecretString, subject: String) -> Result<Self, VapidError> {
        let key = signing_key(private)?;
        Ok(Self {
            public_key: public_key(&key),
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
        let expires = Utc::now().timestamp() + TOKEN_LIFETIME.as_secs() as i64;
        let token = self.token(origin, expires)?;
        let header = HeaderValue::try_from(format!("vapid t={token}, k={}", self.public_key))
            .map_err(VapidError::Header)?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(
                origin.to_owned(),
                (header.clone(), now + TOKEN_LIFETIME - RENEW_BEFORE),
            );
        }
        Ok(header)
    }

    /// The JWT: header, claims (`aud`, `exp`, `sub`) and the ES256 signature over the two,
    /// each base64url, joined by dots.
    fn token(&self, origin: &str, expires: i64) -> Result<String, VapidError> {
        let claims = serde_json::json!({ "aud": origin, "exp": expires, "sub": self.subject });
        let signing_input = format!(
            "{JWT_HEADER}.{}",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: Signature = self
            .key
            .try_sign(signing_input.as_bytes())
            .map_err(VapidError::Sign)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// RFC 8291, Appendix A: the application server's key pair, as printed there, in the
    /// format the database keeps.
    const RFC_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const RFC_PUBLIC: &str =
        "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";

    fn decode_json(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    /// `(token, k)` of an `Authorization: vapid t=…, k=…` header.
    fn token_and_key(header: &HeaderValue) -> (String, String) {
        let (token, key) = header
            .to_str()
            .unwrap()
            .strip_prefix("vapid t=")
            .unwrap()
            .split_once(", k=")
            .unwrap();
        (token.to_owned(), key.to_owned())
    }

    #[test]
    fn a_generated_key_derives_the_public_key_it_came_with() {
        let (private, public) = generate().unwrap();
        assert_eq!(public_key_of(&private).unwrap(), public);
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(private.expose_secret())
                .unwrap()
                .len(),
            32
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(&public).unwrap().len(), 65);
    }

    #[test]
    fn a_key_in_the_stored_format_gives_the_public_key_printed_in_the_rfc() {
        assert_eq!(public_key_of(&RFC_PRIVATE.into()).unwrap(), RFC_PUBLIC);
    }

    #[test]
    fn keys_are_read_and_made_as_the_web_push_crate_did() {
        // The web-push crate made and read the keys the database already holds; it reads
        // ours and derives the same public key from them, and we read its.
        let (private, public) = generate().unwrap();
        let theirs = web_push::VapidSignatureBuilder::from_base64_no_sub(private.expose_secret())
            .unwrap()
            .get_public_key();
        assert_eq!(URL_SAFE_NO_PAD.encode(theirs), public);
        let (pair, _) = ece::generate_keypair_and_auth_secret().unwrap();
        let components = pair.raw_components().unwrap();
        let mut scalar = [0u8; 32];
        scalar[32 - components.private_key().len()..].copy_from_slice(components.private_key());
        assert_eq!(
            public_key_of(&URL_SAFE_NO_PAD.encode(scalar).into()).unwrap(),
            URL_SAFE_NO_PAD.encode(components.public_key())
        );
    }

    #[test]
    fn what_is_not_a_key_is_refused_without_showing_it() {
        for bad in ["not base64!", "AAAA", &URL_SAFE_NO_PAD.encode([0u8; 32])] {
            let error = public_key_of(&bad.into()).unwrap_err();
            assert!(!error.to_string().contains(bad), "{error}");
        }
        assert!(matches!(
            public_key_of(&URL_SAFE_NO_PAD.encode([0xffu8; 32]).into()),
            Err(VapidError::NotAKey(_))
        ));
    }

    #[test]
    fn the_token_is_an_es256_jwt_that_an_independent_verifier_accepts() {
        let signer = VapidSigner::new(&RFC_PRIVATE.into(), "mailto:ops@example.kz".into()).unwrap();
        let header = signer.authorization("https://fcm.googleapis.com").unwrap();
        let (token, key) = token_and_key(&header);
        assert_eq!(key, RFC_PUBLIC);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode_json(parts[0]),
            serde_json::json!({ "typ": "JWT", "alg": "ES256" })
        );
        let claims = decode_json(parts[1]);
        assert_eq!(claims["aud"], "https://fcm.googleapis.com");
        assert_eq!(claims["sub"], "mailto:ops@example.kz");
        let now = Utc::now().timestamp();
        let exp = claims["exp"].as_i64().unwrap();
        assert!(now < exp && exp <= now + 24 * 3600, "exp {exp}, now {now}");
        // ring, not p256, checks the signature (r‖s, 64 bytes) with the key from `k=`.
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert_eq!(signature.len(), 64);
        let k = URL_SAFE_NO_PAD.decode(&key).unwrap();
        let verifier =
            ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &k);
        let signed = format!("{}.{}", parts[0], parts[1]);
        verifier.verify(signed.as_bytes(), &signature).unwrap();
        let mut tampered = signed.into_bytes();
        tampered[40] ^= 1;
        assert!(verifier.verify(&tampered, &signature).is_err());
    }

    #[test]
    fn our_header_has_the_shape_of_the_web_push_crates() {
        let signer = VapidSigner::new(&RFC_PRIVATE.into(), "mailto:ops@example.kz".into()).unwrap();
        let ours = signer.authorization("https://fcm.googleapis.com").unwrap();
        let (our_token, our_key) = token_and_key(&ours);
        let info = web_push::SubscriptionInfo::new("https://fcm.googleapis.com/fcm/send/x", "", "");
        let mut builder = web_push::VapidSignatureBuilder::from_base64(RFC_PRIVATE, &info).unwrap();
        builder.add_claim("sub", "mailto:ops@example.kz");
        let theirs = builder.build().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(&theirs.auth_k), our_key);
        let their_token: Vec<&str> = theirs.auth_t.split('.').collect();
        let our_token: Vec<&str> = our_token.split('.').collect();
        assert_eq!(
            decode_json(their_token[0])["alg"],
            decode_json(our_token[0])["alg"]
        );
        let (their_claims, our_claims) = (decode_json(their_token[1]), decode_json(our_token[1]));
        for claim in ["aud", "sub"] {
            assert_eq!(their_claims[claim], our_claims[claim], "{claim}");
        }
        assert_eq!(
            URL_SAFE_NO_PAD.decode(their_token[2]).unwrap().len(),
            URL_SAFE_NO_PAD.decode(our_token[2]).unwrap().len()
        );
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
        let (token, key) = token_and_key(&a);
        assert_eq!(key, public_key_of(&private).unwrap());
        let claims = decode_json(token.split('.').nth(1).unwrap());
        assert_eq!(claims["aud"], "https://fcm.googleapis.com");
        assert_eq!(claims["sub"], "mailto:ops@example.kz");
    }
}
