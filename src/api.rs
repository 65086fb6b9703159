//! The HTTP API for the city's CMS (`/api/v1`): create, confirm, cancel and follow broadcasts,
//! subscriber counts, and the OpenAPI document generated from these handlers. Bearer tokens carry
//! roles: a press token may announce, an emergency token may also alert. The CMS request is the
//! confirmation: a broadcast is released at once (or at `scheduled_at`) unless it is a draft.
//! Handlers translate a checked request (see `extract`) into one call of their business part
//! (`submit`, `confirm`, `cancel`, the store's reads) and render its result; every other answer
//! is an [`ApiError`].

mod doc;
mod error;
mod extract;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::ApiError;
pub use extract::Caller;

use crate::domain::{
    Actor, BroadcastKind, BroadcastStatus, BroadcastText, ChannelKind, DeliveryStatus, PersonName,
    Priority, Role,
};
use crate::services::{BroadcastService, Submission, Submitted, When};
use crate::store::{Broadcast, BroadcastStats, RecipientCount, Store};
use doc::{KINDS, PRIORITIES, one_of};
use extract::{
    BroadcastId, BroadcastIdErrors, CallerErrors, IdempotencyKey, IdempotencyKeyErrors, JsonBody,
    JsonBodyErrors, ListParams, ListQuery, ListQueryErrors, StoreErrors,
};

/// A bearer token and what it may do: a person's key, when it is bound to one.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub name: String,
    pub token: SecretString,
    pub role: Role,
    /// Who holds it; the two-person rule and the audit log see this person.
    pub person: Option<PersonName>,
}

/// What every handler reads: the broadcast service (which every way in shares) and the tokens.
pub struct ApiState {
    pub broadcasts: Arc<BroadcastService>,
    pub tokens: Vec<ApiToken>,
}

impl ApiState {
    fn store(&self) -> &Arc<dyn Store> {
        self.broadcasts.store()
    }
}

/// The API's routes and their OpenAPI document, from the same declarations.
pub fn router(state: Arc<ApiState>) -> axum::Router {
    let topics = state.broadcasts.topics().to_vec();
    let (router, mut doc) = OpenApiRouter::with_openapi(doc::ApiDoc::openapi())
        .routes(routes!(create_broadcast, list_broadcasts))
        .routes(routes!(get_broadcast))
        .routes(routes!(confirm_broadcast))
        .routes(routes!(cancel_broadcast))
        .routes(routes!(correct_broadcast))
        .routes(routes!(retract_broadcast))
        .routes(routes!(stats))
        .routes(routes!(create_drill))
        .routes(routes!(create_draft))
        .routes(routes!(approve_broadcast))
        .routes(routes!(save_template, list_templates))
        .routes(routes!(add_staff))
        .routes(routes!(remove_staff))
        .routes(routes!(list_areas))
        .routes(routes!(upload_media))
        .with_state(state)
        .split_for_parts();
    doc::offer_topics(&mut doc, &topics);
    let doc = Arc::new(doc);
    router
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this method is not allowed here",
            )
        })
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { Json((*doc).clone()) }
            }),
        )
}

/// What the CMS sends.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastRequest {
    #[schema(schema_with = doc::topic, required = true)]
    topic: Option<String>,
    #[schema(schema_with = doc::text, required = true)]
    text: Option<String>,
    #[schema(schema_with = doc::priority_or_default)]
    priority: Option<String>,
    #[schema(schema_with = doc::kind_or_default)]
    kind: Option<String>,
    /// When to release it; a time without offset (`2031-01-01 08:00`) is also read, as city time.
    #[schema(format = DateTime)]
    scheduled_at: Option<String>,
    /// true: wait for POST /api/v1/broadcasts/{id}/confirm.
    draft: Option<bool>,
    /// The alert an update or all-clear follows.
    #[schema(value_type = Option<i64>)]
    parent_id: Option<serde_json::Number>,
    /// Where it goes (needs `areas.file`): `{"areas": ["01"]}` (district ids or names),
    /// `{"circle": {"lat": 49.0195, "lon": 12.0975, "radius_m": 300}}` (up to 50 km) or
    /// `{"polygon": <GeoJSON Polygon or MultiPolygon, longitude first>}`. It reaches those whose chosen
    /// district it touches, those whose kept place lies inside it, and those who chose no area.
    /// Without it: the whole city.
    #[schema(value_type = Option<crate::domain::area::Target>)]
    target: Option<serde_json::Value>,
    /// A picture or document uploaded before (`POST /api/v1/media`): the text becomes its
    /// caption, or follows it when longer than 1,024 characters.
    #[schema(value_type = Option<i64>)]
    media_id: Option<serde_json::Number>,
    /// What the picture shows, for people who cannot see it (required with a picture; shown
    /// on the archive page and the dashboard, messengers cannot carry it).
    #[schema(max_length = 1000)]
    alt: Option<String>,
}

/// A correction: the whole new text of a sent broadcast.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    #[schema(schema_with = doc::text, required = true)]
    text: Option<String>,
    /// Tell those who received it (default true): a reply to the edited message on Telegram,
    /// a new message quoting it on WhatsApp. false: a silent correction of a news item, which
    /// only edits on Telegram (refused for alerts).
    notice: Option<bool>,
}

/// A retraction, with the staff's own words after the retraction line.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetractionRequest {
    /// Added to the retraction notice, after "WIDERRUF: Die Meldung vom … ist gegenstandslos."
    #[schema(min_length = 1, max_length = 4000)]
    text: Option<String>,
}

