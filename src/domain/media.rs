//! Pictures and documents as the rest of the code sees them: their kind, the platforms' limits
//! and how long a caption may be. No I/O; reading, checking and cleaning the bytes is
//! `services::media`'s.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ChannelKind;

/// What a medium is sent as: a picture (Telegram `sendPhoto`, WhatsApp `image`) or a document
/// (Telegram `sendDocument`, WhatsApp `document`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Picture,
    Document,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Picture => "picture",
            MediaKind::Document => "document",
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MediaKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "picture" => Ok(MediaKind::Picture),
            "document" => Ok(MediaKind::Document),
            other => Err(format!("unknown media kind '{other}'")),
        }
    }
}

/// One megabyte as the platforms count their limits (10^6 bytes: the stricter reading).
pub const MB: u64 = 1_000_000;

/// The most one platform takes for one kind of medium, in bytes.
pub fn platform_limit(channel: ChannelKind, kind: MediaKind) -> u64 {
    match (channel, kind) {
        (ChannelKind::Telegram, MediaKind::Picture) => 10 * MB,
        (ChannelKind::Telegram, MediaKind::Document) => 50 * MB,
        (ChannelKind::Whatsapp, MediaKind::Picture) => 5 * MB,
        (ChannelKind::Whatsapp, MediaKind::Document) => 100 * MB,
    }
}

/// The smallest limit over both platforms (a broadcast may reach either) and the platform that
/// sets it: what an upload is checked against.
pub fn binding_limit(kind: MediaKind) -> (u64, ChannelKind) {
    [ChannelKind::Telegram, ChannelKind::Whatsapp]
        .into_iter()
        .map(|c| (platform_limit(c, kind), c))
        .min_by_key(|(limit, _)| *limit)
        .unwrap_or((5 * MB, ChannelKind::Whatsapp))
}

/// The largest upload accepted at all, before metadata is removed: the largest binding limit
/// (a document for Telegram).
pub fn upload_max() -> u64 {
    binding_limit(MediaKind::Picture)
        .0
        .max(binding_limit(MediaKind::Document).0)
}

/// A platform's name as people know it.
pub fn platform_name(c: ChannelKind) -> &'static str {
    match c {
        ChannelKind::Telegram => "Telegram",
        ChannelKind::Whatsapp => "WhatsApp",
    }
}

/// A caption's limit on both platforms (UTF-16 code units on Telegram, characters on WhatsApp;
/// counting UTF-16 units is the stricter of the two).
pub const CAPTION_MAX: usize = 1024;

/// WhatsApp keeps an uploaded medium for 30 days; we upload again a day before.
pub const WHATSAPP_MEDIA_TTL_MS: i64 = 29 * 24 * 3_600_000;

/// The longest alternative text of a picture.
pub const ALT_MAX: usize = 1000;

/// Whether `text` fits one caption.
pub fn fits_caption(text: &str) -> bool {
    text.chars().map(super::text::utf16_weight).sum::<usize>() <= CAPTION_MAX
}

/// A byte count as people read it: "4.2 MB".
pub fn human_size(bytes: u64) -> String {
    if bytes >= MB {
        format!("{:.1} MB", bytes as f64 / MB as f64)
    } else {
        format!("{} kB", bytes.div_ceil(1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_platform_limit_binds() {
        assert_eq!(
            binding_limit(MediaKind::Picture),
            (5 * MB, ChannelKind::Whatsapp)
        );
        assert_eq!(
            binding_limit(MediaKind::Document),
            (50 * MB, ChannelKind::Telegram)
        );
        assert_eq!(upload_max(), 50 * MB);
    }

    #[test]
    fn captions_count_utf16_units() {
        assert!(fits_caption(&"a".repeat(1024)));
        assert!(!fits_caption(&"a".repeat(1025)));
        // An emoji is two UTF-16 units.
        assert!(!fits_caption(&"😀".repeat(513)));
    }
}

/// A picture or document someone sent in the chat, as the platform keeps it until it is
/// fetched (Telegram `file_id`, WhatsApp media id). Only staff's are ever fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatFile {
    pub id: String,
    /// The file's name as sent (documents), if any.
    pub name: Option<String>,
    /// The type the platform says it is (checked again from the bytes).
    pub mime: Option<String>,
    /// Its size as the platform says, if it does.
    pub size: Option<u64>,
    /// Sent as a photo (Telegram) or image (WhatsApp): certainly a picture.
    pub picture: bool,
}

/// Telegram's Bot API hands bots files up to 20 MB.
pub const TELEGRAM_FETCH_MAX: u64 = 20 * MB;
