//! Synthetic runners for load tests and statistics: `gateway seed --runners N`. Each
//! runner is derived from its index alone (a counter-based generator), so the i-th
//! synthetic runner of an event is always the same person, whatever N. Rows go in
//! batches of 2,000 in one transaction: all of them or none.

use chrono::{DateTime, Duration, NaiveDate, TimeZone as _, Utc};
use entities::account::Role;
use entities::event::{EventStatus, RegistrationState};
use entities::refund_request::{RefundOption, RefundStatus};
use entities::registration::{Gender, RegistrationStatus, StarterKit, TshirtSize};
use entities::{account, distance, event, refund_request, registration};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use super::charity::{Allocator, NewDonation, insert_donations};
use super::events::{self, DistanceInput, NewEvent};
use super::{organizations, stats};
use crate::domain::participation::{Counted, KeyRules, RunnerKeys, Tally};
use crate::domain::{BasisPoints, EventName, Money, Slug, TimeZone, split_fee};
use crate::error::{ApiError, ApiResult};

/// The event synthetic runners join when none is named.
pub const SYNTHETIC_EVENT: &str = "synthetic-race";
const BATCH: usize = 2_000;

#[derive(Debug, PartialEq, Eq)]
pub struct SyntheticReport {
    pub event_slug: String,
    pub runners: u64,
    pub refund_requests: u64,
    pub donations: u64,
}

/// splitmix64: a tiny, well-mixed, counter-based generator (no state between runners).
struct Dice(u64);

impl Dice {
    fn for_runner(index: u64) -> Self {
        Self(index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA076_1D64_78BD_642F)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in 0..100.
    fn percent(&mut self) -> u64 {
        self.next() % 100
    }

    /// Picks from (weight, value) pairs whose weights sum to 100.
    fn pick<T: Copy>(&mut self, table: &[(u64, T)]) -> T {
        let mut roll = self.percent();
        for (weight, value) in table {
            if roll < *weight {
                return *value;
            }
            roll -= weight;
        }
        table[table.len() - 1].1
    }
}

const COUNTRIES: &[(u64, &str)] = &[
    (82, "KZ"),
    (6, "RU"),
    (3, "KG"),
    (3, "UZ"),
    (1, "US"),
    (1, "DE"),
    (1, "TR"),
    (1, "GB"),
    (1, "CN"),
    (1, "KR"),
];
const KZ_CITIES: &[(u64, &str)] = &[
    (68, "Almaty"),
    (12, "Astana"),
    (5, "Shymkent"),
    (5, "Karaganda"),
    (4, "Taraz"),
    (3, "Aktobe"),
    (3, "Pavlodar"),
];
const TSHIRTS: &[(u64, Option<TshirtSize>)] = &[
    (40, None),
    (5, Some(TshirtSize::Xs)),
    (14, Some(TshirtSize::S)),
    (18, Some(TshirtSize::M)),
    (13, Some(TshirtSize::L)),
    (7, Some(TshirtSize::Xl)),
    (3, Some(TshirtSize::Xxl)),
];

fn capital(country: &str) -> &'static str {
    match country {
        "RU" => "Moscow",
        "KG" => "Bishkek",
        "UZ" => "Tashkent",
        "US" => "New York",
        "DE" => "Berlin",
        "TR" => "Istanbul",
        "GB" => "London",
        "CN" => "Urumqi",
        _ => "Seoul",
    }
}

/// Distance weights by position when sorted longest first: few marathoners, many 10 km.
fn distance_weights(count: usize) -> Vec<(u64, usize)> {
    match count {
        0 => Vec::new(),
        1 => vec![(100, 0)],
        2 => vec![(35, 0), (65, 1)],
        3 => vec![(15, 0), (35, 1), (50, 2)],
        _ => {
            let mut weights = vec![(15, 0), (30, 1), (45, 2)];
            let rest = count - 3;
            for k in 0..rest {
                let share = 10 / rest as u64 + u64::from(k < 10 % rest);
                weights.push((share, 3 + k));
            }
            weights
        }
    }
}

/// One synthetic runner's details.
struct Runner {
    distance: usize,
    gender: Gender,
    birth_date: NaiveDate,
    country: &'static str,
    city: &'static str,
    tshirt: Option<TshirtSize>,
    registered_at: DateTime<Utc>,
    starter_kit: StarterKit,
    refund: Option<(RefundOption, RefundStatus)>,
}

