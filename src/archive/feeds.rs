//! The archive as feeds, per topic and for all: Atom (`atom_syndication`), RSS 2.0 (`rss`) and
//! JSON Feed 1.1. An entry's id is its page's address, so it stays the same when the broadcast
//! is corrected (the entry's `updated` changes instead).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

use super::{ArchiveState, Item, LangQuery, page_lang};
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
    let content_type = match format {
        Format::Atom => "application/atom+xml; charset=utf-8",
        Format::Rss => "application/rss+xml; charset=utf-8",
        Format::Json => "application/feed+json; charset=utf-8",
    };
    let h = super::public_headers(HeaderValue::from_static(content_type), "public, max-age=60");
    let key = format!("feed|{lang}|{file}");
    let make = async {
        let page = s
            .broadcasts
            .store()
            .archive_page(topic, None, None, ENTRIES)
            .await
            .map_err(|e| super::unavailable("a feed could not be read", &e))?;
        let items = s.items(&page, lang).await;
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
        let modified = items.iter().map(|i| i.updated_at).max();
        let body = match format {
            Format::Atom => atom(&title, &home, &own, lang, &items),
            Format::Rss => rss(&title, &home, lang, &items),
            Format::Json => json(&title, &home, &own, lang, &items),
        };
        Ok((body, modified))
    };
    s.page(key, &headers, h, make).await
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
    // The feed changed when its newest entry appeared or any entry was last corrected.
    let updated = items
        .iter()
        .max_by_key(|i| i.updated_at)
        .map(|i| date(&i.updated_iso))
        .unwrap_or_default();
    let entries: Vec<Entry> = items
        .iter()
        .map(|i| Entry {
            id: i.url.clone(),
            title: Text::plain(title(i)),
            updated: date(&i.updated_iso),
            published: Some(date(&i.iso)),
            links: std::iter::once(Link {
                href: i.url.clone(),
                rel: "alternate".into(),
                ..Link::default()
            })
            .chain(i.media.as_ref().map(|m| Link {
                href: m.url.clone(),
                rel: "enclosure".into(),
                mime_type: Some(m.mime.clone()),
                length: Some(m.bytes.to_string()),
                title: (!m.alt.is_empty()).then(|| m.alt.clone()),
                ..Link::default()
            }))
            .collect(),
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
                .enclosure(i.media.as_ref().map(|m| rss::Enclosure {
                    url: m.url.clone(),
                    length: m.bytes.to_string(),
                    mime_type: m.mime.clone(),
                }))
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
            let mut entry = serde_json::json!({
                "id": i.url,
                "url": i.url,
                "title": title(i),
                "content_text": i.text,
                "date_published": i.iso,
                "date_modified": i.updated_iso,
                "tags": [i.topic, i.kind],
            });
            if let Some(m) = &i.media {
                entry["attachments"] = serde_json::json!([{
                    "url": m.url,
                    "mime_type": m.mime,
                    "size_in_bytes": m.bytes,
                    "title": m.alt,
                }]);
            }
            entry
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
