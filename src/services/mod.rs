//! The application layer: what every way in (chat, API, CLI, schedules) calls to create,
//! confirm, approve and cancel broadcasts, with the one policy that decides who may.

pub mod broadcasts;
pub mod check;
pub mod media;
pub mod policy;
pub mod sign_in;
pub mod staff;
pub mod subscriptions;

pub use broadcasts::{
    Attachment, AuthorNotice, BroadcastService, CorrectionRequest, Outcome, Proposed, QueueWake,
    Reach, RetractionPreview, ServiceError, Submission, Submitted, TemplateCosts, When,
};
pub use policy::{Action, Refusal, Subject};
pub use sign_in::SignIn;

use crate::domain::{Actor, ChannelKind, DRILL_TOPIC, DeliveryStatus};
use crate::store::{Broadcast, Store, StoreError};

/// What a drill showed: who was meant, who was reached, how fast.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DrillReport {
    pub id: i64,
    pub recipients: u64,
    pub sent: u64,
    /// From the release to the first message sent.
    pub first_ms: Option<i64>,
    /// From the release to the last message sent.
    pub complete_s: Option<f64>,
}

impl DrillReport {
    /// The report of `b` when it is a drill that was released.
    pub async fn of(store: &dyn Store, b: &Broadcast) -> Result<Option<DrillReport>, StoreError> {
        let (DRILL_TOPIC, Some(released)) = (b.topic.as_str(), b.released_at) else {
            return Ok(None);
        };
        let stats = store.broadcast_stats(b.id).await?;
        let (first, last) = store.sent_span(b.id).await?;
        Ok(Some(DrillReport {
            id: b.id,
            recipients: DeliveryStatus::ALL.iter().map(|s| stats.total(*s)).sum(),
            sent: stats.total(DeliveryStatus::Sent),
            first_ms: first.map(|t| t - released),
            complete_s: last.map(|t| (t - released) as f64 / 1000.0),
        }))
    }

    /// The arguments of the `drill-report` text (-1 for what did not happen).
    pub fn args(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("id", self.id as f64),
            ("recipients", self.recipients as f64),
            ("sent", self.sent as f64),
            ("first_ms", self.first_ms.unwrap_or(-1) as f64),
            ("complete_s", self.complete_s.unwrap_or(-1.0)),
        ]
    }
}

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
