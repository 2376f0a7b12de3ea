//! Web Push inputs: the endpoint a browser gave us (a URL we will later fetch, so it is
//! checked against the allowlist of push services and never allowed to point inside our
//! network) and the subscription's keys.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use url::{Host, Url};

use super::text::check_characters;
use crate::error::ApiError;

/// Which push endpoints are acceptable, and how many one account may hold.
#[derive(Debug, Clone)]
pub struct PushPolicy {
    /// Push service hosts: an exact name (`fcm.googleapis.com`) or `*.suffix` for any
    /// subdomain (`*.notify.windows.com`).
    pub allowed_hosts: Vec<String>,
    /// Origins trusted as they are, even over http and on private or loopback addresses:
    /// `http://127.0.0.1` (any port) or `http://127.0.0.1:9000` (that port). Empty in
    /// production; tests and local push services set it.
    pub trusted_origins: Vec<String>,
    /// Most subscriptions (browsers) one account may hold.
    pub max_subscriptions_per_account: usize,
}

/// Subscriptions one account may hold unless configured: a runner's phone, laptop and
/// a few browsers, with room to spare.
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_ACCOUNT: usize = 20;

impl Default for PushPolicy {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            trusted_origins: Vec::new(),
            max_subscriptions_per_account: DEFAULT_MAX_SUBSCRIPTIONS_PER_ACCOUNT,
        }
    }
}

/// The push services browsers use today.
pub const DEFAULT_PUSH_HOSTS: &[&str] = &[
    "fcm.googleapis.com",
    "*.push.services.mozilla.com",
    "*.notify.windows.com",
    "*.push.apple.com",
];

impl PushPolicy {
    /// Whether `host` (a DNS name) is on the allowlist.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allowed_hosts.iter().any(|pattern| {
            let pattern = pattern.trim().to_ascii_lowercase();
            match pattern.strip_prefix("*.") {
                Some(suffix) => host.len() > suffix.len() && host.ends_with(&format!(".{suffix}")),
                None => host == pattern,
            }
        })
    }

    /// Whether `url` belongs to a trusted origin.
    pub fn is_trusted(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        self.trusted_origins.iter().any(|origin| {
            let Ok(origin) = Url::parse(origin.trim()) else {
                return false;
            };
            let port_matches = match origin.port() {
                Some(port) => url.port_or_known_default() == Some(port),
                None => true,
            };
            origin.scheme() == url.scheme()
                && origin
                    .host_str()
                    .is_some_and(|h| h.eq_ignore_ascii_case(host))
                && port_matches
        })
    }

    /// Whether a request to `ip` (for the named `host`) may go ahead: a public address,
    /// or a host the configuration trusts.
    pub fn address_allowed(&self, host: &str, ip: IpAddr) -> bool {
        is_public_address(ip) || self.trusted_host(host)
    }

    /// Whether `host` is the host of a trusted origin (whatever the port).
    pub fn trusted_host(&self, host: &str) -> bool {
        self.trusted_origins.iter().any(|origin| {
            Url::parse(origin.trim())
                .ok()
                .and_then(|o| o.host_str().map(|h| h.eq_ignore_ascii_case(host)))
                .unwrap_or(false)
        })
    }
}

/// Whether `ip` is an ordinary public unicast address: not loopback, private, link-local,
/// shared (CGNAT), documentation, benchmarking, multicast, reserved or unspecified, and no
/// IPv6 address that embeds such an IPv4 one.
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_address(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            // NAT64 (64:ff9b::/96) reaches the embedded IPv4 address.
            if segments[0] == 0x64 && segments[1] == 0xff9b {
                let [.., a, b, c, d] = v6.octets();
                return is_public_address(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || (segments[0] == 0x2001 && segments[1] == 0x0db8)
                || segments[0] == 0)
        }
    }
}

/// A push endpoint we are willing to fetch, in its one normal form: the URL parser
/// lower-cases the host, and the one trailing dot of a fully qualified name is removed,
/// so `https://FCM.GoogleAPIs.com./x` is `https://fcm.googleapis.com/x` both for the
/// allowlist and as the unique key of a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEndpoint(Url);

impl PushEndpoint {
    pub const MAX_BYTES: usize = 2048;

