//! Staff commands: announce, alert, update, all-clear with preview and confirmation; schedules;
//! status and stop of a broadcast. Everything that creates, confirms, approves or cancels a
//! broadcast goes through the broadcast service, which asks the one policy and writes the audit
//! log (never a citizen's address).

use super::command::{self, ButtonData, Word};
use super::{ALERTS_TOPIC, Args, Button, Conversation, Incoming, Reply};
use crate::domain::{Actor, BroadcastKind, ChannelKind, DRILL_TOPIC, DeliveryStatus, now_ms};
use crate::services::{BroadcastService, Outcome, Reach, Refusal, ServiceError, Submission, When};
use crate::store::{Broadcast, StoreError};

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
    let s = crate::domain::text::prefix_within(text, 40);
    if s.len() < text.len() {
        format!("{s}…")
    } else {
        s.to_string()
    }
}

/// A draft as staff typed it: `None` when the words do not fit the command (usage).
fn submission(
    conversation: &Conversation,
    word: Word,
    rest: &str,
) -> Option<Result<Submission, String>> {
    let draft = |topic: String, kind: Option<BroadcastKind>, text: &str| Submission {
        attachment: None,
        target: None,
        topic,
        kind,
        priority: None,
        text: text.to_string(),
        text_en: None,
        parent_id: None,
        when: When::Now,
        draft: true,
        idempotency_key: None,
    };
    let topic_id = |word: &str| -> Result<String, String> {
        conversation
            .find_topic(word)
            .map(|t| t.id.to_string())
            .ok_or_else(|| word.to_string())
    };
    match word {
        Word::Announce => {
            let (topic, rest) = rest.split_once(char::is_whitespace)?;
            let (target, text) = take_target(rest.trim_start())?;
            Some(topic_id(topic).map(|t| Submission {
                attachment: None,
                target,
                ..draft(t, None, text)
            }))
        }
        Word::Alert | Word::Drill => {
            let (target, text) = take_target(rest)?;
            let topic = if word == Word::Drill {
                DRILL_TOPIC
            } else {
                ALERTS_TOPIC
            };
            Some(Ok(Submission {
                attachment: None,
                target,
                ..draft(topic.into(), Some(BroadcastKind::Alert), text)
            }))
        }
        Word::Update | Word::Allclear => {
            let (id, text) = rest.split_once(char::is_whitespace)?;
            let parent = command::broadcast_id(id)?;
            let mut d = draft(ALERTS_TOPIC.into(), command::follow_up_kind(word), text);
            d.parent_id = Some(parent);
            Some(Ok(d))
        }
        Word::Schedule | Word::ScheduleCron => {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let when_words = if word == Word::Schedule { 2 } else { 6 };
            if words.len() < when_words + 2 {
                return None;
            }
            let when = words[..when_words].join(" ");
            let text = after_words(rest, when_words + 1);
            Some((|| {
                let topic = topic_id(words[when_words]).map_err(|w| {
                    format!(
                        "unknown topic '{w}'; topics: {}",
                        conversation.topic_list("en")
                    )
                })?;
                let mut d = draft(topic, None, text);
                d.when = if word == Word::Schedule {
                    let tz = conversation.broadcasts.tz();
                    When::At(crate::domain::time::parse_time(&when, tz)?.timestamp_millis())
                } else {
                    When::Every(when)
                };
                Ok(d)
            })())
        }
        _ => None,
    }
}

/// A caption's line that gives a picture its alternative text: `Bild: …` (or `Alt: …`,
/// `Picture: …`); the caption without it, and the text.
fn take_alt(caption: &str) -> (String, Option<String>) {
    let mut alt = None;
    let mut rest = Vec::new();
    for line in caption.lines() {
        let trimmed = line.trim_start();
        let found = ["bild:", "alt:", "picture:"].iter().find_map(|p| {
            trimmed
                .get(..p.len())
                .filter(|head| head.eq_ignore_ascii_case(p))
                .map(|_| trimmed[p.len()..].trim().to_string())
        });
        match found {
            Some(a) if alt.is_none() && !a.is_empty() => alt = Some(a),
            _ => rest.push(line),
        }
    }
    (rest.join("\n"), alt)
}

/// `@DISTRICT[,DISTRICT…] TEXT`: the districts (ids, or names without spaces) and the text;
/// `None` when no text follows.
fn take_target(rest: &str) -> Option<(Option<crate::domain::area::Target>, &str)> {
    let Some(districts) = rest.strip_prefix('@') else {
        return (!rest.trim().is_empty()).then_some((None, rest));
    };
    let (districts, text) = districts.split_once(char::is_whitespace)?;
    let ids: Vec<String> = districts
        .split(',')
        .map(|d| d.trim().replace('_', " "))
        .filter(|d| !d.is_empty())
        .collect();
    let text = text.trim_start();
    (!text.is_empty()).then_some((Some(crate::domain::area::Target::Areas(ids)), text))
}

/// The chat's words for a refusal of the policy.
fn refusal_key(r: Refusal) -> &'static str {
    match r {
        Refusal::NeedsEmergency => "needs-emergency",
        Refusal::OwnApproval => "confirm-own",
        Refusal::DraftsOnly => "drafts-only",
        Refusal::TopicNotAllowed => "topic-not-allowed",
        // A token's refusal never reaches a chat.
        Refusal::NotStaff
        | Refusal::NotAPerson
        | Refusal::TokenWithoutPerson
        | Refusal::AdminsOnly => "staff-refused",
    }
}

impl Conversation {
    /// The staff person behind a message, as the policy sees them.
    async fn actor(&self, msg: &Incoming) -> Result<Option<Actor>, StoreError> {
        crate::services::staff_actor(&*self.store, msg.channel, &msg.sender).await
    }

