//! Telegram's side of the conversation: long polling (`getUpdates` for messages, button presses
//! and `my_chat_member`), each update read on its own and turned into an `Incoming`, and the
//! conversation's `Reply`s rendered as messages, in-place edits and button answers, each with
//! its own time-out. Updates are handled through the intake (at once, in order per chat, staff
//! first); the offset stored is the first update not yet handled, so a crash or restart loses
//! none (it may repeat those handled after it), and an update that cannot be read is skipped,
//! never met again.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::requests::{JsonRequest, Payload};
use teloxide::types::{
    AllowedUpdate, BotCommand, ButtonRequest, CallbackQueryId, ChatMemberKind,
    InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, KeyboardMarkup, MessageId,
    UpdateKind,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::intake::{Followup, Intake};
use super::{Addressee, ReplyPace};
use crate::conversation::command::ButtonData;
use crate::conversation::{Button, Conversation, Incoming, Input, Reply};
use crate::domain::ChannelKind;
use crate::domain::media::ChatFile;
use crate::domain::text::{MESSAGE_MAX, split, utf16_weight};
use crate::i18n::Texts;
use crate::store::Store;

const OFFSET_KEY: &str = "telegram.offset";
/// Seconds a `getUpdates` waits for news; the client's time-out must be longer.
pub const LONG_POLL_SECS: u32 = 25;
/// The update kinds the conversation handles, as `getUpdates` asks for them and as they are
/// named in an update's JSON.
const ASKED: [(AllowedUpdate, &str); 3] = [
    (AllowedUpdate::Message, "message"),
    (AllowedUpdate::CallbackQuery, "callback_query"),
    (AllowedUpdate::MyChatMember, "my_chat_member"),
];

/// How long one reply (one Bot API call) may take. Without it a reply waits for the polling
/// client's time-out (longer than a long poll), plus the 10 s teloxide sleeps after a 5xx, and
/// the chat stands still meanwhile: replies are sent before the next `getUpdates`.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// A reply refused with 429 is sent again after its `retry_after`, at most this often in all,
/// and only when the wait is at most `MAX_REPLY_WAIT` (the chat waits with it).
const REPLY_ATTEMPTS: u32 = 3;
const MAX_REPLY_WAIT: Duration = Duration::from_secs(10);

/// `getUpdates` with each update left as JSON: teloxide reads a whole batch at once, and one
/// update it cannot read must not take the batch (or, with a panic, the service) with it.
#[derive(Debug, Clone, Serialize)]
struct GetRawUpdates {
    offset: i64,
    timeout: u32,
    allowed_updates: Vec<AllowedUpdate>,
}

impl Payload for GetRawUpdates {
    type Output = Vec<Value>;
    const NAME: &'static str = "GetUpdates";

    fn timeout_hint(&self) -> Option<Duration> {
        Some(Duration::from_secs(self.timeout.into()))
    }
}

/// One update as `getUpdates` handed it over.
#[derive(Debug)]
pub enum ReadUpdate {
    Update(Box<Update>),
    /// A kind the bot did not ask for (Telegram or a proxy may send it all the same).
    NotAsked,
    /// teloxide cannot read it, or panicked trying; the reason names no content.
    Unreadable(&'static str),
}

/// Reads one raw update: what the conversation does not handle is not parsed at all, and
/// teloxide's parser runs with its panics caught (teloxide-core 0.13 unwraps in places, e.g. a
/// `message_reaction` without `user` and `actor_chat`).
pub fn read_update(raw: &Value) -> ReadUpdate {
    let asked = raw
        .as_object()
        .is_some_and(|o| ASKED.iter().any(|(_, key)| o.contains_key(*key)));
    if !asked {
        return ReadUpdate::NotAsked;
    }
    match parse_isolated(raw) {
        Ok(update) => ReadUpdate::Update(Box::new(update)),
        Err(why) => ReadUpdate::Unreadable(why),
    }
}

/// teloxide's `Update` from JSON, a panic inside the parser turned into an error.
pub fn parse_isolated(raw: &Value) -> Result<Update, &'static str> {
    // From text, as teloxide reads it: its `UpdateKind` reader asks for a borrowed key first,
    // which a `Value` cannot lend, and then finds no key at all.
    let text = raw.to_string();
    match catch_unwind(AssertUnwindSafe(|| serde_json::from_str::<Update>(&text))) {
        Ok(Ok(update)) if !matches!(update.kind, UpdateKind::Error(_)) => Ok(update),
        // The error's text may quote the update's content: it is not passed on.
        Ok(Ok(_)) | Ok(Err(_)) => Err("its content does not match teloxide's types"),
        Err(_) => Err("teloxide panicked reading it"),
    }
}

/// The update's kind (its one field besides `update_id`), for the log: a Bot API field name.
fn kind_of(raw: &Value) -> String {
    raw.as_object()
        .and_then(|o| o.keys().find(|k| *k != "update_id"))
        .map(|k| k.chars().take(64).collect())
        .unwrap_or_default()
}

/// The chat side of Telegram as `run` needs it: the conversation, where its work waits, and
/// the lane's budget the replies draw on.
#[derive(Clone)]
pub struct UpdateHandling {
    pub bot: Bot,
    pub conversation: Arc<Conversation>,
    pub store: Arc<dyn Store>,
    pub texts: Arc<Texts>,
    pub intake: Arc<Intake>,
    pub pace: Arc<dyn ReplyPace>,
}

/// Which updates are handled: the offset to store is the first one not yet handled, so that a
/// crash or restart repeats what was taken in but not handled instead of losing it.
#[derive(Default)]
struct Progress {
    /// Handed to the intake and not yet handled.
    in_hand: BTreeSet<i64>,
    /// Past every update read so far.
    read_past: i64,
    /// Stored in the database.
    stored: i64,
}

impl Progress {
    fn offset(&self) -> i64 {
        self.in_hand.first().copied().unwrap_or(self.read_past)
    }
}

/// Stores the offset whenever updates were handled, never past one that was not.
async fn keep_offset(
    store: &dyn Store,
    progress: &Mutex<Progress>,
    changed: &Notify,
    shutdown: &CancellationToken,
) {
    loop {
        let notified = changed.notified();
        let offset = {
            let p = progress.lock().unwrap_or_else(|p| p.into_inner());
            (p.offset() > p.stored).then(|| p.offset())
        };
        if let Some(offset) = offset {
            match store
                .set_channel_state(OFFSET_KEY, &offset.to_string())
                .await
            {
                Ok(()) => {
                    let mut p = progress.lock().unwrap_or_else(|p| p.into_inner());
                    p.stored = p.stored.max(offset);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot store the Telegram offset; updates may be seen twice after a restart");
                }
            }
            continue;
        }
        if shutdown.is_cancelled() {
            return;
        }
        tokio::select! {
            _ = notified => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

/// Polls until `shutdown`, handing every update to the conversation through the intake; then
/// waits for what it handed over and stores the offset past it.
pub async fn run(handling: UpdateHandling, shutdown: CancellationToken) {
    let UpdateHandling {
        bot,
        conversation,
        store,
        texts,
        intake,
        pace,
    } = handling;
    register_menu(&bot, &texts).await;
    // A bot's token begins with its own user id.
    let bot_id: Option<u64> = bot
        .token()
        .split_once(':')
        .and_then(|(id, _)| id.parse().ok());
    let offset: i64 = match store.channel_state(OFFSET_KEY).await {
        Ok(v) => v.and_then(|v| v.parse().ok()).unwrap_or(0),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the Telegram offset; starting from what Telegram still holds");
            0
        }
    };
    let progress = Arc::new(Mutex::new(Progress {
        read_past: offset,
        stored: offset,
        ..Progress::default()
    }));
    let changed = Arc::new(Notify::new());
    // Wakes the poller when it waits for updates in hand to be handled.
    let handled_some = Arc::new(Notify::new());
    // Ends after the polling below, once the last offset is stored.
    let keeper_stop = CancellationToken::new();
    let keeper = {
        let (store, progress, changed, stop) = (
            store.clone(),
            progress.clone(),
            changed.clone(),
            keeper_stop.clone(),
        );
        tokio::spawn(async move { keep_offset(&*store, &progress, &changed, &stop).await })
    };
    let mut failures = 0u32;
    tracing::info!("Telegram polling started");
    while !shutdown.is_cancelled() {
        // Asked from the first update not yet handled: Telegram forgets every update below the
        // offset asked for, so asking past one in hand would lose it with a crash.
        let (asked_from, read_past) = {
            let p = progress.lock().unwrap_or_else(|p| p.into_inner());
            (p.offset(), p.read_past)
        };
        // Listening for handled updates from before the request on: an update handled while
        // the request is under way must not be missed (the poller would then sleep its second
        // with a new update, a staff member's confirmation, waiting unread at Telegram).
        let progressed = handled_some.notified();
        tokio::pin!(progressed);
        progressed.as_mut().enable();
        let request = JsonRequest::new(
            bot.clone(),
            GetRawUpdates {
                offset: asked_from,
                timeout: LONG_POLL_SECS,
                allowed_updates: ASKED.iter().map(|(kind, _)| *kind).collect(),
            },
        );
        let updates = tokio::select! {
            r = request.send() => r,
            _ = shutdown.cancelled() => break,
        };
        let updates = match updates {
            Ok(u) => {
                failures = 0;
                u
            }
            Err(e) => {
                failures += 1;
                let wait = crate::domain::RetryPolicy::POLLING.delay(failures as i32);
                // Errors from teloxide carry no token; network errors are described without URL.
                let reason =
                    match super::telegram::classify(e, &secrecy::SecretString::from(String::new()))
                    {
                        super::SendOutcome::LaneThrottled { after, .. } => {
                            format!("throttled for {} s", after.as_secs())
                        }
                        other => format!("{other:?}"),
                    };
                tracing::warn!(error = %reason, retry_in_ms = wait.as_millis() as u64, "getUpdates failed");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = shutdown.cancelled() => break,
                }
            }
        };
        let mut new = 0usize;
        // Who is staff, once a batch: a flood of citizens costs no look-up each.
        let staff = if updates.is_empty() {
            HashSet::new()
        } else {
            super::intake::staff_addresses(&*store, ChannelKind::Telegram).await
        };
        for raw in updates {
            let Some(id) = raw.get("update_id").and_then(Value::as_i64) else {
                tracing::warn!("an update without update_id; skipped");
                continue;
            };
            if id < read_past {
                // Taken in before and not yet handled: Telegram hands it out again.
                continue;
            }
            new += 1;
            // Read past this update whatever becomes of it: one that cannot be read is not met
            // again; one handed to the intake keeps the stored offset until it is handled.
            let offset = id + 1;
            let handed = match read_update(&raw) {
                ReadUpdate::Update(update) => incoming(&update, bot_id),
                ReadUpdate::NotAsked => {
                    tracing::debug!(update = id, kind = %kind_of(&raw), "an update of a kind not asked for; skipped");
                    None
                }
                ReadUpdate::Unreadable(why) => {
                    tracing::warn!(update = id, kind = %kind_of(&raw), why, "an update that cannot be read; skipped");
                    None
                }
            };
            let Some(incoming) = handed else {
                let mut p = progress.lock().unwrap_or_else(|p| p.into_inner());
                p.read_past = p.read_past.max(offset);
                continue;
            };
            let to = if staff.contains(&incoming.sender) {
                Addressee::Staff
            } else {
                Addressee::Citizen
            };
            {
                let mut p = progress.lock().unwrap_or_else(|p| p.into_inner());
                p.in_hand.insert(id);
                p.read_past = p.read_past.max(offset);
            }
            let chat = format!("{}:{}", ChannelKind::Telegram, incoming.chat);
            let job = {
                let (bot, conversation, pace) = (bot.clone(), conversation.clone(), pace.clone());
                // Whatever happens inside, the update counts as handled when this ends.
                let handled = Handled {
                    id,
                    progress: progress.clone(),
                    changed: changed.clone(),
                    handled_some: handled_some.clone(),
                };
                Box::pin(async move {
                    let replies = conversation.handle(&incoming).await;
                    drop(handled);
                    let answers: Followup = Box::pin(async move {
                        render(&bot, &*pace, to, replies).await;
                    });
                    Some(answers)
                })
            };
            intake.submit(chat, to, job).await;
        }
        changed.notify_one();
        if new == 0 && asked_from < read_past {
            // Only updates in hand came back: asking again before one is handled brings the
            // same ones again at once.
            tokio::select! {
                _ = &mut progressed => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => break,
            }
        }
    }
    // What was handed over is handled before the offset is stored for the last time.
    let all_handled = || {
        progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .in_hand
            .is_empty()
    };
    while !all_handled() {
        let notified = changed.notified();
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), notified).await;
    }
    keeper_stop.cancel();
    changed.notify_one();
    if let Err(e) = keeper.await {
        tracing::error!(error = %e, "storing the Telegram offset ended abnormally");
    }
    // Answers still on their way get a moment to go out (each call has its own time-out).
    if tokio::time::timeout(REPLY_TIMEOUT, intake.drained())
        .await
        .is_err()
    {
        tracing::warn!(
            waiting = intake.pending(),
            "stopping with answers not yet sent; what the messages did is stored"
        );
    }
    tracing::info!("Telegram polling stopped");
}

