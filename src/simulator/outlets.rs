//! Stand-ins for the outlets' platforms: a Mastodon instance (`/api/v1/statuses`,
//! `/api/v2/instance`) answering with the real Status entity and errors
//! (tests/fixtures/outlets), and a website receiving signed webhooks. Each checks what the
//! real one checks (bearer token, idempotency key, length limit, signature), records what
//! arrived, and answers 429 with the platform's headers on demand.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{lock, serve};

const STATUS_ENTITY: &str =
    include_str!("../../tests/fixtures/outlets/mastodon_status_entity.json");
const ERROR_401: &str =
    include_str!("../../tests/fixtures/outlets/mastodon_error_401_invalid_token.json");
const ERROR_422_BLANK: &str =
    include_str!("../../tests/fixtures/outlets/mastodon_error_422_text_blank.json");

/// One status on the simulated Mastodon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeStatus {
    pub id: String,
    pub text: String,
    pub in_reply_to_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// Each text it had before an edit, oldest first.
    pub edits: Vec<String>,
}

#[derive(Default)]
struct MastodonInner {
    statuses: Vec<FakeStatus>,
    /// `POST /api/v1/statuses` requests, whatever the answer.
    posts: u64,
    /// When each status was made, in the order of `statuses`.
    made_at: Vec<std::time::Instant>,
    /// Requests without the right bearer token, or a post without an idempotency key.
    violations: Vec<String>,
    /// How many of the next write requests answer 429 (with the reset this far ahead).
    throttle: VecDeque<Duration>,
    /// After making a status, wait for `release` before answering (a crash comes between).
    stall_after_create: bool,
}

struct MastodonState {
    token: String,
    limit: usize,
    inner: Mutex<MastodonInner>,
    release: Notify,
}

/// A running simulated Mastodon instance.
#[derive(Clone)]
pub struct FakeMastodon {
    state: Arc<MastodonState>,
    /// The instance's base URL (`[[outlets]] url`).
    pub url: String,
}

impl FakeMastodon {
    /// Starts on a free port; posts need `Authorization: Bearer {token}`; `limit` is the
    /// instance's character limit.
    pub async fn start(
        token: &str,
        limit: usize,
        shutdown: CancellationToken,
    ) -> std::io::Result<FakeMastodon> {
        let state = Arc::new(MastodonState {
            token: token.to_string(),
            limit,
            inner: Mutex::new(MastodonInner::default()),
            release: Notify::new(),
        });
        let router = Router::new()
            .route("/api/v2/instance", get(instance))
            .route(
                "/api/v1/accounts/verify_credentials",
                get(verify_credentials),
            )
            .route("/api/v1/statuses", post(create_status))
            .route("/api/v1/statuses/{id}", put(edit_status))
            .with_state(state.clone());
        let addr = serve(router, shutdown).await?;
        Ok(FakeMastodon {
            state,
            url: format!("http://{addr}"),
        })
    }

    pub fn statuses(&self) -> Vec<FakeStatus> {
        lock(&self.state.inner).statuses.clone()
    }

    /// When each status was made (a retry with a known key makes none).
    pub fn made_at(&self) -> Vec<std::time::Instant> {
        lock(&self.state.inner).made_at.clone()
    }

    /// Every `POST /api/v1/statuses`, whatever the answer.
    pub fn posts(&self) -> u64 {
        lock(&self.state.inner).posts
    }

    pub fn violations(&self) -> Vec<String> {
        lock(&self.state.inner).violations.clone()
    }

    /// The next `times` writes answer 429 with `X-RateLimit-Reset` `reset` ahead.
    pub fn throttle(&self, reset: Duration, times: usize) {
        let mut inner = lock(&self.state.inner);
        inner.throttle.extend(std::iter::repeat_n(reset, times));
    }

    /// From now on, a new status is made and then the answer waits for `release_answers`.
    pub fn stall_after_create(&self, stall: bool) {
        lock(&self.state.inner).stall_after_create = stall;
        if !stall {
            self.state.release.notify_waiters();
        }
    }
}

fn json_response(status: StatusCode, body: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn authorised(state: &MastodonState, headers: &HeaderMap, what: &str) -> bool {
    let expected = format!("Bearer {}", state.token);
    let ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected);
    if !ok {
        lock(&state.inner)
            .violations
            .push(format!("{what}: no or a wrong bearer token"));
    }
    ok
}

