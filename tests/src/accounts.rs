//! Accounts made directly in the database, for tests and load runs that need many of them
//! quickly (hashing a password per runner would only slow them down).

use anyhow::Context;
use sea_orm::{DatabaseConnection, EntityTrait, Set};

/// The bearer token [`runner_tokens`] gives runner `index` of `prefix`.
pub fn runner_token(prefix: &str, index: usize) -> String {
    format!("rdg_{prefix}-{index}")
}

/// `n` runner accounts (`<prefix>-<i>@load.test`) with sessions; returns their bearer
/// tokens.
pub async fn runner_tokens(
    db: &DatabaseConnection,
    prefix: &str,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let now = chrono::Utc::now();
    let mut tokens = Vec::with_capacity(n);
    for start in (0..n).step_by(2000) {
        let end = (start + 2000).min(n);
        let accounts = (start..end).map(|i| entities::account::ActiveModel {
            email: Set(format!("{prefix}-{i}@load.test")),
            // Not a hash of any password: these accounts sign in only by the token below.
            password_hash: Set("!load-test".into()),
            display_name: Set(format!("Load runner {i}")),
            role: Set(entities::account::Role::Runner),
            organization_id: Set(None),
            created_at: Set(now),
            ..Default::default()
        });
        let ids = entities::account::Entity::insert_many(accounts)
            .exec_with_returning_keys(db)
            .await?;
        let batch: Vec<String> = (start..end).map(|i| runner_token(prefix, i)).collect();
        let sessions = ids
            .iter()
            .zip(&batch)
            .map(|(id, token)| entities::session::ActiveModel {
                account_id: Set(*id),
                token_hash: Set(race_office::services::hash_token(token)),
                created_at: Set(now),
                expires_at: Set(now + chrono::Duration::days(1)),
                ..Default::default()
            });
        entities::session::Entity::insert_many(sessions)
            .exec(db)
            .await?;
        tokens.extend(batch);
    }
    Ok(tokens)
}

/// An organizer of `organization_slug` with this email (created directly) and a session
/// for it; returns the bearer token.
pub async fn organizer_token(
    db: &DatabaseConnection,
    email: &str,
    organization_slug: &str,
) -> anyhow::Result<String> {
    use race_office::domain::{DisplayName, Email, Password};
    use race_office::services::{accounts, organizations};
    let organization = organizations::find_by_slug(db, organization_slug)
        .await
        .map_err(race_office::ApiError::into_anyhow)?
        .with_context(|| format!("no organization {organization_slug}"))?;
    let organizer = accounts::create_account(
        db,
        chrono::Utc::now(),
        accounts::NewAccount {
            email: Email::parse(email).map_err(race_office::ApiError::into_anyhow)?,
            password: Password::parse("a director's long password")
                .map_err(race_office::ApiError::into_anyhow)?,
            display_name: DisplayName::parse("Director")
                .map_err(race_office::ApiError::into_anyhow)?,
            role: entities::account::Role::Organizer,
            organization_id: Some(organization.id),
        },
    )
    .await
    .map_err(race_office::ApiError::into_anyhow)?;
    accounts::open_session(db, chrono::Utc::now(), organizer.id)
        .await
        .map_err(race_office::ApiError::into_anyhow)
}