fn runner(index: u64, event: &event::Model, distances: usize, now: DateTime<Utc>) -> Runner {
    let mut dice = Dice::for_runner(index);
    let distance = dice.pick(&distance_weights(distances));
    let gender = dice.pick(&[(45, Gender::Female), (54, Gender::Male), (1, Gender::Other)]);
    // Ages 16 to 75, most between 25 and 45.
    let age = match dice.percent() {
        0..=9 => 16 + dice.next() % 9,
        10..=74 => 25 + dice.next() % 20,
        75..=94 => 45 + dice.next() % 15,
        _ => 60 + dice.next() % 16,
    } as i64;
    let event_day = event.starts_at.date_naive();
    let birth_date = event_day - Duration::days(age * 365 + (dice.next() % 365) as i64);
    let country = dice.pick(COUNTRIES);
    let city = if country == "KZ" {
        dice.pick(KZ_CITIES)
    } else {
        capital(country)
    };
    let tshirt = dice.pick(TSHIRTS);
    // Registration opens 150 days before the start (or before now, for a past race).
    let window_end = Ord::min(event.starts_at, now);
    let registered_at = window_end - Duration::minutes((dice.next() % (150 * 24 * 60)) as i64 + 1);
    let started = now >= event.starts_at;
    let starter_kit = match (started, dice.percent()) {
        (true, 0..=69) => StarterKit::Issued,
        (true, 70..=79) | (false, 80..=99) => StarterKit::Ready,
        _ => StarterKit::Pending,
    };
    let refund = (event.status == EventStatus::Cancelled).then(|| match dice.percent() {
        0..=14 => Some((
            RefundOption::FullRefund,
            dice.pick(&[
                (30, RefundStatus::Submitted),
                (30, RefundStatus::Approved),
                (30, RefundStatus::Paid),
                (10, RefundStatus::Rejected),
            ]),
        )),
        15..=49 => Some((
            RefundOption::KitAndDonate,
            dice.pick(&[(30, RefundStatus::Submitted), (70, RefundStatus::Approved)]),
        )),
        _ => None,
    });
    Runner {
        distance,
        gender,
        birth_date,
        country,
        city,
        tshirt,
        registered_at,
        starter_kit: if refund
            .flatten()
            .is_some_and(|(o, _)| o == RefundOption::FullRefund)
        {
            StarterKit::Pending
        } else {
            starter_kit
        },
        refund: refund.flatten(),
    }
}

async fn synthetic_event(db: &impl ConnectionTrait, now: DateTime<Utc>) -> ApiResult<event::Model> {
    if let Some(found) = event::Entity::find()
        .filter(event::Column::Slug.eq(SYNTHETIC_EVENT))
        .one(db)
        .await?
    {
        return Ok(found);
    }
    let starts_at = chrono_tz::Asia::Almaty
        .with_ymd_and_hms(2027, 9, 19, 8, 0, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| ApiError::internal("synthetic start date"))?;
    let created = events::insert_event(
        db,
        now,
        NewEvent {
            slug: Slug::parse(SYNTHETIC_EVENT)?,
            name: EventName::parse("Synthetic Race (load data)")?,
            description: "Synthetic runners for load tests and statistics.".into(),
            venue: "Almaty".into(),
            starts_at,
            time_zone: TimeZone::parse("Asia/Almaty")?,
            capacity: 2_000_000,
            registration_state: RegistrationState::Open,
        },
        None,
    )
    .await?;
    if let Some(org) = organizations::find_by_slug(db, "courage-to-be-the-first").await? {
        events::link_organization(
            db,
            created.id,
            org.id,
            entities::event_organization::OrganizationRole::Organizer,
        )
        .await?;
    }
    if let Some(partner) = organizations::find_by_slug(db, "kaspi-kz").await? {
        events::link_organization(
            db,
            created.id,
            partner.id,
            entities::event_organization::OrganizationRole::Partner,
        )
        .await?;
    }
    for (name, length_m, fee) in [
        ("Marathon", 42_195, "15000"),
        ("Half marathon", 21_097, "12000"),
        ("10 km", 10_000, "8000"),
        ("5 km", 5_000, "5000"),
    ] {
        events::insert_distance(
            db,
            now,
            created.id,
            DistanceInput {
                name: name.into(),
                length_m,
                fee: Money::parse(fee, "KZT")?,
            },
        )
        .await?;
    }
    Ok(created)
}

