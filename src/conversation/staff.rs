//! Staff commands: announce, alert, update, all-clear with preview and confirmation; status and
//! stop of a broadcast. Every staff action goes to the audit log, which never holds a citizen's
//! address.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{ALERTS_TOPIC, Args, Button, Conversation, Incoming, Reply};
use crate::domain::{
    BroadcastKind, BroadcastText, ChannelKind, DeliveryStatus, Priority, Role, now_ms,
};
use crate::store::{Confirmation, NewBroadcast, RecipientCount, StoreError};

const COMMANDS: [&str; 20] = [
    "schedule",
    "schedule_cron",
    "scheduled",
    "unschedule",
    "announce",
    "meldung",
    "alert",
    "warnung",
    "update",
    "aktualisierung",
    "allclear",
    "entwarnung",
    "confirm",
    "bestaetigen",
    "cancel",
    "abbrechen",
    "status",
    "stop_broadcast",
    "meldung_stoppen",
    "staff",
];

pub(super) fn is_staff_command(word: &str) -> bool {
    COMMANDS.contains(&word)
}

/// A six-character code for typed confirmations (no 0/O or 1/I to misread).
pub(super) fn new_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub(super) fn confirmation(
    code: &str,
    action: &str,
    payload: &str,
    msg: &Incoming,
    ttl_secs: i64,
) -> Confirmation {
    let now = now_ms();
    Confirmation {
        code: code.to_string(),
        action: action.to_string(),
        payload: payload.to_string(),
        author_channel: msg.channel,
        author_address: msg.sender.clone(),
        created_at: now,
        expires_at: now + ttl_secs * 1000,
    }
}

/// What a preview will send once confirmed.
#[derive(Debug, Serialize, Deserialize)]
struct Draft {
    topic: String,
    kind: BroadcastKind,
    priority: Priority,
    text: String,
    parent_id: Option<i64>,
    /// A one-off time (ms) to send at.
    #[serde(default)]
    scheduled_at: Option<i64>,
    /// A recurring schedule instead of one broadcast.
    #[serde(default)]
    cron: Option<String>,
}

/// What follows the first `n` words of `s`, spacing inside kept.
fn after_words(s: &str, n: usize) -> &str {
    let mut rest = s.trim_start();
    for _ in 0..n {
        rest = rest
            .split_once(char::is_whitespace)
            .map(|(_, r)| r.trim_start())
            .unwrap_or("");
    }
    rest
}

/// The first words of a text, for lists.
fn short(text: &str) -> String {
    let s: String = text.chars().take(40).collect();
    if s.len() < text.len() {
        format!("{s}…")
    } else {
        s
    }
}

fn actor(msg: &Incoming) -> String {
    format!("{}:{}", msg.channel, msg.sender)
}

