//! The demo data, from the story of the Almaty Marathon 2020: its organizers and general
//! partner, the cancelled marathon with its history, the Women's and Children's Race whose
//! registration was suspended, one upcoming race to try a live cancellation on, and the
//! charity programme (the five 2020 projects and 17 earlier ones), all of it owned by the
//! Courage to be the First fund, which runs the race series and publishes the charity
//! report (the story's own words), set here explicitly.
//! Fees, distances, venues and the upcoming race are illustrative. The upcoming race's
//! dates move with the day the demo is seeded ([`next_race_year`]), so that its examples
//! never fall into the past. Idempotent: rows are found by slug and created only when
//! missing.

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Asia::Almaty;
use entities::charity_project::CharityStatus;
use entities::donation::DonationSource;
use entities::event::{EventStatus, RegistrationState};
use entities::event_organization::OrganizationRole;
use entities::organization::OrganizationKind;
use entities::{charity_project, event, organization};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, Set,
};

use super::charity::{self, NewDonation, ProjectInput};
use super::events::{self, DistanceInput, HistoryLine, NewEvent, append_status_change};
use super::organizations;
use crate::domain::{EventName, LongText, Money, ShortText, Slug, TimeZone};
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
/// The organization that owns the charity programme, history included.
const CHARITY_OWNER: &str = "courage-to-be-the-first";

pub const MARATHON_2020: &str = "almaty-marathon-2020";
pub const WOMENS_RACE_2020: &str = "womens-and-childrens-race-2020";

/// The upcoming race is held on 18 April (its refund deadline 31 March, kits from 12
/// April, announced on 1 November the year before), of the year [`next_race_year`] picks.
const NEXT_RACE_DAY: (u32, u32) = (4, 18);
const NEXT_DEADLINE: (u32, u32) = (3, 31);
const NEXT_KITS_FROM: (u32, u32) = (4, 12);
/// The least notice a newcomer gets: seeded later than a week before the deadline, the
/// demo's next race is the year after, so that its refund examples can still be tried.
const DEADLINE_NOTICE_DAYS: i64 = 7;

/// The year of the demo's upcoming race when seeded at `now`: this year while its refund
/// deadline (31 March, Almaty time) is at least a week away, next year after that. Seeded
/// between 25 March 2026 and 24 March 2027 it is the Almaty Marathon 2027.
pub fn next_race_year(now: DateTime<Utc>) -> i32 {
    let today = now.with_timezone(&Almaty).date_naive();
    let (month, day) = NEXT_DEADLINE;
    let this_years = NaiveDate::from_ymd_opt(today.year(), month, day);
    match this_years {
        Some(deadline) if today + Duration::days(DEADLINE_NOTICE_DAYS) <= deadline => today.year(),
        _ => today.year() + 1,
    }
}

/// The slug of the demo's upcoming race when seeded at `now` (`almaty-marathon-2027`).
pub fn next_race_slug(now: DateTime<Utc>) -> String {
    format!("almaty-marathon-{}", next_race_year(now))
}

const CANCELLATION_REASON: &str = "From March 13 2020 Kazakhstan government imposes ban on public \
events over the coronavirus, unfortunately we are forced to cancel the Almaty Marathon.";

/// What a seed run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub organizations_created: usize,
    pub events_created: usize,
    pub charity_projects_created: usize,
}

/// The five 2020 projects named in the story (KZT 35,000,000 in all; the split between
/// them is illustrative).
const PROJECTS_2020: &[(&str, &str, &str, &str)] = &[
    (
        "Kenes Public Association of Persons with Disabilities",
        "Equip a playground",
        "Almaty",
        "7000000",
    ),
    (
        "Regional Special Boarding School for Children with Intellectual Disabilities",
        "Build a football field",
        "Yessik",
        "8000000",
    ),
    (
        "SOS Children's Village of Almaty",
        "Create workout playgrounds",
        "Almaty",
        "6000000",
    ),
    (
        "Amalia Habitation Center for Children with Special Needs",
        "Acquire sensory integration equipment",
        "Almaty",
        "5000000",
    ),
    (
        "NUR Foster Home",
        "Build a sports ground",
        "Talgar",
        "9000000",
    ),
];