/// A correction made, and the corrected broadcast with its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct CorrectionCreated {
    /// The correction: released, or awaiting a second person's approval (a corrected alert
    /// under the two-person rule); `recipients` are those who received the broadcast.
    correction: BroadcastCreated,
    broadcast: BroadcastView,
}

/// A retraction made: the retracted broadcast (status `retracted`) and its notice.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retraction {
    broadcast: BroadcastView,
    /// The retraction notice's broadcast (kind `retraction`), going to whoever received it.
    notice: i64,
}

/// One text a corrected broadcast had.
#[derive(Debug, Serialize, ToSchema)]
pub struct TextVersionView {
    version: i32,
    text: String,
    /// Who wrote it (`person:NAME`, `token:NAME`, `operator:USER`).
    changed_by: Option<String>,
    #[schema(format = DateTime)]
    changed_at: String,
    /// The correction that made it; none for the first.
    correction_id: Option<i64>,
    /// Whether those who had received it were told.
    notice: bool,
}

/// A correction or retraction of a broadcast.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeView {
    id: i64,
    #[schema(schema_with = doc::kind)]
    kind: String,
    #[schema(schema_with = doc::status)]
    status: String,
    created_by: Option<String>,
    approved_by: Option<String>,
}

/// A drill: the whole alert path, to the staff only, every message marked "ÜBUNG / EXERCISE".
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrillRequest {
    #[schema(schema_with = doc::text, required = true)]
    text: Option<String>,
}

/// A department's draft for the press office.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftRequest {
    #[schema(schema_with = doc::topic, required = true)]
    topic: Option<String>,
    #[schema(schema_with = doc::text, required = true)]
    text: Option<String>,
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
    #[schema(schema_with = doc::status)]
    status: String,
    topic: String,
    #[schema(schema_with = doc::priority)]
    priority: String,
    recipients: Recipients,
    /// A targeted broadcast: the districts it touches and its recipients by group.
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<TargetReach>,
    /// What each outlet (`[[outlets]]`) will post of it, or why it posts nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    outlet_preview: Vec<OutletPreviewView>,
}

/// What one outlet will post of a broadcast: the text as posting cuts it (Mastodon at the
/// default 500 characters, Bluesky at 300 graphemes, each with the check link), or why not.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutletPreviewView {
    outlet: String,
    /// `telegram_channel`, `mastodon`, `bluesky`, `webhook` or `whatsapp_channel`.
    kind: String,
    /// The text it posts; none when it posts nothing.
    text: Option<String>,
    /// Why it posts nothing: `drill`, `topic_not_taken` or `alerts_not_taken`.
    not_posted: Option<String>,
}

impl From<crate::domain::outlet::OutletPreview> for OutletPreviewView {
    fn from(p: crate::domain::outlet::OutletPreview) -> Self {
        OutletPreviewView {
            outlet: p.outlet,
            kind: p.kind.as_str().into(),
            text: p.text,
            not_posted: p.not_posted.map(|n| n.as_str().into()),
        }
    }
}

/// What the outlets will post of `b`: shown until it is released.
fn outlet_preview(state: &ApiState, b: &Broadcast) -> Vec<OutletPreviewView> {
    state
        .broadcasts
        .outlet_preview(&b.topic, b.kind, &b.text, b.public_code.as_deref())
        .into_iter()
        .map(OutletPreviewView::from)
        .collect()
}

/// Who a target reaches: by a chosen district, by a kept place inside it, without any area.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetReach {
    /// The districts it touches (ids).
    areas: Vec<String>,
    /// Their names.
    names: Vec<String>,
    by_district: Recipients,
    by_place: Recipients,
    without_area: Recipients,
}

/// One district of the city with its active subscribers (those who chose it).
#[derive(Debug, Serialize, ToSchema)]
pub struct AreaView {
    id: String,
    name: String,
    subscribers: u64,
}

/// The city's districts (`areas.file`); empty without it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AreaList {
    areas: Vec<AreaView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BroadcastView {
    id: i64,
    #[schema(schema_with = doc::status)]
    status: String,
    #[schema(schema_with = doc::kind)]
    kind: String,
    topic: String,
    #[schema(schema_with = doc::priority)]
    priority: String,
    #[schema(format = DateTime)]
    scheduled_at: Option<String>,
    /// Deliveries per channel, then per delivery status.
    deliveries: BTreeMap<String, BTreeMap<String, u64>>,
    /// Its text's version: 1 as sent first, one more per correction.
    version: i32,
    /// What a correction or retraction is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<i64>,
    /// A corrected broadcast's texts, oldest first (only on GET of one broadcast, and empty
    /// when it was never corrected).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    versions: Vec<TextVersionView>,
    /// Its corrections and retraction (only on GET of one broadcast).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    corrections: Vec<NoticeView>,
    /// The picture or document it carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    media_id: Option<i64>,
    /// The picture's alternative text.
    #[serde(skip_serializing_if = "Option::is_none")]
    alt: Option<String>,
    /// What went to each outlet (`[[outlets]]`): its post, corrections and retraction, with
    /// their state and remote link (only on GET of one broadcast).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    outlets: Vec<OutletPostView>,
    /// Before its release (a draft, awaiting approval, scheduled): what each outlet will post
    /// of it, or why it posts nothing (only on GET of one broadcast).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    outlet_preview: Vec<OutletPreviewView>,
}

