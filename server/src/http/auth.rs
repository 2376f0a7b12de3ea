//! Who is asking: the bearer token of an HTTP request, a WebSocket `connection_init` or a
//! stream reservation, resolved to a [`Viewer`] (one lookup either way), and checked again
//! before each new operation of a connection that holds it ([`HeldCredential`]).

use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderMap, header};
use race_office::Viewer;
use race_office::services::partner_keys;
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
    let session = state
        .sessions
        .get(race_office::services::hash_token(token))
        .await
        .map_err(|shared| {
            Arc::try_unwrap(shared).unwrap_or_else(|shared| DbErr::Custom(shared.to_string()))
        })?;
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

/// The bearer token a long-lived connection acts with (a socket's `connection_init`, a
/// stream reservation's `Authorization`), and when it was last found good: each new
/// operation on it checks it again through [`HeldCredential::check`], every transport the
/// same way.
pub struct HeldCredential {
    token: String,
    checked_at: Instant,
}

/// What [`HeldCredential::check`] found.
pub enum Holds {
    /// Checked lately (or the database could not say): act as before.
    Still,
    /// Read again: it now stands for this viewer (the account may have changed).
    Renewed(Viewer),
    /// Withdrawn or expired: the connection may start nothing more with it.
    Gone,
}

impl HeldCredential {
    /// A token just resolved to a viewer.
    pub fn new(token: String) -> Self {
        Self {
            token,
            checked_at: Instant::now(),
        }
    }

    /// Whether the credential still holds: read again from the database once the last
    /// check is older than WS_AUTH_RECHECK_MS (the fallback for a withdrawal whose message
    /// was lost; a withdrawal that arrives ends the connection by itself).
    pub async fn check(&mut self, state: &AppState) -> Holds {
        if self.checked_at.elapsed() < state.ws.auth_recheck {
            return Holds::Still;
        }
        match recheck_viewer(state, &self.token).await {
            Ok(Viewer::Anonymous) => Holds::Gone,
            Ok(viewer) => {
                self.checked_at = Instant::now();
                Holds::Renewed(viewer)
            }
            Err(error) => {
                // The database is away: keep the connection (a withdrawal still arrives by
                // the revocation registry) and check again before the next operation.
                tracing::warn!(%error, "could not re-check a connection's credential");
                Holds::Still
            }
        }
    }
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
