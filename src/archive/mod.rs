//! The public archive: what the city sent, readable by everyone without an account or a
//! messenger (`/archiv`, each broadcast at `/m/{CODE}`, an embeddable `/wall`, Atom, RSS and
//! JSON feeds), and the check of whether a message is really the city's (`/pruefen`,
//! `GET /api/v1/check`). Served on the public listener when `archive.public_url` is set;
//! server-rendered, no script; no citizen data anywhere.

mod feeds;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use minijinja::{Environment, Value, context};
use serde::{Deserialize, Serialize};

use crate::config::ArchiveSettings;
use crate::domain::archive::parse_code;
use crate::domain::{BroadcastKind, DRILL_TOPIC};
use crate::i18n::Texts;
use crate::services::BroadcastService;
use crate::services::check::{CheckService, Question, Verdict};
use crate::store::Broadcast;

/// Broadcasts per archive page.
const PAGE: u32 = 20;
/// The most a wall shows.
const WALL_MAX: u32 = 20;
/// The longest text the check takes (a long message and its footer fit easily).
const CHECK_MAX_CHARS: usize = 8000;

/// What every handler reads.
pub struct ArchiveState {
    broadcasts: Arc<BroadcastService>,
    check: Arc<CheckService>,
    texts: Arc<Texts>,
    templates: Environment<'static>,
    settings: ArchiveSettings,
    trusted_proxies: Vec<IpAddr>,
    pages: PageCache,
}

/// How long a rendered page is served again without asking the database. A change made
/// through this process shows at once (the broadcast service counts them); one made through
/// another instance at most this late.
const FRESH: Duration = Duration::from_secs(1);
/// The most pages kept (they are small; past this the cache starts empty again).
const CACHED_PAGES: usize = 1024;

/// A page as rendered, ready to be answered again: the body, its ETag and Last-Modified.
#[derive(Clone)]
pub(crate) struct Rendered {
    body: Bytes,
    etag: HeaderValue,
    modified: Option<HeaderValue>,
}

impl Rendered {
    pub(crate) fn new(body: String, modified_ms: Option<i64>) -> Rendered {
        use sha2::Digest;
        let tag = format!(
            "\"{}\"",
            &hex::encode(sha2::Sha256::digest(body.as_bytes()))[..20]
        );
        let modified = modified_ms
            .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
            .and_then(|t| {
                HeaderValue::from_str(&t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).ok()
            });
        Rendered {
            body: Bytes::from(body),
            etag: HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"\"")),
            modified,
        }
    }
}

/// Rendered public pages by what they show (page, language, filters): under load each is
/// read from the database and rendered once a second, not once per reader.
#[derive(Default)]
struct PageCache {
    pages: Mutex<HashMap<String, (Instant, u64, Rendered)>>,
}

impl PageCache {
    /// The page under `key` when it was rendered less than `FRESH` ago and nothing public
    /// changed here since (`generation`).
    fn get(&self, key: &str, generation: u64) -> Option<Rendered> {
        let pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        pages
            .get(key)
            .filter(|(at, g, _)| *g == generation && at.elapsed() < FRESH)
            .map(|(_, _, r)| r.clone())
    }

    fn put(&self, key: String, generation: u64, page: Rendered) {
        let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        if pages.len() >= CACHED_PAGES {
            pages.clear();
        }
        pages.insert(key, (Instant::now(), generation, page));
    }
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("item.html", include_str!("templates/item.html")),
    ("list.html", include_str!("templates/list.html")),
    ("message.html", include_str!("templates/message.html")),
    ("check.html", include_str!("templates/check.html")),
    ("wall.html", include_str!("templates/wall.html")),
    ("notfound.html", include_str!("templates/notfound.html")),
];

const STYLE: &str = include_str!("templates/archive.css");

/// One broadcast as the public sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub code: String,
    /// `/m/CODE`.
    pub path: String,
    /// The page's full address under `archive.public_url`.
    pub url: String,
    pub text: String,
    /// City time, as people read it.
    pub time: String,
    /// RFC 3339, UTC.
    pub iso: String,
    pub released_at: i64,
    pub topic: String,
    pub topic_label: String,
    pub kind: &'static str,
    pub kind_label: String,
    pub alert: bool,
    pub retracted: bool,
    /// The districts it was for (names), empty for the whole city.
    pub areas: String,
    /// The picture or document it carries, while it is kept (`media.keep_days`).
    pub media: Option<Attached>,
    /// Corrected since it was sent: `updated_*` say when it last was.
    pub corrected: bool,
    pub updated_at: i64,
    pub updated_iso: String,
    pub updated_time: String,
}

