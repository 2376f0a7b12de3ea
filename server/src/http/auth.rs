//! Who is asking: the bearer token of an HTTP request or a WebSocket `connection_init`,
//! resolved to a [`Viewer`] (one lookup either way).

use axum::http::{HeaderMap, header};
use race_office::Viewer;
use race_office::services::{accounts, partner_keys};
use sea_orm::DbErr;

use crate::app::AppState;

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// `Bearer <token>` or the bare token, as WebSocket clients send either.
pub fn bearer_or_bare(value: &str) -> Option<&str> {
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token,
        _ => value,
    };
    Some(token.trim()).filter(|t| !t.is_empty())
}

/// Who is asking. An unknown or expired token is treated as no token: guarded fields
/// then answer UNAUTHENTICATED. A partner key is told from a session token by its
/// `pk_` prefix, so either costs one lookup; an expired or revoked key is no key.
pub async fn resolve_viewer(state: &AppState, token: Option<&str>) -> Result<Viewer, DbErr> {
    let Some(token) = token else {
        return Ok(Viewer::Anonymous);
    };
    let now = state.clock.now();
    if token.starts_with(partner_keys::KEY_PREFIX) {
        return Ok(partner_keys::authenticate(&state.db, now, token)
            .await
            .map_err(internal)?
            .map_or(Viewer::Anonymous, Viewer::PartnerKey));
    }
    Ok(accounts::authenticate(&state.db, now, token)
        .await
        .map_err(internal)?
        .map_or(Viewer::Anonymous, |(account, token_hash)| Viewer::Account {
            account,
            token_hash,
        }))
}

fn internal(error: race_office::ApiError) -> DbErr {
    DbErr::Custom(error.detail())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_websocket_token_may_come_with_or_without_its_scheme() {
        assert_eq!(bearer_or_bare("Bearer rdg_abc"), Some("rdg_abc"));
        assert_eq!(bearer_or_bare("bearer rdg_abc"), Some("rdg_abc"));
        assert_eq!(bearer_or_bare("rdg_abc"), Some("rdg_abc"));
        assert_eq!(bearer_or_bare("Bearer "), None);
    }
}
