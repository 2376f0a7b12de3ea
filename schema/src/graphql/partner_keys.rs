//! Partner API keys over GraphQL: an organizer issues one to a partner of its events
//! (the key is answered once and never again), lists its keys without their secrets,
//! and revokes them.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Timelike as _, Utc};
use entities::account::Role as AccountRole;
use entities::partner_key;

use super::accounts::Organization;
use super::guards::{RoleGuard, api, signed_in};
use super::ids::{parse_id, to_id};
use super::loaders::{DbLoader, OrganizationId};
use crate::error::Graphql;
use race_office::domain::{Instant, ScopeSet};
use race_office::services::partner_keys::{self as service, NewPartnerKey};

/// What a partner key may read.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "race_office::domain::PartnerScope")]
pub enum PartnerKeyScope {
    /// Public event data: events, distances, statuses, charity projects.
    EventsRead,
    /// Participation statistics of the events the partner sponsors.
    StatsRead,
}

pub struct PartnerKey(pub partner_key::Model);

/// A partner's API key as its issuer sees it: never the key itself.
#[Object]
impl PartnerKey {
    /// The key's opaque id; `revokePartnerKey` takes it.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The partner organization it acts for.
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organization>> {
        Ok(ctx
            .data::<async_graphql::dataloader::DataLoader<DbLoader>>()?
            .load_one(OrganizationId(self.0.organization_id))
            .await?
            .map(Organization))
    }

    /// What it may read.
    async fn scopes(&self) -> Vec<PartnerKeyScope> {
        ScopeSet::from_stored(&self.0.scopes)
            .iter()
            .map(Into::into)
            .collect()
    }

    /// The key's first characters, to tell keys apart.
    async fn hint(&self) -> &str {
        &self.0.hint
    }

    /// When it was issued.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it stops working.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }

    /// When it was revoked; null while not.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }

    /// When it was last used, to the minute.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        // The stored instant is refreshed at most once a minute, so anything finer than
        // the minute would claim a precision it does not have.
        self.0.last_used_at.map(|at| {
            at.with_second(0)
                .and_then(|at| at.with_nanosecond(0))
                .unwrap_or(at)
        })
    }

    /// Usable now: neither revoked nor expired.
    async fn active(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(self.0.revoked_at.is_none() && self.0.expires_at > api(ctx).graphql()?.clock.now())
    }
}

/// A freshly issued key.
#[derive(SimpleObject)]
pub struct IssuedPartnerKey {
    /// The key, shown this once: the partner sends it as `Authorization: Bearer <key>`.
    key: String,
    /// The key as listed from now on (without the key itself).
    partner_key: PartnerKey,
}

/// A key to issue to a partner.
#[derive(InputObject)]
pub struct IssuePartnerKeyInput {
    /// The partner organization; it must partner one of your organization's events.
    organization_id: ID,
    /// What the key may read: at least one scope.
    scopes: Vec<PartnerKeyScope>,
    /// At most 366 days away.
    expires_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct PartnerKeyQuery;

#[Object]
impl PartnerKeyQuery {
    /// The keys your organization issued (to one partner, or to every one), newest first
    /// (at most 100).
    #[graphql(
        guard = "RoleGuard(AccountRole::Organizer)",
        complexity = "super::bounds::list(super::bounds::PARTNER_KEYS, child_complexity)"
    )]
    async fn partner_keys(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the keys of this partner organization; left out, all.")]
        organization_id: Option<ID>,
    ) -> async_graphql::Result<Vec<PartnerKey>> {
        let organization_id = organization_id
            .as_ref()
            .map(|id| parse_id(id, "organization"))
            .transpose()
            .graphql()?;
        let keys = service::list(
            &api(ctx).graphql()?.db,
            signed_in(ctx).graphql()?,
            organization_id,
        )
        .await
        .graphql()?;
        Ok(super::bounds::first(keys, super::bounds::PARTNER_KEYS)
            .into_iter()
            .map(PartnerKey)
            .collect())
    }
}

#[derive(Default)]
pub struct PartnerKeyMutation;

#[Object]
impl PartnerKeyMutation {
    /// Issues an API key to a partner of your organization's events. The answer is the
    /// only time the key is shown; only its SHA-256 is stored. Errors: FORBIDDEN (not a
    /// partner of your events), NOT_FOUND, BAD_USER_INPUT (no scope, expiry not in the
    /// next 366 days).
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn issue_partner_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The partner, the scopes and the expiry.")] input: IssuePartnerKeyInput,
    ) -> async_graphql::Result<IssuedPartnerKey> {
        let api = api(ctx).graphql()?;
        let new = NewPartnerKey {
            organization_id: parse_id(&input.organization_id, "organization").graphql()?,
            scopes: ScopeSet::new(input.scopes.into_iter().map(Into::into)).graphql()?,
            expires_at: Instant::parse("expiresAt", input.expires_at)
                .graphql()?
                .get(),
        };
        let (issued, key) =
            service::issue(&api.db, api.clock.now(), signed_in(ctx).graphql()?, new)
                .await
                .graphql()?;
        Ok(IssuedPartnerKey {
            key,
            partner_key: PartnerKey(issued),
        })
    }

    /// Revokes a key your organization issued; it is refused from then on. Idempotent.
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn revoke_partner_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A `PartnerKey.id` your organization issued.")] id: ID,
    ) -> async_graphql::Result<PartnerKey> {
        let api = api(ctx).graphql()?;
        let id = parse_id(&id, "partner key").graphql()?;
        let revoked = service::revoke(&api.db, api.clock.now(), signed_in(ctx).graphql()?, id)
            .await
            .graphql()?;
        api.revocations
            .revoked(race_office::context::Revoked::PartnerKey { key_id: revoked.id });
        Ok(PartnerKey(revoked))
    }
}