    pub(super) async fn staff(
        &self,
        msg: &Incoming,
        lang: &str,
        word: Word,
        rest: &str,
    ) -> Result<Vec<Reply>, StoreError> {
        let Some(actor) = self.actor(msg).await? else {
            tracing::info!(channel = %msg.channel, command = ?word, "a staff command from someone who is not staff; refused");
            return Ok(vec![self.say(msg, lang, "staff-refused", vec![])]);
        };
        let say = |key: &str, args: Args<'_>| vec![self.say(msg, lang, key, args)];
        match word {
            w if w.drafts_broadcast() => {
                let usage = match word {
                    Word::Announce => "usage-announce",
                    Word::Alert => "usage-alert",
                    Word::Drill => "usage-drill",
                    Word::Update | Word::Allclear => "usage-follow-up",
                    _ => "usage-schedule",
                };
                match submission(self, word, rest) {
                    None => Ok(say(usage, vec![])),
                    Some(Err(reason)) if matches!(word, Word::Schedule | Word::ScheduleCron) => {
                        Ok(say("bad-schedule", vec![("reason", reason.into())]))
                    }
                    Some(Err(topic)) => Ok(say(
                        "unknown-topic",
                        vec![
                            ("topic", topic.into()),
                            ("valid", self.topic_list(lang).into()),
                        ],
                    )),
                    Some(Ok(s)) => self.preview(msg, lang, &actor, s).await,
                }
            }
            Word::Confirm => {
                let code = rest.trim().to_ascii_uppercase();
                match self.broadcasts.use_code(&actor, &code).await {
                    Ok(outcome) => Ok(self.outcome(msg, lang, &outcome)),
                    Err(e) => self.refusal(msg, lang, e, &code),
                }
            }
            Word::Cancel => {
                let code = rest.trim().to_ascii_uppercase();
                match self.broadcasts.drop_code(&actor, &code).await {
                    Ok(_) => Ok(say("preview-cancelled", vec![])),
                    Err(e) => self.refusal(msg, lang, e, &code),
                }
            }
            Word::Status => self.status(msg, lang, rest).await,
            Word::Scheduled => self.planned(msg, lang).await,
            Word::Unschedule => {
                let id = rest.trim().trim_start_matches('#');
                let result = match id.strip_prefix(['S', 's']).map(str::parse::<i64>) {
                    Some(Ok(sid)) => self
                        .broadcasts
                        .remove_schedule(&actor, sid)
                        .await
                        .map(|_| ()),
                    Some(Err(_)) => Err(ServiceError::NoSchedule(0)),
                    None => match id.parse::<i64>() {
                        Ok(bid) => self.broadcasts.unschedule(&actor, bid).await.map(|_| ()),
                        Err(_) => Err(ServiceError::NoSchedule(0)),
                    },
                };
                let id_arg = vec![("id", rest.trim().to_string().into())];
                match result {
                    Ok(()) => Ok(say("unscheduled", id_arg)),
                    Err(ServiceError::Refused(r)) => Ok(say(refusal_key(r), vec![])),
                    Err(ServiceError::Store(e)) => Err(e),
                    Err(_) => Ok(say("unschedule-unknown", id_arg)),
                }
            }
            Word::StopBroadcast => {
                let Some(id) = command::broadcast_id(rest) else {
                    return Ok(say("usage-stop-broadcast", vec![]));
                };
                let key = match self.broadcasts.cancel(&actor, id).await {
                    Ok(_) => "broadcast-stopped",
                    Err(ServiceError::WrongStatus { .. }) => "broadcast-not-stopped",
                    Err(ServiceError::NotFound(_)) => "broadcast-unknown",
                    Err(ServiceError::Refused(r)) => refusal_key(r),
                    Err(ServiceError::Store(e)) => return Err(e),
                    Err(e) => return Err(StoreError::Corrupt(e.to_string())),
                };
                Ok(say(key, vec![("id", id.into())]))
            }
            Word::Draft => self.draft(msg, lang, &actor, rest).await,
            Word::Edit | Word::Reject => self.edit_or_reject(msg, lang, &actor, word, rest).await,
            Word::Template => self.fill_in_template(msg, lang, &actor, rest).await,
            Word::Correct => self.correct(msg, lang, &actor, rest).await,
            Word::Retract => self.retract(msg, lang, &actor, rest).await,
            Word::Radius => self.radius_typed(msg, lang, &actor, rest).await,
            Word::Login => match &self.sign_in {
                None => Ok(say("login-off", vec![])),
                Some(sign_in) => match sign_in.login_link(msg.channel, &msg.sender).await? {
                    Some(link) => Ok(say("login-link", vec![("link", link.into())])),
                    None => Ok(say("staff-refused", vec![])),
                },
            },
            _ if actor.role() == Some(crate::domain::Role::Contributor) => {
                Ok(say("help-contributor", vec![]))
            }
            _ => Ok(say("help-staff", vec![])),
        }
    }