/// A broadcast's picture or document as the public sees it: served at `/m/CODE/datei`.
#[derive(Debug, Clone, Serialize)]
pub struct Attached {
    /// `picture` or `document`.
    pub kind: &'static str,
    pub path: String,
    pub url: String,
    pub mime: String,
    pub bytes: u64,
    /// "174 kB", as people read it.
    pub size: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// A picture's alternative text (required for pictures; messengers cannot carry it).
    pub alt: String,
}

/// An earlier text of a corrected broadcast, as its page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Former {
    pub version: i32,
    pub text: String,
    pub time: String,
    pub iso: String,
}

/// RFC 3339 in UTC, to the second.
fn iso(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

impl ArchiveState {
    pub fn new(
        broadcasts: Arc<BroadcastService>,
        check: Arc<CheckService>,
        texts: Arc<Texts>,
        settings: ArchiveSettings,
        trusted_proxies: Vec<IpAddr>,
    ) -> Result<ArchiveState, String> {
        let templates = crate::i18n::html_templates(texts.clone(), TEMPLATES)
            .map_err(|e| format!("archive {e}"))?;
        Ok(ArchiveState {
            broadcasts,
            check,
            texts,
            templates,
            settings,
            trusted_proxies,
            pages: PageCache::default(),
        })
    }

    /// The page under `key`: from the cache when fresh, else made by `make` (its body and
    /// when it last changed) and kept. What `make` answers otherwise (404, 503) is not kept.
    async fn page<F>(
        &self,
        key: String,
        request: &HeaderMap,
        headers: HeaderMap,
        make: F,
    ) -> Response
    where
        F: Future<Output = Result<(String, Option<i64>), Response>>,
    {
        // Read before rendering: a change during the render leaves it under the old count.
        let generation = self.broadcasts.public_generation();
        if let Some(page) = self.pages.get(&key, generation) {
            return respond(request, headers, &page);
        }
        match make.await {
            Ok((body, modified)) => {
                let page = Rendered::new(body, modified);
                let response = respond(request, headers, &page);
                self.pages.put(key, generation, page);
                response
            }
            Err(response) => response,
        }
    }

    /// The full address of `path` under the public URL.
    fn absolute(&self, path: &str) -> String {
        let base = self.settings.public_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    /// `b` as the public sees it; `None` without a code (never the case after migration 17).
    pub fn item(&self, b: &Broadcast, lang: &str) -> Option<Item> {
        let code = b.public_code.clone()?;
        let at = b.released_at.unwrap_or(b.created_at);
        let iso = iso(at);
        let topic_label = self
            .broadcasts
            .topic(&b.topic)
            .map_or_else(|| b.topic.clone(), |t| t.label(lang).to_string());
        let areas = b
            .target
            .as_ref()
            .and_then(|t| self.broadcasts.resolve_target(t).ok().flatten())
            .filter(|r| !r.whole_city)
            .map(|r| r.names.join(", "))
            .unwrap_or_default();
        let path = format!("/m/{code}");
        Some(Item {
            url: self.absolute(&path),
            path,
            code,
            text: b.text.clone(),
            time: self.broadcasts.local_time(at),
            released_at: at,
            topic: b.topic.clone(),
            topic_label,
            kind: b.kind.as_str(),
            kind_label: self
                .texts
                .get(lang, &format!("archive-kind-{}", b.kind.as_str()), &[]),
            alert: b.kind != BroadcastKind::Announcement,
            retracted: b.status.as_str() == "retracted",
            areas,
            media: None,
            corrected: b.version > 1,
            updated_at: at,
            updated_iso: iso.clone(),
            updated_time: String::new(),
            iso,
        })
    }

    /// `bs` as the public sees them; a corrected one says when it last was (its versions are
    /// read: corrections are rare).
    pub async fn items(&self, bs: &[Broadcast], lang: &str) -> Vec<Item> {
        let mut items = Vec::with_capacity(bs.len());
        for b in bs {
            let Some(mut item) = self.item(b, lang) else {
                continue;
            };
            if item.corrected {
                self.when_corrected(&mut item, b.id).await;
            }
            self.attach(&mut item, b).await;
            items.push(item);
        }
        items
    }

    /// Adds the picture or document `b` carries to its item, while it is kept.
    async fn attach(&self, item: &mut Item, b: &Broadcast) {
        let Some(id) = b.media_id else {
            return;
        };
        match self.broadcasts.store().media_info(id).await {
            Ok(Some(info)) => {
                let path = format!("{}/datei", item.path);
                item.media = Some(Attached {
                    kind: info.kind.as_str(),
                    url: self.absolute(&path),
                    path,
                    size: human_size(info.bytes),
                    bytes: info.bytes,
                    mime: info.mime,
                    width: info.width,
                    height: info.height,
                    alt: b.alt.clone().unwrap_or_default(),
                });
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, medium = id, "a broadcast's medium could not be read")
            }
        }
    }

    /// Sets when `item` (broadcast `id`) was last corrected, from its versions; returns them.
    async fn when_corrected(&self, item: &mut Item, id: i64) -> Vec<crate::store::TextVersion> {
        match self.broadcasts.store().text_versions(id).await {
            Ok(versions) => {
                if let Some(last) = versions.last().filter(|v| v.version > 1) {
                    item.updated_at = last.changed_at;
                    item.updated_iso = iso(last.changed_at);
                    item.updated_time = self.broadcasts.local_time(last.changed_at);
                }
                versions
            }
            Err(e) => {
                tracing::warn!(error = %e, broadcast = id, "a broadcast's versions could not be read");
                Vec::new()
            }
        }
    }

    /// Renders template `name` as a public page; a failure is logged and answered 500.
    fn render(&self, name: &str, ctx: Value) -> Result<String, Box<Response>> {
        self.templates
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| {
                tracing::error!(template = name, error = %e, "an archive page could not be rendered");
                Box::new((StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response())
            })
    }

    /// The not-found page.
    fn not_found(&self, lang: &str) -> Response {
        match self.render("notfound.html", self.frame(lang, "", "", context! {})) {
            Ok(html) => (StatusCode::NOT_FOUND, page_headers(None), html).into_response(),
            Err(e) => *e,
        }
    }

    /// What every page's frame needs, with the page's own `ctx`.
    fn frame(&self, lang: &str, nav: &str, own_query: &str, ctx: Value) -> Value {
        let other = if lang == "en" { "de" } else { "en" };
        let sep = if own_query.is_empty() { "" } else { "&" };
        context! {
            lang,
            nav,
            other_lang => other,
            other_lang_href => format!("?{own_query}{sep}lang={other}"),
            feed => "/feed/all",
            ..ctx
        }
    }

    /// The topics the archive can be filtered by (not the drill's).
    fn topic_choices(&self, lang: &str) -> Vec<Value> {
        self.broadcasts
            .topics()
            .iter()
            .filter(|t| t.id.as_str() != DRILL_TOPIC)
            .map(|t| context! { id => t.id.as_str(), label => t.label(lang) })
            .collect()
    }
}

/// The database did not answer: logged, and 503 to the reader.
pub(crate) fn unavailable(what: &str, e: &crate::store::StoreError) -> Response {
    tracing::warn!(error = %e, "{what}");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the archive is unavailable; try again",
    )
        .into_response()
}

