//! Accounts over GraphQL: sign-up confirmed by mail, sign-in and out, `me`, password
//! recovery.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use entities::{account, organization};

use super::bounds;
use super::charity::Donation;
use super::guards::{api, signed_in};
use super::ids::to_id;
use super::loaders::{OrganizationId, loader};
use super::refunds::RefundRequest;
use super::registrations::Registration;
use crate::error::{Graphql, to_graphql};
use race_office::context::{Revoked, Viewer};
use race_office::domain::{DisplayName, Email, Password, token};
use race_office::error::ApiError;
use race_office::services::accounts::TOKEN_MAX_BYTES;
use race_office::services::sign_up::{self, SIGN_UP_ANSWER};
use race_office::services::{accounts, charity, refunds, registrations};
use race_office::throttle::ClientAddress;

use super::languages::Language;
use race_office::context::PreferredLanguage;

/// What an account may do. Every sign-up is a RUNNER; organizer and partner accounts
/// are created by an operator for an organization.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::account::Role")]
pub enum Role {
    /// Registers for races, asks for refunds, is told of changes.
    Runner,
    /// Acts for an organizer organization: creates and changes its events, decides
    /// refunds, reads reach reports and statistics.
    Organizer,
    /// Acts for a partner (sponsor) organization: reads the statistics of the events it
    /// partners, and issues nothing.
    Partner,
}

pub struct Account(pub account::Model);

/// A person's account: a runner, or someone acting for an organizer or a partner.
/// Its personal lists (`registrations`, `refundRequests`, `donations`,
/// `pushSubscriptions`) are read by the account itself only; anyone else is FORBIDDEN.
#[Object]
impl Account {
    /// The account's opaque id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The sign-in address, trimmed and lower-cased; alerts are mailed to it.
    async fn email(&self) -> &str {
        &self.0.email
    }

    /// The name organizers see (one line, 1 to 100 characters).
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// The language alerts, pushes and mail are written in for this account.
    async fn language(&self) -> Language {
        race_office::domain::Language::parse_stored(&self.0.language).into()
    }

    /// What the account may do.
    async fn role(&self) -> Role {
        self.0.role.into()
    }

    /// The organization an organizer or partner acts for.
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organization>> {
        let Some(id) = self.0.organization_id else {
            return Ok(None);
        };
        let loader = loader(ctx)?;
        Ok(loader.load_one(OrganizationId(id)).await?.map(Organization))
    }

    /// The runner's own registrations, newest first (the newest 50).
    #[graphql(complexity = "bounds::list(bounds::PERSONAL, child_complexity)")]
    async fn registrations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Registration>> {
        let db = &self.own(ctx).graphql()?.db;
        Ok(bounds::first(
            registrations::of_runner(db, self.0.id).await.graphql()?,
            bounds::PERSONAL,
        )
        .into_iter()
        .map(Registration)
        .collect())
    }

    /// The runner's own refund requests, newest first (the newest 50).
    #[graphql(complexity = "bounds::list(bounds::PERSONAL, child_complexity)")]
    async fn refund_requests(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<RefundRequest>> {
        let db = &self.own(ctx).graphql()?.db;
        Ok(bounds::first(
            refunds::of_runner(db, self.0.id).await.graphql()?,
            bounds::PERSONAL,
        )
        .into_iter()
        .map(RefundRequest)
        .collect())
    }

    /// The donated shares of the runner's fees (at most 50).
    #[graphql(complexity = "bounds::list(bounds::PERSONAL, child_complexity)")]
    async fn donations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Donation>> {
        let db = &self.own(ctx).graphql()?.db;
        Ok(bounds::first(
            charity::of_runner(db, self.0.id).await.graphql()?,
            bounds::PERSONAL,
        )
        .into_iter()
        .map(Donation)
        .collect())
    }

    /// The browsers this account subscribed to alerts by Web Push (at most 20).
    #[graphql(complexity = "bounds::list(bounds::PUSH_SUBSCRIPTIONS, child_complexity)")]
    async fn push_subscriptions(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::push::PushSubscription>> {
        self.own(ctx).graphql()?;
        super::push::of_account(ctx, self.0.id).await
    }
}

impl Account {
    /// Personal lists are read only by the account itself.
    fn own<'a>(
        &self,
        ctx: &'a Context<'_>,
    ) -> Result<&'a race_office::context::ApiContext, ApiError> {
        if signed_in(ctx)?.id != self.0.id {
            return Err(ApiError::Forbidden("only the account itself can read this"));
        }
        api(ctx)
    }
}

