//! A stand-in for the federal warning API (NINA): serves `dashboard/{ARS}.json`,
//! `warnings/{id}.json` and `warnings/{id}.geojson` from documents and geometries the demo or a
//! test publishes, changes their versions, withdraws them, and misbehaves on request (time-outs,
//! 5xx, broken JSON, documents too large to read) before it comes back. It serves CAP documents
//! and Atom feeds too, redirects on request, and remembers every path it was asked for.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{lock, serve};

/// How the simulated API misbehaves for the next requests.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiFault {
    /// 503 with an HTML body, as a gateway answers.
    ServerError,
    /// No answer for this long, then 504.
    Hang(Duration),
    /// 200 with half a JSON document.
    Truncated,
    /// 200 with a body of this many bytes (spaces), streamed in 64 KiB chunks without a length.
    Oversized(usize),
    /// 200 with a body that never ends, streamed until the client goes away.
    Endless,
}

/// What an oversized body is made of.
const CHUNK: usize = 64 * 1024;

#[derive(Default)]
struct Inner {
    /// By district: warning ids with their current version, in the order published.
    dashboards: HashMap<String, Vec<(String, i64)>>,
    documents: HashMap<String, Value>,
    /// GeoJSON by warning id, served at `warnings/{id}.geojson` (404 for the others).
    geometries: HashMap<String, Value>,
    /// Faults for geometry requests only.
    geometry_faults: VecDeque<ApiFault>,
    /// CAP XML documents by name, served at `/cap/{name}`.
    cap: HashMap<String, String>,
    /// Names under `/cap/` answered with a 302 to the URL given.
    redirects: HashMap<String, String>,
    /// Every path asked for, in order (whatever the answer).
    paths: Vec<String>,
    faults: VecDeque<ApiFault>,
    /// Faults for document requests only (the dashboard answers).
    document_faults: VecDeque<ApiFault>,
    /// When each id first appeared in a dashboard (since start).
    first_listed: HashMap<String, Duration>,
    requests: u64,
}

struct ApiState {
    started: Instant,
    inner: Mutex<Inner>,
}

/// A running simulated warning API.
#[derive(Clone)]
pub struct WarningApi {
    state: Arc<ApiState>,
    /// What `warnings.base_url` should be.
    pub url: String,
}

impl WarningApi {
    /// Starts on a free port of 127.0.0.1; stops with `shutdown`.
    pub async fn start(shutdown: CancellationToken) -> std::io::Result<WarningApi> {
        let state = Arc::new(ApiState {
            started: Instant::now(),
            inner: Mutex::new(Inner::default()),
        });
        let router = Router::new()
            .route("/api31/dashboard/{file}", get(dashboard))
            .route("/api31/warnings/{file}", get(warning))
            .route("/cap/{name}", get(cap_document))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                remember,
            ))
            .with_state(state.clone());
        let addr = serve(router, shutdown).await?;
        Ok(WarningApi {
            state,
            url: format!("http://{addr}/api31"),
        })
    }

    /// Lists `doc` (a `warnings/{id}.json` document) in the dashboard of `ars` as `version`,
    /// replacing an earlier version of the same id; serves it from now on.
    pub fn publish(&self, ars: &str, doc: Value, version: i64) {
        let id = doc
            .get("identifier")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let at = self.state.started.elapsed();
        let mut inner = lock(&self.state.inner);
        let list = inner.dashboards.entry(ars.to_string()).or_default();
        match list.iter_mut().find(|(i, _)| *i == id) {
            Some(entry) => entry.1 = version,
            None => list.push((id.clone(), version)),
        }
        inner.first_listed.entry(id.clone()).or_insert(at);
        inner.documents.insert(id, doc);
    }

    /// Serves `geometry` (GeoJSON: a FeatureCollection, a Feature or a geometry) as the area of
    /// warning `id`.
    pub fn publish_geometry(&self, id: &str, geometry: Value) {
        lock(&self.state.inner)
            .geometries
            .insert(id.to_string(), geometry);
    }

    /// The next `times` geometry requests show `fault`; the rest answers as usual.
    pub fn fail_geometries(&self, fault: ApiFault, times: usize) {
        let mut inner = lock(&self.state.inner);
        inner
            .geometry_faults
            .extend(std::iter::repeat_n(fault, times));
    }

    /// Serves `xml` at the returned URL (a CAP feed the city configured).
    pub fn serve_cap(&self, name: &str, xml: &str) -> String {
        lock(&self.state.inner)
            .cap
            .insert(name.to_string(), xml.to_string());
        format!("{}/cap/{name}", self.url.trim_end_matches("/api31"))
    }

    /// Answers `/cap/{name}` with a redirect to `to`; the returned URL.
    pub fn redirect_cap(&self, name: &str, to: &str) -> String {
        lock(&self.state.inner)
            .redirects
            .insert(name.to_string(), to.to_string());
        format!("{}/cap/{name}", self.url.trim_end_matches("/api31"))
    }

    /// Every path asked for so far, in order.
    pub fn paths(&self) -> Vec<String> {
        lock(&self.state.inner).paths.clone()
    }

    /// Takes warning `id` off the dashboard of `ars` (it ended).
    pub fn withdraw(&self, ars: &str, id: &str) {
        let mut inner = lock(&self.state.inner);
        if let Some(list) = inner.dashboards.get_mut(ars) {
            list.retain(|(i, _)| i != id);
        }
    }

    /// The next `times` requests show `fault`, then the API answers as usual again.
    pub fn fail(&self, fault: ApiFault, times: usize) {
        let mut inner = lock(&self.state.inner);
        inner.faults.extend(std::iter::repeat_n(fault, times));
    }

    /// The next `times` document requests show `fault`; dashboards answer as usual.
    pub fn fail_documents(&self, fault: ApiFault, times: usize) {
        let mut inner = lock(&self.state.inner);
        inner
            .document_faults
            .extend(std::iter::repeat_n(fault, times));
    }

    /// Requests answered (or refused) so far.
    pub fn requests(&self) -> u64 {
        lock(&self.state.inner).requests
    }

    /// When warning `id` first appeared in a dashboard, since the API started.
    pub fn first_listed(&self, id: &str) -> Option<Duration> {
        lock(&self.state.inner).first_listed.get(id).copied()
    }

    /// Time since the API started (the clock of `first_listed`).
    pub fn elapsed(&self) -> Duration {
        self.state.started.elapsed()
    }
}