impl Conversation {
    pub(super) async fn staff(
        &self,
        msg: &Incoming,
        lang: &str,
        command: &str,
        rest: &str,
    ) -> Result<Vec<Reply>, StoreError> {
        let Some(role) = self.store.staff_role(msg.channel, &msg.sender).await? else {
            tracing::info!(channel = %msg.channel, command, "a staff command from someone who is not staff; refused");
            return Ok(vec![self.say(msg, lang, "staff-refused", vec![])]);
        };
        match command {
            "announce" | "meldung" => {
                let Some((topic, text)) = rest.split_once(char::is_whitespace) else {
                    return Ok(vec![self.say(msg, lang, "usage-announce", vec![])]);
                };
                let Some(t) = self.find_topic(topic) else {
                    let valid = self.topic_list(lang);
                    return Ok(vec![self.say(
                        msg,
                        lang,
                        "unknown-topic",
                        vec![("topic", topic.to_string().into()), ("valid", valid.into())],
                    )]);
                };
                if t.id.as_str() == ALERTS_TOPIC && !role.may_alert() {
                    return Ok(vec![self.say(msg, lang, "staff-refused", vec![])]);
                }
                let kind = if t.id.as_str() == ALERTS_TOPIC {
                    BroadcastKind::Alert
                } else {
                    BroadcastKind::Announcement
                };
                self.preview(
                    msg,
                    lang,
                    Draft {
                        topic: t.id.to_string(),
                        kind,
                        priority: t.priority,
                        text: text.to_string(),
                        parent_id: None,
                        scheduled_at: None,
                        cron: None,
                    },
                )
                .await
            }
            "alert" | "warnung" => {
                if !role.may_alert() {
                    return Ok(vec![self.say(msg, lang, "staff-refused", vec![])]);
                }
                if rest.is_empty() {
                    return Ok(vec![self.say(msg, lang, "usage-alert", vec![])]);
                }
                let draft = Draft {
                    topic: ALERTS_TOPIC.into(),
                    kind: BroadcastKind::Alert,
                    priority: Priority::Alert,
                    text: rest.to_string(),
                    parent_id: None,
                    scheduled_at: None,
                    cron: None,
                };
                self.preview(msg, lang, draft).await
            }
            "update" | "aktualisierung" | "allclear" | "entwarnung" => {
                if !role.may_alert() {
                    return Ok(vec![self.say(msg, lang, "staff-refused", vec![])]);
                }
                let kind = if matches!(command, "update" | "aktualisierung") {
                    BroadcastKind::Update
                } else {
                    BroadcastKind::Allclear
                };
                let parsed = rest.split_once(char::is_whitespace).and_then(|(id, text)| {
                    Some((id.trim_start_matches('#').parse::<i64>().ok()?, text))
                });
                let Some((parent, text)) = parsed else {
                    return Ok(vec![self.say(msg, lang, "usage-follow-up", vec![])]);
                };
                match self.store.broadcast(parent).await? {
                    Some(b) if b.kind == BroadcastKind::Alert => {}
                    _ => {
                        return Ok(vec![self.say(
                            msg,
                            lang,
                            "not-an-alert",
                            vec![("id", parent.into())],
                        )]);
                    }
                }
                let draft = Draft {
                    topic: ALERTS_TOPIC.into(),
                    kind,
                    priority: Priority::Alert,
                    text: text.to_string(),
                    parent_id: Some(parent),
                    scheduled_at: None,
                    cron: None,
                };
                self.preview(msg, lang, draft).await
            }
            "confirm" | "bestaetigen" => self.confirm(msg, lang, role, rest).await,
            "cancel" | "abbrechen" => {
                let code = rest.trim().to_ascii_uppercase();
                match self.store.take_confirmation(&code).await? {
                    Some(c) if c.action == "broadcast" => {
                        self.store
                            .audit(&actor(msg), "cancel-preview", &format!("code {code}"))
                            .await?;
                        Ok(vec![self.say(msg, lang, "preview-cancelled", vec![])])
                    }
                    _ => Ok(vec![self.say(
                        msg,
                        lang,
                        "confirm-unknown",
                        vec![("code", code.into())],
                    )]),
                }
            }
            "status" => self.status(msg, lang, rest).await,
            "schedule" | "schedule_cron" => {
                let Some(draft) = self.schedule_draft(command, rest) else {
                    return Ok(vec![self.say(msg, lang, "usage-schedule", vec![])]);
                };
                match draft {
                    Ok(d) if d.kind.is_alert() && !role.may_alert() => {
                        Ok(vec![self.say(msg, lang, "staff-refused", vec![])])
                    }
                    Ok(d) => self.preview(msg, lang, d).await,
                    Err(reason) => Ok(vec![self.say(
                        msg,
                        lang,
                        "bad-schedule",
                        vec![("reason", reason.into())],
                    )]),
                }
            }
            "scheduled" => self.planned(msg, lang).await,
            "unschedule" => {
                let id = rest.trim().trim_start_matches('#');
                let done = match id.strip_prefix(['S', 's']) {
                    Some(sid) => match sid.parse::<i64>() {
                        Ok(sid) => self.store.delete_schedule(sid).await?,
                        Err(_) => false,
                    },
                    None => match id.parse::<i64>() {
                        Ok(bid) => match self.store.broadcast(bid).await? {
                            Some(b) if b.status == crate::domain::BroadcastStatus::Scheduled => {
                                self.store.cancel_broadcast(bid).await?
                            }
                            _ => false,
                        },
                        Err(_) => false,
                    },
                };
                if done {
                    self.store.audit(&actor(msg), "unschedule", id).await?;
                }
                let key = if done {
                    "unscheduled"
                } else {
                    "unschedule-unknown"
                };
                Ok(vec![self.say(
                    msg,
                    lang,
                    key,
                    vec![("id", rest.trim().to_string().into())],
                )])
            }
            "stop_broadcast" | "meldung_stoppen" => {
                let Ok(id) = rest.trim().trim_start_matches('#').parse::<i64>() else {
                    return Ok(vec![self.say(msg, lang, "usage-stop-broadcast", vec![])]);
                };
                let key = match self.store.cancel_broadcast(id).await {
                    Ok(true) => {
                        self.store
                            .audit(&actor(msg), "stop-broadcast", &format!("broadcast {id}"))
                            .await?;
                        "broadcast-stopped"
                    }
                    Ok(false) => "broadcast-not-stopped",
                    Err(StoreError::UnknownBroadcast(_)) => "broadcast-unknown",
                    Err(e) => return Err(e),
                };
                Ok(vec![self.say(msg, lang, key, vec![("id", id.into())])])
            }
            _ => Ok(vec![self.say(msg, lang, "help-staff", vec![])]),
        }
    }