/// One post (or its correction or retraction) on an outlet.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutletPostView {
    outlet: String,
    /// `post`, `correct` or `retract`.
    action: String,
    /// `pending`, `leased`, `sent`, `failed`, `skipped` or `manual` (waits to be posted by hand).
    status: String,
    /// The status id, record URI, channel message id or webhook delivery id.
    remote_id: Option<String>,
    /// Where people see it.
    remote_url: Option<String>,
    #[schema(format = DateTime)]
    sent_at: Option<String>,
    /// Who posted it by hand.
    posted_by: Option<String>,
    last_error: Option<String>,
    attempts: i64,
    /// What it posts (or posted) there: the text cut to the platform's limit with the check
    /// link (Mastodon at the default 500 characters).
    text: Option<String>,
}

impl From<crate::store::OutletPost> for OutletPostView {
    fn from(p: crate::store::OutletPost) -> Self {
        OutletPostView {
            outlet: p.outlet,
            action: p.action.as_str().into(),
            status: p.status.as_str().into(),
            remote_id: p.remote_id,
            remote_url: p.remote_url,
            sent_at: p
                .sent_at
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.to_rfc3339()),
            posted_by: p.posted_by,
            last_error: p.last_error,
            attempts: p.attempts,
            text: None,
        }
    }
}

impl BroadcastView {
    fn new(b: &Broadcast, stats: &BroadcastStats) -> Self {
        let deliveries = ChannelKind::ALL
            .iter()
            .map(|c| {
                let per_status = DeliveryStatus::ALL
                    .iter()
                    .map(|s| (s.as_str().to_string(), stats.count(*c, *s)))
                    .collect();
                (c.as_str().to_string(), per_status)
            })
            .collect();
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
            deliveries,
            version: b.version,
            parent_id: b.parent_id,
            versions: Vec::new(),
            corrections: Vec::new(),
            media_id: b.media_id,
            alt: b.alt.clone(),
            outlets: Vec::new(),
            outlet_preview: Vec::new(),
        }
    }
}

fn created_answer(state: &ApiState, created: &Submitted) -> BroadcastCreated {
    let b = &created.broadcast;
    BroadcastCreated {
        id: b.id,
        status: b.status.as_str().into(),
        topic: b.topic.clone(),
        priority: b.priority.as_str().into(),
        recipients: Recipients::from(&created.recipients),
        target: created.targeting.as_ref().map(|t| TargetReach {
            areas: t.areas.clone(),
            names: t.names.clone(),
            by_district: Recipients::from(&t.count.by_district),
            by_place: Recipients::from(&t.count.by_place),
            without_area: Recipients::from(&t.count.without_area),
        }),
        outlet_preview: outlet_preview(state, b),
    }
}

/// Active subscribers per topic.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriberCounts {
    subscribers: BTreeMap<String, Recipients>,
}

/// Reads a request field by field into a submission; the error names the field. The service
/// checks the rest (the topic, kinds and parents, who may) as for every way in.
fn submission(state: &ApiState, req: &BroadcastRequest) -> Result<Submission, ApiError> {
    let topic = req
        .topic
        .clone()
        .ok_or_else(|| ApiError::invalid("topic", "topic is required"))?;
    let text = parse_text(req.text.as_deref()).map_err(|e| ApiError::invalid("text", e))?;
    let priority = req
        .priority
        .as_deref()
        .map(|p| one_of(&PRIORITIES, Priority::as_str, "priority", p))
        .transpose()
        .map_err(|e| ApiError::invalid("priority", e))?;
    let kind = req
        .kind
        .as_deref()
        .map(|k| one_of(&KINDS, BroadcastKind::as_str, "kind", k))
        .transpose()
        .map_err(|e| ApiError::invalid("kind", e))?;
    let when = match &req.scheduled_at {
        Some(t) => When::At(
            crate::domain::time::parse_time(t, state.broadcasts.tz())
                .map_err(|e| ApiError::invalid("scheduled_at", e))?
                .timestamp_millis(),
        ),
        None => When::Now,
    };
    // JSON Schema counts 7.0 as an integer, so a client generated from the document may send it.
    let parent_id = req
        .parent_id
        .as_ref()
        .map(|n| {
            n.as_i64()
                .or_else(|| n.as_f64().and_then(extract::integral))
                .ok_or_else(|| ApiError::invalid("parent_id", "parent_id must be a broadcast id"))
        })
        .transpose()?;
    let target = req
        .target
        .as_ref()
        .map(|v| {
            let mut track = serde_path_to_error::Track::new();
            let de = serde_path_to_error::Deserializer::new(v, &mut track);
            crate::domain::area::Target::deserialize(de).map_err(|e| {
                ApiError::invalid(
                    "target",
                    format!(
                        "{e} at target.{}; expected {{\"areas\": [ids]}}, {{\"circle\": {{\"lat\", \"lon\", \"radius_m\"}}}} or {{\"polygon\": <GeoJSON Polygon or MultiPolygon>}}",
                        track.path()
                    ),
                )
            })
        })
        .transpose()?;
    let media_id = req
        .media_id
        .as_ref()
        .map(|n| {
            n.as_i64()
                .or_else(|| n.as_f64().and_then(extract::integral))
                .ok_or_else(|| ApiError::invalid("media_id", "media_id must be a medium's id"))
        })
        .transpose()?;
    let attachment = match (media_id, &req.alt) {
        (Some(media_id), alt) => Some(crate::services::broadcasts::Attachment {
            media_id,
            alt: alt.clone(),
        }),
        (None, Some(_)) => {
            return Err(ApiError::invalid(
                "alt",
                "alt describes a picture: send media_id with it",
            ));
        }
        (None, None) => None,
    };
    Ok(Submission {
        attachment,
        target,
        topic,
        kind,
        priority,
        text: text.as_str().to_string(),
        text_en: None,
        parent_id,
        when,
        draft: req.draft.unwrap_or(false),
        idempotency_key: None,
    })
}