/// Adds `count` synthetic runners, registered for `event_slug` (default: the synthetic
/// race, created on first use), with refund requests when the event is cancelled.
#[tracing::instrument(skip(db))]
pub async fn seed_runners(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    count: u64,
    event_slug: Option<&str>,
) -> ApiResult<SyntheticReport> {
    if count == 0 || count > 10_000_000 {
        return Err(ApiError::bad_input("runners must be 1 to 10,000,000"));
    }
    let password_hash =
        super::secrets::hash_password(super::secrets::new_token("synthetic")).await?;
    let txn = super::begin_write(db).await?;
    let event = match event_slug {
        Some(slug) => event::Entity::find()
            .filter(event::Column::Slug.eq(slug))
            .one(&txn)
            .await?
            .ok_or(ApiError::NotFound("event"))?,
        None => synthetic_event(&txn, now).await?,
    };
    let distances = distance::Entity::find()
        .filter(distance::Column::EventId.eq(event.id))
        .order_by_desc(distance::Column::LengthM)
        .order_by_asc(distance::Column::Id)
        .all(&txn)
        .await?;
    if distances.is_empty() {
        return Err(ApiError::bad_input("the event has no distances"));
    }
    let domain = format!("{}.synthetic.invalid", event.slug);
    let first_index = account::Entity::find()
        .filter(account::Column::Email.like(format!("%@{domain}")))
        .count(&txn)
        .await?;
    let reserved = i32::try_from(count).map_err(|_| ApiError::bad_input("too many runners"))?;
    let claimed = event::Entity::update_many()
        .col_expr(
            event::Column::RegisteredCount,
            Expr::col(event::Column::RegisteredCount).add(reserved),
        )
        .col_expr(
            event::Column::LastBib,
            Expr::col(event::Column::LastBib).add(reserved),
        )
        .filter(event::Column::Id.eq(event.id))
        .filter(
            Expr::col(event::Column::RegisteredCount)
                .add(reserved)
                .lte(Expr::col(event::Column::Capacity)),
        )
        .exec_with_returning(&txn)
        .await?;
    let Some(reserved_event) = claimed.into_iter().next() else {
        return Err(ApiError::Conflict(format!(
            "{} has room for {} more runners",
            event.slug,
            event.capacity - event.registered_count
        )));
    };
    let first_bib = reserved_event.last_bib - reserved + 1;
    let kit_share = BasisPoints::parse(event.kit_share_bp)?;
    let mut allocator = Allocator::for_event(&txn, event.id).await?;
    // Counted in Rust as the batches go, written once at the end: a few thousand counter
    // rows however many runners (the claim above holds the event lock).
    let rules = KeyRules::for_event(&event)?;
    let mut tally = Tally::default();
    let mut report = SyntheticReport {
        event_slug: event.slug.clone(),
        runners: count,
        refund_requests: 0,
        donations: 0,
    };

    let mut offset = 0_u64;
    while offset < count {
        let batch = Ord::min(count - offset, BATCH as u64);
        let indexes: Vec<u64> = (first_index + offset..first_index + offset + batch).collect();
        let runners: Vec<Runner> = indexes
            .iter()
            .map(|i| runner(*i, &event, distances.len(), now))
            .collect();
        let accounts = indexes
            .iter()
            .zip(&runners)
            .map(|(i, r)| account::ActiveModel {
                email: Set(format!("runner-{i}@{domain}")),
                password_hash: Set(password_hash.clone()),
                display_name: Set(format!("Synthetic runner {i}")),
                role: Set(Role::Runner),
                organization_id: Set(None),
                created_at: Set(r.registered_at),
                ..Default::default()
            });
        let account_ids = account::Entity::insert_many(accounts)
            .exec_with_returning_keys(&txn)
            .await?;
        let registrations =
            runners
                .iter()
                .zip(&account_ids)
                .enumerate()
                .map(|(k, (r, account_id))| {
                    let distance = &distances[r.distance];
                    registration::ActiveModel {
                        event_id: Set(event.id),
                        distance_id: Set(distance.id),
                        account_id: Set(*account_id),
                        bib: Set(first_bib + (offset as i32) + k as i32),
                        fee_minor: Set(distance.fee_minor),
                        currency: Set(distance.currency.clone()),
                        tshirt_size: Set(r.tshirt),
                        tshirt_paid: Set(r.tshirt.is_some()),
                        starter_kit: Set(r.starter_kit),
                        state: Set(match r.refund {
                            Some((RefundOption::FullRefund, RefundStatus::Paid)) => {
                                RegistrationStatus::Refunded
                            }
                            _ => RegistrationStatus::Confirmed,
                        }),
                        gender: Set(Some(r.gender)),
                        birth_date: Set(Some(r.birth_date)),
                        country: Set(Some(r.country.to_owned())),
                        city: Set(Some(r.city.to_owned())),
                        registered_at: Set(r.registered_at),
                        ..Default::default()
                    }
                });
        let registration_ids = registration::Entity::insert_many(registrations)
            .exec_with_returning_keys(&txn)
            .await?;
        for r in &runners {
            let counted = Counted {
                distance_id: distances[r.distance].id,
                gender: Some(r.gender),
                birth_date: Some(r.birth_date),
                country: Some(r.country),
                city: Some(r.city),
                registered_at: r.registered_at,
                starter_kit: r.starter_kit,
                refund_option: r.refund.map(|(option, _)| option),
            };
            tally.add(&RunnerKeys::of(&counted, &rules), 1);
        }

        let requests: Vec<refund_request::ActiveModel> = runners
            .iter()
            .zip(account_ids.iter().zip(&registration_ids))
            .filter_map(|(r, (account_id, registration_id))| {
                let (option, status) = r.refund?;
                let fee = distances[r.distance].fee_minor;
                let split = split_fee(fee, option == RefundOption::FullRefund, kit_share);
                let decided = status != RefundStatus::Submitted;
                Some(refund_request::ActiveModel {
                    registration_id: Set(*registration_id),
                    event_id: Set(event.id),
                    account_id: Set(*account_id),
                    option: Set(option),
                    donation_consent: Set(option == RefundOption::KitAndDonate),
                    status: Set(status),
                    refund_minor: Set(split.refund),
                    kit_share_minor: Set(split.kit_share),
                    donation_minor: Set(split.donation),
                    currency: Set(distances[r.distance].currency.clone()),
                    is_default: Set(false),
                    submitted_at: Set(Ord::max(r.registered_at, event.updated_at)),
                    decided_at: Set(decided.then_some(now)),
                    decided_by: Set(None),
                    decision_note: Set(None),
                    paid_at: Set((status == RefundStatus::Paid).then_some(now)),
                    ..Default::default()
                })
            })
            .collect();
        if !requests.is_empty() {
            let ids = refund_request::Entity::insert_many(requests)
                .exec_with_returning_keys(&txn)
                .await?;
            report.refund_requests += ids.len() as u64;
            let approved_donations = refund_request::Entity::find()
                .filter(refund_request::Column::Id.is_in(ids))
                .filter(refund_request::Column::Option.eq(RefundOption::KitAndDonate))
                .filter(refund_request::Column::Status.eq(RefundStatus::Approved))
                .order_by_asc(refund_request::Column::Id)
                .all(&txn)
                .await?;
            let donations: Vec<NewDonation> = approved_donations
                .iter()
                .filter(|r| r.donation_minor > 0)
                .map(|r| NewDonation {
                    source: entities::donation::DonationSource::FeeShare,
                    event_id: Some(r.event_id),
                    project_id: allocator.allocate(r.donation_minor, &r.currency),
                    refund_request_id: Some(r.id),
                    account_id: Some(r.account_id),
                    donor_name: None,
                    amount_minor: r.donation_minor,
                    currency: r.currency.clone(),
                })
                .collect();
            report.donations += donations.len() as u64;
            insert_donations(&txn, now, donations).await?;
        }
        offset += batch;
    }
    stats::counters::apply(&txn, event.id, &tally).await?;
    txn.commit().await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_weights_sum_to_a_hundred() {
        for count in 1..12 {
            let total: u64 = distance_weights(count).iter().map(|(w, _)| w).sum();
            assert_eq!(total, 100, "{count} distances");
        }
    }

    #[test]
    fn the_same_index_gives_the_same_runner() {
        let (mut a, mut b) = (Dice::for_runner(42), Dice::for_runner(42));
        assert_eq!((a.next(), a.next()), (b.next(), b.next()));
        assert_ne!(Dice::for_runner(1).next(), Dice::for_runner(2).next());
    }
}
