//! Texts longer than one message: the one splitter both channels use. A platform caps one
//! message's length in its own unit (Telegram after HTML escaping), so the caller says what a
//! character weighs; the cut falls at a paragraph break, else after a sentence, else between
//! words, else hard, and never inside a grapheme cluster (an emoji sequence such as a family
//! or a flag, a letter with its combining marks). No I/O.

use unicode_segmentation::UnicodeSegmentation;

/// Most characters one Telegram message or one WhatsApp free-text message may hold.
pub const MESSAGE_MAX: usize = 4096;

/// A character's weight as the platforms count length: UTF-16 code units (an emoji outside the
/// Basic Multilingual Plane counts two), which is never less than the count in characters, so a
/// part fits whichever of the two a platform uses.
pub fn utf16_weight(c: char) -> usize {
    c.len_utf16()
}

/// The longest start of `text` of whole grapheme clusters that holds at most `max` characters
/// (code points, as the platforms' limits count them): a cut for a length limit that never
/// splits an emoji sequence or a letter from its combining marks.
pub fn prefix_within(text: &str, max: usize) -> &str {
    let mut count = 0;
    let mut end = 0;
    for (i, g) in text.grapheme_indices(true) {
        count += g.chars().count();
        if count > max {
            break;
        }
        end = i + g.len();
    }
    &text[..end]
}