/// The page's language: `?lang=` when it names one we have, else the browser's.
fn page_lang(asked: Option<&str>, headers: &HeaderMap) -> &'static str {
    match asked {
        Some("en") => "en",
        Some("de") => "de",
        _ => crate::i18n::page_language(headers),
    }
}

/// What every public answer says: its type, how long a proxy may keep it, and that the type
/// is not to be guessed.
pub(crate) fn public_headers(content_type: HeaderValue, cache_control: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, content_type);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h
}

/// A public page: cacheable by the city's proxy for a minute, never framed (but the wall),
/// nothing from elsewhere.
fn page_headers(frame_ancestors: Option<&[String]>) -> HeaderMap {
    let mut h = public_headers(
        HeaderValue::from_static("text/html; charset=utf-8"),
        "public, max-age=60",
    );
    let ancestors = match frame_ancestors {
        Some(origins) if !origins.is_empty() => origins.join(" "),
        _ => "'none'".into(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if frame_ancestors.is_none() {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    h
}

/// `page` with its ETag (and Last-Modified when known); 304 when the client has it already.
pub(crate) fn respond(request: &HeaderMap, mut headers: HeaderMap, page: &Rendered) -> Response {
    headers.insert(header::ETAG, page.etag.clone());
    if let Some(modified) = &page.modified {
        headers.insert(header::LAST_MODIFIED, modified.clone());
    }
    let tag = page.etag.as_bytes();
    let seen = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().as_bytes() == tag || t.trim() == "*")
        });
    if seen {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (StatusCode::OK, headers, page.body.clone()).into_response()
}

#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    topic: Option<String>,
    area: Option<String>,
    before: Option<i64>,
    lang: Option<String>,
}