    /// A picture or document sent in the chat. With a broadcast's command as its caption, or
    /// as a reply to a draft's preview, from staff: fetched from the platform, checked and
    /// cleaned as every upload, and the draft made with it (a picture needs its alternative
    /// text: a caption line `Bild: …`). Anything else is not fetched at all.
    pub(super) async fn attachment(
        &self,
        msg: &Incoming,
        caption: &str,
        file: &crate::domain::media::ChatFile,
        replied_buttons: &[String],
    ) -> Result<Vec<Reply>, StoreError> {
        let lang = self.language_of(msg).await?;
        let say = |key: &str, args: Args<'_>| Ok(vec![self.say(msg, &lang, key, args)]);
        let (caption, alt) = take_alt(caption);
        let command = command::parse(&caption, msg.channel).filter(|c| c.word.drafts_broadcast());
        let Some(actor) = self.actor(msg).await? else {
            // A citizen's picture is neither fetched nor kept.
            tracing::info!(channel = %msg.channel, "a file from someone who is not staff; not fetched");
            return say("attachment-citizen", vec![]);
        };
        // A reply to a draft's preview (Telegram sends the preview's buttons with the reply):
        // the file joins that draft.
        let draft = replied_buttons
            .iter()
            .find_map(|data| match ButtonData::parse(data) {
                Some(ButtonData::Confirm(code)) => Some(code),
                _ => None,
            });
        let submission = match (command, &draft) {
            (Some(command), _) => match submission(self, command.word, command.rest) {
                Some(Ok(s)) => Some(s),
                Some(Err(topic)) => {
                    return say(
                        "unknown-topic",
                        vec![
                            ("topic", topic.into()),
                            ("valid", self.topic_list(&lang).into()),
                        ],
                    );
                }
                None => return say("attachment-no-command", vec![]),
            },
            (None, Some(_)) => None,
            (None, None) => return say("attachment-no-command", vec![]),
        };
        if file.picture && alt.is_none() {
            return say("attachment-needs-alt", vec![]);
        }
        if !self.files.contains_key(&msg.channel) {
            return say("attachment-unavailable", vec![]);
        }
        let info = match self.fetched(msg, &actor, file).await? {
            Ok(info) => info,
            Err(reason) => return say("attachment-refused", vec![("reason", reason.into())]),
        };
        if info.kind == crate::domain::media::MediaKind::Picture && alt.is_none() {
            return say("attachment-needs-alt", vec![]);
        }
        let attachment = crate::services::Attachment {
            media_id: info.id,
            alt: alt.filter(|_| info.kind == crate::domain::media::MediaKind::Picture),
        };
        let submitted = match (submission, draft) {
            (Some(mut submission), _) => {
                submission.attachment = Some(attachment);
                let parent = submission.parent_id;
                self.broadcasts
                    .submit(&actor, submission)
                    .await
                    .map_err(|e| (e, parent))
            }
            (None, Some(code)) => self
                .broadcasts
                .attach_to_draft(&actor, &code, attachment)
                .await
                .map_err(|e| (e, None)),
            (None, None) => return say("attachment-no-command", vec![]),
        };
        let submitted = match submitted {
            Ok(s) => s,
            Err((e, parent)) => return self.not_submitted(msg, &lang, e, parent),
        };
        let mut replies = self.preview_of(msg, &lang, &submitted).await?;
        if msg.channel == ChannelKind::Telegram {
            // The picture first, with the text as its caption, as citizens will see it.
            let text = &submitted.broadcast.text;
            replies.insert(
                0,
                Reply::Picture {
                    to: msg.chat.clone(),
                    file_id: file.id.clone(),
                    document: !file.picture,
                    caption: crate::domain::media::fits_caption(text).then(|| text.clone()),
                },
            );
        }
        Ok(replies)
    }

    /// The file offered in the chat, fetched from its platform (within the size the chat can
    /// fetch), checked and kept; `Err` says why not, in words for the sender.
    async fn fetched(
        &self,
        msg: &Incoming,
        actor: &Actor,
        file: &crate::domain::media::ChatFile,
    ) -> Result<Result<crate::store::MediaInfo, String>, StoreError> {
        let Some(fetcher) = self.files.get(&msg.channel) else {
            return Ok(Err(format!("files cannot be fetched from {}", msg.channel)));
        };
        let max = match msg.channel {
            ChannelKind::Telegram => crate::domain::media::TELEGRAM_FETCH_MAX,
            ChannelKind::Whatsapp => crate::domain::media::upload_max(),
        };
        if let Some(size) = file.size.filter(|s| *s > max) {
            return Ok(Err(format!(
                "the file is {}; files sent in the chat can be fetched up to {} (attach larger ones on the dashboard or with the API)",
                crate::domain::media::human_size(size),
                crate::domain::media::human_size(max)
            )));
        }
        let bytes = match fetcher.fetch(file, max).await {
            Ok(b) => b,
            Err(reason) => {
                tracing::warn!(channel = %msg.channel, error = %reason, "a file sent in the chat could not be fetched");
                return Ok(Err(reason));
            }
        };
        let media = crate::services::media::MediaService::new(self.store.clone());
        match media
            .accept(bytes, file.name.clone(), Some(actor.identity()))
            .await
        {
            Ok(info) => Ok(Ok(info)),
            Err(crate::services::media::MediaError::Store(e)) => Err(e),
            Err(e) => {
                tracing::info!(channel = %msg.channel, error = %e, "a file sent in the chat was refused");
                Ok(Err(e.to_string()))
            }
        }
    }

    /// `/entwurf THEMA TEXT`: a draft for the press office, which is asked at once.
    async fn draft(
        &self,
        msg: &Incoming,
        lang: &str,
        actor: &Actor,
        rest: &str,
    ) -> Result<Vec<Reply>, StoreError> {
        let say = |key: &str, args: Args<'_>| vec![self.say(msg, lang, key, args)];
        let Some((topic, text)) = rest.split_once(char::is_whitespace) else {
            return Ok(say("usage-draft", vec![]));
        };
        let Some(topic) = self.find_topic(topic).map(|t| t.id.to_string()) else {
            return Ok(say(
                "unknown-topic",
                vec![
                    ("topic", topic.to_string().into()),
                    ("valid", self.topic_list(lang).into()),
                ],
            ));
        };
        match self.broadcasts.propose(actor, &topic, text.trim()).await {
            Ok(p) => Ok(say(
                "draft-submitted",
                vec![("id", p.broadcast.id.into()), ("topic", topic.into())],
            )),
            Err(e) => self.not_submitted(msg, lang, e, None),
        }
    }

