//! The long-text splitter both channels use (`domain::text::split`), weighed as Telegram weighs
//! it (`channels::telegram::escaped_weight`). Properties: every part fits the limit after HTML
//! escaping, no part is blank or padded, nothing but whitespace is lost or reordered, and a text
//! that fits stays one part, trimmed.
#![no_main]

use amtsbote::channels::telegram::escaped_weight;
use amtsbote::domain::text::{MESSAGE_MAX, split};
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
        MESSAGE_MAX
    } else {
        5 + usize::from(first)
    };
    let parts = split(text, max, escaped_weight);
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

/// The length Telegram counts: UTF-16 units after HTML escaping of `<`, `>` and `&`.
fn escaped_len(s: &str) -> usize {
    s.chars().map(escaped_weight).sum()
}
