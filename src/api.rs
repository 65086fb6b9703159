//! The HTTP API for the city's CMS (`/api/v1`): create, confirm, cancel and follow broadcasts,
//! subscriber counts, and the OpenAPI document generated from these handlers. Bearer tokens carry
//! roles: a press token may announce, an emergency token may also alert. The CMS request is the
//! confirmation: a broadcast is released at once (or at `scheduled_at`) unless it is a draft.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::TopicConfig;
use crate::domain::{
    BroadcastKind, BroadcastStatus, BroadcastText, ChannelKind, DeliveryStatus, Priority, Role,
};
use crate::queue::Signals;
use crate::store::{Broadcast, NewBroadcast, RecipientCount, Store, StoreError};

/// A bearer token and what it may do.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub name: String,
    pub token: SecretString,
    pub role: Role,
}

pub struct ApiState {
    pub store: Arc<dyn Store>,
    pub signals: Option<Arc<Signals>>,
    pub topics: Vec<TopicConfig>,
    pub tokens: Vec<ApiToken>,
    pub tz: chrono_tz::Tz,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Amtsbote API", description = "Broadcasts for the city's CMS"),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The API's routes and their OpenAPI document, from the same declarations.
pub fn router(state: Arc<ApiState>) -> axum::Router {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(create_broadcast, list_broadcasts))
        .routes(routes!(get_broadcast))
        .routes(routes!(confirm_broadcast))
        .routes(routes!(cancel_broadcast))
        .routes(routes!(stats))
        .with_state(state)
        .split_for_parts();
    let doc = Arc::new(doc);
    router.route(
        "/api/v1/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { Json((*doc).clone()) }
        }),
    )
}

/// An error as the API answers it: `{"error": "…", "field": "…"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

/// An answer other than success, before it becomes a response.
pub struct Refusal(StatusCode, ApiError);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

fn refuse(status: StatusCode, error: impl Into<String>, field: Option<&str>) -> Refusal {
    let error = error.into();
    tracing::info!(status = status.as_u16(), error = %error, field, "API request refused");
    Refusal(
        status,
        ApiError {
            error,
            field: field.map(str::to_string),
        },
    )
}

fn fail(status: StatusCode, error: impl Into<String>, field: Option<&str>) -> Response {
    refuse(status, error, field).into_response()
}

fn store_failed(e: StoreError) -> Response {
    tracing::error!(error = %e, "API request failed in the store");
    fail(
        StatusCode::SERVICE_UNAVAILABLE,
        "the database is not available; try again",
        None,
    )
}

/// Writes a staff action of this token to the audit log; the 503 to answer if it cannot.
async fn audit(
    state: &ApiState,
    token: &ApiToken,
    action: &str,
    detail: &str,
) -> Result<(), Response> {
    state
        .store
        .audit(&format!("api:{}", token.name), action, detail)
        .await
        .map_err(store_failed)
}

/// The token's owner, or the 401 to answer.
fn authorize(state: &ApiState, headers: &HeaderMap) -> Result<ApiToken, Refusal> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(given) = given else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "missing bearer token",
            None,
        ));
    };
    // Every token is compared, in constant time, so timing tells nothing about which matched.
    let mut found = None;
    for t in &state.tokens {
        if bool::from(t.token.expose_secret().as_bytes().ct_eq(given.as_bytes())) {
            found = Some(t.clone());
        }
    }
    found.ok_or_else(|| {
        tracing::warn!("API request with an unknown token");
        refuse(StatusCode::UNAUTHORIZED, "unknown bearer token", None)
    })
}

/// What the CMS sends.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastRequest {
    topic: Option<String>,
    text: Option<String>,
    /// alert, urgent, normal or low; default: the topic's.
    priority: Option<String>,
    /// announcement, alert, update or allclear.
    kind: Option<String>,
    /// RFC 3339; a time without offset is city time.
    scheduled_at: Option<String>,
    /// true: wait for POST /api/v1/broadcasts/{id}/confirm.
    draft: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Recipients {
    telegram: u64,
    whatsapp: u64,
    total: u64,
}

