//! Where a request comes from: the peer's address, or, when the peer is a proxy named in
//! TRUSTED_PROXIES, the nearest address in `X-Forwarded-For` that is not one of ours. Any
//! other peer's `X-Forwarded-For` is ignored: it is whatever the client wrote.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use race_office::ClientAddress;

use crate::app::AppState;
use crate::settings::IpRange;

/// Adds the request's [`ClientAddress`] to its extensions.
pub async fn identify(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    if let Some(peer) = peer {
        let address = client_address(peer, request.headers(), &state.trusted_proxies);
        request.extensions_mut().insert(ClientAddress(address));
    }
    next.run(request).await
}

pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpRange]) -> IpAddr {
    let is_trusted = |address: IpAddr| trusted.iter().any(|range| range.contains(address));
    if !is_trusted(peer) {
        return peer;
    }
    // Each proxy appends the address it received from: walk back from the right past our
    // own proxies; the first other address is the client.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(address) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = address;
        if !is_trusted(address) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        headers
    }

    #[test]
    fn a_forwarded_address_is_believed_only_from_a_trusted_proxy() {
        let trusted = [IpRange::parse("10.0.0.0/8").unwrap()];
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let stranger: IpAddr = "198.51.100.4".parse().unwrap();
        assert_eq!(
            client_address(proxy, &headers("203.0.113.9"), &trusted),
            client
        );
        assert_eq!(
            client_address(stranger, &headers("203.0.113.9"), &trusted),
            stranger,
            "anyone can write the header"
        );
        // A client that writes its own header cannot hide behind it: the proxy appended
        // the real address last.
        assert_eq!(
            client_address(proxy, &headers("1.2.3.4, 203.0.113.9"), &trusted),
            client
        );
        // Two of our proxies in a row.
        assert_eq!(
            client_address(proxy, &headers("203.0.113.9, 10.0.0.7"), &trusted),
            client
        );
        assert_eq!(client_address(proxy, &HeaderMap::new(), &trusted), proxy);
        assert_eq!(client_address(proxy, &headers("garbage"), &trusted), proxy);
    }
}