fn throttled(state: &MastodonState) -> Option<Response> {
    let reset = lock(&state.inner).throttle.pop_front()?;
    let at = chrono::Utc::now() + chrono::Duration::from_std(reset).unwrap_or_default();
    let mut r = json_response(
        StatusCode::TOO_MANY_REQUESTS,
        r#"{"error":"Too many requests"}"#,
    );
    let h = r.headers_mut();
    h.insert("x-ratelimit-limit", "300".parse().ok()?);
    h.insert("x-ratelimit-remaining", "0".parse().ok()?);
    h.insert(
        "x-ratelimit-reset",
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .parse()
            .ok()?,
    );
    Some(r)
}

async fn instance(State(state): State<Arc<MastodonState>>) -> Response {
    axum::Json(json!({
        "domain": "mastodon.example",
        "title": "Simulated",
        "configuration": {
            "urls": {},
            "statuses": {
                "max_characters": state.limit,
                "max_media_attachments": 4,
                "characters_reserved_per_url": crate::outlets::text::MASTODON_URL_WEIGHT
            }
        }
    }))
    .into_response()
}

async fn verify_credentials(
    State(state): State<Arc<MastodonState>>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&state, &headers, "verify_credentials") {
        return json_response(StatusCode::UNAUTHORIZED, ERROR_401);
    }
    let entity: Value = serde_json::from_str(STATUS_ENTITY).unwrap_or_default();
    axum::Json(entity["account"].clone()).into_response()
}

/// The Status entity of `s`, on the fixture's.
fn entity(s: &FakeStatus) -> Value {
    let mut e: Value = serde_json::from_str(STATUS_ENTITY).unwrap_or_default();
    e["id"] = s.id.clone().into();
    e["content"] = format!("<p>{}</p>", s.text).into();
    e["in_reply_to_id"] = s.in_reply_to_id.clone().into();
    e["url"] = format!("https://mastodon.example/@stadt/{}", s.id).into();
    e["uri"] = format!("https://mastodon.example/users/stadt/statuses/{}", s.id).into();
    e["edited_at"] = if s.edits.is_empty() {
        Value::Null
    } else {
        chrono::Utc::now().to_rfc3339().into()
    };
    e
}

fn text_of(body: &Bytes) -> Option<(String, Option<String>)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let text = v.get("status")?.as_str()?.to_string();
    let reply = v
        .get("in_reply_to_id")
        .and_then(|r| r.as_str())
        .map(str::to_string);
    Some((text, reply))
}

fn over_limit(state: &MastodonState, text: &str) -> Option<Response> {
    if text.trim().is_empty() {
        return Some(json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            ERROR_422_BLANK,
        ));
    }
    (crate::outlets::text::mastodon_length(text) > state.limit).then(|| {
        json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({ "error": format!("Validation failed: Text character limit of {} exceeded", state.limit) })
                .to_string(),
        )
    })
}