/// "17 charity projects over the previous 8 years": the count is the story's, the
/// projects and amounts are illustrative.
const EARLIER_PROJECTS: &[(i32, &str, &str, &str)] = &[
    (
        2012,
        "Almaty Children's Hospital No. 2",
        "Rehabilitation equipment",
        "1500000",
    ),
    (2012, "Boarding School No. 5", "Sports equipment", "1000000"),
    (2013, "Almaty Orphanage No. 1", "Playground", "1800000"),
    (
        2013,
        "Youth Athletics School",
        "Running track repair",
        "1200000",
    ),
    (
        2014,
        "Centre for Children with Cerebral Palsy",
        "Therapy equipment",
        "2000000",
    ),
    (2014, "Talgar District School", "Gym renovation", "1500000"),
    (
        2015,
        "Almaty Hospice for Children",
        "Garden and walkways",
        "2200000",
    ),
    (2015, "Kaskelen Orphanage", "Sports ground", "1800000"),
    (
        2016,
        "Inclusive Kindergarten No. 12",
        "Sensory room",
        "2500000",
    ),
    (
        2016,
        "Special Olympics Kazakhstan",
        "Athletes' travel",
        "2000000",
    ),
    (
        2017,
        "Almaty Regional Children's Hospital",
        "Playroom",
        "2600000",
    ),
    (2017, "Issyk Boarding School", "Football field", "3000000"),
    (
        2018,
        "Centre for the Visually Impaired",
        "Tactile paths",
        "3000000",
    ),
    (
        2018,
        "Shelter for Mothers and Children",
        "Courtyard playground",
        "2500000",
    ),
    (
        2019,
        "Autism Centre Ashyk Alem",
        "Therapy equipment",
        "3500000",
    ),
    (2019, "Esik Foster Home", "Workout area", "3000000"),
    (
        2019,
        "Almaty Children's Rehabilitation Centre",
        "Hydrotherapy pool equipment",
        "4000000",
    ),
];

fn almaty(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> ApiResult<DateTime<Utc>> {
    Almaty
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| ApiError::internal("demo date is not a valid Almaty time"))
}

fn kzt(tenge: &str) -> ApiResult<Money> {
    Money::parse(tenge, "KZT")
}

struct DemoEvent {
    slug: String,
    name: String,
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

fn date(year: i32, (month, day): (u32, u32)) -> ApiResult<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day)
        .ok_or_else(|| ApiError::internal("demo date does not exist"))
}

fn demo_events(now: DateTime<Utc>) -> ApiResult<Vec<DemoEvent>> {
    let next = next_race_year(now);
    let (race_month, race_day) = NEXT_RACE_DAY;
    let all_organizers: &[&str] = &[
        "courage-to-be-the-first",
        "world-class-almaty",
        "yessenov-foundation",
        "different-you",
    ];
    Ok(vec![
        DemoEvent {
            slug: MARATHON_2020.into(),
            name: "Almaty Marathon 2020".into(),
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
            slug: WOMENS_RACE_2020.into(),
            name: "Women's and Children's Race 2020".into(),
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
            slug: next_race_slug(now),
            name: format!("Almaty Marathon {next}"),
            description: "The next Almaty Marathon. Registration is open.",
            venue: "Almaty, Republic Square",
            starts_at: almaty(next, race_month, race_day, 8, 0)?,
            capacity: 20_000,
            registration_state: RegistrationState::Open,
            // Never announced in the future: seeded in late March, the race is a year on.
            announced_at: almaty(next - 1, 11, 1, 10, 0)?.min(now),
            organizers: all_organizers,
            distances: marathon_distances()?,
        },
    ])
}