impl From<&RecipientCount> for Recipients {
    fn from(r: &RecipientCount) -> Self {
        Recipients {
            telegram: r.telegram,
            whatsapp: r.whatsapp,
            total: r.total(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BroadcastCreated {
    id: i64,
    status: String,
    topic: String,
    priority: String,
    recipients: Recipients,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BroadcastView {
    id: i64,
    status: String,
    kind: String,
    topic: String,
    priority: String,
    scheduled_at: Option<String>,
    /// Deliveries per channel and status.
    #[schema(value_type = Object)]
    deliveries: serde_json::Value,
}

fn view(b: &Broadcast, counts: serde_json::Value) -> BroadcastView {
    BroadcastView {
        id: b.id,
        status: b.status.as_str().into(),
        kind: b.kind.as_str().into(),
        topic: b.topic.clone(),
        priority: b.priority.as_str().into(),
        scheduled_at: b
            .scheduled_at
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339()),
        deliveries: counts,
    }
}

/// Checks a request field by field; the error names the field.
fn validate(state: &ApiState, req: &BroadcastRequest) -> Result<(NewBroadcast, bool), Refusal> {
    let bad = |field: &str, e: String| refuse(StatusCode::UNPROCESSABLE_ENTITY, e, Some(field));
    let topic_id = req
        .topic
        .as_deref()
        .ok_or_else(|| bad("topic", "topic is required".into()))?;
    let topic = state
        .topics
        .iter()
        .find(|t| t.id.as_str() == topic_id)
        .ok_or_else(|| {
            let valid: Vec<&str> = state.topics.iter().map(|t| t.id.as_str()).collect();
            bad(
                "topic",
                format!("unknown topic '{topic_id}'; valid: {}", valid.join(", ")),
            )
        })?;
    let text = BroadcastText::parse(req.text.as_deref().unwrap_or_default())
        .map_err(|e| bad("text", e))?;
    let priority = match &req.priority {
        Some(p) => p.parse::<Priority>().map_err(|e| bad("priority", e))?,
        None => topic.priority,
    };
    let default_kind = if topic.id.as_str() == crate::conversation::ALERTS_TOPIC {
        BroadcastKind::Alert
    } else {
        BroadcastKind::Announcement
    };
    let kind = match &req.kind {
        Some(k) => k.parse::<BroadcastKind>().map_err(|e| bad("kind", e))?,
        None => default_kind,
    };
    let scheduled_at = match &req.scheduled_at {
        Some(t) => {
            let at =
                crate::schedule::parse_time(t, state.tz).map_err(|e| bad("scheduled_at", e))?;
            if at <= chrono::Utc::now() {
                return Err(bad("scheduled_at", format!("{t} has passed")));
            }
            Some(at.timestamp_millis())
        }
        None => None,
    };
    let is_alert = topic.id.as_str() == crate::conversation::ALERTS_TOPIC
        || priority == Priority::Alert
        || kind.is_alert();
    let new = NewBroadcast {
        topic: topic.id.clone(),
        kind,
        priority,
        text,
        idempotency_key: None,
        created_by: None,
        parent_id: None,
        release: !req.draft.unwrap_or(false),
        scheduled_at,
    };
    Ok((new, is_alert))
}

#[utoipa::path(post, path = "/api/v1/broadcasts", request_body = BroadcastRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retried request with the same key and body creates nothing new")),
    responses((status = 201, body = BroadcastCreated), (status = 200, body = BroadcastCreated, description = "the same key and body again"),
        (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
async fn create_broadcast(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = match authorize(&state, &headers) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let req: BroadcastRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                StatusCode::BAD_REQUEST,
                format!("unreadable body: {e}"),
                None,
            );
        }
    };
    let (mut new, is_alert) = match validate(&state, &req) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    if is_alert && !token.role.may_alert() {
        return fail(
            StatusCode::FORBIDDEN,
            "this token may not send alerts",
            None,
        );
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    // Keys are per token, so two systems cannot collide.
    new.idempotency_key = key.map(|k| format!("api:{}:{k}", token.name));
    new.created_by = Some(format!("api:{}", token.name));
    let recipients = match state.store.recipient_count(&new.topic).await {
        Ok(r) => r,
        Err(e) => return store_failed(e),
    };
    let created = match state.store.create_broadcast(&new).await {
        Ok(c) => c,
        Err(StoreError::IdempotencyConflict) => {
            return fail(
                StatusCode::UNPROCESSABLE_ENTITY,
                "this Idempotency-Key was used for a different request",
                Some("Idempotency-Key"),
            );
        }
        Err(e) => return store_failed(e),
    };
    if created.created {
        if created.broadcast.status == BroadcastStatus::Released
            && let Some(s) = &state.signals
        {
            s.released_broadcast(&created.broadcast);
        }
        let detail = format!(
            "broadcast {}: {} on {}",
            created.broadcast.id,
            new.kind.as_str(),
            new.topic
        );
        if let Err(r) = audit(&state, &token, "api-create", &detail).await {
            return r;
        }
    }
    let b = &created.broadcast;
    let answer = BroadcastCreated {
        id: b.id,
        status: b.status.as_str().into(),
        topic: b.topic.clone(),
        priority: b.priority.as_str().into(),
        recipients: Recipients::from(&recipients),
    };
    let status = if created.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(answer)).into_response()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ListQuery {
    /// draft, scheduled, released, sending, done, cancelled or missed
    status: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/broadcasts", params(ListQuery),
    responses((status = 200, body = [BroadcastView]), (status = 401, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
async fn list_broadcasts(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r.into_response();
    }
    let wanted = match q
        .status
        .as_deref()
        .map(str::parse::<BroadcastStatus>)
        .transpose()
    {
        Ok(w) => w,
        Err(e) => return fail(StatusCode::UNPROCESSABLE_ENTITY, e, Some("status")),
    };
    let list = match state.store.list_broadcasts(100).await {
        Ok(l) => l,
        Err(e) => return store_failed(e),
    };
    let mut out = Vec::new();
    for b in list.iter().filter(|b| wanted.is_none_or(|w| b.status == w)) {
        match state.store.broadcast_stats(b.id).await {
            Ok(s) => out.push(view(b, json!(s.counts))),
            Err(e) => return store_failed(e),
        }
    }
    Json(out).into_response()
}

#[utoipa::path(get, path = "/api/v1/broadcasts/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = BroadcastView), (status = 401, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
async fn get_broadcast(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r.into_response();
    }
    match state.store.broadcast(id).await {
        Ok(Some(b)) => match state.store.broadcast_stats(id).await {
            Ok(s) => {
                let mut counts = serde_json::Map::new();
                for c in ChannelKind::ALL {
                    let per: serde_json::Map<String, serde_json::Value> = DeliveryStatus::ALL
                        .iter()
                        .map(|st| (st.as_str().to_string(), json!(s.count(c, *st))))
                        .collect();
                    counts.insert(c.as_str().into(), per.into());
                }
                Json(view(&b, counts.into())).into_response()
            }
            Err(e) => store_failed(e),
        },
        Ok(None) => fail(
            StatusCode::NOT_FOUND,
            format!("broadcast {id} does not exist"),
            None,
        ),
        Err(e) => store_failed(e),
    }
}

#[utoipa::path(post, path = "/api/v1/broadcasts/{id}/confirm", params(("id" = i64, Path)),
    responses((status = 200, body = BroadcastView), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError)),
    security(("bearer" = [])))]
async fn confirm_broadcast(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let token = match authorize(&state, &headers) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let b = match state.store.broadcast(id).await {
        Ok(Some(b)) => b,
        Ok(None) => {
            return fail(
                StatusCode::NOT_FOUND,
                format!("broadcast {id} does not exist"),
                None,
            );
        }
        Err(e) => return store_failed(e),
    };
    let is_alert = b.kind.is_alert()
        || b.priority == Priority::Alert
        || b.topic == crate::conversation::ALERTS_TOPIC;
    if is_alert && !token.role.may_alert() {
        return fail(
            StatusCode::FORBIDDEN,
            "this token may not send alerts",
            None,
        );
    }
    if b.status != BroadcastStatus::Draft {
        return fail(
            StatusCode::CONFLICT,
            format!("broadcast {id} is {}, not a draft", b.status.as_str()),
            None,
        );
    }
    match state.store.release_broadcast(id).await {
        Ok(b) => {
            if let Some(s) = &state.signals {
                s.released();
            }
            if let Err(r) = audit(&state, &token, "api-confirm", &format!("broadcast {id}")).await {
                return r;
            }
            Json(view(&b, json!({}))).into_response()
        }
        Err(StoreError::WrongStatus { status, .. }) => fail(
            StatusCode::CONFLICT,
            format!("broadcast {id} is {status}"),
            None,
        ),
        Err(e) => store_failed(e),
    }
}

#[utoipa::path(post, path = "/api/v1/broadcasts/{id}/cancel", params(("id" = i64, Path)),
    responses((status = 200, body = BroadcastView), (status = 401, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)),
    security(("bearer" = [])))]
