//! The template flattener `domain::template_parameter` (WhatsApp template parameters).
//! Properties (Meta's rules): at most 1024 characters, no newline or tab, no run of more than
//! four spaces; and beyond them: no other whitespace than single spaces, a text that fits loses
//! only its extra whitespace, a longer one keeps its beginning and ends with "…".
#![no_main]

use amtsbote::domain::{TEMPLATE_PARAM_MAX, template_parameter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let p = template_parameter(text);
    assert!(
        p.chars().count() <= TEMPLATE_PARAM_MAX,
        "{} characters",
        p.chars().count()
    );
    assert!(!p.contains(['\n', '\t']), "no newline or tab");
    assert!(!p.contains("     "), "no run of more than four spaces");
    assert!(
        p.chars().all(|c| c == ' ' || !c.is_whitespace()),
        "no other whitespace"
    );
    assert!(
        !p.contains("  ") && p.trim() == p,
        "single spaces between words"
    );
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if words.chars().count() <= TEMPLATE_PARAM_MAX {
        assert_eq!(p, words, "a text that fits loses only whitespace");
    } else {
        let kept = p
            .strip_suffix('…')
            .unwrap_or_else(|| panic!("a cut text ends with …"));
        assert!(!kept.is_empty(), "something is kept");
        assert!(words.starts_with(kept), "the beginning is kept");
    }
});