async fn create_status(
    State(state): State<Arc<MastodonState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    lock(&state.inner).posts += 1;
    if !authorised(&state, &headers, "POST /api/v1/statuses") {
        return json_response(StatusCode::UNAUTHORIZED, ERROR_401);
    }
    if let Some(r) = throttled(&state) {
        return r;
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some((text, reply)) = text_of(&body) else {
        return json_response(StatusCode::UNPROCESSABLE_ENTITY, ERROR_422_BLANK);
    };
    if let Some(r) = over_limit(&state, &text) {
        return r;
    }
    let (status, stall) = {
        let mut inner = lock(&state.inner);
        if key.is_none() {
            inner
                .violations
                .push("POST /api/v1/statuses without Idempotency-Key".into());
        }
        // The same key within the hour: the status made before, nothing new.
        let known = key.as_ref().and_then(|k| {
            inner
                .statuses
                .iter()
                .find(|s| s.idempotency_key.as_ref() == Some(k))
                .cloned()
        });
        let status = match known {
            Some(s) => s,
            None => {
                let s = FakeStatus {
                    id: format!("1{:017}", inner.statuses.len() + 1),
                    text,
                    in_reply_to_id: reply,
                    idempotency_key: key,
                    edits: Vec::new(),
                };
                inner.statuses.push(s.clone());
                inner.made_at.push(std::time::Instant::now());
                s
            }
        };
        (status, inner.stall_after_create)
    };
    if stall {
        let released = state.release.notified();
        let _ = tokio::time::timeout(Duration::from_secs(3600), released).await;
    }
    axum::Json(entity(&status)).into_response()
}

async fn edit_status(
    State(state): State<Arc<MastodonState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorised(&state, &headers, "PUT /api/v1/statuses/{id}") {
        return json_response(StatusCode::UNAUTHORIZED, ERROR_401);
    }
    if let Some(r) = throttled(&state) {
        return r;
    }
    let Some((text, _)) = text_of(&body) else {
        return json_response(StatusCode::UNPROCESSABLE_ENTITY, ERROR_422_BLANK);
    };
    if let Some(r) = over_limit(&state, &text) {
        return r;
    }
    let mut inner = lock(&state.inner);
    let Some(s) = inner.statuses.iter_mut().find(|s| s.id == id) else {
        return json_response(StatusCode::NOT_FOUND, r#"{"error":"Record not found"}"#);
    };
    if s.text != text {
        let before = std::mem::replace(&mut s.text, text);
        s.edits.push(before);
    }
    axum::Json(entity(s)).into_response()
}

/// One webhook delivery the simulated website took.
#[derive(Debug, Clone)]
pub struct Hook {
    pub delivery: String,
    pub body: Value,
    /// Whether `X-Amtsbote-Signature` matched the raw body.
    pub signed: bool,
}

#[derive(Default)]
struct HookInner {
    hooks: Vec<Hook>,
    /// How many of the next requests answer 503.
    failing: usize,
}

struct HookState {
    secret: String,
    inner: Mutex<HookInner>,
}

/// A running simulated website taking the webhook.
#[derive(Clone)]
pub struct FakeWebsite {
    state: Arc<HookState>,
    /// Where to post (`[[outlets]] url`).
    pub url: String,
}

impl FakeWebsite {
    pub async fn start(secret: &str, shutdown: CancellationToken) -> std::io::Result<FakeWebsite> {
        let state = Arc::new(HookState {
            secret: secret.to_string(),
            inner: Mutex::new(HookInner::default()),
        });
        let router = Router::new()
            .route("/hooks/amtsbote", post(take_hook))
            .with_state(state.clone());
        let addr = serve(router, shutdown).await?;
        Ok(FakeWebsite {
            state,
            url: format!("http://{addr}/hooks/amtsbote"),
        })
    }

    /// Every delivery taken (a retry that failed before is in here once it succeeded).
    pub fn hooks(&self) -> Vec<Hook> {
        lock(&self.state.inner).hooks.clone()
    }

    /// The next `times` requests answer 503.
    pub fn fail(&self, times: usize) {
        lock(&self.state.inner).failing = times;
    }

    /// Deliveries by id: how many times each arrived.
    pub fn arrivals(&self) -> HashMap<String, usize> {
        let mut n = HashMap::new();
        for h in self.hooks() {
            *n.entry(h.delivery).or_default() += 1;
        }
        n
    }
}

async fn take_hook(
    State(state): State<Arc<HookState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut inner = lock(&state.inner);
    if inner.failing > 0 {
        inner.failing -= 1;
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let signed = crate::outlets::webhook::verify(
        state.secret.as_bytes(),
        &body,
        &header(crate::outlets::webhook::SIGNATURE_HEADER),
    );
    inner.hooks.push(Hook {
        delivery: header(crate::outlets::webhook::DELIVERY_HEADER),
        body: serde_json::from_slice(&body).unwrap_or_default(),
        signed,
    });
    if signed {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

const CREATE_RECORD: &str =
    include_str!("../../tests/fixtures/outlets/bluesky_createRecord_response.json");

/// One post on the simulated Bluesky.
#[derive(Debug, Clone)]
pub struct FakePost {
    pub uri: String,
    pub cid: String,
    /// The record as it arrived.
    pub record: Value,
}

impl FakePost {
    pub fn text(&self) -> &str {
        self.record["text"].as_str().unwrap_or_default()
    }

    /// The uri of the post it answers.
    pub fn reply_to(&self) -> Option<&str> {
        self.record["reply"]["parent"]["uri"].as_str()
    }
}

#[derive(Default)]
struct BlueskyInner {
    posts: Vec<FakePost>,
    /// Every `createRecord` request, whatever the answer.
    creates: u64,
    /// `createSession` calls (the real one allows a few dozen a day).
    sessions: u64,
    refreshes: u64,
    /// Access tokens given out and still valid, with their refresh tokens.
    access: Vec<String>,
    refresh: Vec<String>,
    violations: Vec<String>,
    throttle: VecDeque<Duration>,
    stall_after_create: bool,
}

struct BlueskyState {
    handle: String,
    password: String,
    did: String,
    inner: Mutex<BlueskyInner>,
    release: Notify,
}

/// A running simulated Bluesky PDS (`/xrpc/…`).
#[derive(Clone)]
pub struct FakeBluesky {
    state: Arc<BlueskyState>,
    /// The PDS's base URL (`[[outlets]] url`).
    pub url: String,
}

impl FakeBluesky {
    /// Starts on a free port; `handle` signs in with `password` (an app password).
    pub async fn start(
        handle: &str,
        password: &str,
        shutdown: CancellationToken,
    ) -> std::io::Result<FakeBluesky> {
        let fixture: Value = serde_json::from_str(CREATE_RECORD).unwrap_or_default();
        let did = fixture["uri"]
            .as_str()
            .and_then(|u| u.strip_prefix("at://"))
            .and_then(|u| u.split('/').next())
            .unwrap_or("did:plc:u5cwb2mwiv2bfq53cjufe6yn")
            .to_string();
        let state = Arc::new(BlueskyState {
            handle: handle.to_string(),
            password: password.to_string(),
            did,
            inner: Mutex::new(BlueskyInner::default()),
            release: Notify::new(),
        });
        let router = Router::new()
            .route(
                "/xrpc/com.atproto.server.createSession",
                post(create_session),
            )
            .route(
                "/xrpc/com.atproto.server.refreshSession",
                post(refresh_session),
            )
            .route("/xrpc/com.atproto.repo.createRecord", post(create_record))
            .with_state(state.clone());
        let addr = serve(router, shutdown).await?;
        Ok(FakeBluesky {
            state,
            url: format!("http://{addr}"),
        })
    }

    pub fn posts(&self) -> Vec<FakePost> {
        lock(&self.state.inner).posts.clone()
    }

    pub fn creates(&self) -> u64 {
        lock(&self.state.inner).creates
    }

    pub fn sessions(&self) -> u64 {
        lock(&self.state.inner).sessions
    }

    pub fn refreshes(&self) -> u64 {
        lock(&self.state.inner).refreshes
    }

    pub fn violations(&self) -> Vec<String> {
        lock(&self.state.inner).violations.clone()
    }

    /// Every access token given out so far expires (the next call gets `ExpiredToken`).
    pub fn expire_access_tokens(&self) {
        lock(&self.state.inner).access.clear();
    }

    /// The next `times` `createRecord` calls answer 429 with `RateLimit-Reset` `reset` ahead.
    pub fn throttle(&self, reset: Duration, times: usize) {
        lock(&self.state.inner)
            .throttle
            .extend(std::iter::repeat_n(reset, times));
    }

    /// From now on, a record is made and then the answer waits until this is turned off.
    pub fn stall_after_create(&self, stall: bool) {
        lock(&self.state.inner).stall_after_create = stall;
        if !stall {
            self.state.release.notify_waiters();
        }
    }
}

fn xrpc_error(status: StatusCode, error: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "message": message })),
    )
        .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
}

fn session_body(state: &BlueskyState, inner: &mut BlueskyInner) -> Value {
    let n = inner.sessions + inner.refreshes;
    let (access, refresh) = (format!("access-{n}"), format!("refresh-{n}"));
    inner.access.push(access.clone());
    inner.refresh.push(refresh.clone());
    json!({
        "accessJwt": access,
        "refreshJwt": refresh,
        "handle": state.handle,
        "did": state.did,
        "active": true,
    })
}

async fn create_session(State(state): State<Arc<BlueskyState>>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    if v["identifier"] != state.handle.as_str() || v["password"] != state.password.as_str() {
        return xrpc_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationRequired",
            "Invalid identifier or password",
        );
    }
    let mut inner = lock(&state.inner);
    inner.sessions += 1;
    let body = session_body(&state, &mut inner);
    axum::Json(body).into_response()
}

