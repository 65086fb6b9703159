//! What people type and press, on both channels: `command::parse` and the button data.
//! Properties: a command's rest is trimmed and part of the text; Telegram needs the slash and
//! WhatsApp reads every Telegram command the same way; a command reads back the same when typed
//! again by its first spelling; a broadcast id reads back; button data round-trips both ways.
#![no_main]

use amtsbote::conversation::command::{self, ButtonData, Command};
use amtsbote::domain::ChannelKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    let telegram = command::parse(text, ChannelKind::Telegram);
    let whatsapp = command::parse(text, ChannelKind::Whatsapp);
    for (channel, parsed) in [
        (ChannelKind::Telegram, &telegram),
        (ChannelKind::Whatsapp, &whatsapp),
    ] {
        if let Some(c) = parsed {
            check_command(text, channel, c);
        }
    }
    if telegram.is_some() {
        assert!(
            text.trim_start().starts_with('/'),
            "Telegram needs the slash"
        );
        assert_eq!(
            telegram, whatsapp,
            "WhatsApp reads Telegram's commands alike"
        );
    }
    for channel in [ChannelKind::Telegram, ChannelKind::Whatsapp] {
        if let (Some(word), _) = command::parse_command(text, channel) {
            assert!(!word.is_empty());
            assert!(!word.contains('@'), "the bot name is cut off");
            assert!(!word.chars().any(char::is_whitespace), "one word");
        }
    }

    if let Some(id) = command::broadcast_id(text) {
        assert_eq!(command::broadcast_id(&id.to_string()), Some(id));
        assert_eq!(command::broadcast_id(&format!(" #{id} ")), Some(id));
    }

    // Button data as the platform hands it back, and as we would write it.
    if let Some(button) = ButtonData::parse(text) {
        assert_eq!(
            button.encode(),
            text,
            "parse then encode gives the data back"
        );
    }
    if let Some((&first, rest)) = data.split_first()
        && let Ok(value) = std::str::from_utf8(rest)
    {
        let value = value.to_string();
        let button = match first % 4 {
            0 => ButtonData::Topic(value),
            1 => ButtonData::Erase(value),
            2 => ButtonData::Confirm(value),
            _ => ButtonData::Drop(value),
        };
        assert_eq!(ButtonData::parse(&button.encode()), Some(button));
    }
});

fn check_command(text: &str, channel: ChannelKind, c: &Command<'_>) {
    assert_eq!(c.rest, c.rest.trim(), "the rest is trimmed");
    let inside = text.as_ptr() as usize..=text.as_ptr() as usize + text.len();
    assert!(
        c.rest.is_empty() || inside.contains(&(c.rest.as_ptr() as usize)),
        "the rest is part of what was typed"
    );
    // Typed again by its first spelling, the command reads the same.
    let spelling = command::menu()
        .into_iter()
        .map(|(s, _)| s)
        .chain(FIRST_SPELLINGS.iter().copied())
        .find(|s| command::Word::parse(s) == Some(c.word))
        .unwrap_or_else(|| panic!("{:?} has no spelling", c.word));
    let again = format!("/{spelling} {}", c.rest);
    assert_eq!(command::parse(&again, channel).as_ref(), Some(c));
}

/// The first spelling of every word the menu does not list.
const FIRST_SPELLINGS: [&str; 13] = [
    "subscribe",
    "unsubscribe",
    "announce",
    "alert",
    "update",
    "allclear",
    "confirm",
    "cancel",
    "schedule",
    "schedule_cron",
    "scheduled",
    "unschedule",
    "stop_broadcast",
];
