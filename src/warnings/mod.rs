//! Official warnings become alerts by themselves: the feed polls the federal warning API
//! (NINA) for the city's districts, maps each new warning version (`mapping`), and hands it to
//! the broadcast service as one more caller (`Actor::WarningsFeed`); the policy decides.
//! Every version is recorded once in the database, so nothing goes out twice.

pub mod cap;
pub mod fetch;
pub mod geometry;
pub mod mapping;
pub mod nina;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::domain::area::Target;
use crate::domain::{ALERTS_TOPIC, Actor, BroadcastKind, BroadcastStatus, DRILL_TOPIC, Role};
use crate::i18n::Texts;
use crate::services::{BroadcastService, ServiceError, Submission, When};
use crate::store::{Broadcast, Store, StoreError, WarningRecord};
use mapping::{Ars, Mapped, MessageType, Plan, Provider, Rules, Severity, Skip};
use nina::{Document, FetchError, NinaClient};

/// The federal warning API.
pub const DEFAULT_BASE_URL: &str = "https://warnung.bund.de/api31";
/// How often the feed looks while a warning for the area is active.
pub const ACTIVE_POLL: Duration = Duration::from_secs(15);
/// Failed polls in a row after which `/readyz` shows the feed as down.
pub const FAILURES_SHOWN: u32 = 3;
/// The most of one document the feed reads (`warnings.max_document_bytes`): 2 MiB, hundreds of
/// times a real warning (the fixtures have 2 to 6 KiB).
pub const MAX_DOCUMENT_BYTES: u64 = 2 * 1024 * 1024;

/// `warnings.*` from the configuration.
#[derive(Debug, Clone)]
pub struct WarningsSettings {
    pub ars: Vec<Ars>,
    pub base_url: String,
    pub poll: Duration,
    pub min_severity: Severity,
    pub providers: Vec<Provider>,
    /// `approve` (true): the emergency staff release each warning; `auto`: at once.
    pub approve: bool,
    /// In `approve` mode, an Extreme warning goes out by itself after this; None = never.
    pub auto_release: Option<Duration>,
    pub cap_feeds: Vec<String>,
    /// Hosts besides a CAP feed's own that its entries may point at; a listed host may also
    /// have a loopback, private or link-local address (`warnings.cap_allowed_hosts`).
    pub cap_allowed_hosts: Vec<fetch::AllowedHost>,
    /// Per request to the API.
    pub timeout: Duration,
    /// A document larger than this is cut at this size and counts as a failed fetch.
    pub max_document_bytes: u64,
}

impl Default for WarningsSettings {
    fn default() -> Self {
        WarningsSettings {
            ars: Vec::new(),
            base_url: DEFAULT_BASE_URL.into(),
            poll: Duration::from_secs(60),
            min_severity: Severity::Moderate,
            providers: Provider::FEDERAL.to_vec(),
            approve: true,
            auto_release: Some(Duration::from_secs(5 * 60)),
            cap_feeds: Vec::new(),
            cap_allowed_hosts: Vec::new(),
            timeout: Duration::from_secs(10),
            max_document_bytes: MAX_DOCUMENT_BYTES,
        }
    }
}

/// How the feed fares, for `/readyz` and the logs.
#[derive(Debug, Default)]
pub struct FeedHealth {
    failed_in_a_row: AtomicU32,
    polls: AtomicU64,
    active: AtomicUsize,
    last_error: Mutex<Option<String>>,
}

impl FeedHealth {
    fn record(&self, outcome: &Result<usize, FetchError>) {
        self.polls.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(active) => {
                self.failed_in_a_row.store(0, Ordering::Relaxed);
                self.active.store(*active, Ordering::Relaxed);
                *last = None;
            }
            Err(e) => {
                self.failed_in_a_row.fetch_add(1, Ordering::Relaxed);
                *last = Some(e.to_string());
            }
        }
    }

    pub fn failed_in_a_row(&self) -> u32 {
        self.failed_in_a_row.load(Ordering::Relaxed)
    }

    /// What `/readyz` shows: the feed is down after [`FAILURES_SHOWN`] failed polls in a row.
    pub fn detail(&self) -> serde_json::Value {
        let failed = self.failed_in_a_row();
        let last = self
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        serde_json::json!({
            "ok": failed < FAILURES_SHOWN,
            "failed_polls_in_a_row": failed,
            "polls": self.polls.load(Ordering::Relaxed),
            "active_warnings": self.active.load(Ordering::Relaxed),
            "last_error": if failed >= FAILURES_SHOWN { last } else { None },
        })
    }
}

