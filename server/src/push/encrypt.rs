//! Web Push message encryption (RFC 8291, the aes128gcm content coding of RFC 8188), done
//! with *ring*: one ephemeral P-256 key pair and one ECDH per message, HKDF-SHA-256, and
//! AES-128-GCM over a single record, written into one buffer allocated at its final size.
//!
//! Why not the web-push/ece path: ece goes through OpenSSL 3's EVP layer, which per message
//! rebuilds the P-256 group twice (exporting each legacy key to the provider) and
//! re-validates the browser's key with a full scalar multiplication, on top of the ECDH:
//! about 2.5 times the work of the primitives themselves. *ring* does the primitives and
//! nothing else. The browser's key is checked on the curve by `agree_ephemeral` (P-256 has
//! cofactor 1, so that is the whole check).
//!
//! The plaintext is padded to a multiple of 128 bytes as the ece crate did, so that a
//! message's length says little about its content.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::agreement::{self, ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{aead, hkdf};

/// An uncompressed P-256 point: 0x04, x, y.
const PUBLIC_KEY_LEN: usize = 65;
const AUTH_LEN: usize = 16;
const SALT_LEN: usize = 16;
const TAG_LEN: usize = 16;
/// salt (16) + record size (4) + key id length (1) + key id (the sender's public key).
pub const HEADER_LEN: usize = SALT_LEN + 4 + 1 + PUBLIC_KEY_LEN;
/// The record size announced in the header; the whole message is one record.
const RECORD_SIZE: u32 = 4096;
/// Padding granularity (plaintext + delimiter + zeros is a multiple of this).
const PAD_TO: usize = 128;
/// The largest plaintext sent: what Google's and Mozilla's push services take (the limit
/// the web-push crate enforced), well inside one 4096-byte record.
pub const MAX_PLAINTEXT: usize = 3052;

/// Why a message could not be encrypted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncryptError {
    /// The subscription's keys are not a P-256 point and a 16-byte secret.
    #[error("{0}")]
    Keys(&'static str),
    /// The plaintext is empty or longer than [`MAX_PLAINTEXT`].
    #[error("{0}")]
    Plaintext(&'static str),
    /// The random source or a primitive failed.
    #[error("the cryptographic library failed")]
    Crypto,
}

impl From<ring::error::Unspecified> for EncryptError {
    fn from(_: ring::error::Unspecified) -> Self {
        Self::Crypto
    }
}

/// A browser's subscription keys, decoded once: `p256dh` and `auth`.
pub struct BrowserKeys {
    public: [u8; PUBLIC_KEY_LEN],
    auth: [u8; AUTH_LEN],
}

impl BrowserKeys {
    /// From the unpadded base64url strings a browser's PushSubscription carries.
    pub fn from_base64(p256dh: &str, auth: &str) -> Result<Self, EncryptError> {
        Ok(Self {
            public: decode_exact(p256dh).ok_or(EncryptError::Keys(
                "p256dh is not a base64url 65-byte uncompressed P-256 key",
            ))?,
            auth: decode_exact(auth)
                .ok_or(EncryptError::Keys("auth is not a base64url 16-byte secret"))?,
        })
    }

    #[cfg(test)]
    pub fn from_bytes(public: [u8; PUBLIC_KEY_LEN], auth: [u8; AUTH_LEN]) -> Self {
        Self { public, auth }
    }
}

/// Decodes unpadded base64url into exactly `N` bytes.
fn decode_exact<const N: usize>(encoded: &str) -> Option<[u8; N]> {
    // Bounded before decoding: base64 of N bytes is at most 4 * ceil(N / 3) characters.
    if encoded.len() > N.div_ceil(3) * 4 {
        return None;
    }
    // The decoder wants room for its estimate, which may exceed N by two bytes.
    let mut buffer = [0u8; 72];
    let decoded = URL_SAFE_NO_PAD.decode_slice(encoded, &mut buffer).ok()?;
    let bytes = buffer.get(..decoded)?;
    bytes.try_into().ok()
}

/// Encrypts `plaintext` for `keys`: the message body to post with
/// `Content-Encoding: aes128gcm`.
pub fn encrypt(keys: &BrowserKeys, plaintext: &[u8]) -> Result<Vec<u8>, EncryptError> {
    if plaintext.is_empty() {
        return Err(EncryptError::Plaintext("the message is empty"));
    }
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EncryptError::Plaintext(
            "the message is too long for Web Push",
        ));
    }
    let rng = SystemRandom::new();
    let mut salt = [0u8; SALT_LEN];
    rng.fill(&mut salt)?;
    let ephemeral = EphemeralPrivateKey::generate(&ECDH_P256, &rng)?;
    let sender_public = ephemeral.compute_public_key()?;
    let sender_public: &[u8; PUBLIC_KEY_LEN] = sender_public
        .as_ref()
        .try_into()
        .map_err(|_| EncryptError::Crypto)?;
    let padded = padded_len(plaintext.len());
    let peer = UnparsedPublicKey::new(&ECDH_P256, &keys.public);
    agreement::agree_ephemeral(ephemeral, &peer, |ecdh_secret| {
        seal(keys, ecdh_secret, sender_public, &salt, plaintext, padded)
    })
    .map_err(|_| EncryptError::Keys("p256dh is not a point on P-256"))?
}

