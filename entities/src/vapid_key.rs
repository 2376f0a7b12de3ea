//! The VAPID key pair (RFC 8292) that signs every push request: one row, shared by all
//! instances, because browsers subscribed with its public key.

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vapid_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// The P-256 private scalar, base64url without padding. A secret: never logged.
    pub private_key: String,
    /// The uncompressed public point, base64url without padding (`webPushPublicKey`).
    pub public_key: String,
    pub created_at: DateTimeUtc,
}

/// Written by hand so that the private key cannot reach a log through `{:?}`.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