async fn cancel_broadcast(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let token = match authorize(&state, &headers) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    match state.store.cancel_broadcast(id).await {
        Ok(true) => {
            if let Err(r) = audit(&state, &token, "api-cancel", &format!("broadcast {id}")).await {
                return r;
            }
            match state.store.broadcast(id).await {
                Ok(Some(b)) => Json(view(&b, json!({}))).into_response(),
                Ok(None) => fail(
                    StatusCode::NOT_FOUND,
                    format!("broadcast {id} does not exist"),
                    None,
                ),
                Err(e) => store_failed(e),
            }
        }
        Ok(false) => fail(
            StatusCode::CONFLICT,
            format!("broadcast {id} has already ended"),
            None,
        ),
        Err(StoreError::UnknownBroadcast(_)) => fail(
            StatusCode::NOT_FOUND,
            format!("broadcast {id} does not exist"),
            None,
        ),
        Err(e) => store_failed(e),
    }
}

#[utoipa::path(get, path = "/api/v1/stats",
    responses((status = 200, description = "active subscribers per topic and channel"), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
async fn stats(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r.into_response();
    }
    let mut topics = serde_json::Map::new();
    for t in &state.topics {
        match state.store.recipient_count(&t.id).await {
            Ok(r) => {
                topics.insert(t.id.to_string(), json!(Recipients::from(&r)));
            }
            Err(e) => return store_failed(e),
        }
    }
    Json(json!({"subscribers": topics})).into_response()
}
