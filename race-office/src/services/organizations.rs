//! Organizations: organizers of races and their partners (sponsors), and the links that
//! make an organization an event's organizer or partner. An organization's kind decides
//! which of the two it may be; an event has at most [`MAX_PER_EVENT`] of each, so that
//! `Event.organizers` and `Event.partners` stay short lists without paging.

use chrono::{DateTime, Utc};
use entities::account::{self, Role};
use entities::event;
use entities::event_organization::{self, OrganizationRole};
use entities::organization::{self, OrganizationKind};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, Set,
};

use crate::domain::Slug;
use crate::error::{ApiError, ApiResult, on_unique_violation};

/// At most this many organizers, and this many partners, per event.
pub const MAX_PER_EVENT: usize = 10;

/// The organization with this id.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> ApiResult<organization::Model> {
    organization::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("organization"))
}

pub async fn find_by_slug(
    db: &impl ConnectionTrait,
    slug: &str,
) -> ApiResult<Option<organization::Model>> {
    Ok(organization::Entity::find()
        .filter(organization::Column::Slug.eq(slug))
        .one(db)
        .await?)
}

#[tracing::instrument(skip(db, name))]
pub async fn create(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    slug: Slug,
    name: &str,
    kind: OrganizationKind,
) -> ApiResult<organization::Model> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad_input(
            "organization name must be 1 to 200 characters",
        ));
    }
    organization::ActiveModel {
        slug: Set(slug.into_inner()),
        name: Set(name.to_owned()),
        kind: Set(kind),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| {
        on_unique_violation(e, &[("organization_slug_key", "organization.slug")], |_| {
            ApiError::Conflict("an organization with this slug already exists".into())
        })
    })
}

/// Makes `organization_id` an organizer or partner of the event: its kind must match the
/// role, and the event must have fewer than [`MAX_PER_EVENT`] of that role already.
pub async fn link(
    db: &impl ConnectionTrait,
    event_id: i64,
    organization_id: i64,
    role: OrganizationRole,
) -> ApiResult<()> {
    let organization = find(db, organization_id).await?;
    let (expected, noun) = match role {
        OrganizationRole::Organizer => (OrganizationKind::Organizer, "organizers"),
        OrganizationRole::Partner => (OrganizationKind::Partner, "partners"),
    };
    if organization.kind != expected {
        return Err(ApiError::bad_input(format!(
            "{} is not an organization of {noun}",
            organization.slug
        )));
    }
    let linked = event_organization::Entity::find()
        .filter(event_organization::Column::EventId.eq(event_id))
        .filter(event_organization::Column::Role.eq(role))
        .count(db)
        .await?;
    if linked >= MAX_PER_EVENT as u64 {
        return Err(ApiError::bad_input(format!(
            "an event has at most {MAX_PER_EVENT} {noun}"
        )));
    }
    event_organization::ActiveModel {
        event_id: Set(event_id),
        organization_id: Set(organization_id),
        role: Set(role),
    }
    .insert(db)
    .await
    .map_err(|e| {
        on_unique_violation(
            e,
            &[("event_organization_pkey", "event_organization.event_id")],
            |_| ApiError::Conflict("this organization is already linked to the event".into()),
        )
    })?;
    Ok(())
}

/// An organizer links a partner to one of their organization's events.
#[tracing::instrument(skip(db, actor))]
pub async fn link_partner(
    db: &DatabaseConnection,
    actor: &account::Model,
    event_id: i64,
    partner: &Slug,
) -> ApiResult<event::Model> {
    let txn = super::begin_write(db).await?;
    let event = find_organized(&txn, actor, event_id).await?;
    let partner = find_by_slug(&txn, partner.as_str())
        .await?
        .ok_or(ApiError::NotFound("organization"))?;
    link(&txn, event.id, partner.id, OrganizationRole::Partner).await?;
    txn.commit().await?;
    Ok(event)
}

/// The organization an organizer acts for, or why they may not act.
pub fn acting_organization(actor: &account::Model) -> ApiResult<i64> {
    match (actor.role, actor.organization_id) {
        (Role::Organizer, Some(org)) => Ok(org),
        _ => Err(ApiError::Forbidden("only an organizer can do this")),
    }
}

/// Loads an event the actor's organization organizes. Another organizer's event exists
/// for them (it is public) but is not theirs to change: FORBIDDEN, not NOT_FOUND.
pub async fn find_organized(
    db: &impl ConnectionTrait,
    actor: &account::Model,
    event_id: i64,
) -> ApiResult<event::Model> {
    let organization_id = acting_organization(actor)?;
    let event = event::Entity::find_by_id(event_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("event"))?;
    let organizes = event_organization::Entity::find()
        .filter(event_organization::Column::EventId.eq(event_id))
        .filter(event_organization::Column::OrganizationId.eq(organization_id))
        .filter(event_organization::Column::Role.eq(OrganizationRole::Organizer))
        .one(db)
        .await?
        .is_some();
    if !organizes {
        return Err(ApiError::Forbidden(
            "your organization does not organize this event",
        ));
    }
    Ok(event)
}
