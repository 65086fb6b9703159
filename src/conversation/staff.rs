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

const COMMANDS: [&str; 16] = [
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
            })
            .await?;
        if let Some(signals) = &self.signals {
            signals.released();
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