    /// `/vorlage NAME feld=wert …`: the template filled in, as a preview to send (or, for a
    /// department, as a draft for the press office). A field left empty refuses.
    async fn fill_in_template(
        &self,
        msg: &Incoming,
        lang: &str,
        actor: &Actor,
        rest: &str,
    ) -> Result<Vec<Reply>, StoreError> {
        let say = |key: &str, args: Args<'_>| vec![self.say(msg, lang, key, args)];
        let (name, fields) = match rest.split_once(char::is_whitespace) {
            Some((name, fields)) => (name, command::template_fields(fields)),
            None if !rest.is_empty() => (rest, Default::default()),
            None => {
                let names: Vec<String> = match self.broadcasts.templates().await {
                    Ok(t) => t.into_iter().map(|t| t.name).collect(),
                    Err(ServiceError::Store(e)) => return Err(e),
                    Err(e) => return Err(StoreError::Corrupt(e.to_string())),
                };
                return Ok(say(
                    "usage-template",
                    vec![("names", names.join(", ").into())],
                ));
            }
        };
        let (template, kind, text) = match self.broadcasts.fill_template(name, &fields).await {
            Ok(filled) => filled,
            Err(ServiceError::Invalid { message, .. }) => {
                return Ok(say("template-refused", vec![("reason", message.into())]));
            }
            Err(ServiceError::Store(e)) => return Err(e),
            Err(e) => return Err(StoreError::Corrupt(e.to_string())),
        };
        if actor.role() == Some(crate::domain::Role::Contributor) {
            let rest = format!("{} {text}", template.topic);
            return self.draft(msg, lang, actor, &rest).await;
        }
        let submission = Submission {
            attachment: None,
            target: None,
            topic: template.topic,
            kind: Some(kind),
            priority: None,
            text,
            text_en: None,
            parent_id: None,
            when: When::Now,
            draft: true,
            idempotency_key: None,
        };
        self.preview(msg, lang, actor, submission).await
    }

    /// `/bearbeiten ID TEXT` changes a draft before it is approved (its author is told what
    /// changed); `/ablehnen ID GRUND` turns it down (its author learns why).
    async fn edit_or_reject(
        &self,
        msg: &Incoming,
        lang: &str,
        actor: &Actor,
        word: Word,
        rest: &str,
    ) -> Result<Vec<Reply>, StoreError> {
        let say = |key: &str, args: Args<'_>| vec![self.say(msg, lang, key, args)];
        let Some((id, words)) = rest
            .split_once(char::is_whitespace)
            .and_then(|(id, words)| Some((command::broadcast_id(id)?, words.trim())))
        else {
            let usage = if word == Word::Edit {
                "usage-edit"
            } else {
                "usage-reject"
            };
            return Ok(say(usage, vec![]));
        };
        let done = if word == Word::Edit {
            let at = match self.broadcasts.get(id).await {
                Ok(b) => b.scheduled_at,
                Err(_) => return Ok(say("broadcast-unknown", vec![("id", id.into())])),
            };
            self.broadcasts
                .revise(actor, id, Some(words), at)
                .await
                .map(|_| "draft-edit-ok")
        } else {
            self.broadcasts
                .reject_with_reason(actor, id, words)
                .await
                .map(|_| "draft-reject-ok")
        };
        match done {
            Ok(key) => Ok(say(key, vec![("id", id.into())])),
            Err(e) => self.not_done_as(msg, lang, id, e, ["not-awaiting", "bad-text"]),
        }
    }

    /// What a confirmation or approval did, in the chat's words.
    fn outcome(&self, msg: &Incoming, lang: &str, outcome: &Outcome) -> Vec<Reply> {
        let b = outcome.broadcast();
        let (key, args): (&str, Args<'_>) = match outcome {
            Outcome::Released(b) if b.approved_by.is_some() => {
                ("approved", vec![("id", b.id.into())])
            }
            Outcome::Released(b) => ("released", vec![("id", b.id.into())]),
            Outcome::AwaitingApproval(b) => ("awaits-approval", vec![("id", b.id.into())]),
            Outcome::Scheduled(b) => (
                "scheduled-ok",
                vec![
                    ("id", b.id.into()),
                    (
                        "at",
                        self.local_time(b.scheduled_at.unwrap_or_default()).into(),
                    ),
                ],
            ),
            Outcome::Retracted { broadcast, notice } => (
                "retracted-ok",
                vec![("id", broadcast.id.into()), ("notice", notice.id.into())],
            ),
            Outcome::Recurring {
                schedule_id,
                next_at,
                ..
            } => (
                "schedule-created",
                vec![
                    ("id", format!("S{schedule_id}").into()),
                    ("next", self.local_time(*next_at).into()),
                ],
            ),
        };
        tracing::info!(
            broadcast = b.id,
            kind = b.kind.as_str(),
            status = b.status.as_str(),
            "confirmed in the chat"
        );
        vec![self.say(msg, lang, key, args)]
    }

    /// A refused or failed code, in the chat's words; the store's own failures go up.
    fn refusal(
        &self,
        msg: &Incoming,
        lang: &str,
        e: ServiceError,
        code: &str,
    ) -> Result<Vec<Reply>, StoreError> {
        let (key, args): (&str, Args<'_>) = match e {
            ServiceError::Refused(Refusal::OwnApproval) => ("confirm-own", vec![]),
            ServiceError::Refused(Refusal::NotStaff) => ("staff-refused", vec![]),
            ServiceError::Refused(Refusal::DraftsOnly) => ("drafts-only", vec![]),
            ServiceError::Refused(_) => ("confirm-refused", vec![]),
            ServiceError::WrongStatus { id, status, .. } => (
                "not-awaiting",
                vec![("id", id.into()), ("status", status.as_str().into())],
            ),
            ServiceError::Store(e) => return Err(e),
            _ => ("confirm-unknown", vec![("code", code.to_string().into())]),
        };
        Ok(vec![self.say(msg, lang, key, args)])
    }