    async fn preview(
        &self,
        msg: &Incoming,
        lang: &str,
        draft: Draft,
    ) -> Result<Vec<Reply>, StoreError> {
        let text = match BroadcastText::parse(&draft.text) {
            Ok(t) => t,
            Err(e) => {
                return Ok(vec![self.say(
                    msg,
                    lang,
                    "bad-text",
                    vec![("reason", e.into())],
                )]);
            }
        };
        let recipients = match draft.parent_id {
            Some(p) => self.store.follow_up_recipient_count(p).await?,
            None => match crate::domain::Topic::parse(&draft.topic) {
                Ok(t) => self.store.recipient_count(&t).await?,
                Err(_) => RecipientCount::default(),
            },
        };
        let code = new_code();
        let payload =
            serde_json::to_string(&draft).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store
            .put_confirmation(&confirmation(&code, "broadcast", &payload, msg, 3600))
            .await?;
        self.store
            .audit(
                &actor(msg),
                "preview",
                &format!(
                    "{} on {} ({} recipients), code {code}",
                    draft.kind.as_str(),
                    draft.topic,
                    recipients.total()
                ),
            )
            .await?;
        let needs_second = draft.kind.is_alert() && self.second_approval;
        let args = |lang: &str| -> Args<'static> {
            vec![
                (
                    "kind",
                    self.texts
                        .get(lang, &format!("kind-{}", draft.kind.as_str()), &[])
                        .into(),
                ),
                ("topic", draft.topic.clone().into()),
                ("priority", draft.priority.as_str().into()),
                ("text", text.as_str().to_string().into()),
                ("total", recipients.total().into()),
                ("telegram", recipients.telegram.into()),
                ("whatsapp", recipients.whatsapp.into()),
                ("code", code.clone().into()),
            ]
        };
        let buttons = |lang: &str| {
            vec![vec![
                Button {
                    label: self.texts.get(lang, "button-send", &[]),
                    data: format!("c:{code}"),
                },
                Button {
                    label: self.texts.get(lang, "button-cancel", &[]),
                    data: format!("x:{code}"),
                },
            ]]
        };
        // WhatsApp recipients outside their window get the template version: show it too.
        let flat = crate::channels::whatsapp::template_parameter(text.as_str());
        let whatsapp_differs = recipients.whatsapp > 0 && flat != text.as_str();
        let preview_text = |lang: &str, key: &str| {
            let mut t = self.texts.get(lang, key, &args(lang));
            if let Some(at) = draft.scheduled_at {
                t.push('\n');
                t.push_str(&self.texts.get(
                    lang,
                    "preview-at",
                    &[("at", self.local_time(at).into())],
                ));
            }
            if let Some(expr) = &draft.cron {
                let next = crate::schedule::Recurrence::parse(expr)
                    .ok()
                    .and_then(|r| r.next_after(self.tz, chrono::Utc::now()))
                    .map(|t| self.local_time(t.timestamp_millis()))
                    .unwrap_or_default();
                t.push('\n');
                t.push_str(&self.texts.get(
                    lang,
                    "preview-recurring",
                    &[("expr", expr.clone().into()), ("next", next.into())],
                ));
            }
            if whatsapp_differs {
                t.push_str("\n\n");
                t.push_str(&self.texts.get(
                    lang,
                    "preview-whatsapp-version",
                    &[("text", flat.as_str().into())],
                ));
            }
            t
        };
        let key = if needs_second {
            "preview-needs-approval"
        } else {
            "preview"
        };
        let mut replies = vec![Reply::Send {
            to: msg.chat.clone(),
            text: preview_text(lang, key),
            buttons: buttons(lang),
        }];
        if needs_second {
            // Every other emergency member on this channel gets the preview to approve.
            for member in self.store.list_staff().await? {
                if member.channel == msg.channel
                    && member.address != msg.sender
                    && member.role.may_alert()
                {
                    let lang = self.staff_language(member.channel, &member.address).await?;
                    replies.push(Reply::Send {
                        to: member.address.clone(),
                        text: preview_text(&lang, "preview-approve"),
                        buttons: buttons(&lang),
                    });
                }
            }
        }
        Ok(replies)
    }

    async fn confirm(
        &self,
        msg: &Incoming,
        lang: &str,
        role: Role,
        code: &str,
    ) -> Result<Vec<Reply>, StoreError> {
        let code = code.trim().to_ascii_uppercase();
        let unknown = || {
            vec![self.say(
                msg,
                lang,
                "confirm-unknown",
                vec![("code", code.clone().into())],
            )]
        };
        let Some(pending) = self.store.confirmation(&code).await? else {
            return Ok(unknown());
        };
        if pending.action != "broadcast" {
            return Ok(unknown());
        }
        let draft: Draft = serde_json::from_str(&pending.payload)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if draft.kind.is_alert() && !role.may_alert() {
            return Ok(vec![self.say(msg, lang, "staff-refused", vec![])]);
        }
        let own = pending.author_channel == msg.channel && pending.author_address == msg.sender;
        if draft.kind.is_alert() && self.second_approval && own {
            return Ok(vec![self.say(msg, lang, "confirm-own", vec![])]);
        }
        // Taken once: a second click or a second approver finds nothing.
        if self.store.take_confirmation(&code).await?.is_none() {
            return Ok(unknown());
        }
        let (Ok(topic), Ok(text)) = (
            crate::domain::Topic::parse(&draft.topic),
            BroadcastText::parse(&draft.text),
        ) else {
            return Ok(unknown());
        };
        if let Some(expr) = &draft.cron {
            let Ok(recurrence) = crate::schedule::Recurrence::parse(expr) else {
                return Ok(unknown());
            };
            let Some(next) = recurrence.next_after(self.tz, chrono::Utc::now()) else {
                return Ok(unknown());
            };
            let id = self
                .store
                .create_schedule(&crate::store::NewSchedule {
                    topic,
                    kind: draft.kind,
                    priority: draft.priority,
                    text,
                    cron: recurrence.expr.clone(),
                    next_at: next.timestamp_millis(),
                    created_by: Some(actor(msg)),
                    source: None,
                })
                .await?;
            self.store
                .audit(
                    &actor(msg),
                    "schedule",
                    &format!(
                        "S{id}: {} on {} at {}",
                        draft.kind.as_str(),
                        draft.topic,
                        recurrence.expr
                    ),
                )
                .await?;
            let next = self.local_time(next.timestamp_millis());
            return Ok(vec![self.say(
                msg,
                lang,
                "schedule-created",
                vec![("id", format!("S{id}").into()), ("next", next.into())],
            )]);
        }
        let created = self
            .store
            .create_broadcast(&NewBroadcast {
                topic,
                kind: draft.kind,
                priority: draft.priority,
                text,
                idempotency_key: Some(format!("confirm:{code}")),
                created_by: Some(actor(msg)),
                parent_id: draft.parent_id,
                release: true,
                scheduled_at: draft.scheduled_at,
            })
            .await?;
        if let Some(at) = draft.scheduled_at {
            let id = created.broadcast.id;
            self.store
                .audit(
                    &actor(msg),
                    "schedule",
                    &format!("broadcast {id}: {} on {}", draft.kind.as_str(), draft.topic),
                )
                .await?;
            return Ok(vec![self.say(
                msg,
                lang,
                "scheduled-ok",
                vec![("id", id.into()), ("at", self.local_time(at).into())],
            )]);
        }
        if let Some(signals) = &self.signals {
            signals.released_broadcast(&created.broadcast);
        }
        let id = created.broadcast.id;
        let by = if own {
            "confirm".to_string()
        } else {
            format!(
                "approve (author {}:{})",
                pending.author_channel, pending.author_address
            )
        };
        self.store
            .audit(
                &actor(msg),
                &by,
                &format!("broadcast {id}: {} on {}", draft.kind.as_str(), draft.topic),
            )
            .await?;
        tracing::info!(
            broadcast = id,
            kind = draft.kind.as_str(),
            "broadcast confirmed in the chat"
        );
        Ok(vec![self.say(
            msg,
            lang,
            "released",
            vec![("id", id.into())],
        )])
    }

    async fn status(
        &self,
        msg: &Incoming,
        lang: &str,
        rest: &str,
    ) -> Result<Vec<Reply>, StoreError> {
        let list = match rest.trim().trim_start_matches('#') {
            "" => self.store.list_broadcasts(5).await?,
            id => match id.parse::<i64>() {
                Ok(id) => match self.store.broadcast(id).await? {
                    Some(b) => vec![b],
                    None => {
                        return Ok(vec![self.say(
                            msg,
                            lang,
                            "broadcast-unknown",
                            vec![("id", id.into())],
                        )]);
                    }
                },
                Err(_) => return Ok(vec![self.say(msg, lang, "usage-status", vec![])]),
            },
        };
        let mut lines = Vec::new();
        for b in list {
            let s = self.store.broadcast_stats(b.id).await?;
            let n = |c: ChannelKind, st: &[DeliveryStatus]| -> u64 {
                st.iter().map(|x| s.count(c, *x)).sum()
            };
            let open = [DeliveryStatus::Pending, DeliveryStatus::Leased];
            lines.push(self.texts.get(
                lang,
                "status-line",
                &[
                    ("id", b.id.into()),
                    ("status", b.status.as_str().into()),
                    ("kind", b.kind.as_str().into()),
                    ("topic", b.topic.clone().into()),
                    (
                        "tg_sent",
                        n(ChannelKind::Telegram, &[DeliveryStatus::Sent]).into(),
                    ),
                    ("tg_open", n(ChannelKind::Telegram, &open).into()),
                    (
                        "tg_failed",
                        n(ChannelKind::Telegram, &[DeliveryStatus::Failed]).into(),
                    ),
                    (
                        "tg_gone",
                        n(ChannelKind::Telegram, &[DeliveryStatus::Gone]).into(),
                    ),
                    (
                        "wa_sent",
                        n(ChannelKind::Whatsapp, &[DeliveryStatus::Sent]).into(),
                    ),
                    ("wa_open", n(ChannelKind::Whatsapp, &open).into()),
                    (
                        "wa_failed",
                        n(ChannelKind::Whatsapp, &[DeliveryStatus::Failed]).into(),
                    ),
                    (
                        "wa_gone",
                        n(ChannelKind::Whatsapp, &[DeliveryStatus::Gone]).into(),
                    ),
                ],
            ));
        }
        let now = now_ms();
        for l in self.store.lane_states().await? {
            if let Some(until) = l.paused_until.filter(|u| *u > now) {
                lines.push(self.texts.get(
                    lang,
                    "status-paused",
                    &[
                        ("channel", l.channel.as_str().into()),
                        ("seconds", ((until - now) / 1000).into()),
                    ],
                ));
            }
        }
        if lines.is_empty() {
            lines.push(self.texts.get(lang, "stats-none", &[]));
        }
        Ok(vec![Reply::Send {
            to: msg.chat.clone(),
            text: lines.join("\n"),
            buttons: Vec::new(),
        }])
    }

    /// `/schedule DATE TIME TOPIC TEXT` or `/schedule_cron S M H DOM MON DOW TOPIC TEXT` as a
    /// draft; `None` when the words are too few, `Err` when they do not make sense.
    fn schedule_draft(&self, command: &str, rest: &str) -> Option<Result<Draft, String>> {
        let words: Vec<&str> = rest.split_whitespace().collect();
        let when_words = if command == "schedule" { 2 } else { 6 };
        if words.len() < when_words + 2 {
            return None;
        }
        let when = words[..when_words].join(" ");
        let topic_word = words[when_words];
        let text = after_words(rest, when_words + 1).to_string();
        Some((|| {
            let t = self.find_topic(topic_word).ok_or_else(|| {
                format!(
                    "unknown topic '{topic_word}'; topics: {}",
                    self.topic_list("en")
                )
            })?;
            let kind = if t.id.as_str() == super::ALERTS_TOPIC {
                BroadcastKind::Alert
            } else {
                BroadcastKind::Announcement
            };
            let mut draft = Draft {
                topic: t.id.to_string(),
                kind,
                priority: t.priority,
                text,
                parent_id: None,
                scheduled_at: None,
                cron: None,
            };
            if command == "schedule" {
                let at = crate::schedule::parse_time(&when, self.tz)?;
                if at <= chrono::Utc::now() {
                    return Err(format!("{when} has passed"));
                }
                draft.scheduled_at = Some(at.timestamp_millis());
            } else {
                draft.cron = Some(crate::schedule::Recurrence::parse(&when)?.expr);
            }
            Ok(draft)
        })())
    }

    /// What is planned: one-off broadcasts (#id) and recurring schedules (S id).
    async fn planned(&self, msg: &Incoming, lang: &str) -> Result<Vec<Reply>, StoreError> {
        let mut lines = Vec::new();
        for b in self.store.scheduled_broadcasts().await? {
            let at = self.local_time(b.scheduled_at.unwrap_or_default());
            lines.push(self.texts.get(
                lang,
                "planned-once",
                &[
                    ("id", b.id.into()),
                    ("at", at.into()),
                    ("topic", b.topic.clone().into()),
                    ("text", short(&b.text).into()),
                ],
            ));
        }
        for s in self.store.schedules().await? {
            let next = self.local_time(s.next_at);
            lines.push(self.texts.get(
                lang,
                "planned-recurring",
                &[
                    ("id", format!("S{}", s.id).into()),
                    ("expr", s.cron.clone().into()),
                    ("next", next.into()),
                    ("topic", s.topic.clone().into()),
                    ("text", short(&s.text).into()),
                ],
            ));
        }
        if lines.is_empty() {
            lines.push(self.texts.get(lang, "planned-none", &[]));
        }
        Ok(vec![Reply::Send {
            to: msg.chat.clone(),
            text: lines.join("\n"),
            buttons: Vec::new(),
        }])
    }

    /// A time as the city reads it.
    pub(super) fn local_time(&self, ms: i64) -> String {
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
            .map(|t| {
                t.with_timezone(&self.tz)
                    .format("%Y-%m-%d %H:%M %Z")
                    .to_string()
            })
            .unwrap_or_default()
    }

    async fn staff_language(
        &self,
        channel: ChannelKind,
        address: &str,
    ) -> Result<String, StoreError> {
        Ok(self
            .store
            .subscriber(channel, address)
            .await?
            .map(|s| s.language)
            .unwrap_or_else(|| super::DEFAULT_LANGUAGE.to_string()))
    }
}
