//! The archive's public codes, and how a text someone forwards is compared with what the city
//! sent: codes found in it, texts equal after normalising, and texts that are close but not
//! equal (one word changed), which are the dangerous ones.

use rand::Rng;

/// Crockford's base32: no I, L, O or U, so a code read aloud or typed from a photo survives.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A code's length: 8 characters, 40 random bits.
pub const CODE_LEN: usize = 8;

/// A new random public code.
pub fn public_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| CROCKFORD[rng.random_range(0..CROCKFORD.len())] as char)
        .collect()
}

/// A code as people type or paste it: case, spaces and hyphens do not matter, and O, I and L
/// read as 0, 1 and 1 (Crockford). `None` unless it is exactly a code.
pub fn parse_code(s: &str) -> Option<String> {
    let mut code = String::with_capacity(CODE_LEN);
    for c in s.trim().chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !CROCKFORD.contains(&(c as u8)) || code.len() == CODE_LEN {
            return None;
        }
        code.push(c);
    }
    (code.len() == CODE_LEN).then_some(code)
}

/// The code of the first archive link (`…/m/CODE`) in `text`.
pub fn find_code(text: &str) -> Option<String> {
    text.match_indices("/m/").find_map(|(at, _)| {
        let rest = &text[at + 3..];
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        parse_code(&rest[..end])
    })
}

/// A text's words as the check compares them: letters and digits only, lower case; the line
/// with the archive link (the footer) left out, so that a forwarded message and the text the
/// city wrote compare equal. Quotes, punctuation, emoji and spacing do not count.
pub fn words(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| find_code(line).is_none())
        .flat_map(|line| line.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// How alike two word lists are: 1.0 equal, 0.0 nothing alike (word-level edit distance over
/// the longer length).
#[allow(clippy::ptr_arg)] // strsim compares what iterates by reference: a Vec does, a slice not
pub fn likeness(a: &Vec<String>, b: &Vec<String>) -> f64 {
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    1.0 - strsim::generic_levenshtein(a, b) as f64 / longest as f64
}

/// Texts at least this alike but not equal are answered "not ours; this is the real one".
pub const CLOSE: f64 = 0.6;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eight_characters_of_crockford_base32_and_read_back() {
        for _ in 0..100 {
            let code = public_code();
            assert_eq!(code.len(), CODE_LEN);
            assert_eq!(parse_code(&code), Some(code.clone()));
            assert_eq!(parse_code(&code.to_lowercase()), Some(code));
        }
        assert_eq!(parse_code("7kq2-xh3o"), Some("7KQ2XH30".into()));
        assert_eq!(parse_code("ILO12345"), Some("11012345".into()));
        for bad in [
            "",
            "7KQ2XH3",
            "7KQ2XH3MM",
            "7KQ2XH3U",
            "7KQ2XH3Ä",
            "<script>",
        ] {
            assert_eq!(parse_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_code_is_found_in_the_footer_of_a_forwarded_message() {
        let text = "Wasserrohrbruch in der Hauptstraße.\n\nEcht? stadt.de/m/7KQ2XH3M";
        assert_eq!(find_code(text), Some("7KQ2XH3M".into()));
        assert_eq!(
            find_code("https://stadt.de/m/7kq2xh3m."),
            Some("7KQ2XH3M".into())
        );
        assert_eq!(find_code("/m/too-long-to-be-a-code"), None);
        assert_eq!(find_code("no link"), None);
    }

    #[test]
    fn spacing_quotes_case_and_the_footer_do_not_count_but_words_do() {
        let sent = "Die Hauptstraße ist ab „Montag“ gesperrt.";
        let forwarded = "die  Hauptstraße ist ab \"Montag\" gesperrt\n\nEcht? stadt.de/m/7KQ2XH3M";
        assert_eq!(words(sent), words(forwarded));
        let changed = "Die Hauptstraße ist ab Dienstag gesperrt.";
        let (a, b) = (words(sent), words(changed));
        assert_ne!(a, b);
        let alike = likeness(&a, &b);
        assert!((CLOSE..1.0).contains(&alike), "{alike}");
        assert!(likeness(&a, &words("Heute Konzert im Park")) < CLOSE);
    }
}
