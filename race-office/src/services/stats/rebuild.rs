//! Recomputing an event's counters from its registrations: after rescheduling to another
//! race day (ages are judged on race day), for events registered before the counters
//! existed, from `gateway stats rebuild`, and in tests to prove the maintained counters
//! equal a fresh count.

use chrono::{DateTime, NaiveDate, Utc};
use entities::refund_request::RefundOption;
use entities::registration::{Gender, StarterKit};
use entities::{event, participation_count, refund_request, registration};
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, JoinType,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait,
};

use super::counters::{apply, lock_event};
use crate::domain::participation::{Counted, KeyRules, NO_DIMENSION, RunnerKeys, Tally};
use crate::error::{ApiError, ApiResult};

/// Registrations read per query while tallying.
const PAGE: u64 = 20_000;

#[derive(FromQueryResult)]
struct CountedRow {
    id: i64,
    distance_id: i64,
    gender: Option<Gender>,
    birth_date: Option<NaiveDate>,
    country: Option<String>,
    city: Option<String>,
    registered_at: DateTime<Utc>,
    starter_kit: StarterKit,
    refund_option: Option<RefundOption>,
}

/// Tallies every registration of an event, a page at a time.
async fn tally_event(db: &impl ConnectionTrait, event: &event::Model) -> ApiResult<(Tally, i64)> {
    let rules = KeyRules::for_event(event)?;
    let mut tally = Tally::default();
    let mut after = 0_i64;
    let mut total = 0_i64;
    loop {
        let rows = registration::Entity::find()
            .select_only()
            .columns([
                registration::Column::Id,
                registration::Column::DistanceId,
                registration::Column::Gender,
                registration::Column::BirthDate,
                registration::Column::Country,
                registration::Column::City,
                registration::Column::RegisteredAt,
                registration::Column::StarterKit,
            ])
            .column_as(refund_request::Column::Option, "refund_option")
            .join(
                JoinType::LeftJoin,
                registration::Relation::RefundRequest.def(),
            )
            .filter(registration::Column::EventId.eq(event.id))
            .filter(registration::Column::Id.gt(after))
            .order_by_asc(registration::Column::Id)
            .limit(PAGE)
            .into_model::<CountedRow>()
            .all(db)
            .await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.id;
        total += rows.len() as i64;
        for row in &rows {
            let counted = Counted {
                distance_id: row.distance_id,
                gender: row.gender,
                birth_date: row.birth_date,
                country: row.country.as_deref(),
                city: row.city.as_deref(),
                registered_at: row.registered_at,
                starter_kit: row.starter_kit,
                refund_option: row.refund_option,
            };
            tally.add(&RunnerKeys::of(&counted, &rules), 1);
        }
    }
    Ok((tally, total))
}

/// Replaces an event's counters with a fresh count; `event` is as it is now (its race
/// day decides the ages). The caller holds the event lock. Returns the registrations
/// counted.
pub async fn rebuild_event(db: &impl ConnectionTrait, event: &event::Model) -> ApiResult<i64> {
    let (tally, total) = tally_event(db, event).await?;
    participation_count::Entity::delete_many()
        .filter(participation_count::Column::EventId.eq(event.id))
        .exec(db)
        .await?;
    apply(db, event.id, &tally).await?;
    Ok(total)
}

async fn rebuild_one(db: &DatabaseConnection, event_id: i64) -> ApiResult<(String, i64)> {
    let txn = crate::services::begin_write(db).await?;
    let event = lock_event(&txn, event_id).await?;
    let total = rebuild_event(&txn, &event).await?;
    txn.commit().await?;
    Ok((event.slug, total))
}

/// Rebuilds the counters of one event (by slug) or of every event, each in its own
/// transaction. Returns (slug, registrations counted) per event.
#[tracing::instrument(skip(db))]
pub async fn rebuild(
    db: &DatabaseConnection,
    event_slug: Option<&str>,
) -> ApiResult<Vec<(String, i64)>> {
    let mut query = event::Entity::find()
        .select_only()
        .column(event::Column::Id);
    if let Some(slug) = event_slug {
        query = query.filter(event::Column::Slug.eq(slug));
    }
    let ids: Vec<i64> = query
        .order_by_asc(event::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    if event_slug.is_some() && ids.is_empty() {
        return Err(ApiError::NotFound("event"));
    }
    let mut rebuilt = Vec::with_capacity(ids.len());
    for id in ids {
        rebuilt.push(rebuild_one(db, id).await?);
    }
    Ok(rebuilt)
}

/// Builds the counters of events that have registrations but none yet (registered
/// before the counters existed). Cheap when there are none: one query.
#[tracing::instrument(skip(db))]
pub async fn rebuild_missing(db: &DatabaseConnection) -> ApiResult<u64> {
    let ids: Vec<i64> = event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .filter(event::Column::RegisteredCount.gt(0))
        .filter(
            event::Column::Id.not_in_subquery(
                Query::select()
                    .column(participation_count::Column::EventId)
                    .from(participation_count::Entity)
                    .and_where(participation_count::Column::DimensionA.eq(NO_DIMENSION))
                    .to_owned(),
            ),
        )
        .into_tuple()
        .all(db)
        .await?;
    for id in &ids {
        let (slug, total) = rebuild_one(db, *id).await?;
        tracing::info!(%slug, total, "built participation counters");
    }
    Ok(ids.len() as u64)
}
