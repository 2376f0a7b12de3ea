//! The encryption floor of one Web Push message, timed on one thread of the tool in the
//! same run as the gateway: the primitive work alone (a P-256 key pair, one ECDH, the
//! three HKDF-SHA-256 derivations, AES-128-GCM over the padded record), with the browser
//! keys already decoded and nothing else (no header, no allocation beyond the record).
//!
//! Timed through *ring* and through OpenSSL's EVP interface in its fastest use (legacy key
//! generation, the browser key parsed once, no peer re-validation); the floor is the
//! cheaper of the two. Also timed: the web-push crate's message build, the floor the
//! README's earlier figures were measured against.

use anyhow::anyhow;
use std::time::Instant;

use gateway_tests::push_service::BrowserSubscription;
use ring::agreement::{self, ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{aead, hkdf};

/// Per message: CPU of the timing thread and wall clock, in microseconds.
pub struct Cost {
    pub cpu: f64,
    pub wall: f64,
}

/// What a browser subscription's keys decode to.
pub struct Keys {
    public: Vec<u8>,
    auth: Vec<u8>,
}

impl Keys {
    /// A browser's public key (uncompressed P-256 point) and auth secret.
    pub fn new(public: Vec<u8>, auth: Vec<u8>) -> Self {
        Self { public, auth }
    }
}

pub fn decode(browsers: &[BrowserSubscription]) -> anyhow::Result<Vec<Keys>> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    browsers
        .iter()
        .map(|b| {
            Ok(Keys {
                public: URL_SAFE_NO_PAD.decode(&b.p256dh)?,
                auth: URL_SAFE_NO_PAD.decode(&b.auth)?,
            })
        })
        .collect()
}

/// This thread's CPU time in nanoseconds (the scheduler's own account, not 10 ms ticks).
pub fn thread_cpu_nanos() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|stat| stat.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Runs `once` `n` times after a short warm-up, on this thread.
fn time(n: usize, mut once: impl FnMut(usize) -> anyhow::Result<()>) -> anyhow::Result<Cost> {
    for i in 0..n.min(200) {
        once(i)?;
    }
    let cpu_before = thread_cpu_nanos();
    let started = Instant::now();
    for i in 0..n {
        once(i)?;
    }
    Ok(Cost {
        cpu: (thread_cpu_nanos() - cpu_before) as f64 / 1e3 / n as f64,
        wall: started.elapsed().as_secs_f64() * 1e6 / n as f64,
    })
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF and AES-128-GCM of RFC 8291 given the ECDH secret, into `record` (the padded
/// plaintext, sealed in place).
fn derive_and_seal(
    keys: &Keys,
    secret: &[u8],
    sender_public: &[u8],
    salt: &[u8; 16],
    record: &mut [u8],
) -> Result<aead::Tag, ring::error::Unspecified> {
    let mut ikm = [0u8; 32];
    hkdf::Salt::new(hkdf::HKDF_SHA256, &keys.auth)
        .extract(secret)
        .expand(&[b"WebPush: info\0", &keys.public, sender_public], Len(32))?
        .fill(&mut ikm)?;
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&ikm);
    let cek: aead::UnboundKey = prk
        .expand(&[b"Content-Encoding: aes128gcm\0"], &aead::AES_128_GCM)?
        .into();
    let mut nonce = [0u8; 12];
    prk.expand(&[b"Content-Encoding: nonce\0"], Len(12))?
        .fill(&mut nonce)?;
    aead::LessSafeKey::new(cek).seal_in_place_separate_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::empty(),
        record,
    )
}

/// The padded record of `payload` (delimiter, zeros to a multiple of 128), as sent.
fn record_of(payload: &[u8]) -> Vec<u8> {
    let mut record = payload.to_vec();
    record.push(2);
    record.resize((payload.len() + 1).div_ceil(128) * 128, 0);
    record
}

/// Through *ring*.
pub fn ring(keys: &[Keys], payload: &[u8], n: usize) -> anyhow::Result<Cost> {
    let rng = SystemRandom::new();
    let mut record = record_of(payload);
    let fail = |_| anyhow!("ring failed");
    time(n, |i| {
        let browser = &keys[i % keys.len()];
        let mut salt = [0u8; 16];
        rng.fill(&mut salt).map_err(fail)?;
        let own = EphemeralPrivateKey::generate(&ECDH_P256, &rng).map_err(fail)?;
        let public = own.compute_public_key().map_err(fail)?;
        let peer = UnparsedPublicKey::new(&ECDH_P256, &browser.public);
        let tag = agreement::agree_ephemeral(own, &peer, |secret| {
            derive_and_seal(browser, secret, public.as_ref(), &salt, &mut record)
        })
        .map_err(fail)?
        .map_err(fail)?;
        let _ = std::hint::black_box(tag);
        Ok(())
    })
}

/// Through OpenSSL's EVP interface (the only ECDH the openssl crate offers), with the
/// browsers' keys parsed beforehand; HKDF and AES-GCM as in [`ring`] (a few microseconds).
pub fn openssl(keys: &[Keys], payload: &[u8], n: usize) -> anyhow::Result<Cost> {
    use openssl::bn::BigNumContext;
    use openssl::derive::Deriver;
    use openssl::ec::{EcGroup, EcKey, EcPoint, PointConversionForm};
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let mut ctx = BigNumContext::new()?;
    let peers = keys
        .iter()
        .map(|k| {
            let point = EcPoint::from_bytes(&group, &k.public, &mut ctx)?;
            PKey::from_ec_key(EcKey::from_public_key(&group, &point)?)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut record = record_of(payload);
    let mut secret = [0u8; 32];
    time(n, |i| {
        let mut salt = [0u8; 16];
        openssl::rand::rand_bytes(&mut salt)?;
        let own = EcKey::generate(&group)?;
        let public =
            own.public_key()
                .to_bytes(&group, PointConversionForm::UNCOMPRESSED, &mut ctx)?;
        let own = PKey::from_ec_key(own)?;
        let mut deriver = Deriver::new(&own)?;
        deriver.set_peer_ex(&peers[i % peers.len()], false)?;
        deriver.derive(&mut secret)?;
        let tag = derive_and_seal(&keys[i % keys.len()], &secret, &public, &salt, &mut record)
            .map_err(|_| anyhow!("ring failed"))?;
        let _ = std::hint::black_box(tag);
        Ok(())
    })
}

/// The web-push crate's message build (through ece and OpenSSL), with a fixed VAPID
/// token: the gateway's encryption before, and the README's earlier floor.
pub fn web_push(
    browsers: &[BrowserSubscription],
    payload: &[u8],
    n: usize,
) -> anyhow::Result<Cost> {
    use web_push::{ContentEncoding, SubscriptionInfo, VapidSignature, WebPushMessageBuilder};
    let signature = VapidSignature {
        auth_t: "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.e30.signature".into(),
        auth_k: vec![4; 65],
    };
    time(n, |i| {
        let browser = &browsers[i % browsers.len()];
        let info = SubscriptionInfo::new(
            browser.endpoint.as_str(),
            browser.p256dh.as_str(),
            browser.auth.as_str(),
        );
        let mut builder = WebPushMessageBuilder::new(&info);
        builder.set_payload(ContentEncoding::Aes128Gcm, payload);
        builder.set_ttl(3600);
        builder.set_vapid_signature(signature.clone());
        std::hint::black_box(builder.build()?);
        Ok(())
    })
}