    async fn preview(
        &self,
        msg: &Incoming,
        lang: &str,
        actor: &Actor,
        submission: Submission,
    ) -> Result<Vec<Reply>, StoreError> {
        let parent = submission.parent_id;
        match self.broadcasts.submit(actor, submission).await {
            Ok(submitted) => self.preview_of(msg, lang, &submitted).await,
            Err(e) => self.not_submitted(msg, lang, e, parent),
        }
    }

    /// Why a draft was not made, in the chat's words; the store's own failures go up.
    fn not_submitted(
        &self,
        msg: &Incoming,
        lang: &str,
        e: ServiceError,
        parent: Option<i64>,
    ) -> Result<Vec<Reply>, StoreError> {
        let (key, args): (&str, Args<'_>) = match e {
            ServiceError::Invalid {
                field: "text",
                message,
            } => ("bad-text", vec![("reason", message.into())]),
            ServiceError::Invalid {
                field: "parent_id", ..
            } => (
                "not-an-alert",
                vec![("id", parent.unwrap_or_default().into())],
            ),
            ServiceError::Invalid { field, message } if field.starts_with("target") => {
                ("bad-target", vec![("reason", message.into())])
            }
            ServiceError::Invalid { message, .. } => {
                ("bad-schedule", vec![("reason", message.into())])
            }
            ServiceError::Refused(r) => (refusal_key(r), vec![]),
            ServiceError::UnknownCode | ServiceError::WrongStatus { .. } => {
                ("onsite-draft-gone", vec![])
            }
            ServiceError::Store(e) => return Err(e),
            e => return Err(StoreError::Corrupt(e.to_string())),
        };
        Ok(vec![self.say(msg, lang, key, args)])
    }

    /// A draft's preview: its text as citizens will see it, who gets it, Send and Cancel.
    async fn preview_of(
        &self,
        msg: &Incoming,
        lang: &str,
        submitted: &crate::services::Submitted,
    ) -> Result<Vec<Reply>, StoreError> {
        let Some(code) = submitted.code.clone() else {
            return Err(StoreError::Corrupt(format!(
                "draft {} has no code",
                submitted.broadcast.id
            )));
        };
        let b = &submitted.broadcast;
        let needs_second = self.broadcasts.second_approval()
            && crate::domain::is_alert_class(b.kind, b.priority, &b.topic);
        let key = if needs_second {
            "preview-needs-approval"
        } else {
            "preview"
        };
        let reach = self.reach(b).await?;
        let mut text = self.preview_text(lang, key, b, &reach, &code);
        if let Some(line) = self.broadcasts.footer_of(b, lang) {
            text.push('\n');
            text.push_str(
                &self
                    .texts
                    .get(lang, "preview-footer", &[("line", line.into())]),
            );
        }
        let outlets =
            self.broadcasts
                .outlet_preview(&b.topic, b.kind, &b.text, b.public_code.as_deref());
        if !outlets.is_empty() {
            text.push('\n');
            text.push_str(&self.texts.get(lang, "preview-outlets", &[]));
            for o in &outlets {
                text.push('\n');
                text.push_str(&self.outlet_line(lang, o));
            }
        }
        if let Some(id) = b.media_id
            && let Some(info) = self.store.media_info(id).await?
        {
            let size = crate::domain::media::human_size(info.bytes);
            let line = match (info.kind, info.width, info.height) {
                (crate::domain::media::MediaKind::Picture, Some(w), Some(h)) => self.texts.get(
                    lang,
                    "preview-picture",
                    &[
                        ("size", size.into()),
                        ("width", w.into()),
                        ("height", h.into()),
                        ("alt", b.alt.clone().unwrap_or_default().into()),
                    ],
                ),
                _ => self.texts.get(
                    lang,
                    "preview-document",
                    &[("size", size.into()), ("name", info.file_name.into())],
                ),
            };
            text.push('\n');
            text.push_str(&line);
        }
        if let Some(t) = &submitted.targeting {
            let count = |r: &crate::store::RecipientCount| {
                format!(
                    "{} (Telegram {}, WhatsApp {})",
                    r.total(),
                    r.telegram,
                    r.whatsapp
                )
            };
            text.push('\n');
            text.push_str(&self.texts.get(
                lang,
                "preview-target",
                &[
                    ("areas", t.names.join(", ").into()),
                    ("district", count(&t.count.by_district).into()),
                    ("place", count(&t.count.by_place).into()),
                    ("none", count(&t.count.without_area).into()),
                ],
            ));
        }
        Ok(vec![Reply::Send {
            to: msg.chat.clone(),
            text,
            buttons: self.code_buttons(lang, &code, false),
        }])
    }

