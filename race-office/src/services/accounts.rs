//! Accounts and sessions: creating accounts, sign-in, bearer-token lookup, sign-out and
//! password recovery by single-use, expiring token (a runner's own sign-up is in
//! [`super::sign_up`]).
//!
//! Nothing here tells anyone whether an email has an account: sign-in fails alike for a
//! wrong password and an unknown email, and a reset is "requested" either way, with the
//! mail going out in the background.

use chrono::{DateTime, Duration, Utc};
use entities::{account, account::Role, password_reset, session};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryFilter, QuerySelect, Set,
};

use super::secrets::{hash_password, hash_token, new_token, verify_password};
use crate::context::{ApiContext, Mail};
use crate::domain::{DisplayName, Email, Password};
use crate::error::{ApiError, ApiResult, on_unique_violation};
use crate::throttle::ClientAddress;

/// How long a bearer token stays valid.
pub const SESSION_LIFETIME: Duration = Duration::days(30);
/// How long a password-reset token stays valid.
pub const RESET_LIFETIME: Duration = Duration::hours(1);
/// The longest token this API gives out is 50 characters; longer is not one of ours.
pub const TOKEN_MAX_BYTES: usize = 128;

/// A new account's details, already validated.
pub struct NewAccount {
    pub email: Email,
    pub password: Password,
    pub display_name: DisplayName,
    pub role: Role,
    pub organization_id: Option<i64>,
}

/// Creates an account. Organizers and partners act for an organization; runners do not.
#[tracing::instrument(skip(db, new), fields(email = new.email.as_str(), role = ?new.role))]
pub async fn create_account(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    new: NewAccount,
) -> ApiResult<account::Model> {
    match (new.role, new.organization_id) {
        (Role::Runner, Some(_)) => {
            return Err(ApiError::bad_input(
                "a runner does not act for an organization",
            ));
        }
        (Role::Organizer | Role::Partner, None) => {
            return Err(ApiError::bad_input(
                "organizers and partners need an organization",
            ));
        }
        _ => {}
    }
    let password_hash = hash_password(new.password.expose().to_owned()).await?;
    account::ActiveModel {
        email: Set(new.email.as_str().to_owned()),
        password_hash: Set(password_hash),
        display_name: Set(new.display_name.into_inner()),
        role: Set(new.role),
        organization_id: Set(new.organization_id),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| {
        on_unique_violation(e, &[("account_email_key", "account.email")], |_| {
            ApiError::Conflict("an account with this email already exists".into())
        })
    })
}

