//! An API key a partner (sponsor) reads statistics with: issued by an organizer
//! organization to a partner organization, stored only as the SHA-256 of the key, with
//! scopes, an expiry and a revocation time.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "partner_key")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The partner organization the key acts for.
    pub organization_id: i64,
    /// The organizer organization that issued it: the key sees only events this
    /// organization organizes (and the partner partners).
    pub issuer_organization_id: i64,
    #[sea_orm(unique)]
    pub key_hash: String,
    /// The first characters of the key, so people can tell keys apart; not enough to use.
    pub hint: String,
    /// Scope names separated by spaces, sorted (`EVENTS_READ STATS_READ`).
    pub scopes: String,
    pub created_by: Option<i64>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    /// Refreshed at most once a minute, so that reading with a key costs no write.
    pub last_used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::organization::Entity",
        from = "Column::OrganizationId",
        to = "super::organization::Column::Id",
        on_delete = "Cascade"
    )]
    Organization,
}

impl Related<super::organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Organization.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