/// A filter value from the query: short, or none.
fn filter(v: &Option<String>) -> Option<&str> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

async fn list(
    State(s): State<Arc<ArchiveState>>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = page_lang(q.lang.as_deref(), &headers);
    let (topic, area) = (filter(&q.topic), filter(&q.area));
    let key = format!(
        "list|{lang}|{}|{}|{}",
        topic.unwrap_or(""),
        area.unwrap_or(""),
        q.before.unwrap_or(0)
    );
    let make = render_list(&s, lang, topic, area, q.before);
    s.page(key, &headers, page_headers(None), make).await
}

/// The archive's page of broadcasts below `before` (newest first) and when it last changed.
async fn render_list(
    s: &ArchiveState,
    lang: &str,
    topic: Option<&str>,
    area: Option<&str>,
    before: Option<i64>,
) -> Result<(String, Option<i64>), Response> {
    let page = s
        .broadcasts
        .store()
        .archive_page(topic, area, before, PAGE + 1)
        .await
        .map_err(|e| unavailable("the archive could not be read", &e))?;
    let more = page.len() > PAGE as usize;
    let items = s.items(&page[..page.len().min(PAGE as usize)], lang).await;
    let mut query = Vec::new();
    if let Some(t) = topic {
        query.push(format!("topic={}", urlencode(t)));
    }
    if let Some(a) = area {
        query.push(format!("area={}", urlencode(a)));
    }
    let own = query.join("&");
    let next = (more)
        .then(|| page.get(PAGE as usize - 1).map(|b| b.id))
        .flatten()
        .map(|before| {
            let sep = if own.is_empty() { "" } else { "&" };
            format!("/archiv?{own}{sep}before={before}&lang={lang}")
        });
    let areas: Vec<Value> = s
        .broadcasts
        .areas()
        .map(|c| {
            c.areas()
                .iter()
                .map(|a| context! { id => a.id.clone(), name => a.name.clone() })
                .collect()
        })
        .unwrap_or_default();
    let modified = items.iter().map(|i| i.updated_at).max();
    let ctx = s.frame(
        lang,
        "archive",
        &own,
        context! {
            items,
            next,
            topics => s.topic_choices(lang),
            topic => topic.unwrap_or(""),
            areas,
            area => area.unwrap_or(""),
        },
    );
    let html = s.render("list.html", ctx).map_err(|e| *e)?;
    Ok((html, modified))
}

#[derive(Debug, Deserialize, Default)]
pub struct LangQuery {
    lang: Option<String>,
}

async fn message(
    State(s): State<Arc<ArchiveState>>,
    Path(code): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = page_lang(q.lang.as_deref(), &headers);
    let Some(code) = parse_code(&code) else {
        return s.not_found(lang);
    };
    let key = format!("m|{lang}|{code}");
    let make = render_message(&s, lang, &code);
    s.page(key, &headers, page_headers(None), make).await
}