/// Plaintext, delimiter and zeros, rounded up to a multiple of [`PAD_TO`].
fn padded_len(plaintext: usize) -> usize {
    (plaintext + 1).div_ceil(PAD_TO) * PAD_TO
}

/// Everything after the key agreement (RFC 8291 section 3.4, RFC 8188 section 2), given
/// the ECDH secret: deterministic, so that RFC 8291's worked example can check it.
fn seal(
    keys: &BrowserKeys,
    ecdh_secret: &[u8],
    sender_public: &[u8; PUBLIC_KEY_LEN],
    salt: &[u8; SALT_LEN],
    plaintext: &[u8],
    padded: usize,
) -> Result<Vec<u8>, EncryptError> {
    // IKM = HKDF(auth, ecdh_secret, "WebPush: info" || 0 || ua_public || as_public, 32)
    let mut ikm = [0u8; 32];
    hkdf::Salt::new(hkdf::HKDF_SHA256, &keys.auth)
        .extract(ecdh_secret)
        .expand(
            &[b"WebPush: info\0", &keys.public, sender_public],
            Len(ikm.len()),
        )?
        .fill(&mut ikm)?;
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&ikm);
    let cek: aead::UnboundKey = prk
        .expand(&[b"Content-Encoding: aes128gcm\0"], &aead::AES_128_GCM)?
        .into();
    let mut nonce = [0u8; aead::NONCE_LEN];
    prk.expand(&[b"Content-Encoding: nonce\0"], Len(nonce.len()))?
        .fill(&mut nonce)?;

    let mut body = Vec::with_capacity(HEADER_LEN + padded + TAG_LEN);
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(PUBLIC_KEY_LEN as u8);
    body.extend_from_slice(sender_public);
    body.extend_from_slice(plaintext);
    // The last (and only) record's delimiter, then zeros.
    body.push(2);
    body.resize(HEADER_LEN + padded, 0);
    let record = body.get_mut(HEADER_LEN..).ok_or(EncryptError::Crypto)?;
    // The one record has sequence number 0, so its nonce is the derived nonce itself.
    let tag = aead::LessSafeKey::new(cek).seal_in_place_separate_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::empty(),
        record,
    )?;
    body.extend_from_slice(tag.as_ref());
    Ok(body)
}

