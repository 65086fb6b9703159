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

use crate::domain::{
    Actor, BroadcastKind, BroadcastStatus, ChannelKind, DeliveryStatus, Priority, Role,
};
use crate::services::{BroadcastService, Outcome, ServiceError, Submission, When};
use crate::store::{Broadcast, RecipientCount, StoreError};

/// A bearer token and what it may do.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub name: String,
    pub token: SecretString,
    pub role: Role,
}

pub struct ApiState {
    pub broadcasts: Arc<BroadcastService>,
    pub tokens: Vec<ApiToken>,
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

/// What the service said, as the API answers it.
fn service_failed(e: ServiceError) -> Response {
    match e {
        ServiceError::Refused(r) => fail(StatusCode::FORBIDDEN, r.to_string(), None),
        ServiceError::Invalid { field, message } => {
            fail(StatusCode::UNPROCESSABLE_ENTITY, message, Some(field))
        }
        ServiceError::NotFound(id) => fail(
            StatusCode::NOT_FOUND,
            format!("broadcast {id} does not exist"),
            None,
        ),
        e @ (ServiceError::WrongStatus { .. } | ServiceError::NoSchedule(_)) => {
            fail(StatusCode::CONFLICT, e.to_string(), None)
        }
        ServiceError::UnknownCode => fail(StatusCode::NOT_FOUND, e.to_string(), None),
        ServiceError::IdempotencyConflict => fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "this Idempotency-Key was used for a different request",
            Some("Idempotency-Key"),
        ),
        ServiceError::Store(e) => store_failed(e),
    }
}

fn actor(token: &ApiToken) -> Actor {
    Actor::Token {
        name: token.name.clone(),
        role: token.role,
    }
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
    /// The alert an update or all-clear follows (required for those kinds).
    parent_id: Option<i64>,
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

/// Reads a request field by field into a submission; the error names the field. The service
/// checks the rest (topic, text, kinds and parents, who may).
fn submission(state: &ApiState, req: &BroadcastRequest) -> Result<Submission, Refusal> {
    let bad = |field: &str, e: String| refuse(StatusCode::UNPROCESSABLE_ENTITY, e, Some(field));
    let topic = req
        .topic
        .clone()
        .ok_or_else(|| bad("topic", "topic is required".into()))?;
    let priority = req
        .priority
        .as_deref()
        .map(str::parse::<Priority>)
        .transpose()
        .map_err(|e| bad("priority", e))?;
    let kind = req
        .kind
        .as_deref()
        .map(str::parse::<BroadcastKind>)
        .transpose()
        .map_err(|e| bad("kind", e))?;
    let when = match &req.scheduled_at {
        Some(t) => When::At(
            crate::domain::time::parse_time(t, state.broadcasts.tz())
                .map_err(|e| bad("scheduled_at", e))?
                .timestamp_millis(),
        ),
        None => When::Now,
    };
    Ok(Submission {
        topic,
        kind,
        priority,
        text: req.text.clone().unwrap_or_default(),
        parent_id: req.parent_id,
        when,
        draft: req.draft.unwrap_or(false),
        idempotency_key: None,
    })
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
    let mut submission = match submission(&state, &req) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    // Keys are per token, so two systems cannot collide.
    submission.idempotency_key = key.map(|k| format!("api:{}:{k}", token.name));
    let created = match state.broadcasts.submit(&actor(&token), submission).await {
        Ok(c) => c,
        Err(e) => return service_failed(e),
    };
    let recipients = &created.recipients;
    let b = &created.broadcast;
    let answer = BroadcastCreated {
        id: b.id,
        status: b.status.as_str().into(),
        topic: b.topic.clone(),
        priority: b.priority.as_str().into(),
        recipients: Recipients::from(recipients),
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
    let store = state.broadcasts.store();
    let list = match store.list_broadcasts(100).await {
        Ok(l) => l,
        Err(e) => return store_failed(e),
    };
    let mut out = Vec::new();
    for b in list.iter().filter(|b| wanted.is_none_or(|w| b.status == w)) {
        match store.broadcast_stats(b.id).await {
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
    let store = state.broadcasts.store();
    match store.broadcast(id).await {
        Ok(Some(b)) => match store.broadcast_stats(id).await {
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
    match state.broadcasts.confirm(&actor(&token), id).await {
        Ok(outcome) => {
            let b = match outcome {
                Outcome::Released(b)
                | Outcome::Scheduled(b)
                | Outcome::AwaitingApproval(b)
                | Outcome::Recurring { broadcast: b, .. } => b,
            };
            Json(view(&b, json!({}))).into_response()
        }
        Err(e) => service_failed(e),
    }
}

#[utoipa::path(post, path = "/api/v1/broadcasts/{id}/cancel", params(("id" = i64, Path)),
    responses((status = 200, body = BroadcastView), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)),
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
    match state.broadcasts.cancel(&actor(&token), id).await {
        Ok(b) => Json(view(&b, json!({}))).into_response(),
        Err(e) => service_failed(e),
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
    for t in state.broadcasts.topics() {
        match state.broadcasts.store().recipient_count(&t.id).await {
            Ok(r) => {
                topics.insert(t.id.to_string(), json!(Recipients::from(&r)));
            }
            Err(e) => return store_failed(e),
        }
    }
    Json(json!({"subscribers": topics})).into_response()
}
