//! Keeping the participation counters right, in the transaction of each change.
//!
//! Every writer of counted data first locks the event row ([`lock_event`]; a
//! registration's capacity claim already does), then changes registrations or refund
//! requests, then writes its counter changes as ONE multi-row `INSERT … ON CONFLICT DO
//! UPDATE SET count = count + excluded.count`, rows in primary-key order. The event lock
//! serializes counting writers of one event with a rebuild of it (which then reads a
//! stable set of registrations), and the fixed row order means two writers can never
//! wait on each other's counter rows in a cycle. On SQLite every write transaction
//! already holds the database's one write lock, so the row lock is a no-op there.

use entities::refund_request::RefundOption;
use entities::{event, participation_count, registration};
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, OnConflict};
use sea_orm::{ConnectionTrait, EntityTrait, QuerySelect, Set};

use crate::domain::participation::{Counted, KeyRules, RunnerKeys, Tally};
use crate::error::{ApiError, ApiResult};

/// Rows per statement: 6 values each, well under SQLite's and PostgreSQL's limits.
const ROWS_PER_STATEMENT: usize = 2_000;

/// Locks the event row until the transaction ends (`SELECT … FOR UPDATE` on PostgreSQL).
pub async fn lock_event(db: &impl ConnectionTrait, event_id: i64) -> ApiResult<event::Model> {
    event::Entity::find_by_id(event_id)
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("event"))
}

/// Writes a tally's changes to an event's counters.
pub async fn apply(db: &impl ConnectionTrait, event_id: i64, tally: &Tally) -> ApiResult<()> {
    let cells = tally.cells();
    for chunk in cells.chunks(ROWS_PER_STATEMENT) {
        let rows = chunk
            .iter()
            .map(|(cell, delta)| participation_count::ActiveModel {
                event_id: Set(event_id),
                dimension_a: Set(cell.dimension_a.to_owned()),
                dimension_b: Set(cell.dimension_b.to_owned()),
                key_a: Set(cell.key_a.clone()),
                key_b: Set(cell.key_b.clone()),
                count: Set(*delta),
            });
        participation_count::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    participation_count::Column::EventId,
                    participation_count::Column::DimensionA,
                    participation_count::Column::DimensionB,
                    participation_count::Column::KeyA,
                    participation_count::Column::KeyB,
                ])
                .value(
                    participation_count::Column::Count,
                    Expr::col((
                        participation_count::Entity,
                        participation_count::Column::Count,
                    ))
                    .add(Expr::col((
                        Alias::new("excluded"),
                        participation_count::Column::Count,
                    ))),
                )
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Counts a new registration (the caller holds the event lock).
pub async fn count_new(
    db: &impl ConnectionTrait,
    event: &event::Model,
    registration: &registration::Model,
) -> ApiResult<()> {
    let rules = KeyRules::for_event(event)?;
    let mut tally = Tally::default();
    tally.add(&RunnerKeys::of(&Counted::of(registration, None), &rules), 1);
    apply(db, event.id, &tally).await
}

/// Moves registrations from what they were to what they are (the caller holds the event
/// lock): a starter kit's step, a refund request filed.
pub async fn count_changes(
    db: &impl ConnectionTrait,
    event: &event::Model,
    changes: &[(Counted<'_>, Counted<'_>)],
) -> ApiResult<()> {
    let rules = KeyRules::for_event(event)?;
    let mut tally = Tally::default();
    for (before, after) in changes {
        tally.shift(
            &RunnerKeys::of(before, &rules),
            &RunnerKeys::of(after, &rules),
        );
    }
    apply(db, event.id, &tally).await
}

/// Counts refund requests filed for registrations that had none.
pub async fn count_refund_requests(
    db: &impl ConnectionTrait,
    event: &event::Model,
    registrations: &[registration::Model],
    option: RefundOption,
) -> ApiResult<()> {
    let changes: Vec<(Counted<'_>, Counted<'_>)> = registrations
        .iter()
        .map(|r| (Counted::of(r, None), Counted::of(r, Some(option))))
        .collect();
    count_changes(db, event, &changes).await
}