/// An HKDF output length.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unbase64(encoded: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(encoded).unwrap()
    }

    /// RFC 8291, Appendix A: the worked example, values as printed there.
    mod rfc8291 {
        pub const PLAINTEXT: &str = "V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24";
        pub const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
        pub const AS_PUBLIC: &str = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
        pub const UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
        pub const UA_PUBLIC: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
        pub const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
        pub const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
        pub const ECDH_SECRET: &str = "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs";
        pub const MESSAGE: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";
    }

    fn rfc_keys() -> BrowserKeys {
        BrowserKeys::from_base64(rfc8291::UA_PUBLIC, rfc8291::AUTH).unwrap()
    }

    /// The ECDH secret of a fixed private key and a public key, through OpenSSL (ring takes
    /// no fixed private key: that is what makes its keys ephemeral).
    fn openssl_ecdh(private: &[u8], peer_public: &[u8]) -> Vec<u8> {
        use openssl::bn::{BigNum, BigNumContext};
        use openssl::ec::{EcGroup, EcKey, EcPoint};
        use openssl::nid::Nid;
        use openssl::pkey::PKey;
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let mut ctx = BigNumContext::new().unwrap();
        let scalar = BigNum::from_slice(private).unwrap();
        let mut public = EcPoint::new(&group).unwrap();
        public.mul_generator2(&group, &scalar, &mut ctx).unwrap();
        let own = EcKey::from_private_components(&group, &scalar, &public).unwrap();
        let peer = EcPoint::from_bytes(&group, peer_public, &mut ctx).unwrap();
        let peer = EcKey::from_public_key(&group, &peer).unwrap();
        let own = PKey::from_ec_key(own).unwrap();
        let peer = PKey::from_ec_key(peer).unwrap();
        let mut deriver = openssl::derive::Deriver::new(&own).unwrap();
        deriver.set_peer(&peer).unwrap();
        deriver.derive_to_vec().unwrap()
    }

    #[test]
    fn the_worked_example_of_rfc_8291_is_reproduced_byte_for_byte() {
        let plaintext = unbase64(rfc8291::PLAINTEXT);
        assert_eq!(plaintext, b"When I grow up, I want to be a watermelon");
        let sender: [u8; 65] = unbase64(rfc8291::AS_PUBLIC).try_into().unwrap();
        let salt: [u8; 16] = unbase64(rfc8291::SALT).try_into().unwrap();
        // The application server's key agreement, from its private key in the example.
        let ecdh_secret = openssl_ecdh(
            &unbase64(rfc8291::AS_PRIVATE),
            &unbase64(rfc8291::UA_PUBLIC),
        );
        assert_eq!(URL_SAFE_NO_PAD.encode(&ecdh_secret), rfc8291::ECDH_SECRET);
        // The example pads with the delimiter only: 41 bytes of text, one record of 42.
        let body = seal(
            &rfc_keys(),
            &ecdh_secret,
            &sender,
            &salt,
            &plaintext,
            plaintext.len() + 1,
        )
        .unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(&body), rfc8291::MESSAGE);
        // The user agent's side: the example's message decrypts with its key through ece.
        let components =
            ece::EcKeyComponents::new(unbase64(rfc8291::UA_PRIVATE), unbase64(rfc8291::UA_PUBLIC));
        let auth = unbase64(rfc8291::AUTH);
        assert_eq!(ece::decrypt(&components, &auth, &body).unwrap(), plaintext);
    }

    fn browser() -> (ece::EcKeyComponents, [u8; 16], BrowserKeys) {
        let (pair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
        let components = pair.raw_components().unwrap();
        let keys = BrowserKeys::from_base64(
            &URL_SAFE_NO_PAD.encode(components.public_key()),
            &URL_SAFE_NO_PAD.encode(auth),
        )
        .unwrap();
        (components, auth, keys)
    }

    #[test]
    fn what_we_encrypt_the_ece_crate_decrypts_at_every_length() {
        let (components, auth, keys) = browser();
        for len in [1, 2, 126, 127, 128, 129, 300, 1000, MAX_PLAINTEXT] {
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let body = encrypt(&keys, &plaintext).unwrap();
            assert_eq!(body.len(), HEADER_LEN + padded_len(len) + TAG_LEN, "{len}");
            assert_eq!((body.len() - HEADER_LEN - TAG_LEN) % PAD_TO, 0);
            assert_eq!(ece::decrypt(&components, &auth, &body).unwrap(), plaintext);
        }
    }

    #[test]
    fn every_message_has_its_own_key_pair_and_salt() {
        let (_, _, keys) = browser();
        let a = encrypt(&keys, b"same words").unwrap();
        let b = encrypt(&keys, b"same words").unwrap();
        assert_ne!(a[..16], b[..16], "salt");
        assert_ne!(a[21..HEADER_LEN], b[21..HEADER_LEN], "sender key");
        assert_eq!(&a[16..21], &[0, 0, 16, 0, 65]);
    }

    #[test]
    fn ece_and_we_write_one_format_that_the_browser_key_decrypts() {
        // The reverse direction: ece encrypts for a browser, and the same browser key
        // decrypts both ece's message and ours, so both speak one format.
        let (components, auth, keys) = browser();
        let theirs = ece::encrypt(components.public_key(), &auth, b"status: CANCELLED").unwrap();
        let ours = encrypt(&keys, b"status: CANCELLED").unwrap();
        assert_eq!(theirs.len(), ours.len());
        assert_eq!(theirs[16..21], ours[16..21]);
        for body in [theirs, ours] {
            assert_eq!(
                ece::decrypt(&components, &auth, &body).unwrap(),
                b"status: CANCELLED"
            );
        }
    }

    #[test]
    fn a_wrong_auth_secret_or_a_tampered_body_does_not_decrypt() {
        let (components, auth, keys) = browser();
        let mut body = encrypt(&keys, b"hello").unwrap();
        let mut wrong = auth;
        wrong[0] ^= 1;
        assert!(ece::decrypt(&components, &wrong, &body).is_err());
        let last = body.len() - 1;
        body[last] ^= 1;
        assert!(ece::decrypt(&components, &auth, &body).is_err());
    }

    #[test]
    fn bad_keys_and_bad_lengths_are_refused_before_any_work() {
        let (_, _, keys) = browser();
        assert!(matches!(
            encrypt(&keys, b""),
            Err(EncryptError::Plaintext(_))
        ));
        let long = vec![b'x'; MAX_PLAINTEXT + 1];
        assert!(matches!(
            encrypt(&keys, &long),
            Err(EncryptError::Plaintext(_))
        ));
        let auth = URL_SAFE_NO_PAD.encode([1u8; 16]);
        let short_key = URL_SAFE_NO_PAD.encode([4u8; 64]);
        assert!(BrowserKeys::from_base64(&short_key, &auth).is_err());
        assert!(BrowserKeys::from_base64(rfc8291::UA_PUBLIC, "c2hvcnQ").is_err());
        assert!(BrowserKeys::from_base64(&"A".repeat(10_000), &auth).is_err());
        // 65 bytes that are not a point on the curve: refused by the key agreement.
        let mut off_curve = [4u8; 65];
        off_curve[64] = 5;
        let keys = BrowserKeys::from_bytes(off_curve, [1; 16]);
        assert!(matches!(encrypt(&keys, b"hi"), Err(EncryptError::Keys(_))));
    }
}
