//! A runner's sign-up, confirmed by mail. The answer is the same whether or not the email
//! already has an account ("check your mail"), and so is the time it takes: the request
//! only hashes the password; what differs between the two cases, and the mail, happens
//! in the background. The mail says what happened: a link to confirm, to a new address
//! (the sign-up waits in `pending_sign_up`, one per address, the token stored as its
//! SHA-256), or to an existing account's owner a notice that someone tried, with the way
//! to a new password.

use chrono::{DateTime, Duration, Utc};
use entities::{account, account::Role, pending_sign_up};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::accounts::open_session;
use super::secrets::{hash_password, hash_token, new_token};
use crate::context::{ApiContext, Mail};
use crate::domain::messages::text;
use crate::domain::{DisplayName, Email, Language, Password};
use crate::error::{ApiError, ApiResult, on_unique_violation};

/// How long a sign-up waits for its address to be confirmed.
pub const SIGN_UP_LIFETIME: Duration = Duration::hours(24);
/// What `signUp` answers, whatever happened.
pub const SIGN_UP_ANSWER: &str =
    "Check your mail: the message we sent tells you how to finish signing up.";

/// A runner signs up: the answer is the same whether or not the email has an account,
/// and so is the time it takes. Here, in the request: the password is hashed (which also
/// makes a burst of sign-ups queue on the hashing permits). The rest, which differs
/// between the two cases, happens in the background, as mail does: see [`record_sign_up`].
#[tracing::instrument(skip_all)]
pub async fn sign_up(
    ctx: &ApiContext,
    email: Email,
    password: Password,
    display_name: DisplayName,
    language: Language,
) -> ApiResult<()> {
    let password_hash = hash_password(password.expose().to_owned()).await?;
    let requested_at = ctx.clock.now();
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let recorded = record_sign_up(
            &ctx,
            requested_at,
            email,
            password_hash,
            display_name,
            language,
        )
        .await;
        if let Err(error) = recorded {
            tracing::error!(?error, "a sign-up was not recorded");
        }
    });
    Ok(())
}

/// The background half of a sign-up. A new address gets a link to confirm, and the
/// sign-up waits for it, replacing an earlier one of the same address unless that one was
/// requested later (background halves may finish out of order; the newest request wins,
/// and an overtaken one sends no mail). An existing account's owner gets a notice
/// instead, and nothing changes.
async fn record_sign_up(
    ctx: &ApiContext,
    requested_at: DateTime<Utc>,
    email: Email,
    password_hash: String,
    display_name: DisplayName,
    language: Language,
) -> ApiResult<()> {
    let base = ctx.public_url.trim_end_matches('/');
    // Expired sign-ups of any address go as new ones come.
    pending_sign_up::Entity::delete_many()
        .filter(pending_sign_up::Column::ExpiresAt.lte(requested_at))
        .exec(&ctx.db)
        .await?;
    let existing = account::Entity::find()
        .filter(account::Column::Email.eq(email.as_str()))
        .one(&ctx.db)
        .await?;
    let say = |key: &str| text(language, key, &[]);
    let mail = if existing.is_some() {
        Mail {
            to: email.as_str().to_owned(),
            subject: say("signup-exists-subject"),
            body: format!(
                "{}\n\n{}\n\n{}\n{base}/reset-password\n\n{}\n",
                say("account-hello"),
                say("signup-exists"),
                say("signup-exists-reset"),
                say("signup-exists-ignore"),
            ),
            ..Default::default()
        }
    } else {
        let token = new_token("signup");
        let stored = pending_sign_up::Entity::insert(pending_sign_up::ActiveModel {
            email: Set(email.as_str().to_owned()),
            display_name: Set(display_name.into_inner()),
            password_hash: Set(password_hash),
            token_hash: Set(hash_token(&token)),
            created_at: Set(requested_at),
            expires_at: Set(requested_at + SIGN_UP_LIFETIME),
            language: Set(Some(language.as_str().into())),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::column(pending_sign_up::Column::Email)
                .update_columns([
                    pending_sign_up::Column::DisplayName,
                    pending_sign_up::Column::PasswordHash,
                    pending_sign_up::Column::TokenHash,
                    pending_sign_up::Column::CreatedAt,
                    pending_sign_up::Column::Language,
                    pending_sign_up::Column::ExpiresAt,
                ])
                .action_and_where(pending_sign_up::Column::CreatedAt.lte(requested_at))
                .to_owned(),
        )
        .exec_without_returning(&ctx.db)
        .await?;
        if stored == 0 {
            return Ok(());
        }
        Mail {
            to: email.as_str().to_owned(),
            subject: say("signup-confirm-subject"),
            body: format!(
                "{}\n\n{}\n{base}/confirm-sign-up?token={token}\n\n{}\n\n{}\n",
                say("account-hello"),
                say("signup-confirm"),
                text(language, "account-token", &[("token", &token)]),
                say("signup-confirm-ignore"),
            ),
            ..Default::default()
        }
    };
    if !ctx.throttle.mail_allowed(&mail.to).await {
        tracing::warn!("sign-up mail not sent: the recipient had its hourly share");
        return Ok(());
    }
    ctx.mailer
        .send(mail)
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("sign-up mail was not sent")))
}

/// Creates the account of a pending sign-up from its mailed token, uses the token up and
/// signs the account in, in one transaction.
#[tracing::instrument(skip_all)]
pub async fn confirm_sign_up(ctx: &ApiContext, token: &str) -> ApiResult<(account::Model, String)> {
    let now = ctx.clock.now();
    let txn = super::begin_write(&ctx.db).await?;
    let pending = pending_sign_up::Entity::find()
        .filter(pending_sign_up::Column::TokenHash.eq(hash_token(token)))
        .one(&txn)
        .await?
        .filter(|p| p.expires_at > now)
        .ok_or(ApiError::InvalidConfirmationToken)?;
    // Claimed conditionally, so two concurrent confirmations cannot both create it.
    let claimed = pending_sign_up::Entity::delete_many()
        .filter(pending_sign_up::Column::Id.eq(pending.id))
        .filter(pending_sign_up::Column::TokenHash.eq(&pending.token_hash))
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(ApiError::InvalidConfirmationToken);
    }
    // The address got an account meanwhile (from the command line, say): the sign-up is
    // void, and gone with its token.
    let taken = account::Entity::find()
        .filter(account::Column::Email.eq(&pending.email))
        .one(&txn)
        .await?
        .is_some();
    if taken {
        txn.commit().await?;
        return Err(ApiError::InvalidConfirmationToken);
    }
    let account = account::ActiveModel {
        email: Set(pending.email),
        password_hash: Set(pending.password_hash),
        display_name: Set(pending.display_name),
        role: Set(Role::Runner),
        organization_id: Set(None),
        created_at: Set(now),
        language: Set(
            Language::parse_stored(pending.language.as_deref().unwrap_or("EN"))
                .as_str()
                .into(),
        ),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        on_unique_violation(e, &[("account_email_key", "account.email")], |_| {
            ApiError::InvalidConfirmationToken
        })
    })?;
    let token = open_session(&txn, now, account.id).await?;
    txn.commit().await?;
    Ok((account, token))
}
