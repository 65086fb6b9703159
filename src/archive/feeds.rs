//! The archive as feeds, per topic and for all: Atom (`atom_syndication`), RSS 2.0 (`rss`) and
//! JSON Feed 1.1. An entry's id is its page's address, so it stays the same when the broadcast
//! is corrected (the entry's `updated` changes instead).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::{ArchiveState, Item, LangQuery, cached, page_lang};
use crate::domain::DRILL_TOPIC;

/// Entries per feed.
const ENTRIES: u32 = 50;

enum Format {
    Atom,
    Rss,
    Json,
}

/// `/feed/{topic or all}.{atom, rss, json}`.
pub async fn feed(
    State(s): State<Arc<ArchiveState>>,
    Path(file): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = page_lang(q.lang.as_deref(), &headers);
    let Some((name, ext)) = file.rsplit_once('.') else {
        return s.not_found(lang);
    };
    let format = match ext {
        "atom" => Format::Atom,
        "rss" => Format::Rss,
        "json" => Format::Json,
        _ => return s.not_found(lang),
    };
    let topic = match name {
        "all" => None,
        t if t != DRILL_TOPIC && s.broadcasts.topic(t).is_some() => Some(t),
        _ => return s.not_found(lang),
    };
    let page = match s
        .broadcasts
        .store()
        .archive_page(topic, None, None, ENTRIES)
        .await
    {
        Ok(p) => p,
        Err(e) => return super::unavailable("a feed could not be read", &e),
    };
    let items: Vec<Item> = page.iter().filter_map(|b| s.item(b, lang)).collect();
    let title = match topic.and_then(|t| s.broadcasts.topic(t)) {
        Some(t) => format!(
            "{} – {}",
            s.texts.get(lang, "archive-title", &[]),
            if lang == "en" {
                &t.label_en
            } else {
                &t.label_de
            }
        ),
        None => s.texts.get(lang, "archive-title", &[]),
    };
    let home = s.absolute(&match topic {
        Some(t) => format!("/archiv?topic={t}"),
        None => "/archiv".into(),
    });
    let own = s.absolute(&format!("/feed/{file}"));
    let modified = items.iter().map(|i| i.released_at).max();
    let (content_type, body) = match format {
        Format::Atom => (
            "application/atom+xml; charset=utf-8",
            atom(&title, &home, &own, lang, &items),
        ),
        Format::Rss => (
            "application/rss+xml; charset=utf-8",
            rss(&title, &home, lang, &items),
        ),
        Format::Json => (
            "application/feed+json; charset=utf-8",
            json(&title, &home, &own, lang, &items),
        ),
    };
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    cached(&headers, h, body, modified)
}

/// The entry's title: its kind and topic, then the text's beginning.
fn title(i: &Item) -> String {
    let first = crate::domain::text::prefix_within(i.text.lines().next().unwrap_or(""), 80);
    format!("{} · {}: {first}", i.kind_label, i.topic_label)
}

fn atom(title_text: &str, home: &str, own: &str, lang: &str, items: &[Item]) -> String {
    use atom_syndication::{Content, Entry, Feed, FixedDateTime, Link, Person, Text};
    let date = |iso: &str| {
        FixedDateTime::parse_from_rfc3339(iso).unwrap_or_else(|_| FixedDateTime::default())
    };
    let updated = items.first().map(|i| date(&i.iso)).unwrap_or_default();
    let entries: Vec<Entry> = items
        .iter()
        .map(|i| Entry {
            id: i.url.clone(),
            title: Text::plain(title(i)),
            updated: date(&i.iso),
            published: Some(date(&i.iso)),
            links: vec![Link {
                href: i.url.clone(),
                rel: "alternate".into(),
                ..Link::default()
            }],
            content: Some(Content {
                value: Some(i.text.clone()),
                content_type: Some("text".into()),
                ..Content::default()
            }),
            ..Entry::default()
        })
        .collect();
    let feed = Feed {
        id: own.to_string(),
        title: Text::plain(title_text),
        updated,
        lang: Some(lang.to_string()),
        authors: vec![Person {
            name: title_text.to_string(),
            ..Person::default()
        }],
        links: vec![
            Link {
                href: own.to_string(),
                rel: "self".into(),
                ..Link::default()
            },
            Link {
                href: home.to_string(),
                rel: "alternate".into(),
                ..Link::default()
            },
        ],
        entries,
        ..Feed::default()
    };
    feed.to_string()
}

fn rss(title_text: &str, home: &str, lang: &str, items: &[Item]) -> String {
    use rss::{ChannelBuilder, GuidBuilder, ItemBuilder};
    let date = |iso: &str| {
        chrono::DateTime::parse_from_rfc3339(iso)
            .map(|t| t.to_rfc2822())
            .unwrap_or_default()
    };
    let entries: Vec<rss::Item> = items
        .iter()
        .map(|i| {
            ItemBuilder::default()
                .title(Some(title(i)))
                .link(Some(i.url.clone()))
                .description(Some(i.text.clone()))
                .pub_date(Some(date(&i.iso)))
                .guid(Some(
                    GuidBuilder::default()
                        .value(i.url.clone())
                        .permalink(true)
                        .build(),
                ))
                .build()
        })
        .collect();
    ChannelBuilder::default()
        .title(title_text.to_string())
        .link(home.to_string())
        .description(title_text.to_string())
        .language(Some(lang.to_string()))
        .items(entries)
        .build()
        .to_string()
}

fn json(title_text: &str, home: &str, own: &str, lang: &str, items: &[Item]) -> String {
    let entries: Vec<serde_json::Value> = items
        .iter()
        .map(|i| {
            serde_json::json!({
                "id": i.url,
                "url": i.url,
                "title": title(i),
                "content_text": i.text,
                "date_published": i.iso,
                "date_modified": i.iso,
                "tags": [i.topic, i.kind],
            })
        })
        .collect();
    serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": title_text,
        "home_page_url": home,
        "feed_url": own,
        "language": lang,
        "items": entries,
    })
    .to_string()
}
