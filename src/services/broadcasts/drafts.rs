//! The desk: departments (contributors) write drafts for the press office, which edits,
//! approves (sends or schedules) or rejects them. A draft is a broadcast awaiting approval
//! whose author has a department; the policy decides who may do what, and the author is told
//! what became of their text.

use std::sync::Arc;
use std::time::Duration;

use super::{BroadcastService, ServiceError, ServiceResult, Submission, When, invalid};
use crate::domain::{Actor, BroadcastStatus, BroadcastText, Desk};
use crate::services::policy::{self, Action, Subject};
use crate::store::{Broadcast, NewBroadcast, Start};

/// Tells the author of a draft what became of it, in their chat (the application sends it).
#[async_trait::async_trait]
pub trait AuthorNotice: Send + Sync {
    /// Tells `person` text `key` with `args`, in their language, on one of their addresses.
    async fn tell_person(&self, person: &str, key: &str, args: &[(&str, String)]);
}

/// What `propose` made: the draft and the department it came from.
#[derive(Debug, Clone)]
pub struct Proposed {
    pub broadcast: Broadcast,
    pub department: Option<String>,
}

/// The person an author identity (`person:NAME`) names.
fn author_person(b: &Broadcast) -> Option<&str> {
    b.author.as_deref()?.strip_prefix("person:")
}

impl BroadcastService {
    /// Where authors are told about their drafts; set once by the application.
    pub fn tell_authors_through(&self, notice: Arc<dyn AuthorNotice>) {
        let _ = self.authors.set(notice);
    }

    /// The department of the person behind `actor`, when they have one.
    pub async fn desk_of(&self, actor: &Actor) -> ServiceResult<Option<Desk>> {
        match actor.person() {
            Some(person) => Ok(self.store.desk(person).await?),
            None => Ok(None),
        }
    }

    /// The department of the author of `b`, when it is a department's draft.
    pub async fn desk_of_author(&self, b: &Broadcast) -> ServiceResult<Option<(String, Desk)>> {
        let Some(person) = author_person(b) else {
            return Ok(None);
        };
        Ok(self
            .store
            .desk(person)
            .await?
            .map(|d| (person.to_string(), d)))
    }

    async fn tell_author(&self, b: &Broadcast, key: &str, args: &[(&str, String)]) {
        let (Some(person), Some(notice)) = (author_person(b), self.authors.get()) else {
            return;
        };
        notice.tell_person(person, key, args).await;
    }

    /// A draft for the press office on `topic`: it awaits approval at once, and every press
    /// member is asked (the approval courier). Refused for a contributor outside their
    /// department's topics, and for anything but news.
    pub async fn propose(&self, actor: &Actor, topic: &str, text: &str) -> ServiceResult<Proposed> {
        let s = Submission {
            topic: topic.to_string(),
            kind: None,
            priority: None,
            text: text.to_string(),
            text_en: None,
            parent_id: None,
            when: When::Now,
            draft: false,
            idempotency_key: None,
            target: None,
            attachment: None,
        };
        let c = self.checked(&s, false).await?;
        let identity = actor.identity();
        let subject = Subject::new(c.kind, c.priority, c.topic.id.as_str(), Some(&identity));
        let desk = self.desk_of(actor).await?;
        if let Err(refusal) = policy::may_draft(actor, desk.as_ref(), &subject, c.topic.id.as_str())
        {
            tracing::info!(actor = %actor.audit_name(), topic = %c.topic.id, "draft refused: {refusal}");
            return Err(refusal.into());
        }
        let new = NewBroadcast {
            topic: c.topic.id.clone(),
            kind: c.kind,
            priority: c.priority,
            text: c.text,
            text_en: None,
            idempotency_key: None,
            created_by: Some(actor.label()),
            author: Some(identity),
            parent_id: None,
            start: Start::AwaitingApproval,
            scheduled_at: None,
            cron: None,
            target: None,
            audit_actor: Some(actor.audit_name()),
            notice: true,
            new_text: None,
            media_id: None,
            alt: None,
        };
        let created = self.store.create_broadcast(&new).await?;
        self.approvals.notify_one();
        Ok(Proposed {
            broadcast: created.broadcast,
            department: desk.map(|d| d.department),
        })
    }