/// Seeds the demo data in one transaction, with the upcoming race of today; a second run
/// the same year changes nothing.
pub async fn seed_demo(db: &DatabaseConnection) -> ApiResult<SeedReport> {
    seed_demo_at(db, Utc::now()).await
}

/// Seeds the demo data, as [`seed_demo`], into a database that holds no organization yet
/// (a fresh embedded one); returns `None` and changes nothing otherwise.
pub async fn seed_demo_if_empty(db: &DatabaseConnection) -> ApiResult<Option<SeedReport>> {
    if organization::Entity::find().count(db).await? > 0 {
        return Ok(None);
    }
    seed_demo(db).await.map(Some)
}

/// Seeds the demo data as of `now`, which picks the upcoming race's year.
pub async fn seed_demo_at(db: &DatabaseConnection, now: DateTime<Utc>) -> ApiResult<SeedReport> {
    let txn = super::begin_write(db).await?;
    let mut report = SeedReport::default();
    let organizers = ORGANIZERS.iter().map(|o| (o, OrganizationKind::Organizer));
    let partner = std::iter::once((&GENERAL_PARTNER, OrganizationKind::Partner));
    for ((slug, name), kind) in organizers.chain(partner) {
        if organizations::find_by_slug(&txn, slug).await?.is_none() {
            let founded = almaty(2019, 1, 1, 0, 0)?;
            organizations::create(&txn, founded, Slug::parse(slug)?, name, kind).await?;
            report.organizations_created += 1;
        }
    }
    for demo in demo_events(now)? {
        if event::Entity::find()
            .filter(event::Column::Slug.eq(&demo.slug))
            .one(&txn)
            .await?
            .is_some()
        {
            continue;
        }
        seed_event(&txn, demo).await?;
        report.events_created += 1;
    }
    report.charity_projects_created = seed_charity(&txn).await?;
    txn.commit().await?;
    Ok(report)
}

async fn organization_id(db: &impl ConnectionTrait, slug: &str) -> ApiResult<i64> {
    organizations::find_by_slug(db, slug)
        .await?
        .map(|o: organization::Model| o.id)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("demo organization {slug} is missing")))
}

