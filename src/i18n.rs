//! Every text a person reads comes from `messages/{de,en}.ftl` (Project Fluent), compiled into
//! the binary so that it runs from any directory.

use std::collections::HashMap;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

const SOURCES: [(&str, &str); 2] = [
    ("de", include_str!("../messages/de.ftl")),
    ("en", include_str!("../messages/en.ftl")),
];

/// The mark every drill message starts with; the same in every language, so that nobody
/// mistakes a drill for an emergency, whatever language they read.
pub fn drill_marker() -> &'static str {
    static MARKER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MARKER.get_or_init(|| {
        Texts::load()
            .map(|t| t.get(DEFAULT_LANGUAGE, "drill-marker", &[]))
            .unwrap_or_else(|_| "drill-marker".into())
    })
}

/// The text `key` in `lang` from the embedded files, loaded once: for texts made outside a
/// conversation (a correction's or retraction's notice, written once per language).
pub fn text(lang: &str, key: &str, args: &[(&str, FluentValue<'_>)]) -> String {
    static TEXTS: std::sync::OnceLock<Option<Texts>> = std::sync::OnceLock::new();
    match TEXTS.get_or_init(|| Texts::load().ok()) {
        Some(t) => t.get(lang, key, args),
        None => key.to_string(),
    }
}

/// The default language of citizens and staff.
pub const DEFAULT_LANGUAGE: &str = "de";

pub struct Texts {
    bundles: HashMap<&'static str, FluentBundle<FluentResource>>,
}

impl Texts {
    /// Loads the embedded message files; a syntax error in them is a bug caught by the tests.
    pub fn load() -> Result<Texts, String> {
        let mut bundles = HashMap::new();
        for (lang, source) in SOURCES {
            let resource = FluentResource::try_new(source.to_string())
                .map_err(|(_, errs)| format!("messages/{lang}.ftl: {errs:?}"))?;
            let id: LanguageIdentifier = lang.parse().map_err(|e| format!("{lang}: {e}"))?;
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            // Terminal and chat output: no Unicode isolation marks around arguments.
            bundle.set_use_isolating(false);
            bundle
                .add_resource(resource)
                .map_err(|errs| format!("messages/{lang}.ftl: {errs:?}"))?;
            bundles.insert(lang, bundle);
        }
        Ok(Texts { bundles })
    }

    /// The languages there are texts for.
    pub fn languages(&self) -> Vec<&'static str> {
        let mut l: Vec<_> = self.bundles.keys().copied().collect();
        l.sort();
        l
    }

    /// The text `key` in `lang` (falling back to German), with `args` filled in. A missing key
    /// shows as the key itself, so a gap is visible but never an error for the reader.
    pub fn get(&self, lang: &str, key: &str, args: &[(&str, FluentValue<'_>)]) -> String {
        let bundle = self
            .bundles
            .get(lang)
            .or_else(|| self.bundles.get(DEFAULT_LANGUAGE));
        let Some(bundle) = bundle else {
            return key.to_string();
        };
        let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
            tracing::error!(key, lang, "missing text");
            return key.to_string();
        };
        let mut fargs = FluentArgs::new();
        for (k, v) in args {
            fargs.set(*k, v.clone());
        }
        let mut errors = vec![];
        let text = bundle.format_pattern(pattern, Some(&fargs), &mut errors);
        if !errors.is_empty() {
            tracing::error!(key, lang, ?errors, "text has unfilled arguments");
        }
        text.into_owned()
    }

    /// The language for the operator's terminal: German when `LANG` says so, else English.
    pub fn terminal_language() -> &'static str {
        match std::env::var("LANG") {
            Ok(l) if l.starts_with("de") => "de",
            _ => "en",
        }
    }
}

/// Server-rendered pages: `sources` compiled into one minijinja environment with `t("key",
/// name=value)`, the text `key` in the page's language (the context's `lang`).
pub fn html_templates(
    texts: std::sync::Arc<Texts>,
    sources: &[(&'static str, &'static str)],
) -> Result<minijinja::Environment<'static>, String> {
    use minijinja::value::{Kwargs, Value};
    let mut env = minijinja::Environment::new();
    for (name, source) in sources {
        env.add_template(name, source)
            .map_err(|e| format!("template {name}: {e}"))?;
    }
    env.add_function(
        "t",
        move |state: &minijinja::State,
              key: &str,
              kwargs: Kwargs|
              -> Result<String, minijinja::Error> {
            let lang = state
                .lookup("lang")
                .and_then(|l| l.as_str().map(str::to_string))
                .unwrap_or_else(|| DEFAULT_LANGUAGE.into());
            let mut args: Vec<(&str, FluentValue<'_>)> = Vec::new();
            for name in kwargs.args() {
                let v: Value = kwargs.get(name)?;
                let value = match v.as_i64() {
                    Some(n) => n.into(),
                    None => v.to_string().into(),
                };
                args.push((name, value));
            }
            Ok(texts.get(&lang, key, &args))
        },
    );
    Ok(env)
}

/// A page's language from the browser's `Accept-Language`: German unless English comes first.
pub fn page_language(headers: &axum::http::HeaderMap) -> &'static str {
    let accept = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let first = accept
        .split(',')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if first.starts_with("en") {
        "en"
    } else {
        DEFAULT_LANGUAGE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Message keys of one .ftl source, in order.
    pub fn keys_of(source: &str) -> Vec<String> {
        source
            .lines()
            .filter(|l| !l.starts_with([' ', '#', '\t']) && !l.is_empty())
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
            .collect()
    }

    #[test]
    fn every_key_exists_in_every_language() {
        let de = keys_of(SOURCES[0].1);
        let en = keys_of(SOURCES[1].1);
        assert!(!de.is_empty());
        let missing_in_en: Vec<_> = de.iter().filter(|k| !en.contains(k)).collect();
        let missing_in_de: Vec<_> = en.iter().filter(|k| !de.contains(k)).collect();
        assert!(
            missing_in_en.is_empty(),
            "missing in en.ftl: {missing_in_en:?}"
        );
        assert!(
            missing_in_de.is_empty(),
            "missing in de.ftl: {missing_in_de:?}"
        );
    }

    #[test]
    fn texts_fill_in_their_arguments() {
        let texts = Texts::load().expect("valid .ftl files");
        assert_eq!(texts.languages(), ["de", "en"]);
        let s = texts.get("en", "cli-cancelled", &[("id", 7.into())]);
        assert_eq!(
            s,
            "Broadcast #7 is cancelled; nothing more of it will be sent."
        );
        let s = texts.get("fr", "cli-cancelled", &[("id", 7.into())]);
        assert!(s.starts_with("Meldung #7"), "{s}");
    }
}
