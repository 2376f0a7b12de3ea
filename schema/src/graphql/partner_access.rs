//! What a partner may reach. A partner key (`pk_…`) is refused at the root of every
//! query and mutation except the fields its scopes name: an allowlist, so a field added
//! later is closed to keys until someone opens it on purpose. Below the allowed roots
//! only public types (events, distances, organizations) and aggregates are reachable,
//! and every field that needs an account refuses a key anyway (`guards::signed_in`:
//! FORBIDDEN), which is also what keeps `myNotifications` closed over WebSocket while the
//! public `eventStatusChanged` stays open.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{Context, PathSegment, Pos, ServerResult, Value};
use entities::account::Role;

use super::guards::PARTNER_KEY_REFUSED;
use crate::error::to_graphql;
use race_office::context::{PartnerGrant, Viewer};
use race_office::domain::PartnerScope;
use race_office::error::ApiError;
use race_office::services::stats::StatsReader;

/// Root fields of statistics: `STATS_READ`.
const STATS_FIELDS: &[&str] = &["participationStats", "partnerSummary"];
/// Root fields of public event data: `EVENTS_READ`.
const EVENT_FIELDS: &[&str] = super::public_reads::PUBLIC_ROOTS;

/// The root operation types the allowlist guards.
const ROOTS: &[&str] = &["Query", "Mutation", "Subscription"];

/// Whether a key may resolve this root field.
fn key_may_resolve(grant: &PartnerGrant, parent_type: &str, field: &str) -> Result<(), ApiError> {
    let scope = match parent_type {
        "Query" if STATS_FIELDS.contains(&field) => PartnerScope::StatsRead,
        "Query" if EVENT_FIELDS.contains(&field) => PartnerScope::EventsRead,
        _ => return Err(PARTNER_KEY_REFUSED),
    };
    if !grant.scopes.contains(scope) {
        return Err(missing_scope(scope));
    }
    Ok(())
}

fn missing_scope(scope: PartnerScope) -> ApiError {
    ApiError::Forbidden(match scope {
        PartnerScope::StatsRead => "this partner key lacks the STATS_READ scope",
        PartnerScope::EventsRead => "this partner key lacks the EVENTS_READ scope",
    })
}

/// The extension enforcing the allowlist.
pub struct PartnerKeyScopes;

impl ExtensionFactory for PartnerKeyScopes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PartnerKeyScopes)
    }
}

#[async_trait::async_trait]
impl Extension for PartnerKeyScopes {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let at_root = info.path_node.parent.is_none() && ROOTS.contains(&info.parent_type);
        if at_root
            && !info.is_for_introspection
            && !info.name.starts_with("__")
            && let Some(Viewer::PartnerKey(grant)) = ctx.data_opt::<Viewer>()
            && let Err(refused) = key_may_resolve(grant, info.parent_type, info.name)
        {
            let mut error = to_graphql(refused).into_server_error(Pos::default());
            error.locations.clear();
            error.path = info
                .path_node
                .to_string_vec()
                .into_iter()
                .map(PathSegment::Field)
                .collect();
            return Err(error);
        }
        next.run(ctx, info).await
    }
}

/// Who is reading statistics: an organizer, a partner account (as a key with every
/// scope) or a partner key with `STATS_READ`. Runners: FORBIDDEN; nobody:
/// UNAUTHENTICATED.
pub fn stats_reader(ctx: &Context<'_>) -> Result<StatsReader, ApiError> {
    match ctx.data_opt::<Viewer>() {
        Some(Viewer::PartnerKey(grant)) => {
            if !grant.scopes.contains(PartnerScope::StatsRead) {
                return Err(missing_scope(PartnerScope::StatsRead));
            }
            Ok(StatsReader::Partner {
                organization_id: grant.organization_id,
                issuer_organization_id: Some(grant.issuer_organization_id),
            })
        }
        Some(Viewer::Account { account, .. }) => match (account.role, account.organization_id) {
            (Role::Organizer, Some(organization_id)) => {
                Ok(StatsReader::Organizer { organization_id })
            }
            (Role::Partner, Some(organization_id)) => Ok(StatsReader::Partner {
                organization_id,
                issuer_organization_id: None,
            }),
            _ => Err(ApiError::Forbidden(
                "only organizers and partners read statistics",
            )),
        },
        Some(Viewer::Anonymous) | None => Err(ApiError::Unauthenticated),
    }
}