/// What the feed did with one warning version.
#[derive(Debug, Clone, Serialize)]
pub struct Handled {
    pub identifier: String,
    pub version: i64,
    pub provider: &'static str,
    pub msg_type: String,
    pub severity: &'static str,
    pub headline: String,
    pub decision: String,
    pub broadcast_id: Option<i64>,
    /// The message as it goes out (German), when it goes out.
    pub text: Option<String>,
    pub text_en: Option<String>,
}

/// What one poll did.
#[derive(Debug, Clone, Default)]
pub struct PollReport {
    /// Warnings listed for the area (in the dashboards that answered).
    pub active: usize,
    pub handled: Vec<Handled>,
    /// The first thing that failed; the rest of the poll went on.
    pub failure: Option<FetchError>,
}

/// Why handling a warning stopped; it is not recorded, so the next poll tries again.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Tells the emergency staff what the feed sent by itself (`auto` mode).
pub type Notice = Arc<dyn crate::schedule::StaffNotice>;

#[derive(Clone)]
pub struct WarningsFeed {
    settings: WarningsSettings,
    client: NinaClient,
    broadcasts: Arc<BroadcastService>,
    texts: Arc<Texts>,
    health: Arc<FeedHealth>,
    notice: Option<Notice>,
}

impl WarningsFeed {
    pub fn new(
        settings: WarningsSettings,
        broadcasts: Arc<BroadcastService>,
        texts: Arc<Texts>,
        notice: Option<Notice>,
    ) -> Result<WarningsFeed, String> {
        let client = NinaClient::new(
            &settings.base_url,
            settings.timeout,
            settings.max_document_bytes,
            settings.cap_allowed_hosts.clone(),
        )?;
        Ok(WarningsFeed {
            settings,
            client,
            broadcasts,
            texts,
            health: Arc::new(FeedHealth::default()),
            notice,
        })
    }

    pub fn health(&self) -> Arc<FeedHealth> {
        self.health.clone()
    }

    fn store(&self) -> &Arc<dyn Store> {
        self.broadcasts.store()
    }

    fn rules(&self) -> Rules {
        Rules {
            ars: self.settings.ars.clone(),
            min_severity: self.settings.min_severity,
            providers: self.settings.providers.clone(),
            tz: self.broadcasts.tz(),
        }
    }

