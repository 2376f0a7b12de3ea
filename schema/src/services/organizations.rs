//! Organizations: organizers of races and their partners.

use chrono::{DateTime, Utc};
use entities::organization;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::domain::Slug;
use crate::error::{ApiError, ApiResult, on_unique_violation};

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

pub async fn create(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    slug: Slug,
    name: &str,
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
