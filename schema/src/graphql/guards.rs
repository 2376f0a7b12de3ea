//! Who may call what. Fields that need a signed-in account or a role say so with a guard;
//! anonymous callers get UNAUTHENTICATED, the wrong role FORBIDDEN.

use async_graphql::{Context, Guard};
use entities::account::{self, Role};

use crate::context::{ApiContext, Viewer};
use crate::error::ApiError;

pub struct RoleGuard(pub Role);

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let account = signed_in(ctx)?;
        if account.role != self.0 {
            return Err(ApiError::Forbidden("your role may not do this").into());
        }
        Ok(())
    }
}

/// The signed-in account, or UNAUTHENTICATED.
pub fn signed_in<'a>(ctx: &'a Context<'_>) -> Result<&'a account::Model, ApiError> {
    ctx.data_opt::<Viewer>()
        .and_then(Viewer::account)
        .ok_or(ApiError::Unauthenticated)
}

/// The shared API context; missing only if the host forgot to install it.
pub fn api<'a>(ctx: &'a Context<'_>) -> Result<&'a ApiContext, ApiError> {
    ctx.data::<ApiContext>()
        .map_err(|_| ApiError::Internal("ApiContext missing from schema data".into()))
}
