//! The application layer: what every way in (chat, API, CLI, schedules) calls to create,
//! confirm, approve and cancel broadcasts, with the one policy that decides who may.

pub mod broadcasts;
pub mod policy;
pub mod sign_in;

pub use broadcasts::{
    BroadcastService, Outcome, QueueWake, Reach, ServiceError, Submission, Submitted,
    TemplateCosts, When,
};
pub use policy::{Action, Refusal, Subject};
pub use sign_in::SignIn;

use crate::domain::{Actor, ChannelKind};
use crate::store::{Store, StoreError};

/// The staff person writing from `address`, as the policy sees them; `None` for everyone else.
pub async fn staff_actor(
    store: &dyn Store,
    channel: ChannelKind,
    address: &str,
) -> Result<Option<Actor>, StoreError> {
    Ok(store
        .staff_member(channel, address)
        .await?
        .map(|m| Actor::Staff {
            person: m.person,
            role: m.role,
            channel,
            address: address.to_string(),
        }))
}
