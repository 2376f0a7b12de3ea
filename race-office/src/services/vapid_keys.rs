//! The VAPID key store: the one key pair (RFC 8292) every instance signs push requests
//! with, kept in the database because browsers subscribed with its public key. The first
//! instance that needs it stores one; every other instance, racing or later, reads that
//! one. Making a key is the host's business (it holds the cryptography); keeping the
//! fleet on one key is this module's.

use chrono::{DateTime, Utc};
use entities::vapid_key;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};

/// The one row the table holds.
const ID: i32 = 1;

/// A VAPID key pair, base64url without padding.
#[derive(Clone)]
pub struct VapidKey {
    /// The P-256 private scalar. A secret: never logged, hence no derived `Debug`.
    pub private_key: String,
    /// The uncompressed public point, as browsers subscribe with it (`webPushPublicKey`).
    pub public_key: String,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

impl From<vapid_key::Model> for VapidKey {
    fn from(row: vapid_key::Model) -> Self {
        Self {
            private_key: row.private_key,
            public_key: row.public_key,
        }
    }
}

/// The stored key pair, if an instance has stored one.
#[tracing::instrument(skip(db))]
pub async fn stored(db: &impl ConnectionTrait) -> Result<Option<VapidKey>, DbErr> {
    Ok(vapid_key::Entity::find_by_id(ID)
        .one(db)
        .await?
        .map(VapidKey::from))
}

/// Stores `candidate` unless a key pair is stored already, and returns the one in force:
/// `candidate`, or the pair another instance stored first (the insert is then a no-op).
#[tracing::instrument(skip(db, candidate))]
pub async fn keep_first(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    candidate: VapidKey,
) -> Result<VapidKey, DbErr> {
    vapid_key::Entity::insert(vapid_key::ActiveModel {
        id: Set(ID),
        private_key: Set(candidate.private_key),
        public_key: Set(candidate.public_key),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(vapid_key::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    stored(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the VAPID key was not stored".into()))
}