    /// Polls until `shutdown`: every `poll`, every 15 s while a warning is active.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(
            districts = ?self.settings.ars.iter().map(Ars::as_str).collect::<Vec<_>>(),
            mode = if self.settings.approve { "approve" } else { "auto" },
            "official warnings: polling"
        );
        loop {
            let report = tokio::select! {
                r = self.poll_once() => r,
                _ = shutdown.cancelled() => return,
            };
            let wait = if report.active > 0 {
                self.settings.poll.min(ACTIVE_POLL)
            } else {
                self.settings.poll
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// One look at every district's dashboard: each new warning version is fetched, mapped,
    /// carried and recorded. What fails is logged and counted, and tried again next time.
    pub async fn poll_once(&self) -> PollReport {
        let mut report = PollReport::default();
        let mut seen = HashSet::new();
        for ars in &self.settings.ars {
            let entries = match self.client.dashboard(ars).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(district = %ars, error = %e, "warning dashboard unavailable");
                    report.failure.get_or_insert(e);
                    continue;
                }
            };
            report.active += entries.len();
            for entry in entries {
                let version = entry.payload.version;
                if !seen.insert((entry.id.clone(), version)) {
                    // Listed twice (by two providers, or for two districts): once is enough.
                    continue;
                }
                match self.store().warning_known(&entry.id, version).await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot check a warning against the database; next poll");
                        continue;
                    }
                }
                let doc = match self.client.warning(&entry.id).await {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(warning = %entry.id, error = %e, "warning document unavailable");
                        report.failure.get_or_insert(e);
                        continue;
                    }
                };
                let listed = entry
                    .payload
                    .data
                    .as_ref()
                    .and_then(|d| d.provider.as_deref());
                let provider = Provider::of(&doc.identifier, listed);
                match self
                    .handle(&doc, version, provider, Some(ars), Dispatch::Send)
                    .await
                {
                    Ok(h) => report.handled.push(h),
                    Err(e) => {
                        tracing::warn!(warning = %entry.id, error = %e, "warning not handled; next poll")
                    }
                }
            }
        }
        for url in &self.settings.cap_feeds {
            match self.poll_cap(url).await {
                Ok(h) => report.handled.extend(h),
                Err(e) => {
                    tracing::warn!(feed = %url, error = %e, "CAP feed unavailable");
                    report.failure.get_or_insert(e);
                }
            }
        }
        if let Err(e) = self.release_unattended().await {
            tracing::warn!(error = %e, "cannot look for unattended warnings; next poll");
        }
        let outcome = match &report.failure {
            None => Ok(report.active),
            Some(e) => Err(e.clone()),
        };
        let label = match &outcome {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        metrics::counter!("amtsbote_warnings_polls_total", "outcome" => label).increment(1);
        self.health.record(&outcome);
        if self.health.failed_in_a_row() == FAILURES_SHOWN {
            tracing::error!(
                polls = FAILURES_SHOWN,
                "the warning API failed {FAILURES_SHOWN} polls in a row; /readyz shows it"
            );
        }
        report
    }

    /// One CAP feed: a CAP 1.2 document, or an Atom feed of them. Each is handled like a NINA
    /// warning, as version 1 (a CAP message never changes: a change is a new message that
    /// refers to it); known ones are not handled again. An entry is fetched only where
    /// [`fetch::entry_allowed`] lets it.
    async fn poll_cap(&self, url: &str) -> Result<Vec<Handled>, FetchError> {
        let text = self.client.get_text(url).await?;
        let base = url::Url::parse(url).map_err(|e| FetchError::Invalid(e.to_string()))?;
        let Some(entries) = cap::atom_entries(&text, &base) else {
            return Ok(self.handle_cap(&text).await?.into_iter().collect());
        };
        let mut handled = Vec::new();
        let mut failure = None;
        for entry in entries {
            match self.client.cap_entry(&entry, &base).await {
                Ok(xml) => match self.handle_cap(&xml).await {
                    Ok(h) => handled.extend(h),
                    Err(e) => failure = Some(e),
                },
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) if handled.is_empty() => Err(e),
            Some(e) => {
                tracing::warn!(feed = %url, error = %e, "a CAP document of the feed is unavailable");
                Ok(handled)
            }
            None => Ok(handled),
        }
    }

    /// One CAP document's text; `None` when it was handled before.
    async fn handle_cap(&self, xml: &str) -> Result<Option<Handled>, FetchError> {
        let doc = cap::parse(xml).map_err(FetchError::Invalid)?;
        match self.store().warning_known(&doc.identifier, 1).await {
            Ok(true) => return Ok(None),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot check a warning against the database; next poll");
                return Ok(None);
            }
        }
        match self
            .handle(&doc, 1, Some(Provider::Cap), None, Dispatch::Send)
            .await
        {
            Ok(h) => Ok(Some(h)),
            Err(e) => {
                tracing::warn!(warning = %doc.identifier, error = %e, "warning not handled; next poll");
                Ok(None)
            }
        }
    }

    /// Maps one document and (with `Dispatch::Send`) carries and records it; a dry run only
    /// says what would happen.
    pub async fn handle(
        &self,
        doc: &Document,
        version: i64,
        provider: Option<Provider>,
        listed_for: Option<&Ars>,
        dispatch: Dispatch,
    ) -> Result<Handled, FeedError> {
        let now = self.broadcasts.clock().now();
        let mapped = match provider {
            Some(p) => mapping::map(doc, p, listed_for, &self.rules(), &self.texts, now),
            None => Mapped {
                identifier: doc.identifier.clone(),
                provider: Provider::Cap,
                msg_type: doc.msg_type.clone(),
                severity: Severity::Unknown,
                headline: String::new(),
                expires_at: None,
                outcome: Err(Skip::ProviderOff),
            },
        };
        let (decision, broadcast_id) = match (&mapped.outcome, dispatch) {
            (Err(skip), _) => {
                if let Skip::Unreadable(why) = skip {
                    tracing::warn!(warning = %doc.identifier, "unreadable warning: {why}");
                }
                (skip.as_str().to_string(), None)
            }
            (Ok(plan), Dispatch::DryRun) => (self.would(&mapped, plan).await?, None),
            (Ok(plan), Dispatch::Send) => self.carry(doc, &mapped, plan, version).await?,
        };
        let plan = mapped.outcome.as_ref().ok();
        let handled = Handled {
            identifier: mapped.identifier.clone(),
            version,
            provider: mapped.provider.as_str(),
            msg_type: mapped.msg_type.clone(),
            severity: mapped.severity.as_str(),
            headline: mapped.headline.clone(),
            decision,
            broadcast_id,
            text: plan.map(|p| p.text_de.clone()),
            text_en: plan.and_then(|p| p.text_en.clone()),
        };
        if dispatch == Dispatch::DryRun {
            return Ok(handled);
        }
        let record = WarningRecord {
            identifier: handled.identifier.clone(),
            version,
            provider: handled.provider.to_string(),
            msg_type: handled.msg_type.clone(),
            severity: handled.severity.to_string(),
            headline: handled.headline.clone(),
            expires_at: mapped.expires_at,
            decision: handled.decision.clone(),
            broadcast_id,
            seen_at: now.timestamp_millis(),
        };
        let new = self.store().record_warning(&record).await?;
        let (action, detail) = if new {
            let sent_as = broadcast_id
                .map(|id| format!(" as broadcast {id}"))
                .unwrap_or_default();
            (
                "warning",
                format!(
                    "{} v{version} ({}, {}, {}): {}{sent_as}",
                    record.identifier,
                    record.provider,
                    record.msg_type,
                    record.severity,
                    record.decision
                ),
            )
        } else {
            (
                "warning",
                format!(
                    "{} v{version}: duplicate, handled before",
                    record.identifier
                ),
            )
        };
        self.broadcasts
            .note(&Actor::WarningsFeed, action, &detail)
            .await?;
        tracing::info!(warning = %record.identifier, version, decision = %record.decision, broadcast = ?broadcast_id, "official warning");
        Ok(Handled {
            decision: if new {
                handled.decision
            } else {
                "duplicate".into()
            },
            ..handled
        })
    }

    /// The alert a warning follows: the broadcast that carried an earlier version of it, or of
    /// a warning it refers to; for a follow-up, the alert it followed.
    async fn parent_of(
        &self,
        identifier: &str,
        plan: &Plan,
    ) -> Result<Option<Broadcast>, FeedError> {
        let candidates =
            std::iter::once(identifier).chain(plan.references.iter().map(String::as_str));
        for c in candidates {
            let Some(id) = self.store().warning_broadcast(c).await? else {
                continue;
            };
            let Some(b) = self.store().broadcast(id).await? else {
                continue;
            };
            let root = match (b.kind, b.parent_id) {
                (BroadcastKind::Alert, _) => Some(b),
                (_, Some(parent)) => self.store().broadcast(parent).await?,
                _ => None,
            };
            if root.is_some() {
                return Ok(root);
            }
        }
        Ok(None)
    }

    /// What a send would do, without doing it (`warnings replay` without `--send`).
    async fn would(&self, mapped: &Mapped, plan: &Plan) -> Result<String, FeedError> {
        if plan.exercise {
            return Ok("would_send_drill".into());
        }
        let parent = self.parent_of(&mapped.identifier, plan).await?;
        Ok(match step(plan, parent.as_ref()) {
            Step::Skip(why) => why.to_string(),
            Step::Withdraw(_, None) => "would_withdraw".into(),
            Step::Withdraw(_, Some(_)) | Step::Submit(BroadcastKind::Alert, _) => {
                "would_send_alert".into()
            }
            Step::Submit(BroadcastKind::Update, _) => "would_send_update".into(),
            Step::Submit(_, _) => "would_send_allclear".into(),
        })
    }

    /// Hands the warning to the broadcast service; the decision and the broadcast.
    async fn carry(
        &self,
        doc: &Document,
        mapped: &Mapped,
        plan: &Plan,
        version: i64,
    ) -> Result<(String, Option<i64>), FeedError> {
        let feed = Actor::WarningsFeed;
        let key = format!("warning:{}:{version}", mapped.identifier);
        if plan.exercise {
            // An exercise from the authorities is a drill: the staff only, marked as such.
            let drill = Submission {
                attachment: None,
                target: None,
                topic: DRILL_TOPIC.into(),
                kind: Some(BroadcastKind::Alert),
                priority: Some(crate::domain::Priority::Alert),
                text: plan.text_de.clone(),
                text_en: None,
                parent_id: None,
                when: When::Now,
                draft: false,
                idempotency_key: Some(key),
            };
            return match self.broadcasts.submit(&feed, drill).await {
                Ok(s) => Ok(("drill".into(), Some(s.broadcast.id))),
                Err(ServiceError::Store(e)) => Err(e.into()),
                Err(e) => {
                    tracing::warn!(warning = %mapped.identifier, error = %e, "the broadcast service refused a drill");
                    Ok(("refused".into(), None))
                }
            };
        }
        let parent = self.parent_of(&mapped.identifier, plan).await?;
        let (kind, parent_id) = match step(plan, parent.as_ref()) {
            Step::Skip(why) => return Ok((why.to_string(), None)),
            Step::Withdraw(pending, then) => {
                // Still waiting for a person: the newer word replaces it.
                match self.broadcasts.cancel(&feed, pending).await {
                    Ok(_) | Err(ServiceError::WrongStatus { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                match then {
                    None => return Ok(("withdrawn".into(), Some(pending))),
                    Some(kind) => (kind, None),
                }
            }
            Step::Submit(kind, parent) => (kind, parent),
        };
        let priority = match parent.as_ref() {
            Some(p) if parent_id.is_some() => plan.priority.max(p.priority),
            _ => plan.priority,
        };
        // A follow-up goes to its alert's recipients.
        let target = match (kind, parent_id) {
            (BroadcastKind::Alert, None) => self.target_of(doc, mapped.provider).await,
            _ => None,
        };
        let submission = Submission {
            attachment: None,
            target,
            topic: ALERTS_TOPIC.into(),
            kind: Some(kind),
            priority: Some(priority),
            text: plan.text_de.clone(),
            text_en: plan.text_en.clone(),
            parent_id,
            when: When::Now,
            draft: false,
            idempotency_key: Some(key),
        };
        let submitted = match self.broadcasts.submit(&feed, submission).await {
            Ok(s) => s,
            Err(ServiceError::Store(e)) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(warning = %mapped.identifier, error = %e, "the broadcast service refused a warning");
                return Ok(("refused".into(), None));
            }
        };
        let b = &submitted.broadcast;
        let decision = match b.status {
            BroadcastStatus::AwaitingApproval => "awaiting_approval",
            _ => "sent",
        };
        if submitted.created && decision == "sent" {
            self.tell_staff("warning-sent-auto", b.id).await;
        }
        Ok((decision.into(), Some(b.id)))
    }

    /// Where an alert for this warning goes: the part of the city its geometry covers (the
    /// CAP document's shapes, else the NINA API's `warnings/{id}.geojson`), or the whole city
    /// (`None`) when there are no districts, no geometry, or one that covers every district,
    /// cannot be fetched or read, or lies outside every district. The last because the
    /// authorities listed the warning for the city (or the city chose the CAP feed): a warning
    /// withheld on the word of a geometry is worse than one sent too widely.
    async fn target_of(&self, doc: &Document, provider: Provider) -> Option<Target> {
        self.broadcasts.areas()?;
        let id = &doc.identifier;
        let geometry = match geometry::of_cap(doc) {
            Ok(None) if provider != Provider::Cap => match self.client.geometry(id).await {
                Ok(Some(text)) => geometry::of_geojson(&text),
                Ok(None) => Ok(None),
                Err(e) => {
                    tracing::warn!(warning = %id, error = %e, "warning geometry unavailable: the warning goes to the whole city");
                    return None;
                }
            },
            other => other,
        };
        let target = match geometry {
            Ok(t) => t?,
            Err(why) => {
                tracing::warn!(warning = %id, "unreadable warning geometry: the warning goes to the whole city: {why}");
                return None;
            }
        };
        match self.broadcasts.resolve_target(&target) {
            Ok(Some(resolved)) => {
                tracing::info!(warning = %id, districts = ?resolved.areas, "the warning goes to the part of the city it concerns");
                Some(target)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(warning = %id, error = %e, "the warning's geometry is not a part of the city's districts: the warning goes to the whole city");
                None
            }
        }
    }

    /// Tells every emergency person's addresses.
    async fn tell_staff(&self, key: &str, id: i64) {
        let Some(notice) = &self.notice else {
            return;
        };
        match self.store().list_staff().await {
            Ok(staff) => {
                for m in staff
                    .iter()
                    .filter(|m| matches!(m.role, Role::Emergency | Role::Admin))
                {
                    notice.tell(m.channel, &m.address, key, id).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot tell the staff about a warning sent"),
        }
    }

    /// In `approve` mode, releases Extreme warnings nobody acted on in time.
    async fn release_unattended(&self) -> Result<(), FeedError> {
        let (true, Some(after)) = (self.settings.approve, self.settings.auto_release) else {
            return Ok(());
        };
        let now = self.broadcasts.clock().now_ms();
        for w in self.store().warnings(200).await? {
            let due = w.seen_at + after.as_millis() as i64 <= now;
            if w.decision != "awaiting_approval" || w.severity != Severity::Extreme.as_str() || !due
            {
                continue;
            }
            let Some(id) = w.broadcast_id else { continue };
            let waiting = self
                .store()
                .broadcast(id)
                .await?
                .is_some_and(|b| b.status == BroadcastStatus::AwaitingApproval);
            if !waiting {
                continue;
            }
            match self
                .broadcasts
                .release_unattended(&Actor::WarningsFeed, id)
                .await
            {
                Ok(_) => {
                    tracing::warn!(warning = %w.identifier, broadcast = id, "an Extreme warning went out unattended: nobody acted in time");
                    self.tell_staff("warning-auto-released", id).await;
                }
                Err(ServiceError::WrongStatus { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Runs one stored document through the pipeline as if the first district's dashboard
    /// listed it: a dry run, or with `send` as the feed would (recorded, deduplicated).
    pub async fn replay(
        &self,
        doc: &Document,
        version: i64,
        send: bool,
    ) -> Result<Handled, FeedError> {
        let provider = Provider::of(&doc.identifier, None).or(Some(Provider::Cap));
        let listed = self.settings.ars.first();
        let dispatch = if send {
            Dispatch::Send
        } else {
            Dispatch::DryRun
        };
        if send && self.store().warning_known(&doc.identifier, version).await? {
            self.broadcasts
                .note(
                    &Actor::WarningsFeed,
                    "warning",
                    &format!(
                        "{} v{version}: duplicate, handled before (replay)",
                        doc.identifier
                    ),
                )
                .await?;
            let mut h = self
                .handle(doc, version, provider, listed, Dispatch::DryRun)
                .await?;
            h.decision = "duplicate".into();
            return Ok(h);
        }
        self.handle(doc, version, provider, listed, dispatch).await
    }
}

/// Whether `handle` sends or only says what it would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    Send,
    DryRun,
}

/// What to do with a mapped warning, given the alert it follows (if any).
enum Step {
    Skip(&'static str),
    /// Cancel the feed's own broadcast that still waits for a person, then submit this kind
    /// (or nothing).
    Withdraw(i64, Option<BroadcastKind>),
    Submit(BroadcastKind, Option<i64>),
}

fn step(plan: &Plan, parent: Option<&Broadcast>) -> Step {
    let released = parent.filter(|p| p.released_at.is_some());
    let pending = parent.filter(|p| {
        matches!(
            p.status,
            BroadcastStatus::AwaitingApproval | BroadcastStatus::Draft
        )
    });
    match plan.msg_type {
        MessageType::Cancel => match (released, pending) {
            (Some(p), _) => Step::Submit(BroadcastKind::Allclear, Some(p.id)),
            (None, Some(p)) => Step::Withdraw(p.id, None),
            _ => Step::Skip("nothing_to_clear"),
        },
        MessageType::Update | MessageType::Alert => match (released, pending) {
            (Some(p), _) => Step::Submit(BroadcastKind::Update, Some(p.id)),
            (None, Some(p)) if plan.below_minimum => Step::Withdraw(p.id, None),
            (None, Some(p)) => Step::Withdraw(p.id, Some(BroadcastKind::Alert)),
            (None, None) if plan.below_minimum => Step::Skip(Skip::TooMinor.as_str()),
            (None, None) => Step::Submit(BroadcastKind::Alert, None),
        },
    }
}
