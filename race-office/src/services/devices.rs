//! Device tokens (OWASP's device cookies): after a successful sign-in the browser is given
//! `device_<id>.<mac>`, and shows it at its next sign-in to that account, so that it spends
//! a guessing budget of its own and is not locked out by strangers guessing the account's
//! password. Nothing is stored: the MAC is keyed by the account's password hash, so a
//! password change withdraws every device token of the account at once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entities::account;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const PREFIX: &str = "device_";
/// Longer than any token of ours: not one, and not worth a MAC.
const MAX_BYTES: usize = 128;

fn mac(account: &account::Model, id: &str) -> Option<Vec<u8>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(account.password_hash.as_bytes()).ok()?;
    mac.update(format!("device:{}:{id}", account.id).as_bytes());
    Some(mac.finalize().into_bytes().to_vec())
}

/// A new device token for `account`.
pub fn issue(account: &account::Model) -> String {
    let mut nonce = [0_u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    let id = URL_SAFE_NO_PAD.encode(nonce);
    let mac = mac(account, &id).unwrap_or_default();
    format!("{PREFIX}{id}.{}", URL_SAFE_NO_PAD.encode(mac))
}

/// The device's id when `token` is a device token `account` gave out (and its password has
/// not changed since).
pub fn trusted(account: &account::Model, token: &str) -> Option<String> {
    if token.len() > MAX_BYTES {
        return None;
    }
    let (id, shown) = token.strip_prefix(PREFIX)?.split_once('.')?;
    let shown = URL_SAFE_NO_PAD.decode(shown).ok()?;
    let mut check = Hmac::<Sha256>::new_from_slice(account.password_hash.as_bytes()).ok()?;
    check.update(format!("device:{}:{id}", account.id).as_bytes());
    // Compared in constant time.
    check.verify_slice(&shown).ok()?;
    Some(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: i64, password_hash: &str) -> account::Model {
        account::Model {
            id,
            email: "director@almaty-marathon.kz".into(),
            password_hash: password_hash.into(),
            display_name: "Director".into(),
            role: account::Role::Organizer,
            organization_id: None,
            created_at: chrono::Utc::now(),
            language: "EN".into(),
        }
    }

    #[test]
    fn a_device_token_holds_for_its_account_until_the_password_changes() {
        let director = account(1, "$argon2id$v=19$first");
        let token = issue(&director);
        assert!(trusted(&director, &token).is_some());
        // Another account, a changed password, a forged or altered token: none.
        assert!(trusted(&account(2, "$argon2id$v=19$first"), &token).is_none());
        assert!(trusted(&account(1, "$argon2id$v=19$second"), &token).is_none());
        assert!(trusted(&director, &token.replace("device_", "device_x")).is_none());
        assert!(trusted(&director, "device_abc.def").is_none());
        assert!(trusted(&director, &"a".repeat(1000)).is_none());
    }
}
