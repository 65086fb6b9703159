//! One Telegram update as the poller reads it: arbitrary bytes as a teloxide `Update`, then
//! `telegram_updates::incoming`, the pure mapping the poller hands to the conversation.
//! Properties: what reaches the conversation is a Telegram chat and sender with numeric ids; a
//! text comes from a message, a button press carries its callback and message, a block only
//! from a private chat; a group is never private; the mapping is the same twice.
//!
//! teloxide-core 0.13 itself panics on some updates (a `message_reaction` without `user` and
//! `actor_chat`). The poller reads each update on its own and skips one it cannot read, so this
//! target isolates panics *inside teloxide's deserializer* the same way and only there.
#![no_main]

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use amtsbote::channels::telegram_updates::incoming;
use amtsbote::conversation::Input;
use amtsbote::domain::ChannelKind;
use libfuzzer_sys::fuzz_target;
use teloxide::types::{ChatKind, Update, UpdateKind};

thread_local! {
    static READING: Cell<bool> = const { Cell::new(false) };
}

fuzz_target!(|data: &[u8]| {
    let Some(update) = read_update(data) else {
        return;
    };
    let Some(i) = incoming(&update) else {
        return;
    };
    assert_eq!(
        format!("{:?}", incoming(&update)),
        format!("{:?}", Some(&i)),
        "the same update reads the same"
    );
    assert_eq!(i.channel, ChannelKind::Telegram);
    assert!(i.chat.parse::<i64>().is_ok(), "chat id {:?}", i.chat);
    assert!(i.sender.parse::<u64>().is_ok(), "user id {:?}", i.sender);
    let chat = match &update.kind {
        UpdateKind::Message(m) => {
            assert!(matches!(i.input, Input::Text(_)), "a message is text");
            &m.chat
        }
        UpdateKind::CallbackQuery(q) => {
            let Input::Button {
                data,
                callback_id,
                message_id,
            } = &i.input
            else {
                panic!("a button press is a button: {:?}", i.input);
            };
            assert_eq!(Some(data), q.data.as_ref());
            assert_eq!(callback_id.as_deref(), Some(q.id.0.as_str()));
            assert!(
                message_id
                    .as_deref()
                    .is_some_and(|m| m.parse::<i32>().is_ok())
            );
            let Some(message) = &q.message else {
                panic!("a press without its message reached the conversation");
            };
            message.chat()
        }
        UpdateKind::MyChatMember(change) => {
            assert_eq!(i.input, Input::Blocked);
            assert!(i.private, "only a person blocks the bot");
            &change.chat
        }
        other => panic!("an update the conversation does not handle: {other:?}"),
    };
    assert_eq!(i.chat, chat.id.0.to_string());
    assert_eq!(
        i.private,
        matches!(chat.kind, ChatKind::Private(_)),
        "a group is never private"
    );
});

/// Deserializes one update; a panic inside teloxide counts as an update that cannot be read.
fn read_update(data: &[u8]) -> Option<Update> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // libfuzzer-sys aborts on every panic; keep that for everything but teloxide's reading.
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !READING.with(Cell::get) {
                fuzzer_hook(info)
            }
        }));
    });
    READING.with(|r| r.set(true));
    let read = catch_unwind(AssertUnwindSafe(|| serde_json::from_slice::<Update>(data)));
    READING.with(|r| r.set(false));
    read.ok()?.ok()
}