async fn seed_event(db: &impl ConnectionTrait, demo: DemoEvent) -> ApiResult<()> {
    let created = events::insert_event(
        db,
        demo.announced_at,
        NewEvent {
            slug: Slug::parse(&demo.slug)?,
            name: EventName::parse(&demo.name)?,
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
        events::insert_distance(
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
    // The 2020 policy: "before 23:59 on March 31", 50/50, kits "issued starting from
    // April 20". The upcoming race's dates are illustrative, in its own year.
    let year = demo.starts_at.with_timezone(&Almaty).year();
    let dates = match demo.slug.as_str() {
        MARATHON_2020 => Some((date(2020, (3, 31))?, date(2020, (4, 20))?)),
        WOMENS_RACE_2020 => None,
        _ => Some((date(year, NEXT_DEADLINE)?, date(year, NEXT_KITS_FROM)?)),
    };
    let created = match dates {
        Some((deadline, kits_from)) => {
            let mut policy: event::ActiveModel = created.into();
            policy.refund_deadline = Set(Some(deadline));
            policy.kit_issue_from = Set(Some(kits_from));
            policy.update(db).await?
        }
        None => created,
    };
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
            reasons: Vec::new(),
            starts_at: marathon.starts_at,
            changed_by: None,
            occurred_at: cancelled_at,
            announced_at: Some(cancelled_at),
            email: crate::domain::EmailPolicy::None,
        },
    )
    .await?;
    Ok(())
}

/// The charity programme: the five 2020 projects (funded by the marathon's donated fee
/// shares) and seventeen completed projects of 2012-2019 with what they raised.
async fn seed_charity(db: &impl ConnectionTrait) -> ApiResult<usize> {
    let marathon = event::Entity::find()
        .filter(event::Column::Slug.eq(MARATHON_2020))
        .one(db)
        .await?
        .map(|e| e.id);
    let planned = PROJECTS_2020
        .iter()
        .map(|(beneficiary, what, city, target)| {
            (2020, *beneficiary, *what, *city, *target, marathon)
        });
    let earlier = EARLIER_PROJECTS
        .iter()
        .map(|(year, beneficiary, what, target)| {
            (*year, *beneficiary, *what, "Almaty region", *target, None)
        });
    let owner = organization_id(db, CHARITY_OWNER).await?;
    let mut created = 0;
    for (year, beneficiary, what, city, target, event_id) in planned.chain(earlier) {
        let exists = charity_project::Entity::find()
            .filter(charity_project::Column::Year.eq(year))
            .filter(charity_project::Column::Beneficiary.eq(beneficiary))
            .one(db)
            .await?
            .is_some();
        if exists {
            continue;
        }
        let completed = year < 2020;
        let report = completed.then(|| format!("{what}: delivered and handed over in {year}."));
        let project = charity::insert_project(
            db,
            almaty(year, 1, 15, 10, 0)?,
            owner,
            ProjectInput {
                event_id,
                beneficiary: ShortText::parse(
                    "beneficiary",
                    beneficiary,
                    charity::BENEFICIARY_MAX,
                )?,
                description: LongText::parse("description", what, charity::DESCRIPTION_MAX)?,
                city: ShortText::parse("city", city, charity::CITY_MAX)?,
                year,
                target: kzt(target)?,
                status: if completed {
                    CharityStatus::Completed
                } else {
                    CharityStatus::InProgress
                },
                report: report
                    .map(|r| LongText::parse("report", &r, charity::REPORT_MAX))
                    .transpose()?,
            },
        )
        .await?;
        if completed {
            charity::insert_donations(
                db,
                almaty(year, 5, 1, 10, 0)?,
                vec![NewDonation {
                    source: DonationSource::Direct,
                    event_id: None,
                    project_id: Some(project.id),
                    refund_request_id: None,
                    account_id: None,
                    donor_name: Some(format!("Almaty Marathon {year} participants and partners")),
                    amount_minor: project.target_minor,
                    currency: project.currency.clone(),
                }],
            )
            .await?;
        }
        created += 1;
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_almaty(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
        almaty(y, mo, d, h, 0).unwrap()
    }

    #[test]
    fn the_next_race_is_this_years_until_a_week_before_its_refund_deadline() {
        assert_eq!(next_race_year(at_almaty(2026, 12, 6, 12)), 2027);
        assert_eq!(next_race_year(at_almaty(2027, 1, 1, 0)), 2027);
        // 24 March + 7 days is the deadline itself: still this year's race.
        assert_eq!(next_race_year(at_almaty(2027, 3, 24, 23)), 2027);
        assert_eq!(next_race_year(at_almaty(2027, 3, 25, 0)), 2028);
        assert_eq!(next_race_year(at_almaty(2027, 12, 31, 23)), 2028);
        // Judged in Almaty: 19:00 UTC on 24 March is already 25 March there.
        let evening_utc = Utc.with_ymd_and_hms(2027, 3, 24, 19, 0, 0).unwrap();
        assert_eq!(next_race_year(evening_utc), 2028);
        assert_eq!(next_race_slug(evening_utc), "almaty-marathon-2028");
    }

    #[test]
    fn the_next_race_is_never_announced_in_the_future() {
        let late_march = at_almaty(2027, 3, 28, 12);
        let events = demo_events(late_march).unwrap();
        let next = events.last().unwrap();
        assert_eq!(next.name, "Almaty Marathon 2028");
        assert_eq!(next.starts_at, at_almaty(2028, 4, 18, 8));
        assert_eq!(next.announced_at, late_march);
        let december = at_almaty(2026, 12, 6, 12);
        let events = demo_events(december).unwrap();
        assert_eq!(
            events.last().unwrap().announced_at,
            at_almaty(2026, 11, 1, 10)
        );
    }
}
