//! Organizations over GraphQL, organizer side: linking a partner (sponsor) to one of the
//! organizer's events. Organizations themselves are created by the operator
//! (`gateway organizations create`), not over the API.

use async_graphql::{Context, ID, Object};
use entities::account::Role as AccountRole;

use super::events::Event;
use super::guards::{RoleGuard, api, signed_in};
use super::ids::parse_id;
use crate::error::Graphql;
use race_office::domain::Slug;
use race_office::services::organizations;

#[derive(Default)]
pub struct OrganizationMutation;

#[Object]
impl OrganizationMutation {
    /// Makes a partner organization a partner (sponsor) of one of your organization's
    /// events; its partner keys then read that event's statistics. An event has at most
    /// 10 partners (BAD_USER_INPUT beyond); an organization that is not a partner is
    /// BAD_USER_INPUT, one already linked CONFLICT.
    #[graphql(guard = "RoleGuard(AccountRole::Organizer)")]
    async fn link_partner(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event, one your organization organizes.")] event_id: ID,
        #[graphql(desc = "The partner organization's slug, e.g. `kaspi-kz`.")] partner_slug: String,
    ) -> async_graphql::Result<Event> {
        let api = api(ctx).graphql()?;
        let event_id = parse_id(&event_id, "event").graphql()?;
        let partner = Slug::parse(&partner_slug).graphql()?;
        let event =
            organizations::link_partner(&api.db, signed_in(ctx).graphql()?, event_id, &partner)
                .await
                .graphql()?;
        Ok(Event::from(event))
    }
}
