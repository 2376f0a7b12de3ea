//! Partner API keys: issued by an organizer to a partner organization of one of its
//! events, shown once, stored as their SHA-256, scoped, expiring and revocable.
//!
//! A key looks like `pk_` and 43 URL-safe characters (256 random bits), so the gateway
//! tells a key from a session token by its prefix and looks it up once. A key sees the
//! events its partner organization partners AND its issuing organization organizes: an
//! organizer shares its own events' figures, never another organizer's.

use chrono::{DateTime, Duration, Utc};
use entities::event_organization::OrganizationRole;
use entities::{account, event_organization, organization, partner_key};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use super::organizations::acting_organization;
use super::secrets::{hash_token, new_token};
use crate::context::PartnerGrant;
use crate::domain::ScopeSet;
use crate::error::{ApiError, ApiResult};

/// How every partner key begins.
pub const KEY_PREFIX: &str = "pk_";
/// The longest a key may live.
pub const MAX_LIFETIME: Duration = Duration::days(366);
/// How stale `last_used_at` may get before a request refreshes it.
const LAST_USED_RESOLUTION: Duration = Duration::minutes(1);

/// A key to issue, validated at the edge.
pub struct NewPartnerKey {
    pub organization_id: i64,
    pub scopes: ScopeSet,
    pub expires_at: DateTime<Utc>,
}

/// Whether the partner organization partners an event the organizer's organization
/// organizes.
async fn partners_an_event_of(
    db: &impl ConnectionTrait,
    partner_id: i64,
    organizer_id: i64,
) -> ApiResult<bool> {
    let shared = event_organization::Entity::find()
        .filter(event_organization::Column::OrganizationId.eq(partner_id))
        .filter(event_organization::Column::Role.eq(OrganizationRole::Partner))
        .filter(
            event_organization::Column::EventId.in_subquery(
                Query::select()
                    .column(event_organization::Column::EventId)
                    .from(event_organization::Entity)
                    .and_where(event_organization::Column::OrganizationId.eq(organizer_id))
                    .and_where(event_organization::Column::Role.eq(OrganizationRole::Organizer))
                    .to_owned(),
            ),
        )
        .count(db)
        .await?;
    Ok(shared > 0)
}

/// Issues a key; returns it with its plaintext, which is never stored or logged.
#[tracing::instrument(skip(db, actor, new), fields(actor = actor.id, organization_id = new.organization_id))]
pub async fn issue(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    actor: &account::Model,
    new: NewPartnerKey,
) -> ApiResult<(partner_key::Model, String)> {
    let issuer = acting_organization(actor)?;
    if new.expires_at <= now || new.expires_at > now + MAX_LIFETIME {
        return Err(ApiError::bad_input(
            "expiresAt must be in the future and at most 366 days away",
        ));
    }
    organization::Entity::find_by_id(new.organization_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("organization"))?;
    if !partners_an_event_of(db, new.organization_id, issuer).await? {
        return Err(ApiError::Forbidden(
            "this organization partners none of your organization's events",
        ));
    }
    let key = new_token(KEY_PREFIX.trim_end_matches('_'));
    let hint: String = key.chars().take(KEY_PREFIX.len() + 4).collect();
    let created = partner_key::ActiveModel {
        organization_id: Set(new.organization_id),
        issuer_organization_id: Set(issuer),
        key_hash: Set(hash_token(&key)),
        hint: Set(format!("{hint}…")),
        scopes: Set(new.scopes.to_stored()),
        created_by: Set(Some(actor.id)),
        created_at: Set(now),
        expires_at: Set(new.expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((created, key))
}

/// Revokes a key the actor's organization issued (idempotent). Another organization's
/// key answers NOT_FOUND: keys are nobody else's business.
#[tracing::instrument(skip(db, actor), fields(actor = actor.id))]
pub async fn revoke(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    actor: &account::Model,
    key_id: i64,
) -> ApiResult<partner_key::Model> {
    let issuer = acting_organization(actor)?;
    let found = partner_key::Entity::find_by_id(key_id)
        .filter(partner_key::Column::IssuerOrganizationId.eq(issuer))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("partner key"))?;
    partner_key::Entity::update_many()
        .col_expr(partner_key::Column::RevokedAt, Expr::value(Some(now)))
        .filter(partner_key::Column::Id.eq(found.id))
        .filter(partner_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    partner_key::Entity::find_by_id(found.id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("partner key"))
}

/// The keys the actor's organization issued (to one partner, or to all), newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    actor: &account::Model,
    organization_id: Option<i64>,
) -> ApiResult<Vec<partner_key::Model>> {
    let issuer = acting_organization(actor)?;
    let mut query =
        partner_key::Entity::find().filter(partner_key::Column::IssuerOrganizationId.eq(issuer));
    if let Some(organization_id) = organization_id {
        query = query.filter(partner_key::Column::OrganizationId.eq(organization_id));
    }
    Ok(query.order_by_desc(partner_key::Column::Id).all(db).await?)
}

/// What a presented key grants, if it is a live key (known, not revoked, not expired).
/// Which of these keys are still usable (not revoked, not expired).
pub async fn live_keys(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    key_ids: Vec<i64>,
) -> Result<std::collections::HashSet<i64>, sea_orm::DbErr> {
    use sea_orm::QuerySelect;
    partner_key::Entity::find()
        .select_only()
        .column(partner_key::Column::Id)
        .filter(partner_key::Column::Id.is_in(key_ids))
        .filter(partner_key::Column::RevokedAt.is_null())
        .filter(partner_key::Column::ExpiresAt.gt(now))
        .into_tuple::<i64>()
        .all(db)
        .await
        .map(|ids| ids.into_iter().collect())
}

pub async fn authenticate(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    key: &str,
) -> ApiResult<Option<PartnerGrant>> {
    let Some(found) = partner_key::Entity::find()
        .filter(partner_key::Column::KeyHash.eq(hash_token(key)))
        .filter(partner_key::Column::RevokedAt.is_null())
        .filter(partner_key::Column::ExpiresAt.gt(now))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if found
        .last_used_at
        .is_none_or(|at| at + LAST_USED_RESOLUTION < now)
    {
        partner_key::Entity::update_many()
            .col_expr(partner_key::Column::LastUsedAt, Expr::value(Some(now)))
            .filter(partner_key::Column::Id.eq(found.id))
            .exec(db)
            .await?;
    }
    Ok(Some(PartnerGrant {
        key_id: found.id,
        organization_id: found.organization_id,
        issuer_organization_id: found.issuer_organization_id,
        scopes: ScopeSet::from_stored(&found.scopes),
    }))
}