fn actor(caller: &Caller) -> Actor {
    Actor::Token {
        name: caller.name.clone(),
        role: caller.role,
        person: caller.person.clone(),
    }
}

/// The text as the document states it: at most `MAX_CHARS` as sent, not blank, no NUL.
fn parse_text(raw: Option<&str>) -> Result<BroadcastText, String> {
    let raw = raw.ok_or("text is required")?;
    if raw.chars().count() > BroadcastText::MAX_CHARS {
        return Err(format!(
            "the text has {} characters, at most {} are allowed",
            raw.chars().count(),
            BroadcastText::MAX_CHARS
        ));
    }
    if raw.contains('\0') {
        return Err("the text contains a NUL character".into());
    }
    BroadcastText::parse(raw)
}

#[utoipa::path(post, path = "/api/v1/broadcasts", request_body = BroadcastRequest,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "1 to 255 visible ASCII characters; a retried request with the same key and body creates nothing new")),
    responses(
        (status = 201, body = BroadcastCreated, description = "The broadcast was created: released, scheduled, a draft, or awaiting a second person's approval (alerts, when the two-person rule is on)"),
        (status = 200, body = BroadcastCreated, description = "The same key and body again: the broadcast created then"),
        (status = 403, body = ApiError, description = "This token may not send alerts, updates or all-clears"),
        CallerErrors, IdempotencyKeyErrors, JsonBodyErrors, StoreErrors,
        (status = 400, body = ApiError, description = "The body is not JSON, or the Idempotency-Key is not 1 to 255 visible ASCII characters"),
        (status = 422, body = ApiError, description = "A field is missing, unknown or has a value the API does not accept (also a `scheduled_at` that has passed), or the Idempotency-Key was used for a different request; `field` names it")),
    security(("bearer" = [])))]
async fn create_broadcast(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    IdempotencyKey(key): IdempotencyKey,
    JsonBody(req): JsonBody<BroadcastRequest>,
) -> Result<(StatusCode, Json<BroadcastCreated>), ApiError> {
    let mut submission = submission(&state, &req)?;
    // Keys are per token, so two systems cannot collide.
    submission.idempotency_key = key.map(|k| format!("{}:{k}", caller.actor()));
    let created: Submitted = state.broadcasts.submit(&actor(&caller), submission).await?;
    let answer = created_answer(&state, &created);
    let status = if created.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(answer)))
}

#[utoipa::path(post, path = "/api/v1/drills", request_body = DrillRequest,
    responses(
        (status = 201, body = BroadcastCreated, description = "The drill was created on the topic `drill`, which only the staff are on: released at alert priority, or awaiting a second person's approval when the two-person rule is on; its report is kept in `amtsbote stats`"),
        (status = 403, body = ApiError, description = "This token may not send alerts, and so no drills"),
        CallerErrors, JsonBodyErrors, StoreErrors,
        (status = 400, body = ApiError, description = "The body is not JSON"),
        (status = 422, body = ApiError, description = "The text is missing or not acceptable; `field` names it")),
    security(("bearer" = [])))]
async fn create_drill(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    JsonBody(req): JsonBody<DrillRequest>,
) -> Result<(StatusCode, Json<BroadcastCreated>), ApiError> {
    let text = parse_text(req.text.as_deref()).map_err(|e| ApiError::invalid("text", e))?;
    let submission = Submission {
        attachment: None,
        target: None,
        topic: crate::domain::DRILL_TOPIC.into(),
        kind: Some(crate::domain::BroadcastKind::Alert),
        priority: Some(crate::domain::Priority::Alert),
        text: text.as_str().to_string(),
        text_en: None,
        parent_id: None,
        when: When::Now,
        draft: false,
        idempotency_key: None,
    };
    let created = state.broadcasts.submit(&actor(&caller), submission).await?;
    Ok((StatusCode::CREATED, Json(created_answer(&state, &created))))
}

#[utoipa::path(post, path = "/api/v1/drafts", request_body = DraftRequest,
    responses(
        (status = 201, body = BroadcastView, description = "The draft awaits the press office's approval; every press member is asked in the chat and sees it on the dashboard"),
        (status = 403, body = ApiError, description = "This token's person may not draft on this topic (a contributor drafts for their department's topics, never an alert)"),
        CallerErrors, JsonBodyErrors, StoreErrors,
        (status = 400, body = ApiError, description = "The body is not JSON"),
        (status = 422, body = ApiError, description = "The topic or text is missing or not acceptable; `field` names it")),
    security(("bearer" = [])))]
async fn create_draft(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    JsonBody(req): JsonBody<DraftRequest>,
) -> Result<(StatusCode, Json<BroadcastView>), ApiError> {
    let topic = req
        .topic
        .as_deref()
        .ok_or_else(|| ApiError::invalid("topic", "topic is required"))?;
    let text = parse_text(req.text.as_deref()).map_err(|e| ApiError::invalid("text", e))?;
    let proposed = state
        .broadcasts
        .propose(&actor(&caller), topic, text.as_str())
        .await?;
    let Json(view) = view(&state, proposed.broadcast).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A text template (Textbaustein): a text with `{placeholders}` for a topic.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    /// One word (letters, digits, - or _), like `vollsperrung`; saving it again makes a new
    /// version.
    #[schema(required = true)]
    name: Option<String>,
    #[schema(schema_with = doc::topic, required = true)]
    topic: Option<String>,
    /// With fields in braces: `Vollsperrung {strasse} von {von} bis {bis}.` Empty on the
    /// alerts topic: the control room's fields (`event`, `areaDesc`, `description`,
    /// `instruction`, `senderName`, as CAP names them).
    #[schema(required = true)]
    text: Option<String>,
}