/// The page of the broadcast with `code`: its text, what it said before a correction, its
/// follow-ups; and when it last changed.
async fn render_message(
    s: &ArchiveState,
    lang: &str,
    code: &str,
) -> Result<(String, Option<i64>), Response> {
    let store = s.broadcasts.store();
    let b = match store.archived(code).await {
        Ok(Some(b)) => b,
        Ok(None) => return Err(s.not_found(lang)),
        Err(e) => return Err(unavailable("an archived broadcast could not be read", &e)),
    };
    let follow_ups = s
        .items(
            &store.archived_follow_ups(b.id).await.unwrap_or_default(),
            lang,
        )
        .await;
    let parent = match b.parent_id {
        Some(p) => store
            .broadcast(p)
            .await
            .ok()
            .flatten()
            .and_then(|p| s.item(&p, lang)),
        None => None,
    };
    let Some(mut item) = s.item(&b, lang) else {
        return Err(s.not_found(lang));
    };
    s.attach(&mut item, &b).await;
    // A corrected broadcast shows what it said before, newest first.
    let mut former: Vec<Former> = Vec::new();
    if item.corrected {
        let versions = s.when_corrected(&mut item, b.id).await;
        former = versions
            .iter()
            .filter(|v| v.version < b.version)
            .rev()
            .map(|v| Former {
                version: v.version,
                text: v.text.clone(),
                time: s.broadcasts.local_time(v.changed_at),
                iso: iso(v.changed_at),
            })
            .collect();
    }
    let modified = follow_ups
        .iter()
        .map(|f| f.updated_at)
        .chain([item.updated_at])
        .max();
    let ctx = s.frame(
        lang,
        "",
        "",
        context! { b => item, follow_ups, parent, former },
    );
    let html = s.render("message.html", ctx).map_err(|e| *e)?;
    Ok((html, modified))
}

/// "174 kB", "2.3 MB".
fn human_size(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{} kB", bytes.div_ceil(1000))
    }
}

/// The picture or document of the public broadcast with `code`, as kept (metadata removed at
/// upload); 404 when it has none or it is no longer kept.
async fn medium(
    State(s): State<Arc<ArchiveState>>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = page_lang(None, &headers);
    let Some(code) = parse_code(&code) else {
        return s.not_found(lang);
    };
    let store = s.broadcasts.store();
    let id = match store.archived(&code).await {
        Ok(Some(b)) => b.media_id,
        Ok(None) => None,
        Err(e) => return unavailable("an archived broadcast could not be read", &e),
    };
    let Some(id) = id else {
        return s.not_found(lang);
    };
    let (info, bytes) = match (store.media_info(id).await, store.media_bytes(id).await) {
        (Ok(Some(info)), Ok(Some(bytes))) => (info, bytes),
        (Ok(_), Ok(_)) => return s.not_found(lang),
        (Err(e), _) | (_, Err(e)) => return unavailable("a medium could not be read", &e),
    };
    // A medium never changes under its broadcast: a day in every cache.
    let mut h = public_headers(
        HeaderValue::from_str(&info.mime)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        "public, max-age=86400",
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    let ext = if info.mime == "application/pdf" {
        "pdf"
    } else {
        info.mime.rsplit('/').next().unwrap_or("bin")
    };
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{code}.{ext}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", &info.sha256)) {
        if headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|seen| seen.as_bytes() == v.as_bytes())
        {
            h.insert(header::ETAG, v);
            return (StatusCode::NOT_MODIFIED, h).into_response();
        }
        h.insert(header::ETAG, v);
    }
    (StatusCode::OK, h, bytes).into_response()
}

#[derive(Debug, Deserialize, Default)]
pub struct WallQuery {
    topic: Option<String>,
    n: Option<u32>,
    lang: Option<String>,
}

async fn wall(
    State(s): State<Arc<ArchiveState>>,
    Query(q): Query<WallQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = page_lang(q.lang.as_deref(), &headers);
    let n = q.n.unwrap_or(5).clamp(1, WALL_MAX);
    let topic = filter(&q.topic);
    let key = format!("wall|{lang}|{}|{n}", topic.unwrap_or(""));
    let make = async {
        let page = s
            .broadcasts
            .store()
            .archive_page(topic, None, None, n)
            .await
            .map_err(|e| unavailable("the wall could not be read", &e))?;
        let items = s.items(&page, lang).await;
        let modified = items.iter().map(|i| i.updated_at).max();
        let html = s
            .render("wall.html", context! { lang, items })
            .map_err(|e| *e)?;
        Ok((html, modified))
    };
    let frame = page_headers(Some(&s.settings.embed_origins));
    s.page(key, &headers, frame, make).await
}