async fn refresh_session(State(state): State<Arc<BlueskyState>>, headers: HeaderMap) -> Response {
    let mut inner = lock(&state.inner);
    let Some(token) = bearer(&headers).filter(|t| inner.refresh.contains(t)) else {
        return xrpc_error(StatusCode::BAD_REQUEST, "ExpiredToken", "Token has expired");
    };
    inner.refresh.retain(|t| t != &token);
    inner.refreshes += 1;
    let body = session_body(&state, &mut inner);
    axum::Json(body).into_response()
}

/// What is wrong with a post record, as the PDS's lexicon check says it.
fn invalid_record(record: &Value) -> Option<String> {
    use unicode_segmentation::UnicodeSegmentation;
    if record["$type"] != "app.bsky.feed.post" {
        return Some(
            "Invalid app.bsky.feed.post record: Record/$type must be app.bsky.feed.post".into(),
        );
    }
    let text = record["text"].as_str()?;
    if text.graphemes(true).count() > crate::outlets::text::BLUESKY_LIMIT {
        return Some(
            "Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes"
                .into(),
        );
    }
    if text.len() > 3000 {
        return Some("Invalid app.bsky.feed.post record: Record/text must not be longer than 3000 characters".into());
    }
    if record["createdAt"].as_str().is_none() {
        return Some(
            "Invalid app.bsky.feed.post record: Record must have the property \"createdAt\"".into(),
        );
    }
    None
}