/// One version of a text template.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    name: String,
    version: i64,
    topic: String,
    text: String,
    /// Its fields, in the order they appear.
    fields: Vec<String>,
    saved_by: String,
}

impl TemplateView {
    fn of(t: crate::store::TextTemplate) -> TemplateView {
        let fields = crate::domain::template::TemplateText::parse(&t.text)
            .map(|t| t.fields())
            .unwrap_or_default();
        TemplateView {
            name: t.name,
            version: t.version,
            topic: t.topic,
            text: t.text,
            fields,
            saved_by: t.saved_by,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/templates", request_body = TemplateRequest,
    responses(
        (status = 201, body = TemplateView, description = "Saved as the template's next version"),
        (status = 403, body = ApiError, description = "This token may not send on the topic (an alert template is the emergency staff's; a contributor keeps none)"),
        CallerErrors, JsonBodyErrors, StoreErrors,
        (status = 400, body = ApiError, description = "The body is not JSON"),
        (status = 422, body = ApiError, description = "The name, topic or text is missing or not acceptable (braces must pair up around a word); `field` names it")),
    security(("bearer" = [])))]
async fn save_template(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    JsonBody(req): JsonBody<TemplateRequest>,
) -> Result<(StatusCode, Json<TemplateView>), ApiError> {
    let (name, topic, text) = (
        required(&req.name, "name")?,
        required(&req.topic, "topic")?,
        required(&req.text, "text")?,
    );
    let saved = state
        .broadcasts
        .save_template(&actor(&caller), &name, &topic, &text)
        .await?;
    Ok((StatusCode::CREATED, Json(TemplateView::of(saved))))
}

/// The value of body field `name`, which the document says is required (422 naming it).
fn required(v: &Option<String>, name: &str) -> Result<String, ApiError> {
    v.clone()
        .ok_or_else(|| ApiError::invalid(name, format!("{name} is required")))
}

/// A staff address to add, as `amtsbote staff add` takes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffRequest {
    /// `telegram` or `whatsapp`.
    #[schema(required = true)]
    channel: Option<String>,
    /// A Telegram user id, or a WhatsApp number in digits without `+`.
    #[schema(required = true)]
    address: Option<String>,
    /// `press`, `emergency`, `admin` or `contributor` (a department).
    #[schema(required = true)]
    role: Option<String>,
    /// The person the address belongs to (letters, digits, spaces, `.`, `-`, `_`); without it
    /// the address is a person of its own. A department's person needs one.
    person: Option<String>,
    /// A department's name (contributors only).
    department: Option<String>,
    /// The topics a department drafts for (contributors only).
    topics: Option<Vec<String>>,
}

/// A staff address as kept.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffView {
    person: String,
    channel: String,
    address: String,
    role: String,
}

