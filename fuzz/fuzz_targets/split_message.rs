//! The long-text splitter, through its one public function `split_message` (today in
//! `channels::telegram`). Properties: every part fits the limit after HTML escaping (Telegram
//! counts the escaped text), no part is blank or padded, nothing but whitespace is lost or
//! reordered, and a text that fits stays one part, trimmed.
#![no_main]

use amtsbote::channels::telegram::{MAX_MESSAGE_CHARS, split_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    // Small limits make short inputs split often; the real one needs long inputs. The smallest
    // limit is 5, the escaped length of `&`: below it no character fits at all.
    let max = if first & 0x80 != 0 {
        MAX_MESSAGE_CHARS
    } else {
        5 + usize::from(first)
    };
    let parts = split_message(text, max);
    assert!(!parts.is_empty(), "at least one part");
    if text.trim().is_empty() {
        assert_eq!(parts, [""], "a blank text is one empty part");
        return;
    }
    for part in &parts {
        assert!(
            escaped_len(part) <= max,
            "a part of {} > {max}",
            escaped_len(part)
        );
        assert!(!part.is_empty(), "no empty part");
        assert_eq!(part.trim(), part, "parts are trimmed");
    }
    let squeezed = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    assert_eq!(
        squeezed(&parts.concat()),
        squeezed(text),
        "only whitespace is lost"
    );
    if escaped_len(text.trim()) <= max {
        assert_eq!(parts, [text.trim()], "a text that fits stays whole");
    }
});

/// Characters after Telegram's HTML escaping of `<`, `>` and `&`.
fn escaped_len(s: &str) -> usize {
    s.chars()
        .map(|c| match c {
            '<' | '>' => 4,
            '&' => 5,
            _ => 1,
        })
        .sum()
}
