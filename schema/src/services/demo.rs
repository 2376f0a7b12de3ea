//! The demo data, from the story of the Almaty Marathon 2020: its organizers and general
//! partner, the cancelled marathon with its history, the Women's and Children's Race whose
//! registration was suspended, and one upcoming race to try a live cancellation on.
//! Fees, distances, venues and the upcoming race are illustrative. Idempotent: rows are
//! found by slug and created only when missing.

use chrono::{DateTime, TimeZone as _, Utc};
use chrono_tz::Asia::Almaty;
use entities::event::{EventStatus, RegistrationState};
use entities::event_organization::OrganizationRole;
use entities::{event, organization};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set, TransactionTrait,
};

use super::events::{self, DistanceInput, HistoryLine, NewEvent, append_status_change};
use super::organizations;
use crate::domain::{EventName, Money, Slug, TimeZone};
use crate::error::{ApiError, ApiResult};

const ORGANIZERS: &[(&str, &str)] = &[
    (
        "courage-to-be-the-first",
        "Courage to be the First Corporate Fund",
    ),
    ("world-class-almaty", "World Class Almaty Fitness Club"),
    (
        "yessenov-foundation",
        "Academician S. Yessenov Scientific and Educational Foundation",
    ),
    ("different-you", "#DifferentYou"),
];
const GENERAL_PARTNER: (&str, &str) = ("kaspi-kz", "Kaspi.kz");

pub const MARATHON_2020: &str = "almaty-marathon-2020";
pub const WOMENS_RACE_2020: &str = "womens-and-childrens-race-2020";
pub const MARATHON_2027: &str = "almaty-marathon-2027";

const CANCELLATION_REASON: &str = "From March 13 2020 Kazakhstan government imposes ban on public \
events over the coronavirus, unfortunately we are forced to cancel the Almaty Marathon.";

/// What a seed run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub organizations_created: usize,
    pub events_created: usize,
}

fn almaty(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> ApiResult<DateTime<Utc>> {
    Almaty
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| ApiError::Internal("demo date is not a valid Almaty time".into()))
}

fn kzt(tenge: &str) -> ApiResult<Money> {
    Money::parse(tenge, "KZT")
}

struct DemoEvent {
    slug: &'static str,
    name: &'static str,
    description: &'static str,
    venue: &'static str,
    starts_at: DateTime<Utc>,
    capacity: i32,
    registration_state: RegistrationState,
    announced_at: DateTime<Utc>,
    organizers: &'static [&'static str],
    distances: Vec<(&'static str, i32, Money)>,
}

fn marathon_distances() -> ApiResult<Vec<(&'static str, i32, Money)>> {
    Ok(vec![
        ("Marathon", 42_195, kzt("15000")?),
        ("Half marathon", 21_097, kzt("12000")?),
        ("10 km", 10_000, kzt("8000")?),
        ("Nordic walking 10 km", 10_000, kzt("6000")?),
    ])
}

fn demo_events() -> ApiResult<Vec<DemoEvent>> {
    let all_organizers: &[&str] = &[
        "courage-to-be-the-first",
        "world-class-almaty",
        "yessenov-foundation",
        "different-you",
    ];
    Ok(vec![
        DemoEvent {
            slug: MARATHON_2020,
            name: "Almaty Marathon 2020",
            description: "The largest running competition of the region, with about 18,000 \
                participants. Cancelled over the ban on public events.",
            venue: "Almaty, Republic Square",
            starts_at: almaty(2020, 4, 19, 8, 0)?,
            capacity: 18_000,
            registration_state: RegistrationState::Open,
            announced_at: almaty(2019, 11, 1, 10, 0)?,
            organizers: all_organizers,
            distances: marathon_distances()?,
        },
        DemoEvent {
            slug: WOMENS_RACE_2020,
            name: "Women's and Children's Race 2020",
            description: "If the situation over coronavirus returns to normal, the competition \
                will take place as planned.",
            venue: "Almaty, Central Park",
            starts_at: almaty(2020, 5, 16, 9, 0)?,
            capacity: 5_000,
            registration_state: RegistrationState::Suspended,
            announced_at: almaty(2020, 1, 15, 10, 0)?,
            organizers: &["courage-to-be-the-first"],
            distances: vec![
                ("5 km", 5_000, kzt("5000")?),
                ("Children's 1 km", 1_000, kzt("2000")?),
            ],
        },
        DemoEvent {
            slug: MARATHON_2027,
            name: "Almaty Marathon 2027",
            description: "The next Almaty Marathon. Registration is open.",
            venue: "Almaty, Republic Square",
            starts_at: almaty(2027, 4, 18, 8, 0)?,
            capacity: 20_000,
            registration_state: RegistrationState::Open,
            announced_at: almaty(2026, 11, 1, 10, 0)?,
            organizers: all_organizers,
            distances: marathon_distances()?,
        },
    ])
}