/// Opens a session and returns its bearer token (shown once, stored hashed).
pub async fn open_session(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    account_id: i64,
) -> ApiResult<String> {
    let token = new_token("rdg");
    session::ActiveModel {
        account_id: Set(account_id),
        token_hash: Set(hash_token(&token)),
        created_at: Set(now),
        expires_at: Set(now + SESSION_LIFETIME),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// Hands `mail` to the mailer in the background, so that sending takes no time the
/// client could measure.
/// Mail a stranger can make us send is capped per recipient (across the fleet), so that
/// nobody's mailbox can be flooded through us.
pub(super) fn send_in_background(ctx: &ApiContext, mail: Mail, what: &'static str) {
    let mailer = ctx.mailer.clone();
    let throttle = ctx.throttle.clone();
    tokio::spawn(async move {
        if !throttle.mail_allowed(&mail.to).await {
            tracing::warn!("{what} mail not sent: the recipient had its hourly share");
            return;
        }
        if let Err(error) = mailer.send(mail).await {
            let error = anyhow::Error::new(error);
            tracing::error!(error = format!("{error:#}"), "{what} mail was not sent");
        }
    });
}

/// A signed-in account: its session's bearer token, and the device token the browser keeps
/// to show next time.
pub struct SignedIn {
    pub account: account::Model,
    pub token: String,
    pub device_token: String,
}

/// Checks email and password; the same error whether the email or the password is wrong.
/// Guessing is rate-limited ([`crate::throttle`]); a browser showing a valid device token
/// for the account spends a budget of its own.
#[tracing::instrument(skip(ctx, password, device_token))]
pub async fn sign_in(
    ctx: &ApiContext,
    address: Option<&ClientAddress>,
    email: &str,
    password: &str,
    device_token: Option<&str>,
) -> ApiResult<SignedIn> {
    // No account has a longer password: refused before it costs a hash. The answer does
    // not depend on the account, so it tells nothing.
    if password.len() > 4 * Password::MAX_CHARS || password.chars().count() > Password::MAX_CHARS {
        return Err(ApiError::InvalidCredentials);
    }
    let found = match Email::parse(email) {
        Ok(email) => {
            account::Entity::find()
                .filter(account::Column::Email.eq(email.as_str()))
                .one(&ctx.db)
                .await?
        }
        Err(_) => None,
    };
    let device = device_token
        .zip(found.as_ref())
        .and_then(|(token, account)| super::devices::trusted(account, token));
    let charge = ctx
        .throttle
        .sign_in_attempt(address, email, device.as_deref())
        .await?;
    let stored = found.as_ref().map(|a| a.password_hash.clone());
    if !verify_password(password.to_owned(), stored).await? {
        return Err(ApiError::InvalidCredentials);
    }
    let account = found.ok_or(ApiError::InvalidCredentials)?;
    ctx.throttle.sign_in_succeeded(charge).await;
    let token = open_session(&ctx.db, ctx.clock.now(), account.id).await?;
    let device_token = match (device, device_token) {
        (Some(_), Some(kept)) => kept.to_owned(),
        _ => super::devices::issue(&account),
    };
    Ok(SignedIn {
        account,
        token,
        device_token,
    })
}

/// A session a bearer token stands for.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: account::Model,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// The unexpired sessions behind these token hashes, in one query: for a gateway that
/// takes hundreds of runners at once (their instance gone), one read for all of them.
pub async fn sessions_by_hash(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    token_hashes: &[String],
) -> Result<Vec<Session>, DbErr> {
    if token_hashes.is_empty() {
        return Ok(Vec::new());
    }
    let found = session::Entity::find()
        .filter(session::Column::TokenHash.is_in(token_hashes.iter().cloned()))
        .filter(session::Column::ExpiresAt.gt(now))
        .find_also_related(account::Entity)
        .all(db)
        .await?;
    Ok(found
        .into_iter()
        .filter_map(|(session, account)| {
            Some(Session {
                account: account?,
                token_hash: session.token_hash,
                expires_at: session.expires_at,
            })
        })
        .collect())
}

/// Ends the session whose token hash is given.
pub async fn sign_out(db: &impl ConnectionTrait, token_hash: &str) -> ApiResult<()> {
    session::Entity::delete_many()
        .filter(session::Column::TokenHash.eq(token_hash))
        .exec(db)
        .await?;
    Ok(())
}

/// Sends a reset link if the email has an account. The caller answers the same either
/// way, and the mail goes out in the background so timing does not tell either.
#[tracing::instrument(skip(ctx))]
pub async fn request_password_reset(ctx: &ApiContext, email: &str) -> ApiResult<()> {
    let Ok(email) = Email::parse(email) else {
        return Ok(());
    };
    let Some(account) = account::Entity::find()
        .filter(account::Column::Email.eq(email.as_str()))
        .one(&ctx.db)
        .await?
    else {
        return Ok(());
    };
    let now = ctx.clock.now();
    let token = new_token("reset");
    // A new token ends the account's earlier ones: only the newest mail works.
    let txn = super::begin_write(&ctx.db).await?;
    lock_account(&txn, account.id).await?;
    use_up_reset_tokens(&txn, account.id, now).await?;
    password_reset::ActiveModel {
        account_id: Set(account.id),
        token_hash: Set(hash_token(&token)),
        created_at: Set(now),
        expires_at: Set(now + RESET_LIFETIME),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    let language = crate::domain::Language::parse_stored(&account.language);
    let say = |key: &str| crate::domain::messages::text(language, key, &[]);
    let mail = Mail {
        subject: say("reset-subject"),
        body: format!(
            "{}\n\n{}\n{}/reset-password?token={token}\n\n{}\n\n{}\n",
            crate::domain::messages::text(
                language,
                "account-hello-name",
                &[("name", &account.display_name)]
            ),
            say("reset"),
            ctx.public_url.trim_end_matches('/'),
            crate::domain::messages::text(language, "account-token", &[("token", &token)]),
            say("reset-ignore"),
        ),
        to: account.email,
        ..Default::default()
    };
    send_in_background(ctx, mail, "password reset");
    Ok(())
}

/// Takes the account's row lock on PostgreSQL, so that concurrent resets of one account
/// queue (SQLite's write transactions already do).
async fn lock_account(txn: &DatabaseTransaction, account_id: i64) -> ApiResult<()> {
    if txn.get_database_backend() == DbBackend::Postgres {
        account::Entity::find_by_id(account_id)
            .lock_exclusive()
            .one(txn)
            .await?;
    }
    Ok(())
}

/// Marks every unused reset token of the account used.
async fn use_up_reset_tokens(
    txn: &DatabaseTransaction,
    account_id: i64,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    password_reset::Entity::update_many()
        .col_expr(password_reset::Column::UsedAt, Expr::value(now))
        .filter(password_reset::Column::AccountId.eq(account_id))
        .filter(password_reset::Column::UsedAt.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// Sets a new password with a reset token, uses up every reset token of the account (not
/// only this one) and ends every session of the account, all in one transaction; returns
/// the account's id.
#[tracing::instrument(skip_all)]
pub async fn reset_password(ctx: &ApiContext, token: &str, password: Password) -> ApiResult<i64> {
    let now = ctx.clock.now();
    let password_hash = hash_password(password.expose().to_owned()).await?;
    let txn = super::begin_write(&ctx.db).await?;
    let reset = password_reset::Entity::find()
        .filter(password_reset::Column::TokenHash.eq(hash_token(token)))
        .one(&txn)
        .await?
        .filter(|r| r.used_at.is_none() && r.expires_at > now)
        .ok_or(ApiError::InvalidResetToken)?;
    // Claim the token conditionally so two concurrent resets cannot both use it.
    let claimed = password_reset::Entity::update_many()
        .col_expr(password_reset::Column::UsedAt, Expr::value(now))
        .filter(password_reset::Column::Id.eq(reset.id))
        .filter(password_reset::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(ApiError::InvalidResetToken);
    }
    use_up_reset_tokens(&txn, reset.account_id, now).await?;
    account::Entity::update_many()
        .col_expr(account::Column::PasswordHash, Expr::value(password_hash))
        .filter(account::Column::Id.eq(reset.account_id))
        .exec(&txn)
        .await?;
    session::Entity::delete_many()
        .filter(session::Column::AccountId.eq(reset.account_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(reset.account_id)
}

/// Which of these token hashes still belong to an unexpired session (the sweep of open
/// sockets asks this in batches).
pub async fn live_sessions(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    token_hashes: Vec<String>,
) -> Result<std::collections::HashSet<String>, sea_orm::DbErr> {
    use sea_orm::QuerySelect;
    session::Entity::find()
        .select_only()
        .column(session::Column::TokenHash)
        .filter(session::Column::TokenHash.is_in(token_hashes))
        .filter(session::Column::ExpiresAt.gt(now))
        .into_tuple::<String>()
        .all(db)
        .await
        .map(|hashes| hashes.into_iter().collect())
}

/// Changes an account's language or display name (what is `None` stays), in one update.
pub async fn update_account(
    db: &sea_orm::DatabaseConnection,
    actor: &account::Model,
    language: Option<crate::domain::Language>,
    display_name: Option<crate::domain::DisplayName>,
) -> ApiResult<account::Model> {
    use sea_orm::ActiveModelTrait;
    if language.is_none() && display_name.is_none() {
        return Ok(actor.clone());
    }
    let mut changed: account::ActiveModel = actor.clone().into();
    if let Some(language) = language {
        changed.language = sea_orm::Set(language.as_str().into());
    }
    if let Some(name) = display_name {
        changed.display_name = sea_orm::Set(name.into_inner());
    }
    Ok(changed.update(db).await?)
}
