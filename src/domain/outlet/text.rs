//! Cutting a broadcast's text to a platform's limit: at a word, with "…", and the archive's
//! check link at the end. Mastodon counts characters with every URL as 23; Bluesky counts
//! graphemes and wants the link as a facet over its UTF-8 bytes.

use unicode_segmentation::UnicodeSegmentation;

/// How many characters Mastodon counts for any URL.
pub const MASTODON_URL_WEIGHT: usize = 23;
/// Mastodon's limit when the instance does not say.
pub const MASTODON_DEFAULT_LIMIT: usize = 500;
/// Bluesky's limit of a post's text, in graphemes.
pub const BLUESKY_LIMIT: usize = 300;

const ELLIPSIS: &str = "…";

fn is_url(word: &str) -> bool {
    word.starts_with("https://") || word.starts_with("http://")
}

/// A text's length as Mastodon counts it: graphemes, each URL 23.
pub fn mastodon_length(text: &str) -> usize {
    let mut n = 0;
    // Whitespace-separated: URLs count 23, everything else its graphemes.
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        n += rest[..start].graphemes(true).count();
        rest = &rest[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        n += if is_url(word) {
            MASTODON_URL_WEIGHT
        } else {
            word.graphemes(true).count()
        };
        rest = &rest[end..];
    }
    n
}

/// `text` cut at a word so that it measures at most `budget` with "…" after it; the whole
/// text when it fits.
fn cut_to(text: &str, budget: usize, measure: impl Fn(&str) -> usize) -> String {
    let text = text.trim_end();
    if measure(text) <= budget {
        return text.to_string();
    }
    let room = budget.saturating_sub(1);
    // The longest prefix ending at a grapheme boundary that fits, then back to a word's end.
    let mut fit = 0;
    for (i, g) in text.grapheme_indices(true) {
        let end = i + g.len();
        if measure(&text[..end]) > room {
            break;
        }
        fit = end;
    }
    let prefix = &text[..fit];
    let at_word = match text[fit..].chars().next() {
        Some(c) if c.is_whitespace() => prefix,
        _ => prefix
            .rfind(char::is_whitespace)
            .map(|i| &prefix[..i])
            .filter(|p| !p.trim().is_empty())
            .unwrap_or(prefix),
    };
    format!("{}{ELLIPSIS}", at_word.trim_end())
}

/// The status for Mastodon: `text` cut to `limit` with the link after an empty line.
pub fn for_mastodon(text: &str, link: Option<&str>, limit: usize) -> String {
    match link {
        Some(link) => {
            let budget = limit.saturating_sub(MASTODON_URL_WEIGHT + 2);
            format!("{}\n\n{link}", cut_to(text, budget, mastodon_length))
        }
        None => cut_to(text, limit, mastodon_length),
    }
}

/// A Bluesky post's text and its link facet's UTF-8 byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlueskyText {
    pub text: String,
    /// `(byteStart, byteEnd)` of the link in `text`.
    pub link: Option<(usize, usize)>,
}

fn graphemes(s: &str) -> usize {
    s.graphemes(true).count()
}

/// The post for Bluesky: `text` cut to 300 graphemes with the link after an empty line.
pub fn for_bluesky(text: &str, link: Option<&str>) -> BlueskyText {
    match link {
        Some(link) => {
            let budget = BLUESKY_LIMIT.saturating_sub(graphemes(link) + 2);
            let body = cut_to(text, budget, graphemes);
            let start = body.len() + 2;
            BlueskyText {
                text: format!("{body}\n\n{link}"),
                link: Some((start, start + link.len())),
            }
        }
        None => BlueskyText {
            text: cut_to(text, BLUESKY_LIMIT, graphemes),
            link: None,
        },
    }
}

/// What an outlet of `kind` posts of `text`: on Mastodon (at `mastodon_limit`) and Bluesky cut
/// at a word with the check `link` last; on the city's Telegram and WhatsApp channels with the
/// citizens' `check_line` under it; to the website as it is (its JSON carries the link apart).
/// Posting and every preview call this, so a preview shows what is posted.
pub fn for_outlet(
    kind: super::OutletKind,
    text: &str,
    link: Option<&str>,
    check_line: Option<&str>,
    mastodon_limit: usize,
) -> String {
    use super::OutletKind;
    match kind {
        OutletKind::Mastodon => for_mastodon(text, link, mastodon_limit),
        OutletKind::Bluesky => for_bluesky(text, link).text,
        OutletKind::TelegramChannel | OutletKind::WhatsappChannel => match check_line {
            Some(line) => format!("{text}\n\n{line}"),
            None => text.to_string(),
        },
        OutletKind::Webhook => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = "https://stadt.example/m/7KQ2M9XD";

    #[test]
    fn a_short_text_stays_whole_with_the_link_under_it() {
        assert_eq!(
            for_mastodon("Straße gesperrt.", Some(LINK), 500),
            format!("Straße gesperrt.\n\n{LINK}")
        );
    }

    #[test]
    fn mastodon_counts_every_url_as_23_and_cuts_at_a_word() {
        assert_eq!(
            mastodon_length("a https://example.org/a/very/long/path/indeed b"),
            27
        );
        let long = "Wort ".repeat(200);
        let post = for_mastodon(&long, Some(LINK), 500);
        assert!(mastodon_length(&post) <= 500, "{}", mastodon_length(&post));
        assert!(post.ends_with(&format!("Wort…\n\n{LINK}")), "{post}");
        assert!(mastodon_length(&post) >= 490, "cut no shorter than needed");
    }

    #[test]
    fn bluesky_cuts_umlauts_and_emoji_at_300_graphemes_with_the_facet_on_the_link() {
        let text = "Überflutung 🌊 in Köln‑Mülheim, Grüße 👩‍👩‍👧‍👦 ".repeat(20);
        let post = for_bluesky(&text, Some(LINK));
        assert!(graphemes(&post.text) <= 300, "{}", graphemes(&post.text));
        let (start, end) = post.link.unwrap();
        assert_eq!(&post.text.as_bytes()[start..end], LINK.as_bytes());
        assert_eq!(end, post.text.len());
        assert!(post.text.contains("…\n\n"));
    }

    #[test]
    fn the_facet_offsets_of_the_fixture_are_utf8_bytes() {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/outlets/bluesky_post_record_link_facet.json"
        ))
        .unwrap();
        let text = fixture["text"].as_str().unwrap();
        let facet = &fixture["facets"][1]["index"];
        let (s, e) = (
            facet["byteStart"].as_u64().unwrap() as usize,
            facet["byteEnd"].as_u64().unwrap() as usize,
        );
        assert_eq!(&text[s..e], "https://en.wikipedia.org/wiki/CBOR");
    }
}