/// Takes the next fault, counting the request.
fn next_fault(state: &ApiState, document: bool) -> Option<ApiFault> {
    let mut inner = lock(&state.inner);
    inner.requests += 1;
    match inner.faults.pop_front() {
        Some(f) => Some(f),
        None if document => inner.document_faults.pop_front(),
        None => None,
    }
}

async fn misbehave(fault: ApiFault, body: String) -> Response {
    match fault {
        ApiFault::ServerError => (
            StatusCode::SERVICE_UNAVAILABLE,
            "<html><body>503 Service Temporarily Unavailable</body></html>",
        )
            .into_response(),
        ApiFault::Hang(d) => {
            tokio::time::sleep(d).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        ApiFault::Truncated => {
            let half: String = body.chars().take(body.chars().count() / 2).collect();
            (StatusCode::OK, half).into_response()
        }
        ApiFault::Oversized(bytes) => {
            let chunks = (0..bytes.div_ceil(CHUNK)).map(move |i| {
                let n = CHUNK.min(bytes - i * CHUNK);
                Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b' '; n]))
            });
            streamed(axum::body::Body::from_stream(futures_util::stream::iter(
                chunks,
            )))
        }
        ApiFault::Endless => streamed(axum::body::Body::from_stream(
            futures_util::stream::repeat_with(|| {
                Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b' '; CHUNK]))
            }),
        )),
    }
}

fn streamed(body: axum::body::Body) -> Response {
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Notes the path of every request, before it is answered.
async fn remember(
    State(state): State<Arc<ApiState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    lock(&state.inner)
        .paths
        .push(request.uri().path().to_string());
    next.run(request).await
}

fn json_body(body: String) -> Response {
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn dashboard(State(state): State<Arc<ApiState>>, Path(file): Path<String>) -> Response {
    let fault = next_fault(&state, false);
    let Some(ars) = file.strip_suffix(".json") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let body = {
        let inner = lock(&state.inner);
        let entries: Vec<Value> = inner
            .dashboards
            .get(ars)
            .map(|list| {
                list.iter()
                    .filter_map(|(id, version)| {
                        inner.documents.get(id).map(|d| entry(id, *version, d))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Value::from(entries).to_string()
    };
    match fault {
        Some(f) => misbehave(f, body).await,
        None => json_body(body),
    }
}

async fn warning(State(state): State<Arc<ApiState>>, Path(file): Path<String>) -> Response {
    if let Some(id) = file.strip_suffix(".geojson") {
        return geometry(&state, id).await;
    }
    let fault = next_fault(&state, true);
    let id = file.strip_suffix(".json").unwrap_or(&file);
    let Some(body) = lock(&state.inner).documents.get(id).map(Value::to_string) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match fault {
        Some(f) => misbehave(f, body).await,
        None => json_body(body),
    }
}

async fn geometry(state: &ApiState, id: &str) -> Response {
    let (fault, body) = {
        let mut inner = lock(&state.inner);
        inner.requests += 1;
        let fault = match inner.faults.pop_front() {
            Some(f) => Some(f),
            None => inner.geometry_faults.pop_front(),
        };
        (fault, inner.geometries.get(id).map(Value::to_string))
    };
    match (fault, body) {
        (Some(f), body) => misbehave(f, body.unwrap_or_default()).await,
        (None, Some(body)) => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/geo+json")],
            body,
        )
            .into_response(),
        (None, None) => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn cap_document(State(state): State<Arc<ApiState>>, Path(name): Path<String>) -> Response {
    let fault = next_fault(&state, true);
    if let Some(to) = lock(&state.inner).redirects.get(&name).cloned() {
        return (StatusCode::FOUND, [(axum::http::header::LOCATION, to)]).into_response();
    }
    let Some(body) = lock(&state.inner).cap.get(&name).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match fault {
        Some(f) => misbehave(f, body).await,
        None => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/xml")],
            body,
        )
            .into_response(),
    }
}

/// A dashboard entry in the API's shape (see tests/fixtures/nina/dashboard_ars.json).
fn entry(id: &str, version: i64, doc: &Value) -> Value {
    let info = doc.pointer("/info/0").cloned().unwrap_or(Value::Null);
    let provider = match id.split('.').next().unwrap_or_default() {
        "dwd" => "DWD",
        "kat" => "KATWARN",
        "biw" => "BIWAPP",
        "lhp" => "LHP",
        "pol" => "POLICE",
        _ => "MOWAS",
    };
    json!({
        "id": id,
        "payload": {
            "version": version,
            "type": "ALERT",
            "id": id,
            "data": {
                "headline": info.get("headline"),
                "provider": provider,
                "severity": info.get("severity"),
                "msgType": doc.get("msgType"),
            }
        },
        "i18nTitle": { "de": info.get("headline") },
        "sent": doc.get("sent"),
        "expires": info.get("expires"),
    })
}
