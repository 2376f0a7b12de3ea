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
/// `pk_` prefix, so either costs one lookup; an expired or revoked key is no key. A
/// runner's session read lately is not read again (`SESSION_CACHE_MS`).
pub async fn resolve_viewer(state: &AppState, token: Option<&str>) -> Result<Viewer, DbErr> {
    look_up(state, token, true).await
}

/// [`resolve_viewer`] from the database, whatever was read lately: a socket's periodic
/// re-check, the fallback for a withdrawal whose message was lost.
pub async fn recheck_viewer(state: &AppState, token: &str) -> Result<Viewer, DbErr> {
    look_up(state, Some(token), false).await
}

async fn look_up(state: &AppState, token: Option<&str>, known: bool) -> Result<Viewer, DbErr> {
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
    if known
        && let Some(session) = state
            .revocations
            .known_session(&race_office::services::hash_token(token), now)
    {
        return Ok(Viewer::Account {
            account: session.account,
            token_hash: session.token_hash,
        });
    }
    let session = accounts::authenticate(&state.db, now, token)
        .await
        .map_err(internal)?;
    Ok(match session {
        Some(session) => {
            state.revocations.remember_session(&session);
            Viewer::Account {
                account: session.account,
                token_hash: session.token_hash,
            }
        }
        None => Viewer::Anonymous,
    })
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
