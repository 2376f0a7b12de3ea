//! The token a push carries so that the service worker can say "shown" and "clicked"
//! without the runner's session: the delivery's id and a MAC of it under a key every
//! instance derives from the shared VAPID key. A token names one delivery, so it
//! acknowledges that delivery only; nothing is stored but the acknowledgement itself.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::digest::generic_array::GenericArray;
use hmac::digest::{Digest, KeyInit};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The delivery id (8 bytes) and the first 16 bytes of its MAC, base64url: 32 characters.
pub const ACK_TOKEN_LEN: usize = 32;
const MAC_LEN: usize = 16;
/// Domain separation: this key signs acknowledgements and nothing else.
const LABEL: &[u8] = b"race-day push acknowledgement v1";

/// What the service worker reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushAction {
    Displayed,
    Clicked,
}

/// The acknowledgement key. Its bytes never reach a log.
#[derive(Clone)]
pub struct AckKey([u8; 32]);

impl std::fmt::Debug for AckKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AckKey(..)")
    }
}

/// A random key: for tools and tests that build an API without a VAPID key.
impl Default for AckKey {
    fn default() -> Self {
        Self(rand::random())
    }
}

impl AckKey {
    /// The key derived from a fleet-wide secret of full strength (the VAPID private key's
    /// text): its hash under this key's own label.
    pub fn derive(secret: &[u8]) -> Self {
        Self(
            Sha256::new()
                .chain_update(LABEL)
                .chain_update(secret)
                .finalize()
                .into(),
        )
    }

    fn mac(&self, delivery_id: i64) -> Hmac<Sha256> {
        // HMAC pads a short key with zeros to the hash's block: done here, so the key has
        // the one length `new` takes.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.0);
        let mut mac = <Hmac<Sha256> as KeyInit>::new(GenericArray::from_slice(&block));
        mac.update(&delivery_id.to_be_bytes());
        mac
    }

    /// The token for push delivery `delivery_id`.
    pub fn token(&self, delivery_id: i64) -> String {
        let mut raw = [0u8; 8 + MAC_LEN];
        raw[..8].copy_from_slice(&delivery_id.to_be_bytes());
        raw[8..].copy_from_slice(&self.mac(delivery_id).finalize().into_bytes()[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The delivery a token names, if this key made it (compared in constant time).
    pub fn verify(&self, token: &str) -> Option<i64> {
        if token.len() != ACK_TOKEN_LEN {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
        let (id, tag) = raw.split_at_checked(8)?;
        let delivery_id = i64::from_be_bytes(id.try_into().ok()?);
        self.mac(delivery_id)
            .verify_truncated_left(tag)
            .ok()
            .map(|()| delivery_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_acknowledges_its_own_delivery_only() {
        let key = AckKey::derive(b"vapid secret");
        let token = key.token(42);
        assert_eq!(token.len(), ACK_TOKEN_LEN);
        assert_eq!(key.verify(&token), Some(42));
        // Another delivery's id with this MAC, another key, a cut or altered token: refused.
        let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        raw[7] ^= 1;
        assert_eq!(key.verify(&URL_SAFE_NO_PAD.encode(&raw)), None);
        assert_eq!(AckKey::derive(b"another secret").verify(&token), None);
        assert_eq!(key.verify(&token[..31]), None);
        let mut altered = token.clone().into_bytes();
        altered[31] = if altered[31] == b'A' { b'B' } else { b'A' };
        assert_eq!(key.verify(std::str::from_utf8(&altered).unwrap()), None);
        assert_eq!(key.verify("not a token at all, not at all!!"), None);
    }
}