#[derive(Debug, Deserialize, Default)]
pub struct CheckQuery {
    text: Option<String>,
    code: Option<String>,
    lang: Option<String>,
}

/// A check asked over HTTP: its text (or code), the client's limit, the verdict.
async fn checked(
    s: &ArchiveState,
    q: &CheckQuery,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
) -> Result<Option<Verdict>, (StatusCode, &'static str)> {
    let asked = q
        .code
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .or(q.text.as_deref())
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(asked) = asked else {
        return Ok(None);
    };
    if asked.chars().count() > CHECK_MAX_CHARS {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, "archive-check-too-long"));
    }
    let client = crate::http::client_address(
        &s.trusted_proxies,
        peer.map(|Extension(ConnectInfo(a))| a),
        headers,
    );
    if !s.check.allowed(&format!("ip:{client}")) {
        tracing::info!(client = %client, "checks over the limit refused (429)");
        return Err((StatusCode::TOO_MANY_REQUESTS, "archive-check-too-many"));
    }
    match s.check.check(Question::Text(asked)).await {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            tracing::warn!(error = %e, "a check could not be answered");
            Err((StatusCode::SERVICE_UNAVAILABLE, "archive-check-unavailable"))
        }
    }
}

/// The verdict in words.
fn verdict_text(texts: &Texts, lang: &str, verdict: &Verdict, time: &str) -> String {
    texts.get(
        lang,
        crate::services::check::verdict_key(verdict),
        &[("time", time.to_string().into())],
    )
}

async fn check_page(
    State(s): State<Arc<ArchiveState>>,
    Query(q): Query<CheckQuery>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let lang = page_lang(q.lang.as_deref(), &headers);
    let (status, verdict, answer, shown) = match checked(&s, &q, peer, &headers).await {
        Ok(None) => (StatusCode::OK, None, String::new(), None),
        Ok(Some(v)) => {
            let shown = v.broadcast().and_then(|b| s.item(b, lang));
            let time = shown.as_ref().map(|i| i.time.clone()).unwrap_or_default();
            let answer = verdict_text(&s.texts, lang, &v, &time);
            (StatusCode::OK, Some(v.as_str()), answer, shown)
        }
        Err((status, key)) => (status, Some("not_ours"), s.texts.get(lang, key, &[]), None),
    };
    let text = q.text.as_deref().unwrap_or("");
    let text: String = text.chars().take(CHECK_MAX_CHARS).collect();
    let ctx = s.frame(lang, "check", "", context! { verdict, answer, shown, text });
    match s.render("check.html", ctx) {
        Ok(html) => {
            let mut h = page_headers(None);
            // What someone pasted is theirs: never kept by a cache.
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            (status, h, html).into_response()
        }
        Err(e) => *e,
    }
}

async fn check_api(
    State(s): State<Arc<ArchiveState>>,
    Query(q): Query<CheckQuery>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    match checked(&s, &q, peer, &headers).await {
        Ok(None) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            no_store,
            Json(serde_json::json!({"error": "give text=… or code=…"})),
        )
            .into_response(),
        Ok(Some(v)) => {
            let lang = page_lang(q.lang.as_deref(), &headers);
            let shown = v.broadcast().and_then(|b| s.item(b, lang));
            (
                StatusCode::OK,
                no_store,
                Json(serde_json::json!({"verdict": v.as_str(), "broadcast": shown})),
            )
                .into_response()
        }
        Err((status, key)) => (
            status,
            no_store,
            Json(serde_json::json!({"error": s.texts.get("en", key, &[])})),
        )
            .into_response(),
    }
}

/// Percent-encodes a query value.
fn urlencode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// The archive's routes on the public listener.
pub fn router(state: Arc<ArchiveState>) -> Router {
    Router::new()
        .route("/archiv", get(list))
        .route("/archive", get(list))
        .route("/m/{code}", get(message))
        .route("/m/{code}/datei", get(medium))
        .route("/wall", get(wall))
        .route("/feed/{file}", get(feeds::feed))
        .route("/pruefen", get(check_page))
        .route("/check", get(check_page))
        .route("/api/v1/check", get(check_api))
        .route(
            "/archiv.css",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                        (header::CACHE_CONTROL, "public, max-age=3600"),
                    ],
                    STYLE,
                )
            }),
        )
        .with_state(state)
}
