//! Batched loads for where a list meets a relation (events -> distances, organizers,
//! history): one query per relation per request tick, not one per parent.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use entities::event_organization::OrganizationRole;
use entities::{
    distance, event, event_organization, event_status_change, organization, refund_request,
    registration,
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::error::{Graphql, to_graphql};
use race_office::error::ApiError;

pub struct DbLoader {
    db: DatabaseConnection,
}

impl DbLoader {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// The request's loader (one per schema, batching per request tick).
pub fn loader<'a>(
    ctx: &'a async_graphql::Context<'_>,
) -> async_graphql::Result<&'a async_graphql::dataloader::DataLoader<DbLoader>> {
    ctx.data::<async_graphql::dataloader::DataLoader<DbLoader>>()
}

fn db_error(err: sea_orm::DbErr) -> async_graphql::Error {
    to_graphql(ApiError::from(err))
}

/// Groups child rows under their parent key, every requested key present.
fn group<K: std::hash::Hash + Eq + Copy, V>(
    keys: &[K],
    rows: impl IntoIterator<Item = (K, V)>,
) -> HashMap<K, Vec<V>> {
    let mut grouped: HashMap<K, Vec<V>> = keys.iter().map(|k| (*k, Vec::new())).collect();
    for (key, value) in rows {
        grouped.entry(key).or_default().push(value);
    }
    grouped
}

#[derive(Clone, Copy, Hash, PartialEq, Eq)]
pub struct EventId(pub i64);

impl Loader<EventId> for DbLoader {
    type Value = event::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[EventId]) -> Result<HashMap<EventId, Self::Value>, Self::Error> {
        let rows = event::Entity::find()
            .filter(event::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(|e| (EventId(e.id), e)).collect())
    }
}

#[derive(Clone, Copy, Hash, PartialEq, Eq)]
pub struct OrganizationId(pub i64);

impl Loader<OrganizationId> for DbLoader {
    type Value = organization::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[OrganizationId],
    ) -> Result<HashMap<OrganizationId, Self::Value>, Self::Error> {
        let rows = organization::Entity::find()
            .filter(organization::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|o| (OrganizationId(o.id), o))
            .collect())
    }
}

#[derive(Clone, Copy, Hash, PartialEq, Eq)]
pub struct DistancesOf(pub i64);

impl Loader<DistancesOf> for DbLoader {
    type Value = Vec<distance::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[DistancesOf],
    ) -> Result<HashMap<DistancesOf, Self::Value>, Self::Error> {
        let rows = distance::Entity::find()
            .filter(distance::Column::EventId.is_in(keys.iter().map(|k| k.0)))
            .order_by_desc(distance::Column::LengthM)
            .order_by_asc(distance::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(group(
            keys,
            rows.into_iter().map(|d| (DistancesOf(d.event_id), d)),
        ))
    }
}

#[derive(Clone, Copy, Hash, PartialEq, Eq)]
pub struct HistoryOf(pub i64);

impl Loader<HistoryOf> for DbLoader {
    type Value = Vec<event_status_change::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[HistoryOf],
    ) -> Result<HashMap<HistoryOf, Self::Value>, Self::Error> {
        let rows = event_status_change::Entity::find()
            .filter(event_status_change::Column::EventId.is_in(keys.iter().map(|k| k.0)))
            .order_by_asc(event_status_change::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(group(
            keys,
            rows.into_iter().map(|h| (HistoryOf(h.event_id), h)),
        ))
    }
}

/// The organizations linked to an event, with their role.
#[derive(Clone, Copy, Hash, PartialEq, Eq)]
pub struct OrganizationsOf(pub i64);

impl Loader<OrganizationsOf> for DbLoader {
    type Value = Vec<(OrganizationRole, organization::Model)>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[OrganizationsOf],
    ) -> Result<HashMap<OrganizationsOf, Self::Value>, Self::Error> {
        let rows = event_organization::Entity::find()
            .filter(event_organization::Column::EventId.is_in(keys.iter().map(|k| k.0)))
            .find_also_related(organization::Entity)
            .order_by_asc(event_organization::Column::OrganizationId)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(group(
            keys,
            rows.into_iter().filter_map(|(link, org)| {
                org.map(|org| (OrganizationsOf(link.event_id), (link.role, org)))
            }),
        ))
    }
}

#[derive(Clone, Copy, Hash, PartialEq, Eq)]
pub struct DistanceId(pub i64);

impl Loader<DistanceId> for DbLoader {
    type Value = distance::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[DistanceId],
    ) -> Result<HashMap<DistanceId, Self::Value>, Self::Error> {
        let rows = distance::Entity::find()
            .filter(distance::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(|d| (DistanceId(d.id), d)).collect())
    }
}

/// The refund request of a registration, if one was filed.
#[derive(Clone, Copy, Hash, PartialEq, Eq)]
pub struct RefundOf(pub i64);

impl Loader<RefundOf> for DbLoader {
    type Value = refund_request::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[RefundOf]) -> Result<HashMap<RefundOf, Self::Value>, Self::Error> {
        let rows = refund_request::Entity::find()
            .filter(refund_request::Column::RegistrationId.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|r| (RefundOf(r.registration_id), r))
            .collect())
    }
}

#[derive(Clone, Copy, Hash, PartialEq, Eq)]
pub struct RegistrationId(pub i64);

impl Loader<RegistrationId> for DbLoader {
    type Value = registration::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[RegistrationId],
    ) -> Result<HashMap<RegistrationId, Self::Value>, Self::Error> {
        let rows = registration::Entity::find()
            .filter(registration::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|r| (RegistrationId(r.id), r))
            .collect())
    }
}

/// Money raised by a charity project (the sum of its donations, minor units; i128, as
/// many bounded amounts may exceed an i64).
#[derive(Clone, Copy, Hash, PartialEq, Eq)]
pub struct RaisedBy(pub i64);

impl Loader<RaisedBy> for DbLoader {
    type Value = i128;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[RaisedBy]) -> Result<HashMap<RaisedBy, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let raised = race_office::services::charity::raised_by_project(&self.db, &ids)
            .await
            .graphql()?;
        Ok(keys
            .iter()
            .map(|k| (*k, raised.get(&k.0).copied().unwrap_or(0)))
            .collect())
    }
}
