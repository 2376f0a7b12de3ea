//! Money given to charity: a donated half of a fee (one per refund outcome) or a direct
//! gift recorded by an organizer, allocated to one project.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "donation")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub source: DonationSource,
    /// The programme it was given to.
    pub event_id: Option<i64>,
    /// The project it was allocated to; `None` while the programme has no project.
    pub project_id: Option<i64>,
    /// Set for a donated fee share: at most one donation per refund outcome.
    #[sea_orm(unique)]
    pub refund_request_id: Option<i64>,
    /// The runner whose fee share it is.
    pub account_id: Option<i64>,
    pub donor_name: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub created_at: DateTimeUtc,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum DonationSource {
    #[sea_orm(string_value = "FEE_SHARE")]
    FeeShare,
    #[sea_orm(string_value = "DIRECT")]
    Direct,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