    /// `/correct ID [--silent] TEXT`: a correction as a preview, confirmed like any draft.
    async fn correct(
        &self,
        msg: &Incoming,
        lang: &str,
        actor: &Actor,
        rest: &str,
    ) -> Result<Vec<Reply>, StoreError> {
        let say = |key: &str, args: Args<'_>| vec![self.say(msg, lang, key, args)];
        let Some((id, text)) = rest.split_once(char::is_whitespace) else {
            return Ok(say("usage-correct", vec![]));
        };
        let Some(id) = command::broadcast_id(id) else {
            return Ok(say("usage-correct", vec![]));
        };
        let text = text.trim_start();
        let (notice, text) = match text.split_once(char::is_whitespace) {
            Some(("--silent" | "--still", t)) => (false, t.trim_start()),
            _ => (true, text),
        };
        let request = crate::services::CorrectionRequest {
            text: text.to_string(),
            notice,
            draft: true,
            idempotency_key: None,
        };
        let submitted = match self.broadcasts.correct(actor, id, request).await {
            Ok(s) => s,
            Err(e) => return self.not_done(msg, lang, id, e),
        };
        // The same preview as any draft: its text, who gets it, the check link, Send.
        self.preview_of(msg, lang, &submitted).await
    }

    /// `/retract ID [TEXT]`: what the retraction does, with one confirmation and no second
    /// person.
    async fn retract(
        &self,
        msg: &Incoming,
        lang: &str,
        actor: &Actor,
        rest: &str,
    ) -> Result<Vec<Reply>, StoreError> {
        let (id, text) = match rest.split_once(char::is_whitespace) {
            Some((id, text)) => (id, Some(text.trim()).filter(|t| !t.is_empty())),
            None => (rest, None),
        };
        let Some(id) = command::broadcast_id(id) else {
            return Ok(vec![self.say(msg, lang, "usage-retract", vec![])]);
        };
        let preview = match self
            .broadcasts
            .preview_retraction(actor, id, text, lang)
            .await
        {
            Ok(p) => p,
            Err(e) => return self.not_done(msg, lang, id, e),
        };
        let Some(code) = preview.code else {
            return Err(StoreError::Corrupt(format!(
                "retraction of {id} has no code"
            )));
        };
        let r = &preview.recipients;
        let text = self.texts.get(
            lang,
            "preview-retract",
            &[
                ("id", id.into()),
                ("topic", preview.broadcast.topic.clone().into()),
                ("text", preview.notice.clone().into()),
                ("total", r.total().into()),
                ("telegram", r.telegram.into()),
                ("whatsapp", r.whatsapp.into()),
                ("code", code.clone().into()),
            ],
        );
        let mut buttons = self.code_buttons(lang, &code, false);
        if let Some(yes) = buttons.first_mut().and_then(|row| row.first_mut()) {
            yes.label = self.texts.get(lang, "button-retract", &[]);
        }
        Ok(vec![Reply::Send {
            to: msg.chat.clone(),
            text,
            buttons,
        }])
    }

    /// Why a correction or retraction of `id` was not made, in the chat's words.
    fn not_done(
        &self,
        msg: &Incoming,
        lang: &str,
        id: i64,
        e: ServiceError,
    ) -> Result<Vec<Reply>, StoreError> {
        self.not_done_as(msg, lang, id, e, ["not-sent-yet", "not-correctable"])
    }

    /// Why an action on broadcast `id` was not done; `keys` say a wrong status and bad input.
    fn not_done_as(
        &self,
        msg: &Incoming,
        lang: &str,
        id: i64,
        e: ServiceError,
        [wrong_status, invalid]: [&str; 2],
    ) -> Result<Vec<Reply>, StoreError> {
        let (key, args): (&str, Args<'_>) = match e {
            ServiceError::Refused(r) => (refusal_key(r), vec![]),
            ServiceError::NotFound(_) => ("broadcast-unknown", vec![("id", id.into())]),
            ServiceError::WrongStatus { status, .. } => (
                wrong_status,
                vec![("id", id.into()), ("status", status.as_str().into())],
            ),
            ServiceError::Invalid { message, .. } => {
                (invalid, vec![("id", id.into()), ("reason", message.into())])
            }
            ServiceError::Store(e) => return Err(e),
            other => return Err(StoreError::Corrupt(other.to_string())),
        };
        Ok(vec![self.say(msg, lang, key, args)])
    }
}

/// Whether Telegram takes `url` for a link button: it refuses one to `localhost` or a bare
/// address (and then the whole message), so such a dashboard's link goes in the text.
fn link_button_allowed(url: &str) -> bool {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(d)) => d.contains('.') && !d.ends_with(".localhost"),
        _ => false,
    }
}

impl Conversation {
    /// Send and Cancel for a draft's code, or Approve and Drop for an approval's.
    fn code_buttons(&self, lang: &str, code: &str, approval: bool) -> Vec<Vec<Button>> {
        let (yes, no) = if approval {
            ("button-approve", "button-drop")
        } else {
            ("button-send", "button-cancel")
        };
        vec![vec![
            Button {
                label: self.texts.get(lang, yes, &[]),
                data: ButtonData::Confirm(code.to_string()).encode(),
            },
            Button {
                label: self.texts.get(lang, no, &[]),
                data: ButtonData::Drop(code.to_string()).encode(),
            },
        ]]
    }

    /// One outlet in a preview: Mastodon's and Bluesky's cut text with the link, the others
    /// as above, or why it posts nothing.
    fn outlet_line(&self, lang: &str, o: &crate::domain::outlet::OutletPreview) -> String {
        use crate::domain::outlet::OutletKind;
        let outlet = o.outlet.clone().into();
        match (&o.text, o.not_posted) {
            (_, Some(why)) => {
                let why = self
                    .texts
                    .get(lang, BroadcastService::not_posted_key(why), &[]);
                self.texts.get(
                    lang,
                    "preview-outlet-not-posted",
                    &[("outlet", outlet), ("why", why.into())],
                )
            }
            (Some(text), None) if matches!(o.kind, OutletKind::Mastodon | OutletKind::Bluesky) => {
                self.texts.get(
                    lang,
                    "preview-outlet-text",
                    &[("outlet", outlet), ("text", text.clone().into())],
                )
            }
            _ => self
                .texts
                .get(lang, "preview-outlet-as-above", &[("outlet", outlet)]),
        }
    }