pub struct Organization(pub organization::Model);

/// A race organizer (the Almaty Marathon's company) or a partner that sponsors races.
#[Object]
impl Organization {
    /// The organization's opaque id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Its URL-safe handle (lower-case letters, digits and inner hyphens), e.g.
    /// `kaspi-kz`; `linkPartner` takes it.
    async fn slug(&self) -> &str {
        &self.0.slug
    }

    /// Its name, for people.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether it organizes races or partners (sponsors) them.
    async fn kind(&self) -> OrganizationKind {
        self.0.kind.into()
    }
}

/// What an organization is to the races it is linked to.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entities::organization::OrganizationKind")]
pub enum OrganizationKind {
    /// Organizes races: its organizers create and change events.
    Organizer,
    /// Partners (sponsors) races: reads their statistics with a partner key.
    Partner,
}

/// A signed-in session: its bearer token and the account it is for.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Bearer token for `Authorization: Bearer <token>`; shown once.
    token: String,
    /// The account now signed in.
    account: Account,
    /// Keep it on this device and send it with the next `signIn` to this account: the
    /// device then keeps a guessing budget of its own, and is not locked out when others
    /// guess the account's password. A password change withdraws it. Null where no
    /// password was checked (`confirmSignUp`).
    device_token: Option<String>,
}

/// What `signUp` answers, the same whether or not the email already has an account: the
/// mail sent to the address says what happened (a link to `confirmSignUp`, or to an
/// account's owner a notice that someone tried, with the way to a new password).
#[derive(SimpleObject)]
pub struct SignUpPayload {
    /// The address the mail went to, as stored (trimmed, lower case).
    email: String,
    /// For people: check your mail.
    message: String,
}

/// A runner's sign-up.
#[derive(InputObject)]
pub struct SignUpInput {
    /// The address to confirm; at most 254 bytes, a plain mailbox (no display name,
    /// quoted local part or IP literal). Trimmed and lower-cased.
    email: String,
    /// 10 to 128 characters, no control characters, and not among the most common or
    /// easiest to guess (BAD_USER_INPUT says so).
    password: String,
    /// The name organizers see: one line, 1 to 100 characters, with a visible one.
    display_name: String,
    /// The language alerts and mail will be written in; left out, the one the request's
    /// `Accept-Language` asks for (English when none of ours).
    language: Option<Language>,
}

/// What a runner may change of their account; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateAccountInput {
    /// The language alerts, pushes and mail are written in from now on.
    language: Option<Language>,
    /// The new name organizers see: one line, 1 to 100 characters.
    display_name: Option<String>,
}

/// A sign-in with email and password.
#[derive(InputObject)]
pub struct SignInInput {
    /// The account's address (any case, surrounding spaces ignored).
    email: String,
    /// The account's password, as typed.
    password: String,
    /// The `deviceToken` an earlier `signIn` to this account gave this device, if any.
    device_token: Option<String>,
}

/// A new password, with the token of a reset mail.
#[derive(InputObject)]
pub struct ResetPasswordInput {
    /// The token from the reset mail.
    token: String,
    /// The new password: the same rules as at sign-up (10 to 128 characters, not a
    /// common one).
    new_password: String,
}

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The signed-in account. Errors: UNAUTHENTICATED (no session), FORBIDDEN (a
    /// partner key, which is no account).
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Account> {
        Ok(Account(signed_in(ctx).graphql()?.clone()))
    }
}

