//! The services' one error type: what the race office refuses and why. Every variant maps
//! to a SCREAMING_CASE code, which the API hands clients as `extensions.code`; an internal
//! failure reaches a client only as `INTERNAL`.

use sea_orm::{DbErr, SqlErr};

/// Deliberately not `Display`: async-graphql converts any `Display` error into a plain
/// message, which would drop the code. Without it, a resolver must convert it through the
/// API's own conversion (`schema::error::Graphql`), which keeps the code.
/// Not comparable either: an internal error keeps its cause, an `anyhow::Error`; tests
/// compare [`ApiError::code`].
#[derive(Debug)]
pub enum ApiError {
    Unauthenticated,
    Forbidden(&'static str),
    NotFound(&'static str),
    BadInput(String),
    Conflict(String),
    InvalidCredentials,
    InvalidResetToken,
    InvalidConfirmationToken,
    /// A push acknowledgement token that is forged, or already used for its action.
    InvalidAcknowledgementToken,
    InvalidStatusTransition(String),
    RegistrationClosed,
    SoldOut,
    AlreadyRegistered,
    AlreadyRequested,
    DeadlinePassed,
    RefundNotAvailable(String),
    KitIssueNotStarted,
    /// Too many attempts; the client may try again after this long.
    RateLimited(std::time::Duration),
    /// A subscription's `after` lies further behind than the replay horizon (this many
    /// notifications).
    CursorTooOld(u64),
    /// The cause, with its chain of context, is for the log; the client sees only
    /// "internal error".
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadInput(message.into())
    }

    /// An internal failure with no error behind it (a broken invariant), for the log.
    pub fn internal(what: &'static str) -> Self {
        Self::Internal(anyhow::Error::msg(what))
    }

    /// What the client reads.
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated => "sign in first".into(),
            Self::Forbidden(why) => (*why).into(),
            Self::NotFound(what) => format!("{what} not found"),
            Self::BadInput(why) | Self::Conflict(why) | Self::InvalidStatusTransition(why) => {
                why.clone()
            }
            Self::InvalidCredentials => "email or password is wrong".into(),
            Self::InvalidResetToken => "the reset token is invalid, expired or already used".into(),
            Self::InvalidConfirmationToken => {
                "the confirmation token is invalid, expired, replaced or already used".into()
            }
            Self::InvalidAcknowledgementToken => {
                "the acknowledgement token is invalid or already used".into()
            }
            Self::RegistrationClosed => "registration for this event is not open".into(),
            Self::SoldOut => "the event is full".into(),
            Self::AlreadyRegistered => "you are already registered for this event".into(),
            Self::AlreadyRequested => {
                "a refund request for this registration already exists".into()
            }
            Self::DeadlinePassed => "the deadline for refund applications has passed".into(),
            Self::RefundNotAvailable(why) => why.clone(),
            Self::KitIssueNotStarted => "starter kits are not issued for this event yet".into(),
            Self::RateLimited(wait) => format!(
                "too many attempts: try again in {} s",
                retry_after_secs(*wait)
            ),
            Self::CursorTooOld(horizon) => format!(
                "after is more than {horizon} notifications old: read the current state, then subscribe without it"
            ),
            Self::Internal(_) => "internal error".into(),
        }
    }

    /// The whole story for a log line or an operator's terminal: the client's text, or
    /// for an internal error its cause with every context (never sent to a client).
    pub fn detail(&self) -> String {
        match self {
            Self::Internal(cause) => format!("{cause:#}"),
            other => format!("{}: {}", other.code(), other.message()),
        }
    }

    /// For a worker, the CLI or a tool, which report rather than decide: an internal error
    /// as its cause (the chain kept), any other refusal as its code and message.
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            Self::Internal(cause) => cause,
            other => anyhow::anyhow!(other.detail()),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::BadInput(_) => "BAD_USER_INPUT",
            Self::Conflict(_) => "CONFLICT",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::InvalidResetToken => "INVALID_RESET_TOKEN",
            Self::InvalidConfirmationToken => "INVALID_CONFIRMATION_TOKEN",
            Self::InvalidAcknowledgementToken => "INVALID_ACKNOWLEDGEMENT_TOKEN",
            Self::InvalidStatusTransition(_) => "INVALID_STATUS_TRANSITION",
            Self::RegistrationClosed => "REGISTRATION_CLOSED",
            Self::SoldOut => "SOLD_OUT",
            Self::AlreadyRegistered => "ALREADY_REGISTERED",
            Self::AlreadyRequested => "ALREADY_REQUESTED",
            Self::DeadlinePassed => "DEADLINE_PASSED",
            Self::RefundNotAvailable(_) => "REFUND_NOT_AVAILABLE",
            Self::KitIssueNotStarted => "KIT_ISSUE_NOT_STARTED",
            Self::RateLimited(_) => "RATE_LIMITED",
            Self::CursorTooOld(_) => "CURSOR_TOO_OLD",
            Self::Internal(_) => "INTERNAL",
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        // The database text may hold data or schema details: it goes to the log only.
        Self::Internal(anyhow::Error::new(err).context("database"))
    }
}

/// Turns a unique-constraint violation into the user error it stands for.
///
/// `constraints` pairs a PostgreSQL constraint or index name with the `table.column` text
/// SQLite reports for the same rule; the first that matches the message wins. Any other
/// database error stays internal.
pub fn on_unique_violation(
    err: DbErr,
    constraints: &[(&str, &str)],
    to_error: impl FnOnce(&str) -> ApiError,
) -> ApiError {
    if let Some(SqlErr::UniqueConstraintViolation(message)) = err.sql_err() {
        for (pg_name, sqlite_columns) in constraints {
            if message.contains(pg_name) || message.contains(sqlite_columns) {
                return to_error(pg_name);
            }
        }
    }
    err.into()
}

/// Whole seconds to wait, at least one.
pub fn retry_after_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_failure_keeps_its_cause_for_the_log_and_tells_the_client_nothing() {
        let error = ApiError::from(DbErr::Custom("relation \"account\" is locked".into()));
        assert_eq!(error.code(), "INTERNAL");
        assert_eq!(error.message(), "internal error");
        assert_eq!(
            error.detail(),
            "database: Custom Error: relation \"account\" is locked"
        );
        let ApiError::Internal(cause) = error else {
            panic!("not internal");
        };
        assert!(cause.downcast_ref::<DbErr>().is_some(), "{cause:?}");
    }

    #[test]
    fn a_refusal_reported_by_a_tool_says_its_code_and_message() {
        let error = ApiError::NotFound("event").into_anyhow();
        assert_eq!(error.to_string(), "NOT_FOUND: event not found");
    }
}