/// Marks an update handled when dropped (its handling ended, or was cut short).
struct Handled {
    id: i64,
    progress: Arc<Mutex<Progress>>,
    changed: Arc<Notify>,
    handled_some: Arc<Notify>,
}

impl Drop for Handled {
    fn drop(&mut self) {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .in_hand
            .remove(&self.id);
        self.changed.notify_one();
        self.handled_some.notify_waiters();
    }
}

/// What an update means to the conversation; `None` for what it does not handle.
/// `bot_id`: this bot's own user id (a message forwarded from it is certainly the city's).
pub fn incoming(update: &Update, bot_id: Option<u64>) -> Option<Incoming> {
    match &update.kind {
        UpdateKind::Message(m) => {
            let from = m.from.as_ref()?;
            // A venue carries its location too.
            let location = m.location().or_else(|| m.venue().map(|v| &v.location));
            let forwarded = m.forward_origin().map(|origin| match origin {
                teloxide::types::MessageOrigin::User { sender_user, .. } => {
                    bot_id.is_some_and(|id| sender_user.id.0 == id)
                }
                _ => false,
            });
            // A photo (its largest size) or a document, with its caption.
            let file = m
                .photo()
                .and_then(|sizes| sizes.iter().max_by_key(|p| p.width * p.height))
                .map(|p| ChatFile {
                    id: p.file.id.0.clone(),
                    name: None,
                    mime: Some("image/jpeg".into()),
                    size: Some(u64::from(p.file.size)),
                    picture: true,
                })
                .or_else(|| {
                    m.document().map(|d| ChatFile {
                        id: d.file.id.0.clone(),
                        name: d.file_name.clone(),
                        mime: d.mime_type.as_ref().map(|t| t.to_string()),
                        size: Some(u64::from(d.file.size)),
                        picture: false,
                    })
                });
            let input = match (m.text().or(m.caption()), forwarded, file) {
                (Some(text), Some(from_bot), _) => Input::Forwarded {
                    text: text.to_string(),
                    from_bot,
                },
                (_, _, Some(file)) => Input::Attachment {
                    caption: m.caption().unwrap_or_default().to_string(),
                    file,
                    replied_buttons: m
                        .reply_to_message()
                        .and_then(|r| r.reply_markup())
                        .map(|k| {
                            k.inline_keyboard
                                .iter()
                                .flatten()
                                .filter_map(|b| match &b.kind {
                                    teloxide::types::InlineKeyboardButtonKind::CallbackData(d) => {
                                        Some(d.clone())
                                    }
                                    _ => None,
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                },
                _ => match (m.text(), location) {
                    (Some(text), _) => Input::Text(text.to_string()),
                    (None, Some(l)) => Input::Location {
                        lat: l.latitude,
                        lon: l.longitude,
                    },
                    (None, None) => return None,
                },
            };
            Some(Incoming {
                channel: ChannelKind::Telegram,
                chat: m.chat.id.0.to_string(),
                sender: from.id.0.to_string(),
                private: m.chat.is_private(),
                language_hint: from.language_code.clone(),
                input,
            })
        }
        UpdateKind::CallbackQuery(q) => {
            let message = q.message.as_ref()?;
            Some(Incoming {
                channel: ChannelKind::Telegram,
                chat: message.chat().id.0.to_string(),
                sender: q.from.id.0.to_string(),
                private: message.chat().is_private(),
                language_hint: q.from.language_code.clone(),
                input: Input::Button {
                    data: q.data.clone()?,
                    callback_id: Some(q.id.0.clone()),
                    message_id: Some(message.id().0.to_string()),
                },
            })
        }
        UpdateKind::MyChatMember(change) => {
            let blocked = matches!(
                change.new_chat_member.kind,
                ChatMemberKind::Banned(_) | ChatMemberKind::Left
            );
            (blocked && change.chat.is_private()).then(|| Incoming {
                channel: ChannelKind::Telegram,
                chat: change.chat.id.0.to_string(),
                sender: change.from.id.0.to_string(),
                private: true,
                language_hint: None,
                input: Input::Blocked,
            })
        }
        _ => None,
    }
}

fn keyboard(buttons: &[Vec<Button>]) -> Option<InlineKeyboardMarkup> {
    (!buttons.is_empty()).then(|| {
        InlineKeyboardMarkup::new(buttons.iter().map(|row| {
            row.iter()
                .filter_map(|b| match ButtonData::parse(&b.data) {
                    // A link opens its page; the conversation checked it is one Telegram takes.
                    Some(ButtonData::Open(url)) => url::Url::parse(&url)
                        .ok()
                        .map(|url| InlineKeyboardButton::url(b.label.clone(), url)),
                    _ => Some(InlineKeyboardButton::callback(
                        b.label.clone(),
                        b.data.clone(),
                    )),
                })
                .collect::<Vec<_>>()
        }))
    })
}

/// Why a reply did not arrive.
enum ReplyFailure {
    TimedOut,
    Refused(RequestError),
}

/// One Bot API call of a reply, within `REPLY_TIMEOUT`, sent again after a 429's `retry_after`
/// (Telegram has not taken the message then, so nothing arrives twice).
async fn reply_call<T, F, Fut>(mut call: F) -> Result<T, ReplyFailure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RequestError>>,
{
    let mut attempt = 1;
    loop {
        match tokio::time::timeout(REPLY_TIMEOUT, call()).await {
            Err(_) => return Err(ReplyFailure::TimedOut),
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(RequestError::RetryAfter(after)))
                if attempt < REPLY_ATTEMPTS && after.duration() <= MAX_REPLY_WAIT =>
            {
                tracing::info!(
                    retry_after_s = after.seconds(),
                    "a reply was refused with 429; sending it again after the wait"
                );
                tokio::time::sleep(after.duration()).await;
                attempt += 1;
            }
            Ok(Err(e)) => return Err(ReplyFailure::Refused(e)),
        }
    }
}

/// Sends the conversation's answers to `to`, each message after a turn of the lane's budget
/// (`pace`). Texts are plain (no parse mode), so nothing needs escaping.
pub async fn render(bot: &Bot, pace: &dyn ReplyPace, to: Addressee, replies: Vec<Reply>) {
    let addressee = to;
    for reply in replies {
        let result = match reply {
            Reply::Send { to, text, buttons } => {
                let Ok(chat) = to.parse::<i64>() else {
                    continue;
                };
                let parts = split(&text, MESSAGE_MAX, utf16_weight);
                let last = parts.len().saturating_sub(1);
                let mut result = Ok(());
                for (i, part) in parts.into_iter().enumerate() {
                    let mut request = bot
                        .send_message(ChatId(chat), part)
                        .link_preview_options(super::telegram::no_preview());
                    if i == last
                        && let Some(k) = keyboard(&buttons)
                    {
                        request = request.reply_markup(k);
                    }
                    pace.reply_turn(addressee).await;
                    if let Err(e) = reply_call(|| request.send_ref()).await {
                        result = Err(e);
                        break;
                    }
                }
                result
            }
            Reply::Edit {
                to,
                message_id,
                text,
                buttons,
            } => {
                let (Ok(chat), Ok(id)) = (to.parse::<i64>(), message_id.parse::<i32>()) else {
                    continue;
                };
                let mut request = bot.edit_message_text(ChatId(chat), MessageId(id), text);
                if let Some(k) = keyboard(&buttons) {
                    request = request.reply_markup(k);
                }
                pace.reply_turn(addressee).await;
                reply_call(|| request.send_ref()).await.map(|_| ())
            }
            Reply::Picture {
                to,
                file_id,
                document,
                caption,
            } => {
                let Ok(chat) = to.parse::<i64>() else {
                    continue;
                };
                let file = teloxide::types::InputFile::file_id(teloxide::types::FileId(file_id));
                pace.reply_turn(addressee).await;
                if document {
                    let mut request = bot.send_document(ChatId(chat), file);
                    request.caption = caption;
                    reply_call(|| request.send_ref()).await.map(|_| ())
                } else {
                    let mut request = bot.send_photo(ChatId(chat), file);
                    request.caption = caption;
                    reply_call(|| request.send_ref()).await.map(|_| ())
                }
            }
            Reply::AskLocation { to, text, button } => {
                let Ok(chat) = to.parse::<i64>() else {
                    continue;
                };
                let keyboard = KeyboardMarkup::new([[
                    KeyboardButton::new(button).request(ButtonRequest::Location)
                ]])
                .one_time_keyboard()
                .resize_keyboard();
                let request = bot.send_message(ChatId(chat), text).reply_markup(keyboard);
                pace.reply_turn(addressee).await;
                reply_call(|| request.send_ref()).await.map(|_| ())
            }
            Reply::AnswerButton { callback_id, text } => {
                let mut request = bot.answer_callback_query(CallbackQueryId(callback_id));
                if let Some(t) = text {
                    request = request.text(t);
                }
                reply_call(|| request.send_ref()).await.map(|_| ())
            }
        };
        match result {
            Ok(()) => {}
            Err(ReplyFailure::TimedOut) => tracing::warn!(
                timeout_ms = REPLY_TIMEOUT.as_millis() as u64,
                "a reply could not be delivered: no answer from the Bot API in time"
            ),
            Err(ReplyFailure::Refused(e)) => {
                let reason =
                    super::telegram::classify(e, &secrecy::SecretString::from(String::new()));
                tracing::warn!(error = ?reason, "a reply could not be delivered");
            }
        }
    }
}

/// The command menu, in German (the default) and English.
async fn register_menu(bot: &Bot, texts: &Texts) {
    for lang in texts.languages() {
        let commands: Vec<BotCommand> = crate::conversation::command::menu()
            .into_iter()
            .map(|(c, key)| BotCommand::new(c, texts.get(lang, key, &[])))
            .collect();
        let mut request = bot.set_my_commands(commands);
        if lang != crate::i18n::DEFAULT_LANGUAGE {
            request = request.language_code(lang.to_string());
        }
        if let Err(e) = request.await {
            // Described through `classify`: a network error's own text carries the token.
            let reason = super::telegram::classify(e, &secrecy::SecretString::from(String::new()));
            tracing::warn!(error = ?reason, lang, "cannot register the command menu");
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A reaction by neither a user nor a chat: teloxide-core 0.13 unwraps a `None` on it.
    fn anonymous_reaction() -> Value {
        json!({"update_id": 7, "message_reaction": {
            "chat": {"id": 5, "type": "private", "first_name": "A"},
            "message_id": 3, "date": 1_700_000_000,
            "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]
        }})
    }

    #[test]
    fn the_offset_never_passes_an_update_in_hand() {
        let mut p = Progress {
            read_past: 10,
            ..Progress::default()
        };
        assert_eq!(p.offset(), 10);
        p.in_hand.extend([11, 12, 14]);
        p.read_past = 15;
        assert_eq!(p.offset(), 11, "11 is not handled yet");
        p.in_hand.remove(&12);
        assert_eq!(p.offset(), 11, "handled after it, 12 does not move it");
        p.in_hand.remove(&11);
        assert_eq!(p.offset(), 14);
        p.in_hand.remove(&14);
        assert_eq!(p.offset(), 15, "all handled: past everything read");
    }

    #[test]
    fn a_panic_in_teloxide_s_parser_is_an_unreadable_update() {
        assert_eq!(
            parse_isolated(&anonymous_reaction()).err(),
            Some("teloxide panicked reading it")
        );
        // Not asked for, so not even parsed.
        assert!(matches!(
            read_update(&anonymous_reaction()),
            ReadUpdate::NotAsked
        ));
        assert_eq!(kind_of(&anonymous_reaction()), "message_reaction");
    }

    #[test]
    fn a_message_teloxide_cannot_read_is_skipped_and_one_without_sender_is_not_a_command() {
        let broken = json!({"update_id": 8, "message": {"chat": "not a chat"}});
        assert!(matches!(
            read_update(&broken),
            ReadUpdate::Unreadable("its content does not match teloxide's types")
        ));
        let anonymous = json!({"update_id": 9, "message": {
            "message_id": 1, "date": 1_700_000_000,
            "chat": {"id": 5, "type": "private", "first_name": "A"}, "text": "/start"
        }});
        match read_update(&anonymous) {
            ReadUpdate::Update(u) => assert!(incoming(&u, None).is_none()),
            other => panic!("{other:?}"),
        }
    }
}