    /// A broadcast as staff preview or approve it, with its recipients and when it goes.
    fn preview_text(
        &self,
        lang: &str,
        key: &str,
        b: &Broadcast,
        reach: &Reach,
        code: &str,
    ) -> String {
        let recipients = &reach.recipients;
        let args: Args<'_> = vec![
            (
                "kind",
                self.texts
                    .get(lang, &format!("kind-{}", b.kind.as_str()), &[])
                    .into(),
            ),
            ("topic", b.topic.clone().into()),
            ("priority", b.priority.as_str().into()),
            ("text", b.text.clone().into()),
            ("total", recipients.total().into()),
            ("telegram", recipients.telegram.into()),
            ("whatsapp", recipients.whatsapp.into()),
            ("code", code.to_string().into()),
        ];
        let mut t = self.texts.get(lang, key, &args);
        if let Some(at) = b.scheduled_at {
            t.push('\n');
            t.push_str(
                &self
                    .texts
                    .get(lang, "preview-at", &[("at", self.local_time(at).into())]),
            );
        }
        if let Some(expr) = &b.cron {
            let next = crate::domain::time::Recurrence::parse(expr)
                .ok()
                .and_then(|r| r.next_after(self.broadcasts.tz(), chrono::Utc::now()))
                .map(|t| self.local_time(t.timestamp_millis()))
                .unwrap_or_default();
            t.push('\n');
            t.push_str(&self.texts.get(
                lang,
                "preview-recurring",
                &[("expr", expr.clone().into()), ("next", next.into())],
            ));
        }
        // The same numbers as the dashboard's preview, from the same function.
        if reach.whatsapp_templates > 0 {
            t.push('\n');
            t.push_str(&self.texts.get(
                lang,
                "reach-templates",
                &[
                    ("templates", reach.whatsapp_templates.into()),
                    ("cost", reach.cost_text().into()),
                ],
            ));
        }
        if let Some(limit) = reach.over_limit {
            t.push('\n');
            t.push_str(&self.texts.get(
                lang,
                "reach-over-limit",
                &[
                    ("templates", reach.whatsapp_templates.into()),
                    ("limit", limit.into()),
                ],
            ));
        }
        // WhatsApp recipients outside their window get the template version: show it too.
        let flat = crate::domain::template_parameter(&b.text);
        if recipients.whatsapp > 0 && flat != b.text {
            t.push_str("\n\n");
            t.push_str(&self.texts.get(
                lang,
                "preview-whatsapp-version",
                &[("text", flat.as_str().into())],
            ));
        }
        t
    }

    /// Who `b` reaches and what it costs (the service's one answer for every preview).
    async fn reach(&self, b: &Broadcast) -> Result<Reach, StoreError> {
        self.broadcasts.reach_of(b).await.map_err(|e| match e {
            ServiceError::Store(e) => e,
            other => StoreError::Corrupt(other.to_string()),
        })
    }

    /// The request to approve broadcast `b` with `code`, for one emergency member.
    pub async fn approval_request(
        &self,
        channel: ChannelKind,
        address: &str,
        b: &Broadcast,
        code: &str,
    ) -> Result<Reply, StoreError> {
        let lang = self.staff_language(channel, address).await?;
        let reach = self.reach(b).await?;
        let desk = self
            .broadcasts
            .desk_of_author(b)
            .await
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let text = match desk {
            // A department's draft: who wrote it, and how to change or turn it down.
            Some((person, desk)) => {
                let mut t = self.texts.get(
                    &lang,
                    "draft-from",
                    &[
                        ("author", person.into()),
                        ("department", desk.department.into()),
                        ("id", b.id.into()),
                    ],
                );
                t.push('\n');
                t.push_str(&self.preview_text(&lang, "preview-approve", b, &reach, code));
                t
            }
            None => self.preview_text(&lang, "preview-approve", b, &reach, code),
        };
        let mut text = text;
        let mut buttons = self.code_buttons(&lang, code, true);
        // Open on the dashboard, when it has an address: a link button on Telegram, the link
        // in the text on WhatsApp (whose buttons carry none).
        if let Some(url) = self.sign_in.as_ref().map(|s| s.approval_url(b.id)) {
            match channel {
                ChannelKind::Telegram if link_button_allowed(&url) => buttons[0].push(Button {
                    label: self.texts.get(&lang, "button-open", &[]),
                    data: ButtonData::Open(url).encode(),
                }),
                _ => {
                    text.push_str("\n\n");
                    text.push_str(
                        &self
                            .texts
                            .get(&lang, "approval-open", &[("url", url.into())]),
                    );
                }
            }
        }
        Ok(Reply::Send {
            to: address.to_string(),
            text,
            buttons,
        })
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
        self.broadcasts.local_time(ms)
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

    /// A location from staff with an alert draft open: the radius buttons that aim the draft
    /// at a circle around it. `None` when it is not that (a citizen's location, or no draft).
    pub(super) async fn on_site(
        &self,
        msg: &Incoming,
        lat: f64,
        lon: f64,
    ) -> Result<Option<Vec<Reply>>, StoreError> {
        let on_earth = (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
        if !on_earth {
            return Ok(None);
        }
        let Some(actor) = self.actor(msg).await? else {
            return Ok(None);
        };
        let (code, draft) = match self.broadcasts.open_alert_draft(&actor).await {
            Ok(Some(open)) => open,
            Ok(None) => return Ok(None),
            Err(ServiceError::Store(e)) => return Err(e),
            Err(e) => return Err(StoreError::Corrupt(e.to_string())),
        };
        let lang = self.language_of(msg).await?;
        let place = format!("{lat:.5},{lon:.5}");
        let button = |label: String, radius_m: u32| Button {
            label,
            data: ButtonData::Radius(command::OnSite {
                code: code.clone(),
                radius_m,
                place: place.clone(),
            })
            .encode(),
        };
        let radii = ON_SITE_RADII
            .iter()
            .map(|r| button(radius_label(*r), *r))
            .collect();
        tracing::info!(channel = %msg.channel, broadcast = draft.id, "a location shared on site for an alert draft");
        Ok(Some(vec![Reply::Send {
            to: msg.chat.clone(),
            text: self.texts.get(
                &lang,
                "onsite-radius-ask",
                &[
                    ("text", short(&draft.text).into()),
                    ("place", place.clone().into()),
                ],
            ),
            buttons: vec![
                radii,
                vec![button(self.texts.get(&lang, "button-radius-other", &[]), 0)],
            ],
        }]))
    }

    /// A radius button pressed: a new preview aimed at the circle, or (other radius) the
    /// question for the radius, with the place kept for `/radius`.
    pub(super) async fn radius_chosen(
        &self,
        msg: &Incoming,
        lang: &str,
        on_site: command::OnSite,
    ) -> Result<Vec<Reply>, StoreError> {
        let Some(actor) = self.actor(msg).await? else {
            return Ok(vec![self.say(msg, lang, "staff-refused", vec![])]);
        };
        let Some((lat, lon)) = on_site.point() else {
            return Ok(vec![self.say(msg, lang, "radius-no-place", vec![])]);
        };
        if on_site.radius_m > 0 {
            return self
                .aim_at_circle(msg, lang, &actor, &on_site.code, lat, lon, on_site.radius_m)
                .await;
        }
        let now = now_ms();
        let payload = serde_json::json!({"code": on_site.code, "lat": lat, "lon": lon});
        self.store
            .put_confirmation(&crate::store::Confirmation {
                code: crate::services::broadcasts::new_code(),
                action: ON_SITE_PLACE.into(),
                payload: payload.to_string(),
                author_channel: msg.channel,
                author_address: msg.sender.clone(),
                created_at: now,
                expires_at: now + 15 * 60 * 1000,
                broadcast_id: None,
            })
            .await?;
        Ok(vec![self.say(msg, lang, "onsite-radius-other", vec![])])
    }

    /// `/radius METRES`: the circle around the place shared last for an alert draft.
    async fn radius_typed(
        &self,
        msg: &Incoming,
        lang: &str,
        actor: &Actor,
        rest: &str,
    ) -> Result<Vec<Reply>, StoreError> {
        let number = rest.trim().trim_end_matches(['m', 'M']).trim();
        let Ok(radius_m) = number.parse::<u32>() else {
            return Ok(vec![self.say(msg, lang, "usage-radius", vec![])]);
        };
        let place = self
            .store
            .latest_confirmation(msg.channel, &msg.sender, ON_SITE_PLACE)
            .await?;
        let kept = place.as_ref().and_then(|c| {
            let p: serde_json::Value = serde_json::from_str(&c.payload).ok()?;
            Some((
                p["code"].as_str()?.to_string(),
                p["lat"].as_f64()?,
                p["lon"].as_f64()?,
            ))
        });
        let (Some(place), Some((code, lat, lon))) = (place, kept) else {
            return Ok(vec![self.say(msg, lang, "radius-no-place", vec![])]);
        };
        let replies = self
            .aim_at_circle(msg, lang, actor, &code, lat, lon, radius_m)
            .await?;
        // Used once the draft got its circle; a refused radius may be typed again.
        if self.store.confirmation(&code).await?.is_none() {
            self.store.take_confirmation(&place.code).await?;
        }
        Ok(replies)
    }

    #[allow(clippy::too_many_arguments)]
    async fn aim_at_circle(
        &self,
        msg: &Incoming,
        lang: &str,
        actor: &Actor,
        code: &str,
        lat: f64,
        lon: f64,
        radius_m: u32,
    ) -> Result<Vec<Reply>, StoreError> {
        let target = crate::domain::area::Target::Circle(crate::domain::area::Circle {
            lat,
            lon,
            radius_m: f64::from(radius_m),
        });
        match self.broadcasts.retarget(actor, code, target).await {
            Ok(submitted) => {
                tracing::info!(channel = %msg.channel, broadcast = submitted.broadcast.id, radius_m, "an alert draft aimed at a circle on site");
                self.preview_of(msg, lang, &submitted).await
            }
            Err(e) => self.not_submitted(msg, lang, e, None),
        }
    }
}

/// The radius buttons offered on site, in metres.
const ON_SITE_RADII: [u32; 3] = [300, 1000, 3000];

/// What a place shared on site is kept as until its radius is typed.
const ON_SITE_PLACE: &str = "place";

/// "300 m", "1 km".
fn radius_label(metres: u32) -> String {
    if metres >= 1000 && metres.is_multiple_of(1000) {
        format!("{} km", metres / 1000)
    } else {
        format!("{metres} m")
    }
}

#[cfg(test)]
mod tests {
    use super::link_button_allowed;

    #[test]
    fn telegram_gets_a_link_button_only_to_a_named_host() {
        for (url, allowed) in [
            (
                "https://amtsbote.stadt.example/dashboard/approvals#approval-7",
                true,
            ),
            (
                "http://dashboard.example/dashboard/approvals#approval-7",
                true,
            ),
            (
                "http://127.0.0.1:8080/dashboard/approvals#approval-7",
                false,
            ),
            ("http://localhost:8080/dashboard/", false),
            ("http://intranet/dashboard/", false),
        ] {
            assert_eq!(link_button_allowed(url), allowed, "{url}");
        }
    }
}