/// Facets whose byte range is not the link they name (what a client renders wrongly).
fn facet_errors(record: &Value) -> Vec<String> {
    let text = record["text"].as_str().unwrap_or_default().as_bytes();
    let mut errors = Vec::new();
    for facet in record["facets"].as_array().into_iter().flatten() {
        let (start, end) = (
            facet["index"]["byteStart"].as_u64().unwrap_or(u64::MAX) as usize,
            facet["index"]["byteEnd"].as_u64().unwrap_or(0) as usize,
        );
        for feature in facet["features"].as_array().into_iter().flatten() {
            if feature["$type"] != "app.bsky.richtext.facet#link" {
                continue;
            }
            let uri = feature["uri"].as_str().unwrap_or_default().as_bytes();
            if start > end || end > text.len() || &text[start..end] != uri {
                errors.push(format!("facet {start}..{end} is not its link"));
            }
        }
    }
    errors
}

async fn create_record(
    State(state): State<Arc<BlueskyState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (uri, cid, stall) = {
        let mut inner = lock(&state.inner);
        inner.creates += 1;
        let Some(token) = bearer(&headers) else {
            inner
                .violations
                .push("createRecord without a bearer token".into());
            return xrpc_error(
                StatusCode::UNAUTHORIZED,
                "AuthenticationRequired",
                "Authentication Required",
            );
        };
        if !inner.access.contains(&token) {
            return xrpc_error(StatusCode::BAD_REQUEST, "ExpiredToken", "Token has expired");
        }
        if let Some(reset) = inner.throttle.pop_front() {
            let at = chrono::Utc::now().timestamp() + reset.as_secs().max(1) as i64;
            let mut r = xrpc_error(
                StatusCode::TOO_MANY_REQUESTS,
                "RateLimitExceeded",
                "Rate Limit Exceeded",
            );
            let h = r.headers_mut();
            for (name, value) in [
                ("ratelimit-limit", "5000".to_string()),
                ("ratelimit-remaining", "0".to_string()),
                ("ratelimit-reset", at.to_string()),
                ("ratelimit-policy", "5000;w=3600".to_string()),
            ] {
                if let Ok(v) = value.parse() {
                    h.insert(name, v);
                }
            }
            return r;
        }
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        if v["repo"] != state.did.as_str() {
            inner
                .violations
                .push(format!("createRecord for repo {}", v["repo"]));
        }
        if v["collection"] != "app.bsky.feed.post" {
            return xrpc_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "Unsupported collection",
            );
        }
        let record = v["record"].clone();
        if let Some(why) = invalid_record(&record) {
            return xrpc_error(StatusCode::BAD_REQUEST, "InvalidRequest", &why);
        }
        let facets = facet_errors(&record);
        inner.violations.extend(facets);
        let n = inner.posts.len() + 1;
        let uri = format!("at://{}/app.bsky.feed.post/3k4duaz{n:06}", state.did);
        let cid = format!("bafyreisim{n:06}");
        inner.posts.push(FakePost {
            uri: uri.clone(),
            cid: cid.clone(),
            record,
        });
        (uri, cid, inner.stall_after_create)
    };
    if stall {
        let released = state.release.notified();
        let _ = tokio::time::timeout(Duration::from_secs(3600), released).await;
    }
    axum::Json(json!({ "uri": uri, "cid": cid })).into_response()
}