impl From<crate::services::staff::StaffError> for ApiError {
    fn from(e: crate::services::staff::StaffError) -> Self {
        use crate::services::staff::StaffError as E;
        let field = match &e {
            E::Refused(r) => {
                tracing::info!(refusal = %r, "API request refused by the policy");
                return ApiError::new(StatusCode::FORBIDDEN, r.to_string());
            }
            E::Store(_) => "",
            E::BadAddress { .. } => "address",
            E::NeedsPerson => "person",
            E::NeedsDesk | E::DeskForContributorsOnly => "department",
            E::UnknownTopic { .. } => "topics",
            E::AddressTaken { .. } | E::OtherRole { .. } | E::Conflict(_) => {
                return ApiError::new(StatusCode::CONFLICT, e.to_string());
            }
            E::NotStaff(_) => {
                return ApiError::new(StatusCode::NOT_FOUND, e.to_string()).at("person");
            }
        };
        match e {
            E::Store(e) => e.into(),
            e => ApiError::invalid(field, e.to_string()),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/staff", request_body = StaffRequest,
    responses(
        (status = 201, body = StaffView, description = "The address is staff now (audited as staff-add)"),
        (status = 403, body = ApiError, description = "Only an admin token changes the team"),
        (status = 409, body = ApiError, description = "The address belongs to another person, or the person has another role"),
        CallerErrors, JsonBodyErrors, StoreErrors,
        (status = 400, body = ApiError, description = "The body is not JSON"),
        (status = 422, body = ApiError, description = "A field is missing or not acceptable (an address that is no Telegram id or WhatsApp number, a department without topics, an unknown topic); `field` names it")),
    security(("bearer" = [])))]
async fn add_staff(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    JsonBody(req): JsonBody<StaffRequest>,
) -> Result<(StatusCode, Json<StaffView>), ApiError> {
    let channel = required(&req.channel, "channel")?
        .parse::<ChannelKind>()
        .map_err(|e| ApiError::invalid("channel", e))?;
    let role = required(&req.role, "role")?
        .parse::<Role>()
        .map_err(|e| ApiError::invalid("role", e))?;
    let person = match req.person.as_deref() {
        Some(p) => Some(PersonName::parse(p).map_err(|e| ApiError::invalid("person", e))?),
        None => None,
    };
    let desk = (req.department.is_some() || req.topics.is_some()).then(|| crate::domain::Desk {
        department: req.department.clone().unwrap_or_default(),
        topics: req.topics.clone().unwrap_or_default(),
    });
    let new = crate::services::staff::NewStaff {
        channel,
        address: required(&req.address, "address")?,
        role,
        person,
        desk,
    };
    let m = crate::services::staff::add(
        &**state.store(),
        state.broadcasts.topics(),
        &actor(&caller),
        new,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(StaffView {
            person: m.person,
            channel: m.channel.as_str().to_string(),
            address: m.address,
            role: m.role.as_str().to_string(),
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/staff/{person}", params(("person" = String, Path, description = "The person, with every address they have")),
    responses(
        (status = 204, description = "The person is no longer staff (audited as staff-remove)"),
        (status = 403, body = ApiError, description = "Only an admin token changes the team"),
        (status = 404, body = ApiError, description = "Nobody of that name is staff"),
        (status = 422, body = ApiError, description = "That is no person's name"),
        CallerErrors, StoreErrors),
    security(("bearer" = [])))]
async fn remove_staff(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    axum::extract::Path(person): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    let person = PersonName::parse(&person).map_err(|e| ApiError::invalid("person", e))?;
    crate::services::staff::remove(
        &**state.store(),
        &actor(&caller),
        crate::services::staff::StaffTarget::Person(person),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/templates",
    responses((status = 200, body = [TemplateView], description = "The newest version of every template, by name"),
        CallerErrors, StoreErrors),
    security(("bearer" = [])))]
async fn list_templates(
    State(state): State<Arc<ApiState>>,
    _: Caller,
) -> Result<Json<Vec<TemplateView>>, ApiError> {
    let list = state.broadcasts.templates().await?;
    Ok(Json(list.into_iter().map(TemplateView::of).collect()))
}

#[utoipa::path(post, path = "/api/v1/broadcasts/{id}/approve", params(("id" = i64, Path, description = "The id of the broadcast awaiting approval")),
    responses((status = 200, body = BroadcastView, description = "Approved: released, or scheduled when it has a time"),
        (status = 403, body = ApiError, description = "Always for a token: an approval is a person's, in the chat or on the dashboard"),
        (status = 409, body = ApiError, description = "The broadcast does not await approval"),
        CallerErrors, BroadcastIdErrors, StoreErrors),
    security(("bearer" = [])))]
async fn approve_broadcast(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    BroadcastId(id): BroadcastId,
) -> Result<Json<BroadcastView>, ApiError> {
    let outcome = state.broadcasts.approve(&actor(&caller), id).await?;
    view(&state, outcome.broadcast().clone()).await
}

#[utoipa::path(get, path = "/api/v1/broadcasts", params(ListParams),
    responses((status = 200, body = [BroadcastView], description = "Newest first"),
        CallerErrors, ListQueryErrors, StoreErrors),
    security(("bearer" = [])))]
async fn list_broadcasts(
    State(state): State<Arc<ApiState>>,
    _: Caller,
    page: ListQuery,
) -> Result<Json<Vec<BroadcastView>>, ApiError> {
    let list = state
        .store()
        .list_broadcasts_page(page.status, page.before, page.limit)
        .await?;
    Ok(Json(views(&state, &list).await?))
}

/// The broadcasts with their delivery counts, read in one query.
async fn views(state: &ApiState, list: &[Broadcast]) -> Result<Vec<BroadcastView>, ApiError> {
    let ids: Vec<i64> = list.iter().map(|b| b.id).collect();
    let stats = state.store().stats_of(&ids).await?;
    let none = BroadcastStats::default();
    Ok(list
        .iter()
        .map(|b| BroadcastView::new(b, stats.get(&b.id).unwrap_or(&none)))
        .collect())
}

async fn view(state: &ApiState, b: Broadcast) -> Result<Json<BroadcastView>, ApiError> {
    let stats = state.store().broadcast_stats(b.id).await?;
    let mut view = BroadcastView::new(&b, &stats);
    let (versions, notices) = state.broadcasts.history(b.id).await?;
    view.versions = versions
        .into_iter()
        .map(|v| TextVersionView {
            version: v.version,
            text: v.text,
            changed_by: v.changed_by,
            changed_at: chrono::DateTime::from_timestamp_millis(v.changed_at)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            correction_id: v.correction_id,
            notice: v.notice,
        })
        .collect();
    view.corrections = notices
        .into_iter()
        .map(|n| NoticeView {
            id: n.id,
            kind: n.kind.as_str().into(),
            status: n.status.as_str().into(),
            created_by: n.created_by,
            approved_by: n.approved_by,
        })
        .collect();
    for post in state.broadcasts.outlet_posts(b.id).await? {
        let text = state.broadcasts.outlet_text(&post).await.ok();
        view.outlets.push(OutletPostView {
            text,
            ..OutletPostView::from(post)
        });
    }
    if matches!(
        b.status,
        BroadcastStatus::Draft | BroadcastStatus::AwaitingApproval | BroadcastStatus::Scheduled
    ) {
        view.outlet_preview = outlet_preview(state, &b);
    }
    Ok(Json(view))
}

#[utoipa::path(get, path = "/api/v1/broadcasts/{id}", params(("id" = i64, Path, description = "The broadcast's id")),
    responses((status = 200, body = BroadcastView), CallerErrors, BroadcastIdErrors, StoreErrors),
    security(("bearer" = [])))]