    pub fn parse(raw: &str, policy: &PushPolicy) -> Result<Self, ApiError> {
        let url = Self::normal_url(raw)?;
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(ApiError::bad_input(
                "endpoint must not carry credentials or a fragment",
            ));
        }
        if policy.is_trusted(&url) {
            return Ok(Self(url));
        }
        if url.scheme() != "https" {
            return Err(ApiError::bad_input("endpoint must be an https URL"));
        }
        match url.host() {
            Some(Host::Domain(host)) if policy.host_allowed(host) => {}
            Some(Host::Ipv4(ip)) if !is_public_address(IpAddr::V4(ip)) => {
                return Err(ApiError::bad_input("endpoint points at a private address"));
            }
            Some(Host::Ipv6(ip)) if !is_public_address(IpAddr::V6(ip)) => {
                return Err(ApiError::bad_input("endpoint points at a private address"));
            }
            _ => {
                return Err(ApiError::bad_input(
                    "endpoint is not on the allowlist of push services",
                ));
            }
        }
        if url.port().is_some() {
            return Err(ApiError::bad_input(
                "endpoint must use the push service's standard port",
            ));
        }
        Ok(Self(url))
    }

    /// The normal form of an endpoint, without the policy's checks: what a stored
    /// subscription is looked up by (to unsubscribe one whose host the allowlist no longer
    /// names, say).
    pub fn normalize(raw: &str) -> Result<String, ApiError> {
        Self::normal_url(raw).map(String::from)
    }

    fn normal_url(raw: &str) -> Result<Url, ApiError> {
        let raw = raw.trim();
        if raw.len() > Self::MAX_BYTES {
            return Err(ApiError::bad_input("endpoint is too long"));
        }
        check_characters("endpoint", raw, false)?;
        let mut url = Url::parse(raw).map_err(|_| ApiError::bad_input("endpoint is not a URL"))?;
        if let Some(Host::Domain(host)) = url.host() {
            let bare = host.strip_suffix('.').unwrap_or(host);
            if bare.is_empty() || bare.ends_with('.') || bare.contains("..") {
                return Err(ApiError::bad_input("endpoint host is not a valid name"));
            }
            if bare.len() != host.len() {
                let bare = bare.to_owned();
                url.set_host(Some(&bare))
                    .map_err(|_| ApiError::bad_input("endpoint host is not a valid name"))?;
            }
        }
        Ok(url)
    }

    pub fn url(&self) -> &Url {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0.into()
    }
}

/// A subscription's keys: `p256dh`, the browser's P-256 public key (65 bytes, an
/// uncompressed point on the curve), and `auth`, its 16-byte secret. Kept as unpadded
/// base64url, the form browsers give and RFC 8291 code expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushKeys {
    pub p256dh: String,
    pub auth: String,
}

fn decode_base64url(raw: &str) -> Option<Vec<u8>> {
    let raw = raw.trim();
    URL_SAFE_NO_PAD
        .decode(raw)
        .or_else(|_| URL_SAFE.decode(raw))
        .ok()
}