/// Splits `text` into parts of at most `max` by `weight`, in order. Whitespace at the ends of the
/// text and at each cut is dropped; nothing else is: the parts joined give the text back. A part
/// ends before the last paragraph break (a blank line) that fits, else after the last sentence
/// (`.`, `!` or `?` before whitespace), else before the last whitespace, else it is cut hard
/// after the last grapheme cluster that fits (a user-perceived character: an emoji sequence, a
/// letter with its combining marks). A cluster heavier than `max` goes out alone rather than
/// never. Always at least one part (an empty text gives one empty part).
pub fn split(text: &str, max: usize, weight: impl Fn(char) -> usize) -> Vec<String> {
    let weigh = |g: &str| g.chars().map(&weight).sum::<usize>();
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while weigh(rest) > max {
        // The longest prefix of whole clusters that fits, as a byte offset into `rest`.
        let mut used = 0;
        let mut fit = 0;
        for (i, g) in rest.grapheme_indices(true) {
            used += weigh(g);
            if used > max {
                break;
            }
            fit = i + g.len();
        }
        if fit == 0 {
            // Not even one cluster fits: send it alone, so the loop always moves on.
            fit = rest.graphemes(true).next().map_or(rest.len(), str::len);
        }
        // Where a part may end: before any cluster of the prefix, or right after it. `rest`
        // starts with no whitespace, so a cut past 0 leaves something in the part.
        let cuts = rest[..fit]
            .grapheme_indices(true)
            .map(|(i, _)| i)
            .chain(std::iter::once(fit))
            .filter(|i| *i > 0);
        let last_cut = |good: &dyn Fn(usize) -> bool| cuts.clone().rfind(|i| good(*i));
        let cut = last_cut(&|i| rest[i..].starts_with("\n\n"))
            .or_else(|| {
                last_cut(&|i| {
                    rest[..i].ends_with(['.', '!', '?'])
                        && rest[i..].starts_with(char::is_whitespace)
                })
            })
            .or_else(|| last_cut(&|i| rest[i..].starts_with(char::is_whitespace)))
            .unwrap_or(fit);
        parts.push(rest[..cut].trim_end().to_string());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.to_string());
    }
    parts
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn weight_of(text: &str) -> usize {
        text.chars().map(utf16_weight).sum()
    }

    fn without_whitespace(text: &str) -> String {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    }

    #[test]
    fn a_text_that_fits_stays_whole() {
        assert_eq!(
            split("  Hallo Stadt  ", MESSAGE_MAX, utf16_weight),
            ["Hallo Stadt"]
        );
        assert_eq!(split("", MESSAGE_MAX, utf16_weight), [""]);
        let exactly = "x".repeat(MESSAGE_MAX);
        assert_eq!(split(&exactly, MESSAGE_MAX, utf16_weight), [exactly]);
    }

    #[test]
    fn the_cut_falls_at_a_paragraph_then_a_sentence_then_a_word() {
        let para = "Satz eins ist hier. ".repeat(150); // 3000 characters
        let text = format!("{}\n\n{}", para.trim(), para.trim());
        let parts = split(&text, MESSAGE_MAX, utf16_weight);
        assert_eq!(parts, [para.trim(), para.trim()], "at the paragraph");

        let one = "Ein Satz. ".repeat(500); // 5000 characters, no paragraph
        let parts = split(&one, MESSAGE_MAX, utf16_weight);
        assert_eq!(parts.len(), 2);
        assert!(parts[0].ends_with("Satz.") && weight_of(&parts[0]) <= MESSAGE_MAX);

        let words = "Wort ".repeat(1000); // 5000 characters, no sentence
        let parts = split(&words, MESSAGE_MAX, utf16_weight);
        assert!(parts.iter().all(|p| p.ends_with("Wort")), "between words");
    }

    #[test]
    fn a_word_longer_than_the_limit_is_cut_hard() {
        let word = "ä".repeat(10);
        let parts = split(&format!("Vorne {word} hinten"), 4, utf16_weight);
        assert_eq!(parts, ["Vorn", "e", "ääää", "ääää", "ää", "hint", "en"]);
        assert!(parts.iter().all(|p| weight_of(p) <= 4));
        assert_eq!(
            without_whitespace(&parts.concat()),
            without_whitespace("Vorne ääääääääää hinten")
        );
        // An emoji weighs two: a limit of one still lets it through, alone.
        assert_eq!(split("😀😀", 1, utf16_weight), ["😀", "😀"]);
    }

    #[test]
    fn a_prefix_within_a_limit_keeps_clusters_whole() {
        let family = "👨\u{200d}👩\u{200d}👧\u{200d}👦"; // seven code points
        assert_eq!(prefix_within(&format!("ab{family}"), 8), "ab");
        assert_eq!(
            prefix_within(&format!("ab{family}"), 9),
            format!("ab{family}")
        );
        assert_eq!(prefix_within("e\u{301}x", 1), "");
        assert_eq!(prefix_within("Straße", 3), "Str");
    }

    #[test]
    fn a_hard_cut_never_splits_an_emoji_sequence_or_a_combining_mark() {
        // A family (four people joined by zero-width joiners, 11 UTF-16 units), a flag (two
        // regional indicators), and an e with a combining acute accent (two code points).
        let family = "👨\u{200d}👩\u{200d}👧\u{200d}👦";
        let flag = "🇩🇪";
        let e_acute = "e\u{301}";
        let word = format!("{family}{flag}{e_acute}{e_acute}{family}");
        for max in 1..=30 {
            let parts = split(&word, max, utf16_weight);
            assert_eq!(parts.concat(), word, "max {max}: nothing lost");
            for p in &parts {
                for whole in [family, flag, e_acute] {
                    // A part holds a cluster whole or none of it.
                    let first = whole.chars().next().map(String::from).unwrap_or_default();
                    assert!(
                        !p.contains(&first) || p.contains(whole),
                        "max {max}: {p:?} splits {whole:?}"
                    );
                }
                assert!(
                    !p.starts_with('\u{301}') && !p.starts_with('\u{200d}'),
                    "max {max}: {p:?}"
                );
            }
        }
    }

    #[test]
    fn no_part_is_over_the_limit_and_nothing_is_lost() {
        let mut rng = StdRng::seed_from_u64(11);
        let pieces = [
            "Hochwasser",
            "am",
            "Neckar.",
            "Die",
            "Uferstraße",
            "ist",
            "gesperrt!",
            "Warum?",
            "😀",
            "&",
            "<b>",
            "\n\n",
            "\n",
            "\t",
            "  ",
            "Donaudampfschifffahrtsgesellschaftskapitän",
            "1.5",
            "z.B.",
            "...",
            "—",
        ];
        for round in 0..300 {
            let max = rng.random_range(1..=200);
            let mut text = String::new();
            for _ in 0..rng.random_range(0..400) {
                text.push_str(pieces[rng.random_range(0..pieces.len())]);
                if rng.random_bool(0.7) {
                    text.push(' ');
                }
            }
            let parts = split(&text, max, utf16_weight);
            assert!(!parts.is_empty());
            for p in &parts {
                // Only a lone cluster heavier than the limit may exceed it.
                assert!(
                    weight_of(p) <= max || p.graphemes(true).count() == 1,
                    "round {round}, max {max}: part of {} in {text:?}",
                    weight_of(p)
                );
                assert_eq!(p.trim(), p, "no part starts or ends with whitespace");
                assert!(!p.is_empty() || parts.len() == 1);
            }
            assert_eq!(
                without_whitespace(&parts.concat()),
                without_whitespace(&text),
                "round {round}, max {max}"
            );
            // The cuts only ever drop whitespace: each part is where the last one ended.
            let mut at = 0;
            for p in &parts {
                let found = text[at..].find(p.as_str()).map(|i| at + i);
                assert!(
                    found.is_some_and(|i| text[at..i].trim().is_empty()),
                    "round {round}"
                );
                at = found.unwrap_or(at) + p.len();
            }
        }
    }
}