/// One attempt at signing in, signing up or asking for reset mail: refused when the client's
/// address or the email has had too many lately.
async fn throttle(ctx: &Context<'_>, email: Option<&str>) -> Result<(), ApiError> {
    api(ctx)?
        .throttle
        .auth_attempt(ctx.data_opt::<ClientAddress>(), email)
        .await
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Changes the signed-in account's language or display name. Errors: UNAUTHENTICATED,
    /// BAD_USER_INPUT (a display name out of bounds).
    async fn update_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to change; fields left out stay as they are.")]
        input: UpdateAccountInput,
    ) -> async_graphql::Result<Account> {
        let actor = signed_in(ctx).graphql()?;
        let display_name = input
            .display_name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()
            .graphql()?;
        let api = api(ctx).graphql()?;
        let updated =
            accounts::update_account(&api.db, actor, input.language.map(Into::into), display_name)
                .await
                .graphql()?;
        api.revocations.revoked(Revoked::Changed {
            account_id: updated.id,
        });
        Ok(Account(updated))
    }

    /// Starts a runner's sign-up: mails the address a link (valid 24 hours) whose token
    /// `confirmSignUp` takes, replacing any earlier unconfirmed sign-up of the address. The
    /// answer is the same when the email already has an account (whose owner is mailed a
    /// notice instead), so it tells no one who has an account. Errors: BAD_USER_INPUT,
    /// RATE_LIMITED (too many attempts from this address or for this email lately).
    async fn sign_up(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The runner's address, password, name and language.")] input: SignUpInput,
    ) -> async_graphql::Result<SignUpPayload> {
        throttle(ctx, Some(&input.email)).await.graphql()?;
        let email = Email::parse(&input.email).graphql()?;
        let password = Password::parse(&input.password).graphql()?;
        let display_name = DisplayName::parse(&input.display_name).graphql()?;
        let stored = email.as_str().to_owned();
        let language = match input.language {
            Some(language) => language.into(),
            None => ctx
                .data_opt::<PreferredLanguage>()
                .map_or(race_office::domain::Language::En, |p| p.0),
        };
        sign_up::sign_up(api(ctx).graphql()?, email, password, display_name, language)
            .await
            .graphql()?;
        Ok(SignUpPayload {
            email: stored,
            message: SIGN_UP_ANSWER.into(),
        })
    }

    /// Creates the account of a sign-up from the token in its mail, and signs it in. The
    /// token works once. Errors: INVALID_CONFIRMATION_TOKEN (unknown, expired, replaced by
    /// a newer sign-up, or used), BAD_USER_INPUT (not a token at all).
    async fn confirm_sign_up(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token from the confirmation link in the sign-up mail.")]
        token: String,
    ) -> async_graphql::Result<AuthPayload> {
        let token = race_office::domain::token("token", &token, TOKEN_MAX_BYTES).graphql()?;
        let (account, token) = sign_up::confirm_sign_up(api(ctx).graphql()?, token)
            .await
            .graphql()?;
        Ok(AuthPayload {
            token,
            account: Account(account),
            device_token: None,
        })
    }

    /// Signs in with email and password; the answer's `token` is the session's bearer
    /// token. Errors: INVALID_CREDENTIALS (unknown address or wrong password, alike),
    /// RATE_LIMITED (too many attempts from this address or for this account lately;
    /// the message says when to try again; a device that sends its `deviceToken` keeps
    /// its own budget).
    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The address, the password and this device's `deviceToken`.")]
        input: SignInInput,
    ) -> async_graphql::Result<AuthPayload> {
        let signed_in = accounts::sign_in(
            api(ctx).graphql()?,
            ctx.data_opt::<ClientAddress>(),
            &input.email,
            &input.password,
            input.device_token.as_deref(),
        )
        .await
        .graphql()?;
        Ok(AuthPayload {
            token: signed_in.token,
            account: Account(signed_in.account),
            device_token: Some(signed_in.device_token),
        })
    }

    /// Ends the session of the token this request was made with.
    async fn sign_out(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        signed_in(ctx).graphql()?;
        let Some(Viewer::Account { token_hash, .. }) = ctx.data_opt::<Viewer>() else {
            return Err(to_graphql(ApiError::Unauthenticated));
        };
        let api = api(ctx).graphql()?;
        accounts::sign_out(&api.db, token_hash).await.graphql()?;
        api.revocations.revoked(Revoked::Session {
            token_hash: token_hash.clone(),
        });
        Ok(true)
    }

    /// Mails a single-use reset link valid for an hour; it ends the links mailed before.
    /// Always answers `true`, whether or not the email has an account. Errors:
    /// RATE_LIMITED (too many requests from this address or for this email lately).
    async fn request_password_reset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's address.")] email: String,
    ) -> async_graphql::Result<bool> {
        throttle(ctx, Some(&email)).await.graphql()?;
        accounts::request_password_reset(api(ctx).graphql()?, &email)
            .await
            .graphql()?;
        Ok(true)
    }

    /// Sets a new password, uses up every reset link of the account and signs out every
    /// session of it. Errors: INVALID_RESET_TOKEN, BAD_USER_INPUT.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token from the reset mail and the new password.")]
        input: ResetPasswordInput,
    ) -> async_graphql::Result<bool> {
        let reset_token = token("token", &input.token, TOKEN_MAX_BYTES).graphql()?;
        let password = Password::parse(&input.new_password).graphql()?;
        let api = api(ctx).graphql()?;
        let account_id = accounts::reset_password(api, reset_token, password)
            .await
            .graphql()?;
        api.revocations.revoked(Revoked::Account { account_id });
        Ok(true)
    }
}