async fn get_broadcast(
    State(state): State<Arc<ApiState>>,
    _: Caller,
    BroadcastId(id): BroadcastId,
) -> Result<Json<BroadcastView>, ApiError> {
    let b = state
        .store()
        .broadcast(id)
        .await?
        .ok_or_else(|| ApiError::no_such_broadcast(id))?;
    view(&state, b).await
}

#[utoipa::path(post, path = "/api/v1/broadcasts/{id}/confirm", params(("id" = i64, Path, description = "The draft's id")),
    responses((status = 200, body = BroadcastView, description = "Released, scheduled when it has a time, or awaiting a second person's approval (alerts, when the two-person rule is on)"),
        (status = 403, body = ApiError, description = "This token may not send alerts"),
        (status = 409, body = ApiError, description = "The broadcast is not a draft"),
        CallerErrors, BroadcastIdErrors, StoreErrors),
    security(("bearer" = [])))]
async fn confirm_broadcast(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    BroadcastId(id): BroadcastId,
) -> Result<Json<BroadcastView>, ApiError> {
    let outcome = state.broadcasts.confirm(&actor(&caller), id).await?;
    view(&state, outcome.broadcast().clone()).await
}

#[utoipa::path(post, path = "/api/v1/broadcasts/{id}/cancel", params(("id" = i64, Path, description = "The broadcast's id")),
    responses((status = 200, body = BroadcastView, description = "Cancelled, with what was sent before"),
        (status = 403, body = ApiError, description = "Only an emergency token may cancel an alert, update or all-clear"),
        (status = 409, body = ApiError, description = "The broadcast has already ended"),
        CallerErrors, BroadcastIdErrors, StoreErrors),
    security(("bearer" = [])))]
async fn cancel_broadcast(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    BroadcastId(id): BroadcastId,
) -> Result<Json<BroadcastView>, ApiError> {
    let b = state.broadcasts.cancel(&actor(&caller), id).await?;
    view(&state, b).await
}

#[utoipa::path(post, path = "/api/v1/broadcasts/{id}/corrections", request_body = CorrectionRequest,
    params(("id" = i64, Path, description = "The id of the sent broadcast to correct"),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "1 to 255 visible ASCII characters; a retried request with the same key and body creates nothing new")),
    responses(
        (status = 201, body = CorrectionCreated, description = "The correction: released (the broadcast has the new text at once; those who received it get an edit and a notice), or awaiting a second person's approval (a corrected alert under the two-person rule)"),
        (status = 200, body = CorrectionCreated, description = "The same key and body again: the correction made then"),
        (status = 403, body = ApiError, description = "This token may not correct an alert, update or all-clear"),
        (status = 409, body = ApiError, description = "The broadcast was not sent (a draft, scheduled, cancelled) or was retracted"),
        CallerErrors, BroadcastIdErrors, IdempotencyKeyErrors, JsonBodyErrors, StoreErrors,
        (status = 400, body = ApiError, description = "The body is not JSON"),
        (status = 422, body = ApiError, description = "The text is missing, unchanged or not acceptable, or a silent correction of an alert; `field` names it")),
    security(("bearer" = [])))]
async fn correct_broadcast(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    BroadcastId(id): BroadcastId,
    IdempotencyKey(key): IdempotencyKey,
    JsonBody(req): JsonBody<CorrectionRequest>,
) -> Result<(StatusCode, Json<CorrectionCreated>), ApiError> {
    let text = parse_text(req.text.as_deref()).map_err(|e| ApiError::invalid("text", e))?;
    let request = crate::services::CorrectionRequest {
        text: text.as_str().to_string(),
        notice: req.notice.unwrap_or(true),
        draft: false,
        idempotency_key: key.map(|k| format!("{}:{k}", caller.actor())),
    };
    let created = state
        .broadcasts
        .correct(&actor(&caller), id, request)
        .await?;
    let status = if created.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let b = state.broadcasts.get(id).await?;
    let Json(broadcast) = view(&state, b).await?;
    Ok((
        status,
        Json(CorrectionCreated {
            correction: created_answer(&state, &created),
            broadcast,
        }),
    ))
}

#[utoipa::path(post, path = "/api/v1/broadcasts/{id}/retract", request_body = RetractionRequest,
    params(("id" = i64, Path, description = "The id of the sent broadcast to take back")),
    responses(
        (status = 200, body = Retraction, description = "Retracted at once, with no second person: what was not sent is cancelled, follow-ups stop, and whoever received it gets the retraction notice at alert priority"),
        (status = 403, body = ApiError, description = "Only an emergency token may retract an alert, update or all-clear"),
        (status = 409, body = ApiError, description = "The broadcast was not sent (cancel it instead) or is retracted already"),
        CallerErrors, BroadcastIdErrors, JsonBodyErrors, StoreErrors,
        (status = 400, body = ApiError, description = "The body is not JSON (send {} for no text)"),
        (status = 422, body = ApiError, description = "The text is not acceptable; `field` names it")),
    security(("bearer" = [])))]
async fn retract_broadcast(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    BroadcastId(id): BroadcastId,
    JsonBody(req): JsonBody<RetractionRequest>,
) -> Result<Json<Retraction>, ApiError> {
    if let Some(t) = &req.text
        && (t.chars().count() > 4000 || t.contains('\0'))
    {
        return Err(ApiError::invalid(
            "text",
            "the text has more than 4000 characters or a NUL character",
        ));
    }
    let (b, notice) = state
        .broadcasts
        .retract(&actor(&caller), id, req.text.as_deref())
        .await?;
    let Json(broadcast) = view(&state, b).await?;
    Ok(Json(Retraction {
        broadcast,
        notice: notice.id,
    }))
}