    /// The press office changes a draft's text (and when it goes: `None` at once) before
    /// approving it; its author is told what changed.
    pub async fn revise(
        &self,
        actor: &Actor,
        id: i64,
        text: Option<&str>,
        at: Option<i64>,
    ) -> ServiceResult<Broadcast> {
        let b = self.get(id).await?;
        if b.status != BroadcastStatus::AwaitingApproval {
            return Err(ServiceError::WrongStatus {
                id,
                status: b.status,
                wanted: "only a broadcast awaiting approval can be edited",
            });
        }
        if let Err(refusal) = policy::decide(
            actor,
            Action::Edit,
            &Subject::of(&b),
            self.approvals_rules(),
        ) {
            tracing::info!(actor = %actor.audit_name(), broadcast = id, "edit refused: {refusal}");
            return Err(refusal.into());
        }
        let new_text = match text {
            Some(t) => BroadcastText::parse(t)
                .map_err(|e| invalid("text", e))?
                .as_str()
                .to_string(),
            None => b.text.clone(),
        };
        if let Some(at) = at
            && at <= self.clock.now_ms()
        {
            return Err(invalid("scheduled_at", "the time has passed"));
        }
        let Some(revised) = self.store.revise_awaiting(id, &new_text, at).await? else {
            return Err(self.moved_on(id, "it was handled meanwhile").await);
        };
        let changed = new_text != b.text;
        let mut detail = format!("broadcast {id}:");
        if changed {
            detail.push_str(&format!(" text “{}” → “{}”", b.text, new_text));
        }
        if at != b.scheduled_at {
            match at {
                Some(at) => detail.push_str(&format!(" at {}", self.local_time(at))),
                None => detail.push_str(" at once"),
            }
        }
        self.audit(actor, "edit", &detail).await?;
        if changed {
            self.tell_author(
                &revised,
                "draft-edited",
                &[
                    ("id", id.to_string()),
                    ("by", actor.person().unwrap_or("?").to_string()),
                    ("before", b.text.clone()),
                    ("after", new_text),
                ],
            )
            .await;
        }
        Ok(revised)
    }

    /// The press office turns a draft down with a reason its author is told.
    pub async fn reject_with_reason(
        &self,
        actor: &Actor,
        id: i64,
        reason: &str,
    ) -> ServiceResult<Broadcast> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(invalid("reason", "say why, so the author can do better"));
        }
        let b = self.reject(actor, id).await?;
        self.audit(actor, "reject-reason", &format!("broadcast {id}: {reason}"))
            .await?;
        self.tell_author(
            &b,
            "draft-rejected",
            &[
                ("id", id.to_string()),
                ("by", actor.person().unwrap_or("?").to_string()),
                ("reason", reason.to_string()),
            ],
        )
        .await;
        Ok(b)
    }

    /// Tells the author of a department's draft that it was approved (sent or scheduled).
    pub(super) async fn tell_approved(&self, actor: &Actor, b: &Broadcast) {
        // Only a department's author is told: an alert's author approved by a second person
        // sees it go out themselves.
        if !matches!(self.desk_of_author(b).await, Ok(Some(_))) {
            return;
        }
        let (key, when) = match (b.status, b.scheduled_at) {
            (BroadcastStatus::Scheduled, Some(at)) => {
                ("draft-approved-scheduled", self.local_time(at))
            }
            _ => ("draft-approved", String::new()),
        };
        self.tell_author(
            b,
            key,
            &[
                ("id", b.id.to_string()),
                ("by", actor.person().unwrap_or("?").to_string()),
                ("at", when),
            ],
        )
        .await;
    }

    /// Drops departments' drafts that waited longer than `max_age` and tells their authors;
    /// how many. Housekeeping's, like an expired code: no person decides it.
    pub async fn expire_drafts(&self, max_age: Duration) -> ServiceResult<usize> {
        let before = self.clock.now_ms() - max_age.as_millis() as i64;
        let mut dropped = 0;
        for b in self.store.awaiting_since(before).await? {
            if self.desk_of_author(&b).await?.is_none() {
                continue; // an alert waiting for a second person is not a department's draft
            }
            if !self.store.cancel_broadcast(b.id).await? {
                continue;
            }
            let days = (max_age.as_secs() / 86_400).to_string();
            self.store
                .audit(
                    "housekeeping",
                    "expire",
                    &format!("broadcast {}: a draft nobody released in {days} days", b.id),
                )
                .await?;
            self.tell_author(
                &b,
                "draft-expired",
                &[("id", b.id.to_string()), ("days", days)],
            )
            .await;
            dropped += 1;
        }
        Ok(dropped)
    }
}
