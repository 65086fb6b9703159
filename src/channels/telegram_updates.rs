//! Telegram's side of the conversation: long polling with teloxide (`getUpdates` for messages,
//! button presses and `my_chat_member`), each update turned into an `Incoming`, and the
//! conversation's `Reply`s rendered as messages, in-place edits and button answers. The offset
//! is stored after each batch, so a restart neither loses nor repeats updates.

use std::sync::Arc;

use teloxide::prelude::*;
use teloxide::types::{
    AllowedUpdate, BotCommand, CallbackQueryId, ChatMemberKind, InlineKeyboardButton,
    InlineKeyboardMarkup, MessageId, UpdateKind,
};
use tokio_util::sync::CancellationToken;

use crate::conversation::{Button, Conversation, Incoming, Input, Reply};
use crate::domain::ChannelKind;
use crate::domain::text::{MESSAGE_MAX, split, utf16_weight};
use crate::i18n::Texts;
use crate::store::Store;

const OFFSET_KEY: &str = "telegram.offset";
/// Seconds a `getUpdates` waits for news; the client's time-out must be longer.
pub const LONG_POLL_SECS: u32 = 25;

/// Polls until `shutdown`, handing every update to the conversation.
pub async fn run(
    bot: Bot,
    conversation: Arc<Conversation>,
    store: Arc<dyn Store>,
    texts: Arc<Texts>,
    shutdown: CancellationToken,
) {
    register_menu(&bot, &texts).await;
    let mut offset: i32 = match store.channel_state(OFFSET_KEY).await {
        Ok(v) => v.and_then(|v| v.parse().ok()).unwrap_or(0),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the Telegram offset; starting from what Telegram still holds");
            0
        }
    };
    let mut failures = 0u32;
    tracing::info!("Telegram polling started");
    while !shutdown.is_cancelled() {
        let request = bot
            .get_updates()
            .offset(offset)
            .timeout(LONG_POLL_SECS)
            .allowed_updates([
                AllowedUpdate::Message,
                AllowedUpdate::CallbackQuery,
                AllowedUpdate::MyChatMember,
            ]);
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
        for update in &updates {
            offset = offset.max(update.id.0 as i32 + 1);
            let Some(incoming) = incoming(update) else {
                continue;
            };
            let replies = conversation.handle(&incoming).await;
            render(&bot, replies).await;
        }
        if !updates.is_empty()
            && let Err(e) = store
                .set_channel_state(OFFSET_KEY, &offset.to_string())
                .await
        {
            tracing::warn!(error = %e, "cannot store the Telegram offset; updates may be seen twice after a restart");
        }
    }
    tracing::info!("Telegram polling stopped");
}

/// What an update means to the conversation; `None` for what it does not handle.
pub fn incoming(update: &Update) -> Option<Incoming> {
    match &update.kind {
        UpdateKind::Message(m) => {
            let from = m.from.as_ref()?;
            Some(Incoming {
                channel: ChannelKind::Telegram,
                chat: m.chat.id.0.to_string(),
                sender: from.id.0.to_string(),
                private: m.chat.is_private(),
                language_hint: from.language_code.clone(),
                input: Input::Text(m.text()?.to_string()),
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
                .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.data.clone()))
                .collect::<Vec<_>>()
        }))
    })
}

/// Sends the conversation's answers. Texts are plain (no parse mode), so nothing needs escaping.
pub async fn render(bot: &Bot, replies: Vec<Reply>) {
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
                    if let Err(e) = request.await {
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
                request.await.map(|_| ())
            }
            Reply::AnswerButton { callback_id, text } => {
                let mut request = bot.answer_callback_query(CallbackQueryId(callback_id));
                if let Some(t) = text {
                    request = request.text(t);
                }
                request.await.map(|_| ())
            }
        };
        if let Err(e) = result {
            let reason = super::telegram::classify(e, &secrecy::SecretString::from(String::new()));
            tracing::warn!(error = ?reason, "a reply could not be delivered");
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
