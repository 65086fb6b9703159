//! The OpenAPI document's parts that the derives cannot state alone: the names the API accepts
//! for priorities, kinds and statuses (one list each, used both to parse and to document), the
//! text's constraints, the bearer scheme, and the configured topics, known only at start.

use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{OpenApi, RefOr};

use super::ApiError;
use crate::domain::TopicConfig;
use crate::domain::{BroadcastKind, BroadcastStatus, BroadcastText, Priority};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Amtsbote API", description = "Broadcasts for the city's CMS"),
    components(schemas(ApiError)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The priorities a request may name, most urgent first.
pub const PRIORITIES: [Priority; 4] = [
    Priority::Alert,
    Priority::Urgent,
    Priority::Normal,
    Priority::Low,
];
pub const KINDS: [BroadcastKind; 4] = [
    BroadcastKind::Announcement,
    BroadcastKind::Alert,
    BroadcastKind::Update,
    BroadcastKind::Allclear,
];
pub const STATUSES: [BroadcastStatus; 10] = BroadcastStatus::ALL;

/// The value of `values` whose name is exactly `given` (the document lists these names, so a
/// name in other case or with spaces is refused, as a client generated from it would expect).
pub fn one_of<T: Copy>(
    values: &[T],
    name: fn(T) -> &'static str,
    what: &str,
    given: &str,
) -> Result<T, String> {
    values
        .iter()
        .copied()
        .find(|v| name(*v) == given)
        .ok_or_else(|| {
            let names: Vec<&str> = values.iter().map(|v| name(*v)).collect();
            format!("unknown {what} '{given}'; expected {}", names.join(", "))
        })
}

/// What `str::trim` removes (Unicode White_Space), as ranges.
const BLANK: [(char, char); 10] = [
    ('\t', '\r'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// The text's pattern (ECMA-262): one character that is neither blank nor NUL, and no NUL
/// anywhere, as Postgres cannot store it.
fn text_pattern() -> String {
    let u = |c: char| format!("\\u{:04X}", u32::from(c));
    let blank: String = BLANK
        .iter()
        .map(|&(a, b)| {
            if a == b {
                u(a)
            } else {
                format!("{}-{}", u(a), u(b))
            }
        })
        .collect();
    format!("^[^\\u0000]*[^\\u0000{blank}][^\\u0000]*$")
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A string that is one of `names`, or null when `nullable`.
fn names<'a>(
    names: impl IntoIterator<Item = &'a str>,
    nullable: bool,
    description: Option<&str>,
) -> Object {
    let mut values: Vec<serde_json::Value> = names.into_iter().map(Into::into).collect();
    let mut schema_type = SchemaType::new(Type::String);
    if nullable {
        values.push(serde_json::Value::Null);
        schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    }
    ObjectBuilder::new()
        .schema_type(schema_type)
        .enum_values(Some(values))
        .description(description)
        .build()
}

pub fn priority() -> Object {
    names(PRIORITIES.map(Priority::as_str), false, None)
}

pub fn priority_or_default() -> Object {
    let about = "Default (also for null): the topic's priority";
    names(PRIORITIES.map(Priority::as_str), true, Some(about))
}

/// Every kind an answer may show: also a correction's and a retraction's, which are made by
/// their own requests, not submitted.
pub fn kind() -> Object {
    names(BroadcastKind::ALL.map(BroadcastKind::as_str), false, None)
}

pub fn kind_or_default() -> Object {
    let about = "Default (also for null): alert on the alerts topic, announcement elsewhere";
    names(KINDS.map(BroadcastKind::as_str), true, Some(about))
}

pub fn status() -> Object {
    names(STATUSES.map(BroadcastStatus::as_str), false, None)
}

pub fn status_filter() -> Object {
    let about = "Only broadcasts with this status";
    names(STATUSES.map(BroadcastStatus::as_str), false, Some(about))
}

pub fn text() -> Object {
    string()
        .min_length(Some(1))
        .max_length(Some(BroadcastText::MAX_CHARS))
        .pattern(Some(text_pattern()))
        .description(Some(format!(
            "1 to {} characters, at least one of them not blank, none of them NUL",
            BroadcastText::MAX_CHARS
        )))
        .build()
}

/// A placeholder: [`offer_topics`] puts in the configured topics when the router is built.
pub fn topic() -> Object {
    string()
        .description(Some("One of the configured topics"))
        .build()
}

/// Lists the configured topics as the values `topic` may take.
pub fn offer_topics(doc: &mut OpenApi, topics: &[TopicConfig]) {
    if topics.is_empty() {
        return;
    }
    let request = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("BroadcastRequest"));
    if let Some(RefOr::T(Schema::Object(request))) = request {
        let about = Some("One of the configured topics");
        let topic = names(topics.iter().map(|t| t.id.as_str()), false, about);
        request
            .properties
            .insert("topic".into(), Schema::Object(topic).into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_pattern_names_exactly_what_trim_removes() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let named = BLANK.iter().any(|&(a, b)| (a..=b).contains(&c));
            assert_eq!(named, c.is_whitespace(), "U+{:04X}", u32::from(c));
        }
        assert_eq!(
            text_pattern(),
            "^[^\\u0000]*[^\\u0000\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028-\\u2029\\u202F\\u205F\\u3000][^\\u0000]*$"
        );
    }

    #[test]
    fn names_are_taken_only_as_the_document_spells_them() {
        assert_eq!(
            one_of(&PRIORITIES, Priority::as_str, "priority", "urgent"),
            Ok(Priority::Urgent)
        );
        for given in ["URGENT", " urgent", "dringend", ""] {
            assert!(one_of(&PRIORITIES, Priority::as_str, "priority", given).is_err());
        }
    }
}