#[utoipa::path(get, path = "/api/v1/areas",
    responses((status = 200, body = AreaList, description = "The city's districts with the active subscribers who chose each; empty without `areas.file`"),
        CallerErrors, StoreErrors),
    security(("bearer" = [])))]
async fn list_areas(
    State(state): State<Arc<ApiState>>,
    _: Caller,
) -> Result<Json<AreaList>, ApiError> {
    let Some(catalogue) = state.broadcasts.areas() else {
        return Ok(Json(AreaList { areas: Vec::new() }));
    };
    let counts: std::collections::HashMap<String, u64> = state
        .store()
        .area_subscriber_counts()
        .await?
        .into_iter()
        .collect();
    Ok(Json(AreaList {
        areas: catalogue
            .areas()
            .iter()
            .map(|a| AreaView {
                id: a.id.clone(),
                name: a.name.clone(),
                subscribers: counts.get(&a.id).copied().unwrap_or(0),
            })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/stats",
    responses((status = 200, body = SubscriberCounts, description = "Active subscribers per topic and channel"),
        CallerErrors, StoreErrors),
    security(("bearer" = [])))]
async fn stats(
    State(state): State<Arc<ApiState>>,
    _: Caller,
) -> Result<Json<SubscriberCounts>, ApiError> {
    let mut subscribers = BTreeMap::new();
    for t in state.broadcasts.topics() {
        let r = state.store().recipient_count(&t.id).await?;
        subscribers.insert(t.id.to_string(), Recipients::from(&r));
    }
    Ok(Json(SubscriberCounts { subscribers }))
}

/// What `POST /api/v1/media` takes: one part named `file`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MediaUpload {
    /// A JPEG, PNG or WebP picture (up to 5 MB after its metadata is removed: WhatsApp's
    /// limit) or a PDF document (up to 50 MB: Telegram's). The type is read from the content,
    /// never from the name; a document keeps its name.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// A kept medium: name it as `media_id` in a broadcast.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaCreated {
    id: i64,
    /// `picture` or `document`.
    kind: String,
    /// Its size as kept (a picture after its metadata was removed).
    bytes: u64,
    width: Option<u32>,
    height: Option<u32>,
}

impl From<crate::services::media::MediaError> for ApiError {
    fn from(e: crate::services::media::MediaError) -> Self {
        use crate::services::media::MediaError;
        let status = match &e {
            MediaError::Store(inner) => return ApiError::internal(inner),
            MediaError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            MediaError::Unsupported { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.to_string()).at("file")
    }
}

/// Reads the part named `file` of a multipart body: its bytes and name. The body's limit cuts
/// a larger one off (413, naming the limit).
pub async fn read_upload(
    mut multipart: axum::extract::Multipart,
) -> Result<(Vec<u8>, Option<String>, BTreeMap<String, String>), ApiError> {
    let too_large = || {
        let (limit, platform) =
            crate::domain::media::binding_limit(crate::domain::media::MediaKind::Document);
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the upload is larger than {}, the most {} takes for a document",
                crate::domain::media::human_size(limit),
                crate::domain::media::platform_name(platform)
            ),
        )
        .at("file")
    };
    let failed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("unreadable multipart body: {}", e.body_text()),
            )
        }
    };
    let mut file = None;
    let mut fields = BTreeMap::new();
    while let Some(mut field) = multipart.next_field().await.map_err(failed)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let file_name = field.file_name().map(str::to_string);
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(failed)? {
                if bytes.len() + chunk.len() > crate::http::max_upload_body() {
                    return Err(too_large());
                }
                bytes.extend_from_slice(&chunk);
            }
            file = Some((bytes, file_name));
        } else {
            let text = field.text().await.map_err(failed)?;
            if text.len() <= 4096 {
                fields.insert(name, text);
            }
        }
    }
    let (bytes, name) = file.ok_or_else(|| {
        ApiError::invalid(
            "file",
            "send the picture or document as the multipart part named file",
        )
    })?;
    Ok((bytes, name, fields))
}

#[utoipa::path(post, path = "/api/v1/media",
    request_body(content = MediaUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = MediaCreated, description = "Kept, its metadata removed: name it as `media_id` in a broadcast"),
        CallerErrors, StoreErrors,
        (status = 400, body = ApiError, description = "The body is not multipart/form-data"),
        (status = 413, body = ApiError, description = "Larger than the platforms take (the error names the limit)"),
        (status = 415, body = ApiError, description = "Not a JPEG, PNG or WebP picture or a PDF document (read from the content)"),
        (status = 422, body = ApiError, description = "No part named file, an empty file, a picture that cannot be read or has more pixels than the platforms take")),
    security(("bearer" = [])))]
async fn upload_media(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<MediaCreated>), ApiError> {
    let multipart = multipart.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "expected a multipart/form-data body with a part named file: {}",
                e.body_text()
            ),
        )
    })?;
    let (bytes, name, _) = read_upload(multipart).await?;
    let media = crate::services::media::MediaService::new(state.store().clone());
    let info = media
        .accept(bytes, name, Some(actor(&caller).audit_name()))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(MediaCreated {
            id: info.id,
            kind: info.kind.as_str().into(),
            bytes: info.bytes,
            width: info.width,
            height: info.height,
        }),
    ))
}