/// Seeds the demo data in one transaction; a second run changes nothing.
pub async fn seed_demo(db: &DatabaseConnection) -> ApiResult<SeedReport> {
    let txn = db.begin().await?;
    let mut report = SeedReport::default();
    for (slug, name) in ORGANIZERS.iter().chain(std::iter::once(&GENERAL_PARTNER)) {
        if organizations::find_by_slug(&txn, slug).await?.is_none() {
            organizations::create(&txn, almaty(2019, 1, 1, 0, 0)?, Slug::parse(slug)?, name)
                .await?;
            report.organizations_created += 1;
        }
    }
    for demo in demo_events()? {
        if event::Entity::find()
            .filter(event::Column::Slug.eq(demo.slug))
            .one(&txn)
            .await?
            .is_some()
        {
            continue;
        }
        seed_event(&txn, demo).await?;
        report.events_created += 1;
    }
    txn.commit().await?;
    Ok(report)
}

async fn organization_id(db: &impl ConnectionTrait, slug: &str) -> ApiResult<i64> {
    organizations::find_by_slug(db, slug)
        .await?
        .map(|o: organization::Model| o.id)
        .ok_or_else(|| ApiError::Internal(format!("demo organization {slug} is missing")))
}

async fn seed_event(db: &impl ConnectionTrait, demo: DemoEvent) -> ApiResult<()> {
    let created = events::insert_event(
        db,
        demo.announced_at,
        NewEvent {
            slug: Slug::parse(demo.slug)?,
            name: EventName::parse(demo.name)?,
            description: demo.description.into(),
            venue: demo.venue.into(),
            starts_at: demo.starts_at,
            time_zone: TimeZone::parse("Asia/Almaty")?,
            capacity: demo.capacity,
            registration_state: demo.registration_state,
        },
        None,
    )
    .await?;
    for slug in demo.organizers {
        let id = organization_id(db, slug).await?;
        events::link_organization(db, created.id, id, OrganizationRole::Organizer).await?;
    }
    let partner = organization_id(db, GENERAL_PARTNER.0).await?;
    events::link_organization(db, created.id, partner, OrganizationRole::Partner).await?;
    for (name, length_m, fee) in demo.distances {
        events::add_distance(
            db,
            demo.announced_at,
            created.id,
            DistanceInput {
                name: name.into(),
                length_m,
                fee,
            },
        )
        .await?;
    }
    if demo.slug == MARATHON_2020 {
        record_historic_cancellation(db, created).await?;
    }
    Ok(())
}

/// The marathon's cancellation of 12 March 2020, as history and as an already-published
/// notification (so the relay does not announce a 2020 cancellation again).
async fn record_historic_cancellation(
    db: &impl ConnectionTrait,
    marathon: event::Model,
) -> ApiResult<()> {
    let cancelled_at = almaty(2020, 3, 12, 18, 0)?;
    let mut active: event::ActiveModel = marathon.clone().into();
    active.status = Set(EventStatus::Cancelled);
    active.registration_state = Set(RegistrationState::Closed);
    active.updated_at = Set(cancelled_at);
    active.update(db).await?;
    append_status_change(
        db,
        &marathon,
        HistoryLine {
            status: EventStatus::Cancelled,
            reason: CANCELLATION_REASON.into(),
            starts_at: marathon.starts_at,
            changed_by: None,
            occurred_at: cancelled_at,
            published_at: Some(cancelled_at),
        },
    )
    .await?;
    Ok(())
}
