//! Who may call what. Fields that need a signed-in account or a role say so with a guard;
//! anonymous callers get UNAUTHENTICATED, the wrong role (or a partner key) FORBIDDEN.

use async_graphql::{Context, Guard};
use entities::account::{self, Role};

use crate::error::{Graphql, to_graphql};
use race_office::context::{ApiContext, Viewer};
use race_office::error::ApiError;

pub struct RoleGuard(pub Role);

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let account = signed_in(ctx).graphql()?;
        if account.role != self.0 {
            return Err(to_graphql(ApiError::Forbidden("your role may not do this")));
        }
        Ok(())
    }
}

/// The signed-in account; UNAUTHENTICATED for an anonymous caller, FORBIDDEN for a
/// partner key (it is someone, but no account: nothing personal is ever its to read).
pub fn signed_in<'a>(ctx: &'a Context<'_>) -> Result<&'a account::Model, ApiError> {
    match ctx.data_opt::<Viewer>() {
        Some(Viewer::Account { account, .. }) => Ok(account),
        Some(Viewer::PartnerKey(_)) => Err(PARTNER_KEY_REFUSED),
        Some(Viewer::Anonymous) | None => Err(ApiError::Unauthenticated),
    }
}

/// What a partner key is told when it asks for anything but statistics and public data.
pub const PARTNER_KEY_REFUSED: ApiError =
    ApiError::Forbidden("a partner key reads statistics and public event data only");

/// The shared API context; missing only if the host forgot to install it.
pub fn api<'a>(ctx: &'a Context<'_>) -> Result<&'a ApiContext, ApiError> {
    ctx.data::<ApiContext>()
        .map_err(|_| ApiError::internal("ApiContext missing from schema data"))
}

/// The event `event_id` names, when the signed-in organizer's organization organizes it
/// (the core's [`find_organized`](race_office::services::organizations::find_organized)):
/// the first step of every organizer's read or change of one event.
pub async fn organized_event(
    ctx: &Context<'_>,
    event_id: &async_graphql::ID,
) -> async_graphql::Result<entities::event::Model> {
    let api = api(ctx).graphql()?;
    let actor = signed_in(ctx).graphql()?;
    let event_id = super::ids::parse_id(event_id, "event").graphql()?;
    race_office::services::organizations::find_organized(&api.db, actor, event_id)
        .await
        .graphql()
}
