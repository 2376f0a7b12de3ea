//! A sign-up waiting for its owner to confirm the address: the account's details and the
//! SHA-256 of the single-use confirmation token mailed to it. One per address; a newer
//! sign-up replaces it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pending_sign_up")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Normalized (trimmed, lower case), like `account.email`.
    #[sea_orm(unique)]
    pub email: String,
    pub display_name: String,
    /// argon2id PHC string of the chosen password.
    pub password_hash: String,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// The language chosen at sign-up, given to the account on confirmation.
    pub language: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
