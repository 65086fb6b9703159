//! Text templates (Textbausteine): a named text with placeholders in braces, `Vollsperrung
//! {strasse} von {von} bis {bis}`, filled in field by field. A template with a field left
//! empty refuses to render, so nothing half-filled goes out.

use std::collections::BTreeMap;

/// The fields of an official warning as a control room (Leitstelle) fills them in, named as
/// CAP 1.2's `info` names them and as NINA/MoWaS and the DWD send them (see the fixtures in
/// `shared/fixtures/nina/`): what happens, where, the danger, what to do, who issued it.
pub const ALERT_FIELDS: [&str; 5] = [
    "event",
    "areaDesc",
    "description",
    "instruction",
    "senderName",
];

/// A template's text, checked: braces pair up and every placeholder is a plain name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateText(String);

/// A placeholder's name: lower-case letters, digits and `_`, starting with a letter.
fn is_field_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic())
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

impl TemplateText {
    pub fn parse(s: &str) -> Result<TemplateText, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("a template needs a text".into());
        }
        let mut rest = s;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err("a '}' without its '{'".into());
            }
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err("a '{' without its '}'".into());
            };
            let name = &after[..close];
            if !is_field_name(name) {
                return Err(format!(
                    "'{{{name}}}' is no field: a field is a word in braces, like {{strasse}}"
                ));
            }
            rest = &after[close + 1..];
        }
        Ok(TemplateText(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An alert template's text when none is given: the control room's fields, one a line
    /// (the first two on one), and no word of its own, so it reads in any language.
    pub fn alert_default() -> TemplateText {
        let [event, area, description, instruction, sender] = ALERT_FIELDS;
        TemplateText(format!(
            "{{{event}}} – {{{area}}}\n{{{description}}}\n{{{instruction}}}\n{{{sender}}}"
        ))
    }

    /// The fields in the order they first appear, each once.
    pub fn fields(&self) -> Vec<String> {
        let mut fields: Vec<String> = Vec::new();
        let mut rest = self.0.as_str();
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let close = after.find('}').unwrap_or(after.len());
            let name = after[..close].to_string();
            if !fields.contains(&name) {
                fields.push(name);
            }
            rest = after.get(close + 1..).unwrap_or("");
        }
        fields
    }

    /// The text with every field filled in; the fields left empty or missing otherwise.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<String, Vec<String>> {
        let missing: Vec<String> = self
            .fields()
            .into_iter()
            .filter(|f| values.get(f).is_none_or(|v| v.trim().is_empty()))
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
        let mut out = String::with_capacity(self.0.len());
        let mut rest = self.0.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let close = after.find('}').unwrap_or(after.len());
            if let Some(v) = values.get(&after[..close]) {
                out.push_str(v.trim());
            }
            rest = after.get(close + 1..).unwrap_or("");
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_template_names_its_fields_and_renders_only_when_all_are_given() {
        let t = TemplateText::parse(
            "Vollsperrung {strasse} von {von} bis {bis}, Umleitung ist ausgeschildert. ({strasse})",
        )
        .expect("a template");
        assert_eq!(t.fields(), ["strasse", "von", "bis"]);
        assert_eq!(
            t.render(&values(&[
                ("strasse", "Hauptstraße"),
                ("von", "24.12."),
                ("bis", " 26.12. ")
            ])),
            Ok("Vollsperrung Hauptstraße von 24.12. bis 26.12., Umleitung ist ausgeschildert. (Hauptstraße)".into())
        );
        assert_eq!(
            t.render(&values(&[("strasse", "Hauptstraße"), ("von", " ")])),
            Err(vec!["von".to_string(), "bis".to_string()])
        );
    }

    #[test]
    fn an_alert_template_offers_the_control_rooms_fields() {
        let t = TemplateText::alert_default();
        assert_eq!(TemplateText::parse(t.as_str()), Ok(t.clone()));
        assert_eq!(t.fields(), ALERT_FIELDS);
        assert_eq!(
            t.render(&values(&[
                ("event", "Großbrand"),
                ("areaDesc", "Weststadt"),
                ("description", "Starke Rauchentwicklung."),
                ("instruction", "Fenster und Türen geschlossen halten."),
                ("senderName", "Feuerwehr Heidelberg"),
            ])),
            Ok("Großbrand – Weststadt\nStarke Rauchentwicklung.\nFenster und Türen geschlossen halten.\nFeuerwehr Heidelberg".into())
        );
    }

    #[test]
    fn unpaired_braces_and_odd_fields_are_refused() {
        for bad in [
            "Sperrung {strasse",
            "Sperrung strasse}",
            "{von bis}",
            "{}",
            "",
        ] {
            assert!(TemplateText::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            TemplateText::parse("Keine Felder").expect("ok").fields(),
            Vec::<String>::new()
        );
    }
}