impl PushKeys {
    pub fn parse(p256dh: &str, auth: &str) -> Result<Self, ApiError> {
        // 65 and 16 bytes are 87 and 22 characters of base64url, 88 and 24 padded; the
        // bounds leave room for surrounding spaces and refuse anything larger undecoded.
        if p256dh.len() > 128 || auth.len() > 64 {
            return Err(ApiError::bad_input("keys.p256dh or keys.auth is too long"));
        }
        let key = decode_base64url(p256dh)
            .ok_or_else(|| ApiError::bad_input("keys.p256dh is not base64url"))?;
        if key.len() != 65 || key[0] != 0x04 {
            return Err(ApiError::bad_input(
                "keys.p256dh must be a 65-byte uncompressed P-256 public key",
            ));
        }
        if p256::PublicKey::from_sec1_bytes(&key).is_err() {
            return Err(ApiError::bad_input("keys.p256dh is not a point on P-256"));
        }
        let secret = decode_base64url(auth)
            .ok_or_else(|| ApiError::bad_input("keys.auth is not base64url"))?;
        if secret.len() != 16 {
            return Err(ApiError::bad_input("keys.auth must be 16 bytes"));
        }
        Ok(Self {
            p256dh: URL_SAFE_NO_PAD.encode(key),
            auth: URL_SAFE_NO_PAD.encode(secret),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PushPolicy {
        PushPolicy {
            allowed_hosts: DEFAULT_PUSH_HOSTS.iter().map(|h| (*h).to_owned()).collect(),
            ..PushPolicy::default()
        }
    }

    // A real browser key (from the web-push crate's test data).
    const P256DH: &str =
        "BH1HTeKM7-NwaLGHEqxeu2IamQaVVLkcsFHPIHmsCnqxcBHPQBprF41bEMOr3O1hUQ2jU1opNEm1F_lZV_sxMP8";
    const AUTH: &str = "sBXU5_tIYz-5w7G2B25BEw";

    #[test]
    fn endpoints_of_the_big_push_services_are_accepted() {
        for url in [
            "https://fcm.googleapis.com/fcm/send/abc:def",
            "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
            "https://wns2-par02p.notify.windows.com/w/?token=BQYAAA",
            "https://web.push.apple.com/QGuQyavXutnMH0",
        ] {
            assert!(PushEndpoint::parse(url, &policy()).is_ok(), "{url}");
        }
    }

    #[test]
    fn endpoints_off_the_allowlist_or_inside_the_network_are_refused() {
        for url in [
            "http://fcm.googleapis.com/fcm/send/abc",
            "https://evil.example.com/push",
            "https://fcm.googleapis.com.evil.example/push",
            "https://push.services.mozilla.com.example/x",
            "https://127.0.0.1/push",
            "https://10.0.0.5/push",
            "https://[::1]/push",
            "https://[::ffff:192.168.1.1]/push",
            "https://169.254.169.254/latest/meta-data",
            "https://fcm.googleapis.com:8443/fcm/send/abc",
            "https://user:pw@fcm.googleapis.com/fcm/send/abc",
            "file:///etc/passwd",
            "not a url",
        ] {
            let err = PushEndpoint::parse(url, &policy()).expect_err(url);
            assert_eq!(err.code(), "BAD_USER_INPUT", "{url}");
        }
    }

    #[test]
    fn hosts_are_lower_cased_and_lose_their_trailing_dot() {
        for spelling in [
            "https://fcm.googleapis.com/fcm/send/abc:def",
            "https://FCM.GoogleAPIs.com/fcm/send/abc:def",
            "https://fcm.googleapis.com./fcm/send/abc:def",
            " https://FCM.googleapis.COM./fcm/send/abc:def ",
        ] {
            let endpoint = PushEndpoint::parse(spelling, &policy()).unwrap();
            assert_eq!(
                endpoint.into_inner(),
                "https://fcm.googleapis.com/fcm/send/abc:def",
                "{spelling}"
            );
            assert_eq!(
                PushEndpoint::normalize(spelling).unwrap(),
                "https://fcm.googleapis.com/fcm/send/abc:def"
            );
        }
        for bad in [
            "https://fcm.googleapis.com../fcm/send/abc",
            "https://evil.example./push",
            "https://fcm.googleapis.com/fcm/send/\u{0}",
            "https://fcm.googleapis.com/fcm/send/\u{202e}",
        ] {
            let err = PushEndpoint::parse(bad, &policy()).expect_err(bad);
            assert_eq!(err.code(), "BAD_USER_INPUT", "{bad}");
        }
        assert!(PushEndpoint::normalize(&format!("https://a.kz/{}", "x".repeat(3000))).is_err());
    }

    #[test]
    fn a_trusted_origin_may_be_local_and_plain_http() {
        let mut policy = policy();
        policy.trusted_origins = vec!["http://127.0.0.1".into()];
        assert!(PushEndpoint::parse("http://127.0.0.1:41234/push/1", &policy).is_ok());
        assert!(PushEndpoint::parse("http://127.0.0.2:41234/push/1", &policy).is_err());
        assert!(PushEndpoint::parse("https://127.0.0.1/push/1", &policy).is_err());
        policy.trusted_origins = vec!["http://127.0.0.1:9000".into()];
        assert!(PushEndpoint::parse("http://127.0.0.1:9000/push/1", &policy).is_ok());
        assert!(PushEndpoint::parse("http://127.0.0.1:9001/push/1", &policy).is_err());
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!is_public_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "142.250.74.106",
            "2a00:1450:4001:80b::200a",
            "64:ff9b::8efa:4a6a",
        ] {
            assert!(is_public_address(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn keys_must_be_a_curve_point_and_a_16_byte_secret() {
        assert!(PushKeys::parse(P256DH, AUTH).is_ok());
        // Padded standard-alphabet-free input is accepted and normalized.
        let padded = PushKeys::parse(P256DH, &format!("{AUTH}==")).unwrap();
        assert_eq!(padded.auth, AUTH);
        let short = URL_SAFE_NO_PAD.encode([4u8; 33]);
        assert!(PushKeys::parse(&short, AUTH).is_err());
        let off_curve = URL_SAFE_NO_PAD.encode({
            let mut k = [7u8; 65];
            k[0] = 4;
            k
        });
        let err = PushKeys::parse(&off_curve, AUTH).unwrap_err();
        assert!(err.message().contains("not a point"), "{}", err.message());
        assert!(PushKeys::parse(P256DH, "c2hvcnQ").is_err());
        assert!(PushKeys::parse("!!!", AUTH).is_err());
        assert!(PushKeys::parse(&"A".repeat(100_000), AUTH).is_err());
    }
}
