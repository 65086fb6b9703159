//! The dashboard's pages. Each handler reads a form or path, makes one call to the broadcast
//! service (or a read of the store) and renders the result; the service and its policy decide.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Path, Query, RawForm, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use fluent_bundle::FluentValue;
use minijinja::value::merge_maps;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use super::map::DistrictMap;
use super::people::People;
use super::session::{Staff, clear_cookie, see_other, session_cookie};
use super::{DashboardState, language};
use crate::channels::telegram::{escape_html, escaped_weight};
use crate::domain::area::{Area, Catalogue, Circle, Resolved, Shape, Target};
use crate::domain::text::{MESSAGE_MAX, split, utf16_weight};
use crate::domain::time::Recurrence;
use crate::domain::{
    BroadcastKind, BroadcastStatus, ChannelKind, DeliveryStatus, Priority, TEMPLATE_PARAM_MAX,
    Topic, template_parameter,
};
use crate::services::{Refusal, ServiceError, Submission, When};
use crate::store::{Broadcast, BroadcastStats, RecipientCount};

type Shared = State<Arc<DashboardState>>;

/// What every signed-in page shows: the person, their role and the CSRF token for its forms.
pub(super) fn frame(staff: &Staff, nav: &str) -> Value {
    let actor = staff.actor();
    let person = match actor {
        crate::domain::Actor::Staff { person, .. } => person.clone(),
        other => other.audit_name(),
    };
    context! {
        lang => staff.lang,
        csrf => staff.session.csrf.clone(),
        person,
        role => actor.role().map(|r| r.as_str()).unwrap_or(""),
        nav,
    }
}

/// A service error as a page: refusals 403, unknown 404, wrong status 409, bad input 422.
pub(super) fn service_error(state: &DashboardState, lang: &str, e: ServiceError) -> Response {
    let (status, key, args): (StatusCode, &str, Vec<(&str, FluentValue<'_>)>) = match e {
        ServiceError::Refused(Refusal::NeedsEmergency) => {
            (StatusCode::FORBIDDEN, "needs-emergency", vec![])
        }
        ServiceError::Refused(Refusal::OwnApproval) => {
            (StatusCode::FORBIDDEN, "confirm-own", vec![])
        }
        ServiceError::Refused(Refusal::DraftsOnly) => {
            (StatusCode::FORBIDDEN, "drafts-only", vec![])
        }
        ServiceError::Refused(Refusal::TopicNotAllowed) => {
            (StatusCode::FORBIDDEN, "topic-not-allowed", vec![])
        }
        ServiceError::Refused(_) => (StatusCode::FORBIDDEN, "staff-refused", vec![]),
        ServiceError::NotFound(id) => (
            StatusCode::NOT_FOUND,
            "broadcast-unknown",
            vec![("id", id.into())],
        ),
        ServiceError::WrongStatus { id, status, .. } => (
            StatusCode::CONFLICT,
            "not-awaiting",
            vec![("id", id.into()), ("status", status.as_str().into())],
        ),
        ServiceError::Invalid { field, message } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "dash-invalid",
            vec![("field", field.into()), ("reason", message.into())],
        ),
        ServiceError::Store(e) => {
            tracing::error!(error = %e, "dashboard: the store failed");
            (StatusCode::SERVICE_UNAVAILABLE, "dash-unavailable", vec![])
        }
        other => (
            StatusCode::CONFLICT,
            "dash-invalid",
            vec![("field", "".into()), ("reason", other.to_string().into())],
        ),
    };
    state.message(status, lang, key, &args)
}

pub(super) fn store_error(
    state: &DashboardState,
    lang: &str,
    e: crate::store::StoreError,
) -> Response {
    service_error(state, lang, ServiceError::Store(e))
}

/// `/dashboard/`: compose when signed in, else how to sign in.
pub async fn home(staff: Result<Staff, Response>) -> Response {
    match staff {
        Ok(_) => see_other("/dashboard/compose"),
        Err(signed_out) => signed_out,
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    token: Option<String>,
}

/// The page a login link opens: a button that signs in. A GET uses nothing up, so a
/// messenger's link preview cannot spend the link.
pub async fn login_page(
    State(state): Shared,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let lang = language(&headers);
    match q.token.filter(|t| !t.is_empty()) {
        Some(token) => state.page(StatusCode::OK, "login.html", context! { lang, token }),
        None => state.message(StatusCode::UNAUTHORIZED, lang, "dash-signed-out", &[]),
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: Option<String>,
}

/// Uses the link: a session cookie and on to compose, or a refusal. Attempts are limited per
/// client address (`limits::SIGN_INS_PER_MINUTE`), before the token is looked at.
pub async fn login(
    State(state): Shared,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = language(&headers);
    let client = state
        .sign_in_limit
        .client(peer.map(|Extension(ConnectInfo(a))| a), &headers);
    if let Err(wait) = state.sign_in_limit.check(client) {
        let seconds = wait.as_secs() + 1;
        let mut r = state.message(
            StatusCode::TOO_MANY_REQUESTS,
            lang,
            "dash-sign-in-limited",
            &[("seconds", seconds.into())],
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return r;
    }
    let token = f.token.unwrap_or_default();
    match state.sign_in.redeem(&token).await {
        Ok(Some(opened)) => {
            let mut r = see_other("/dashboard/compose");
            r.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(&opened.secret, state.sign_in.secure()),
            );
            r
        }
        Ok(None) => state.message(StatusCode::FORBIDDEN, lang, "dash-link-refused", &[]),
        Err(e) => store_error(&state, lang, e),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    pub(super) csrf: Option<String>,
}

pub async fn logout(State(state): Shared, staff: Staff, Form(f): Form<CsrfForm>) -> Response {
    if let Some(refused) = staff.without_csrf(&state, f.csrf.as_deref()) {
        return refused;
    }
    if let Err(e) = state.sign_in.sign_out(&staff.session).await {
        return store_error(&state, staff.lang, e);
    }
    let mut r = state.message(StatusCode::OK, staff.lang, "dash-signed-out-done", &[]);
    r.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie(state.sign_in.secure()));
    r
}

/// The compose form as typed; every field is kept to show it again with the preview.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct ComposeForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    topic: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    parent_id: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    when: String,
    #[serde(default)]
    at: String,
    #[serde(default)]
    cron: String,
    /// "Wiederholen": `daily`, `weekdays`, `weekly` or `first` (of the month), with its
    /// weekday and time of day; the cron expression is built from them.
    #[serde(default)]
    repeat: String,
    #[serde(default)]
    weekday: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    action: String,
    /// The districts ticked (the field repeats, one per box).
    #[serde(default)]
    area: Vec<String>,
    /// A circle's centre and radius in metres, as typed.
    #[serde(default)]
    lat: String,
    #[serde(default)]
    lon: String,
    #[serde(default)]
    radius_m: String,
    /// The picture or document uploaded for it (`/dashboard/media`), and what a picture shows.
    #[serde(default)]
    media_id: String,
    #[serde(default)]
    alt: String,
}

impl ComposeForm {
    /// The form's body: every field once (the last one counts), except the districts, which
    /// repeat. (Axum's `Form` reads no repeated field.)
    fn parse(body: &[u8]) -> Result<ComposeForm, serde_json::Error> {
        let mut fields = serde_json::Map::new();
        let mut areas = Vec::new();
        for (key, value) in url::form_urlencoded::parse(body) {
            if key == "area" {
                areas.push(serde_json::Value::String(value.into_owned()));
            } else {
                fields.insert(
                    key.into_owned(),
                    serde_json::Value::String(value.into_owned()),
                );
            }
        }
        fields.insert("area".into(), serde_json::Value::Array(areas));
        serde_json::from_value(serde_json::Value::Object(fields))
    }
}

/// The choices the compose form offers.
fn compose_choices(state: &DashboardState, lang: &str) -> Value {
    let topics: Vec<Value> = state
        .broadcasts
        .topics()
        .iter()
        .map(|t| context! { id => t.id.as_str(), label => t.label(lang) })
        .collect();
    let kinds: Vec<&str> = BroadcastKind::ALL.iter().map(|k| k.as_str()).collect();
    let priorities: Vec<&str> = [
        Priority::Low,
        Priority::Normal,
        Priority::Urgent,
        Priority::Alert,
    ]
    .iter()
    .map(|p| p.as_str())
    .collect();
    // The districts to choose from, when the city has them.
    let districts = districts(state, &[]);
    context! { topics, kinds, priorities, districts }
}

/// The city's current warnings, to choose the one an update or all-clear follows: alerts of
/// the last seven days that went out, were not retracted and have no all-clear yet, newest
/// first, each with its headline, who issued it, its priority and time.
async fn current_warnings(state: &DashboardState) -> Vec<Value> {
    const WEEK_MS: i64 = 7 * 24 * 3_600_000;
    let recent = match state.broadcasts.store().list_broadcasts(500).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: the current warnings could not be read");
            return Vec::new();
        }
    };
    let cleared: std::collections::HashSet<i64> = recent
        .iter()
        .filter(|b| b.kind == BroadcastKind::Allclear)
        .filter_map(|b| b.parent_id)
        .collect();
    let since = crate::domain::now_ms() - WEEK_MS;
    recent
        .iter()
        .filter(|b| {
            b.kind == BroadcastKind::Alert
                && b.topic != crate::domain::DRILL_TOPIC
                && matches!(
                    b.status,
                    BroadcastStatus::Released | BroadcastStatus::Sending | BroadcastStatus::Done
                )
                && b.released_at.is_some_and(|t| t >= since)
                && !cleared.contains(&b.id)
        })
        .map(|b| {
            let headline = crate::domain::text::prefix_within(b.text.lines().next().unwrap_or(""), 80);
            context! {
                id => b.id,
                headline,
                by => b.author.as_deref().or(b.created_by.as_deref()).map(issued_by).unwrap_or_default(),
                priority => b.priority.as_str(),
                time => state.broadcasts.local_time(b.released_at.unwrap_or(b.created_at)),
            }
        })
        .collect()
}

/// Who issued a warning, as the press office names them: a person's name, the feed or a
/// token's name; never a bare chat address.
fn issued_by(who: &str) -> String {
    match who.strip_prefix("person:") {
        Some(name) => name.to_string(),
        None if who.starts_with("telegram:") || who.starts_with("whatsapp:") => String::new(),
        None => who.to_string(),
    }
}

/// The city's districts in the order of their numbers, each with its count from `counts`
/// (district id, subscribers); none when the city has no districts.
fn districts(state: &DashboardState, counts: &[(String, u64)]) -> Vec<Value> {
    let Some(catalogue) = state.broadcasts.areas() else {
        return Vec::new();
    };
    by_id(catalogue)
        .iter()
        .map(|a| {
            let subscribers: u64 = counts
                .iter()
                .filter(|(id, _)| *id == a.id)
                .map(|(_, n)| *n)
                .sum();
            context! { id => a.id.clone(), name => a.name.clone(), subscribers }
        })
        .collect()
}

/// The compose page; `?vorlage=NAME` shows the template's fields, and with `fill=1` and
/// the fields (`f_NAME`) puts the filled-in text into the form (a field left empty refuses).
pub async fn compose_page(
    State(state): Shared,
    staff: Staff,
    Query(q): Query<std::collections::BTreeMap<String, String>>,
) -> Response {
    let mut form = ComposeForm {
        when: "now".into(),
        ..ComposeForm::default()
    };
    let templates = match state.broadcasts.templates().await {
        Ok(t) => t,
        Err(e) => return service_error(&state, staff.lang, e),
    };
    let values: std::collections::BTreeMap<String, String> = q
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("f_")?.to_string(), v.clone())))
        .collect();
    let mut status = StatusCode::OK;
    let mut template = Value::UNDEFINED;
    let mut template_error = Value::UNDEFINED;
    if let Some(name) = q.get("vorlage").filter(|n| !n.trim().is_empty()) {
        let (t, fields) = match state.broadcasts.template(name).await {
            Ok(found) => found,
            Err(e) => return service_error(&state, staff.lang, e),
        };
        let filled = if q.contains_key("fill") {
            Some(state.broadcasts.fill_template(name, &values).await)
        } else {
            None
        };
        match filled {
            Some(Ok((t, kind, text))) => {
                form.topic = t.topic;
                form.kind = kind.as_str().to_string();
                form.text = text;
            }
            other => {
                if let Some(Err(e)) = other {
                    status = StatusCode::UNPROCESSABLE_ENTITY;
                    template_error = Value::from(e.to_string());
                }
                let fields: Vec<Value> = fields
                    .iter()
                    .map(|f| {
                        // The control room's fields have German labels; others are named as typed.
                        let known = crate::domain::template::ALERT_FIELDS.contains(&f.as_str());
                        context! { name => f, known, value => values.get(f).cloned().unwrap_or_default() }
                    })
                    .collect();
                template = context! { name => t.name, text => t.text, fields };
            }
        }
    }
    let warnings = current_warnings(&state).await;
    state.page(
        status,
        "compose.html",
        context! { form, templates, template, template_error, warnings, ..merge_maps([compose_choices(&state, staff.lang), frame(&staff, "compose")]) },
    )
}

#[derive(Deserialize, Default, Serialize)]
pub struct TemplateForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    topic: String,
    #[serde(default)]
    text: String,
}

/// `/dashboard/textbausteine`: the templates, newest versions, and a form to save one.
pub async fn templates_page(State(state): Shared, staff: Staff) -> Response {
    templates_with(
        &state,
        &staff,
        StatusCode::OK,
        TemplateForm::default(),
        None,
    )
    .await
}

async fn templates_with(
    state: &DashboardState,
    staff: &Staff,
    status: StatusCode,
    form: TemplateForm,
    error: Option<String>,
) -> Response {
    let templates = match state.broadcasts.templates().await {
        Ok(t) => t,
        Err(e) => return service_error(state, staff.lang, e),
    };
    let people = People::of(state).await;
    let templates: Vec<Value> = templates
        .iter()
        .map(|t| {
            merge_maps([
                context! { who => people.who(&t.saved_by) },
                Value::from_serialize(t),
            ])
        })
        .collect();
    state.page(
        status,
        "textbausteine.html",
        context! { templates, form, error, ..merge_maps([compose_choices(state, staff.lang), frame(staff, "templates")]) },
    )
}

/// Saves a new version of a template (the policy decides who may keep it).
pub async fn save_template(
    State(state): Shared,
    staff: Staff,
    Form(f): Form<TemplateForm>,
) -> Response {
    if let Some(refused) = staff.without_csrf(&state, f.csrf.as_deref()) {
        return refused;
    }
    match state
        .broadcasts
        .save_template(staff.actor(), &f.name, &f.topic, &f.text)
        .await
    {
        Ok(_) => see_other("/dashboard/textbausteine"),
        Err(ServiceError::Invalid { field, message }) => {
            let error = state.texts.get(
                staff.lang,
                "dash-invalid",
                &[("field", field.into()), ("reason", message.into())],
            );
            templates_with(
                &state,
                &staff,
                StatusCode::UNPROCESSABLE_ENTITY,
                f,
                Some(error),
            )
            .await
        }
        Err(e) => service_error(&state, staff.lang, e),
    }
}

/// The city's districts in the order of their numbers (the file may have them in any).
fn by_id(catalogue: &Catalogue) -> Vec<&Area> {
    let mut areas: Vec<&Area> = catalogue.areas().iter().collect();
    areas.sort_by(|a, b| a.id.cmp(&b.id));
    areas
}

/// The target the form names: the districts ticked, or the circle typed, or neither (the whole
/// city). The broadcast service checks the rest (unknown district, radius, outside the city).
fn target_of(
    state: &DashboardState,
    lang: &str,
    f: &ComposeForm,
) -> Result<Option<Target>, ServiceError> {
    let typed = [&f.lat, &f.lon, &f.radius_m];
    let circle = typed.iter().any(|s| !s.trim().is_empty());
    match (f.area.is_empty(), circle) {
        (true, false) => Ok(None),
        (false, false) => Ok(Some(Target::Areas(f.area.clone()))),
        (false, true) => Err(ServiceError::Invalid {
            field: "target",
            message: state.texts.get(lang, "dash-target-both", &[]),
        }),
        (true, true) => {
            let number =
                |field: &'static str, typed: &str| {
                    // A decimal comma, as typed in German, is a decimal point.
                    typed.trim().replace(',', ".").parse::<f64>().map_err(|_| {
                        ServiceError::Invalid {
                            field,
                            message: state.texts.get(
                                lang,
                                "dash-target-not-a-number",
                                &[("typed", typed.to_string().into())],
                            ),
                        }
                    })
                };
            Ok(Some(Target::Circle(Circle {
                lat: number("target.circle.lat", &f.lat)?,
                lon: number("target.circle.lon", &f.lon)?,
                radius_m: number("target.circle.radius_m", &f.radius_m)?,
            })))
        }
    }
}

/// The form as a submission; the error names the field.
fn submission(
    state: &DashboardState,
    lang: &str,
    f: &ComposeForm,
) -> Result<Submission, ServiceError> {
    let invalid = |field: &'static str, message: String| ServiceError::Invalid { field, message };
    let kind = match f.kind.trim() {
        "" => None,
        k => Some(k.parse::<BroadcastKind>().map_err(|e| invalid("kind", e))?),
    };
    let priority = match f.priority.trim() {
        "" => None,
        p => Some(p.parse::<Priority>().map_err(|e| invalid("priority", e))?),
    };
    let parent_id = match f.parent_id.trim().trim_start_matches('#') {
        "" => None,
        p => Some(
            p.parse::<i64>()
                .map_err(|_| invalid("parent_id", format!("'{p}' is not a broadcast number")))?,
        ),
    };
    let when = match f.when.as_str() {
        "at" => When::At(
            crate::domain::time::parse_time(&f.at, state.broadcasts.tz())
                .map_err(|e| invalid("scheduled_at", e))?
                .timestamp_millis(),
        ),
        "cron" => When::Every(f.cron.trim().to_string()),
        "repeat" => When::Every(
            crate::domain::time::Repeat::parse(&f.repeat, &f.weekday)
                .and_then(|r| r.cron(&f.time))
                .map_err(|e| invalid("repeat", e))?,
        ),
        _ => When::Now,
    };
    let attachment = match f.media_id.trim() {
        "" => None,
        m => Some(crate::services::broadcasts::Attachment {
            media_id: m
                .parse::<i64>()
                .map_err(|_| invalid("media_id", format!("'{m}' is not a medium's number")))?,
            alt: Some(f.alt.clone()),
        }),
    };
    Ok(Submission {
        attachment,
        target: target_of(state, lang, f)?,
        topic: f.topic.trim().to_string(),
        kind,
        priority,
        text: f.text.clone(),
        text_en: None,
        parent_id,
        when,
        draft: false,
        idempotency_key: None,
    })
}

/// The preview of `text`: each channel's messages as citizens will see them.
#[derive(Serialize)]
struct Preview {
    telegram_html: Vec<String>,
    whatsapp_text: Vec<String>,
    whatsapp_template: String,
    template_chars: usize,
    template_max: usize,
    template_cut: bool,
}

fn preview_of(text: &str) -> Preview {
    let flat = template_parameter(text);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    Preview {
        // Telegram gets the text HTML-escaped with parse mode HTML: this HTML is what it shows.
        telegram_html: split(text, MESSAGE_MAX, escaped_weight)
            .iter()
            .map(|p| escape_html(p))
            .collect(),
        whatsapp_text: split(text, MESSAGE_MAX, utf16_weight),
        template_chars: flat.chars().count(),
        template_max: TEMPLATE_PARAM_MAX,
        template_cut: flat != collapsed,
        whatsapp_template: flat,
    }
}

/// What each outlet will post, as the pages show it: the text, or the message key of why not.
fn outlet_preview_rows(preview: Vec<crate::domain::outlet::OutletPreview>) -> Vec<Value> {
    preview
        .into_iter()
        .map(|o| {
            context! {
                outlet => o.outlet,
                kind => o.kind.as_str(),
                text => o.text,
                why => o.not_posted.map(crate::services::BroadcastService::not_posted_key),
            }
        })
        .collect()
}

/// The next five firings of a cron expression, in city time.
fn next_firings(state: &DashboardState, expr: &str) -> Vec<String> {
    let Ok(r) = Recurrence::parse(expr) else {
        return Vec::new();
    };
    let mut at = state.broadcasts.clock().now();
    let mut firings = Vec::new();
    for _ in 0..5 {
        match r.next_after(state.broadcasts.tz(), at) {
            Some(next) => {
                firings.push(local_time(state, next.timestamp_millis()));
                at = next;
            }
            None => break,
        }
    }
    firings
}

pub(super) fn local_time(state: &DashboardState, ms: i64) -> String {
    // As the press office writes dates: 24.12.2026 18:00, in city time.
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&state.broadcasts.tz())
                .format("%d.%m.%Y %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// Where the compose page shows an error about the target: next to the field it concerns.
fn target_slot(field: &str) -> Option<&'static str> {
    match field {
        "target.circle.lat" => Some("lat"),
        "target.circle.lon" => Some("lon"),
        "target.circle.radius_m" => Some("radius"),
        "target.circle" => Some("circle"),
        "target.areas" => Some("areas"),
        f if f.starts_with("target") => Some("target"),
        _ => None,
    }
}

/// What a target means on a page: the map with the districts it touches, their names and, on
/// `topic` and short of the whole city, the recipients by group and channel. `None` when the
/// city has no districts, or (on a broadcast's page) its target no longer resolves.
async fn target_view(
    state: &DashboardState,
    lang: &str,
    topic: Option<&Topic>,
    target: Option<&Target>,
) -> Result<Option<Value>, ServiceError> {
    let Some(catalogue) = state.broadcasts.areas() else {
        return Ok(None);
    };
    let resolved = match target {
        Some(t) => state.broadcasts.resolve_target(t)?,
        None => None,
    };
    let names = resolved
        .as_ref()
        .map(|r| r.names.join(", "))
        .unwrap_or_default();
    let map = district_map(state, lang, catalogue, resolved.as_ref());
    let legend = by_id(catalogue)
        .iter()
        .map(|a| format!("{} {}", a.id, a.name))
        .collect::<Vec<_>>()
        .join(" · ");
    let groups = match (&resolved, topic) {
        (Some(r), Some(topic)) => {
            let count = state.broadcasts.targeting(topic, r).await?.count;
            let group = |key: &str, c: &RecipientCount| {
                context! { key, telegram => c.telegram, whatsapp => c.whatsapp, total => c.total() }
            };
            vec![
                group("by_district", &count.by_district),
                group("by_place", &count.by_place),
                group("without_area", &count.without_area),
                group("total", &count.total()),
            ]
        }
        _ => Vec::new(),
    };
    Ok(Some(context! { map, names, legend, groups }))
}

/// The city's districts with `resolved` filled (every one when it is `None`), described in words
/// for those who cannot see it.
fn district_map(
    state: &DashboardState,
    lang: &str,
    catalogue: &Catalogue,
    resolved: Option<&Resolved>,
) -> DistrictMap {
    let names = resolved.map(|r| r.names.join(", ")).unwrap_or_default();
    let description = match resolved.map(|r| &r.shape) {
        None => state.texts.get(lang, "dash-map-whole-city", &[]),
        Some(Shape::Districts(_)) => {
            state
                .texts
                .get(lang, "dash-map-districts", &[("areas", names.into())])
        }
        Some(Shape::Circle { centre, radius_m }) => state.texts.get(
            lang,
            "dash-map-circle",
            &[
                ("radius", format!("{radius_m}").into()),
                ("lat", format!("{:.4}", centre.lat).into()),
                ("lon", format!("{:.4}", centre.lon).into()),
                ("areas", names.into()),
            ],
        ),
        Some(Shape::Polygon(_)) => {
            state
                .texts
                .get(lang, "dash-map-polygon", &[("areas", names.into())])
        }
    };
    DistrictMap::new(
        catalogue,
        resolved,
        state.texts.get(lang, "dash-map-title", &[]),
        description,
    )
}

/// The button "map as picture": the target's map, drawn as on this page, rendered to PNG and
/// kept as every upload is (cleaned, in the store, dropped after `media.keep_days`). Answers
/// the medium's id and an alternative text that says in words what the map shows.
async fn attach_map(
    state: &DashboardState,
    lang: &str,
    staff: &Staff,
    f: &ComposeForm,
) -> Result<(i64, String), ServiceError> {
    let needs_target = || ServiceError::Invalid {
        field: "target",
        message: state.texts.get(lang, "dash-map-needs-target", &[]),
    };
    let catalogue = state.broadcasts.areas().ok_or_else(needs_target)?;
    let resolved = match target_of(state, lang, f)? {
        Some(t) => state.broadcasts.resolve_target(&t)?,
        None => None,
    };
    let resolved = resolved.ok_or_else(needs_target)?;
    let map = district_map(state, lang, catalogue, Some(&resolved));
    let alt = state.texts.get(
        lang,
        "dash-map-alt",
        &[("description", map.description().to_string().into())],
    );
    let svg = state.fragment("map.html", context! { map });
    let unavailable = |reason: String| {
        tracing::error!(error = %reason, "dashboard: the map could not be rendered");
        ServiceError::Invalid {
            field: "media_id",
            message: reason,
        }
    };
    let png = tokio::task::spawn_blocking(move || super::map::png(&svg))
        .await
        .map_err(|e| unavailable(e.to_string()))?
        .map_err(unavailable)?;
    let media = crate::services::media::MediaService::new(state.broadcasts.store().clone());
    match media
        .accept(
            png,
            Some("karte.png".into()),
            Some(staff.actor().audit_name()),
        )
        .await
    {
        Ok(info) => Ok((info.id, alt)),
        Err(crate::services::media::MediaError::Store(e)) => Err(ServiceError::Store(e)),
        Err(e) => Err(unavailable(e.to_string())),
    }
}

/// Preview (validate, count, price; nothing written) or send.
pub async fn compose(State(state): Shared, staff: Staff, RawForm(body): RawForm) -> Response {
    let lang = staff.lang;
    let Ok(mut f) = ComposeForm::parse(&body) else {
        return state.message(
            StatusCode::BAD_REQUEST,
            lang,
            "dash-invalid",
            &[("field", "".into()), ("reason", "form".into())],
        );
    };
    if let Some(refused) = staff.without_csrf(&state, f.csrf.as_deref()) {
        return refused;
    }
    // The map button attaches the target's map, then previews as the preview button does.
    let map_failure = if f.action == "map" && f.media_id.trim().is_empty() {
        match attach_map(&state, lang, &staff, &f).await {
            Ok((id, alt)) => {
                f.media_id = id.to_string();
                f.alt = alt;
                None
            }
            Err(e) => Some(e),
        }
    } else {
        None
    };
    let warnings = current_warnings(&state).await;
    let render = |status: StatusCode, extra: Value| {
        state.page(
            status,
            "compose.html",
            context! { form => f.clone(), warnings => warnings.clone(), ..merge_maps([extra, compose_choices(&state, lang), frame(&staff, "compose")]) },
        )
    };
    let error = |e: ServiceError| {
        let status = match &e {
            ServiceError::Refused(_) => StatusCode::FORBIDDEN,
            ServiceError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let message = match e {
            ServiceError::Refused(Refusal::NeedsEmergency) => {
                state.texts.get(lang, "needs-emergency", &[])
            }
            ServiceError::Refused(Refusal::DraftsOnly) => state.texts.get(lang, "drafts-only", &[]),
            ServiceError::Refused(Refusal::TopicNotAllowed) => {
                state.texts.get(lang, "topic-not-allowed", &[])
            }
            ServiceError::Refused(_) => state.texts.get(lang, "staff-refused", &[]),
            ServiceError::Store(e) => {
                tracing::error!(error = %e, "dashboard: the store failed");
                state.texts.get(lang, "dash-unavailable", &[])
            }
            ServiceError::Invalid { field, message } if target_slot(field).is_some() => {
                // Shown next to the field it concerns, in the target's fieldset.
                return render(
                    status,
                    context! { target_error => context! { slot => target_slot(field), message } },
                );
            }
            ServiceError::Invalid { field, message } => state.texts.get(
                lang,
                "dash-invalid",
                &[("field", field.into()), ("reason", message.into())],
            ),
            other => other.to_string(),
        };
        render(status, context! { error => message })
    };
    if let Some(e) = map_failure {
        return error(e);
    }
    let submission = match submission(&state, lang, &f) {
        Ok(s) => s,
        Err(e) => return error(e),
    };
    let actor = staff.actor().clone();
    if f.action == "propose" {
        return match state
            .broadcasts
            .propose(&actor, &submission.topic, &submission.text)
            .await
        {
            Ok(_) => see_other("/dashboard/approvals"),
            Err(e) => error(e),
        };
    }
    if f.action == "send" {
        return match state.broadcasts.submit(&actor, submission).await {
            Ok(done) => see_other(&format!("/dashboard/broadcasts/{}", done.broadcast.id)),
            Err(e) => error(e),
        };
    }
    let (kind, _priority, _) = match state.broadcasts.preview(&actor, &submission).await {
        Ok(p) => p,
        Err(e) => return error(e),
    };
    let topic = match Topic::parse(&submission.topic) {
        Ok(t) => t,
        Err(e) => {
            return error(ServiceError::Invalid {
                field: "topic",
                message: e,
            });
        }
    };
    let reach = match state
        .broadcasts
        .reach(
            kind,
            &topic,
            submission.parent_id,
            submission.target.as_ref(),
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return error(e),
    };
    let target = match target_view(&state, lang, Some(&topic), submission.target.as_ref()).await {
        Ok(t) => t,
        Err(e) => return error(e),
    };
    let firings = match &submission.when {
        When::Every(expr) => next_firings(&state, expr),
        _ => Vec::new(),
    };
    let media = match &submission.attachment {
        Some(a) => state
            .broadcasts
            .store()
            .media_info(a.media_id)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let outlet_preview = outlet_preview_rows(state.broadcasts.outlet_preview(
        &submission.topic,
        kind,
        &submission.text,
        None,
    ));
    render(
        StatusCode::OK,
        context! {
            media,
            outlet_preview,
            caption_fits => crate::domain::media::fits_caption(&submission.text),
            preview => preview_of(&submission.text),
            reach => context! {
                telegram => reach.recipients.telegram,
                whatsapp => reach.recipients.whatsapp,
                total => reach.recipients.total(),
                templates => reach.whatsapp_templates,
                cost => reach.cost_text(),
                over_limit => reach.over_limit,
            },
            firings,
            built_cron => match &submission.when {
                When::Every(expr) => Some(expr.clone()),
                _ => None,
            },
            target,
        },
    )
}

/// A broadcast as the pages show it.
#[derive(Serialize)]
struct Row {
    id: i64,
    topic: String,
    kind: &'static str,
    priority: &'static str,
    status: &'static str,
    text: String,
    /// The text's start, for lists.
    short: String,
    created: String,
    /// Who made it, by name with the channel as a badge.
    by: Value,
    scheduled: Option<String>,
    sent: u64,
    open: u64,
    failed: u64,
    can_end: bool,
}

fn row(state: &DashboardState, people: &People, b: &Broadcast, stats: &BroadcastStats) -> Row {
    Row {
        id: b.id,
        topic: b.topic.clone(),
        kind: b.kind.as_str(),
        priority: b.priority.as_str(),
        status: b.status.as_str(),
        text: b.text.clone(),
        short: if b.text.chars().count() > 80 {
            format!("{}…", crate::domain::text::prefix_within(&b.text, 79))
        } else {
            b.text.clone()
        },
        created: local_time(state, b.created_at),
        by: people.who_opt(b.created_by.as_deref()),
        scheduled: b.scheduled_at.map(|t| local_time(state, t)),
        sent: stats.total(DeliveryStatus::Sent),
        open: stats.total(DeliveryStatus::Pending) + stats.total(DeliveryStatus::Leased),
        failed: stats.total(DeliveryStatus::Failed) + stats.total(DeliveryStatus::Gone),
        can_end: b.status.is_open(),
    }
}

#[derive(Deserialize)]
pub struct ListFilter {
    status: Option<String>,
}

pub async fn broadcasts(
    State(state): Shared,
    staff: Staff,
    Query(q): Query<ListFilter>,
) -> Response {
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse::<BroadcastStatus>().ok());
    let store = state.broadcasts.store();
    let list = match store.list_broadcasts_page(status, None, 100).await {
        Ok(l) => l,
        Err(e) => return store_error(&state, staff.lang, e),
    };
    let ids: Vec<i64> = list.iter().map(|b| b.id).collect();
    let stats = match store.stats_of(&ids).await {
        Ok(s) => s,
        Err(e) => return store_error(&state, staff.lang, e),
    };
    let none = BroadcastStats::default();
    let people = People::of(&state).await;
    let rows: Vec<Row> = list
        .iter()
        .map(|b| row(&state, &people, b, stats.get(&b.id).unwrap_or(&none)))
        .collect();
    let statuses: Vec<&str> = BroadcastStatus::ALL.iter().map(|s| s.as_str()).collect();
    state.page(
        StatusCode::OK,
        "broadcasts.html",
        context! {
            rows,
            statuses,
            selected => status.map(|s| s.as_str()).unwrap_or(""),
            ..frame(&staff, "broadcasts")
        },
    )
}

/// The live part of a broadcast's page: its status, deliveries per channel and status, the
/// failures by reason and the rate chart. Rendered in the page and sent again by the events.
async fn progress(
    state: &DashboardState,
    lang: &str,
    csrf: &str,
    id: i64,
) -> Result<(Value, bool), ServiceError> {
    let b = state.broadcasts.get(id).await?;
    let store = state.broadcasts.store();
    let stats = store.broadcast_stats(id).await?;
    let failures: Vec<(String, u64)> = store.failure_reasons(id).await?;
    let per_second = store.sent_per_second(id).await?;
    let channels: Vec<Value> = ChannelKind::ALL
        .iter()
        .map(|c| {
            let counts: Vec<u64> = DeliveryStatus::ALL
                .iter()
                .map(|s| stats.count(*c, *s))
                .collect();
            context! { name => c.as_str(), counts }
        })
        .collect();
    let statuses: Vec<&str> = DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect();
    let ended = !b.status.is_open();
    let chart = rate_chart(
        &per_second,
        &state.texts.get(lang, "dash-chart-title", &[]),
        &state.texts.get(lang, "dash-chart-empty", &[]),
    );
    let ctx = context! {
        lang,
        csrf,
        id,
        // The live fragment names nobody; the page around it does.
        b => row(state, &People::default(), &b, &stats),
        channels,
        statuses,
        failures,
        chart,
        ended,
    };
    Ok((ctx, ended))
}

pub async fn broadcast(State(state): Shared, staff: Staff, Path(id): Path<i64>) -> Response {
    let (live, _) = match progress(&state, staff.lang, &staff.session.csrf, id).await {
        Ok(p) => p,
        Err(e) => return service_error(&state, staff.lang, e),
    };
    let b = match state.broadcasts.get(id).await {
        Ok(b) => b,
        Err(e) => return service_error(&state, staff.lang, e),
    };
    let reach = state.broadcasts.reach_of(&b).await.ok();
    // The map, when it has a target; one that no longer resolves (the districts changed) has none.
    let target = match &b.target {
        Some(t) => target_view(&state, staff.lang, None, Some(t))
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let seen = fingerprint(&state.fragment("progress.html", live.clone()));
    let (versions, notices) = match state.broadcasts.history(id).await {
        Ok(h) => h,
        Err(e) => return service_error(&state, staff.lang, e),
    };
    let people = People::of(&state).await;
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            context! {
                version => v.version,
                text => v.text,
                at => local_time(&state, v.changed_at),
                by => people.who_opt(v.changed_by.as_deref()),
                silent => !v.notice,
            }
        })
        .collect();
    let notices: Vec<Value> = notices
        .iter()
        .map(|n| context! { id => n.id, kind => n.kind.as_str(), status => n.status.as_str() })
        .collect();
    let sent = matches!(
        b.status,
        BroadcastStatus::Released | BroadcastStatus::Sending | BroadcastStatus::Done
    ) && !b.kind.is_notice();
    let posts = match state.broadcasts.outlet_posts(id).await {
        Ok(p) => p,
        Err(e) => return service_error(&state, staff.lang, e),
    };
    let outlet_preview = if matches!(
        b.status,
        BroadcastStatus::Draft | BroadcastStatus::AwaitingApproval | BroadcastStatus::Scheduled
    ) {
        outlet_preview_rows(state.broadcasts.outlet_preview(
            &b.topic,
            b.kind,
            &b.text,
            b.public_code.as_deref(),
        ))
    } else {
        Vec::new()
    };
    let mut outlets: Vec<Value> = Vec::new();
    for p in &posts {
        // What it posts; for the outlets without an API, what a person copies.
        let text = state.broadcasts.outlet_text(p).await.ok();
        let manual = p.status == crate::domain::outlet::OutletPostStatus::Manual;
        let copy = if manual { text.clone() } else { None };
        let text = if manual { None } else { text };
        outlets.push(context! {
            row => p.id,
            outlet => p.outlet,
            action => p.action.as_str(),
            status => p.status.as_str(),
            url => p.remote_url,
            by => p.posted_by.as_deref().map(|w| people.who(w)),
            at => p.sent_at.map(|t| state.broadcasts.local_time(t)),
            error => p.last_error,
            copy,
            text,
        });
    }
    state.page(
        StatusCode::OK,
        "broadcast.html",
        context! {
            live,
            seen,
            id,
            versions,
            notices,
            can_amend => sent,
            outlets,
            outlet_preview,
            text_now => b.text,
            approved_by => b.approved_by.as_deref().map(|w| people.who(w)),
            author => people.who_opt(b.created_by.as_deref()),
            total => reach.map(|r| r.recipients.total()),
            target,
            ..frame(&staff, "broadcasts")
        },
    )
}

#[derive(Deserialize)]
pub struct Seen {
    seen: Option<u64>,
}

/// Tells one rendering of the live fragment from another.
fn fingerprint(html: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    html.hash(&mut h);
    h.finish()
}

/// How often a live stream asks whether its session is still open: it ends within this (and
/// a poll) of a sign-out, the session's end or the person's removal.
const SESSION_CHECK: Duration = Duration::from_secs(2);

/// Server-sent events for the live page: the progress fragment every half second, until the
/// broadcast has ended (then one `end` event) or the session has (an empty `end` event). A
/// session has `limits::STREAMS_PER_SESSION` open at most; beyond, 429.
pub async fn events(
    State(state): Shared,
    staff: Staff,
    Path(id): Path<i64>,
    Query(seen): Query<Seen>,
) -> Response {
    let Some(slot) = state.streams.open(&staff.session.id_hash) else {
        tracing::info!(actor = %staff.actor().audit_name(), "dashboard: a live page over the session's limit refused");
        return state.message(
            StatusCode::TOO_MANY_REQUESTS,
            staff.lang,
            "dash-streams-limited",
            &[("streams", super::limits::STREAMS_PER_SESSION.into())],
        );
    };
    let live = Live {
        state,
        lang: staff.lang,
        session: staff.session,
        id,
        // Only what changed is sent: the page itself showed the fragment hashed as `seen`.
        shown: seen.seen.unwrap_or_default(),
        ended: false,
        checked: Instant::now(),
        _slot: slot,
    };
    let stream = futures_util::stream::unfold(live, |mut live| async move {
        let event = live.next().await?;
        Some((Ok::<_, Infallible>(event), live))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// One live page's stream; it holds its session's slot while it lives.
struct Live {
    state: Arc<DashboardState>,
    lang: &'static str,
    session: crate::services::sign_in::SignedIn,
    id: i64,
    shown: u64,
    ended: bool,
    checked: Instant,
    _slot: super::limits::StreamSlot,
}

impl Live {
    /// The next event, when the fragment changed; `None` once the stream is over.
    async fn next(&mut self) -> Option<Event> {
        if self.ended {
            return None;
        }
        loop {
            if self.checked.elapsed() >= SESSION_CHECK {
                self.checked = Instant::now();
                match self.state.sign_in.still_open(&self.session).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::info!(
                            broadcast = self.id,
                            "dashboard: the session ended; its live page stops"
                        );
                        self.ended = true;
                        return Some(Event::default().event("end").data(""));
                    }
                    Err(e) => {
                        tracing::warn!(broadcast = self.id, error = %e, "dashboard: the session could not be read; the live page stops");
                        self.ended = true;
                        return Some(Event::default().event("end").data(""));
                    }
                }
            }
            match progress(&self.state, self.lang, &self.session.csrf, self.id).await {
                Ok((ctx, ended)) => {
                    let html = self.state.fragment("progress.html", ctx);
                    let hash = fingerprint(&html);
                    if ended {
                        self.ended = true;
                        return Some(Event::default().event("end").data(html));
                    }
                    if hash != self.shown {
                        self.shown = hash;
                        return Some(Event::default().event("progress").data(html));
                    }
                }
                Err(e) => {
                    tracing::warn!(broadcast = self.id, error = %e, "dashboard: live progress unavailable");
                    self.ended = true;
                    return Some(Event::default().event("end").data(""));
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// One action on a broadcast from a form: `cancel`, `approve` or `reject`.
/// A button's form: the CSRF token, and for a correction or retraction its text.
#[derive(Deserialize)]
pub struct ActForm {
    csrf: Option<String>,
    text: Option<String>,
    /// A correction's "tell the recipients" checkbox (absent when unticked).
    notice: Option<String>,
    /// Why a department's draft is rejected (its author is told).
    reason: Option<String>,
    /// When an approved draft goes out (`24.12.2026 18:00`, city time); blank: at once.
    at: Option<String>,
    /// The outlet row posted by hand (`posted`).
    post: Option<i64>,
}

/// Approves broadcast `id`; a department's draft first takes the text and time the press
/// office gave it on the approvals page (its author is told what changed).
async fn approve_as_edited(
    state: &DashboardState,
    actor: &crate::domain::Actor,
    id: i64,
    f: &ActForm,
) -> Result<(), ServiceError> {
    let at = match f.at.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(raw) => Some(
            crate::domain::time::parse_time(raw, state.broadcasts.tz())
                .map_err(|message| ServiceError::Invalid {
                    field: "at",
                    message,
                })?
                .timestamp_millis(),
        ),
        None => None,
    };
    if let Some(text) = f.text.as_deref() {
        let b = state.broadcasts.get(id).await?;
        if text.trim() != b.text.trim() || at != b.scheduled_at {
            state.broadcasts.revise(actor, id, Some(text), at).await?;
        }
    }
    state.broadcasts.approve(actor, id).await.map(|_| ())
}

pub async fn act(
    State(state): Shared,
    staff: Staff,
    Path((id, action)): Path<(i64, String)>,
    Form(f): Form<ActForm>,
) -> Response {
    if let Some(refused) = staff.without_csrf(&state, f.csrf.as_deref()) {
        return refused;
    }
    let actor = staff.actor();
    let (done, then) = match action.as_str() {
        "cancel" => (
            state.broadcasts.cancel(actor, id).await.map(|_| ()),
            "broadcast",
        ),
        "approve" => (approve_as_edited(&state, actor, id, &f).await, "broadcast"),
        "reject" => {
            let rejected = match f.reason.as_deref().map(str::trim) {
                Some(reason) if !reason.is_empty() => {
                    state.broadcasts.reject_with_reason(actor, id, reason).await
                }
                _ => state.broadcasts.reject(actor, id).await,
            };
            (rejected.map(|_| ()), "approvals")
        }
        "correct" => {
            let request = crate::services::CorrectionRequest {
                text: f.text.clone().unwrap_or_default(),
                notice: f.notice.is_some(),
                draft: false,
                idempotency_key: None,
            };
            (
                state
                    .broadcasts
                    .correct(actor, id, request)
                    .await
                    .map(|_| ()),
                "broadcast",
            )
        }
        "posted" => (
            match f.post {
                Some(post) => state
                    .broadcasts
                    .posted_by_hand(actor, id, post)
                    .await
                    .map(|_| ()),
                None => Ok(()),
            },
            "broadcast",
        ),
        "retract" => {
            let text = f.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
            (
                state.broadcasts.retract(actor, id, text).await.map(|_| ()),
                "broadcast",
            )
        }
        _ => {
            return state.message(
                StatusCode::NOT_FOUND,
                staff.lang,
                "dash-invalid",
                &[
                    ("field", "action".into()),
                    ("reason", action.clone().into()),
                ],
            );
        }
    };
    match done {
        Ok(()) if then == "approvals" => see_other("/dashboard/approvals"),
        Ok(()) => see_other(&format!("/dashboard/broadcasts/{id}")),
        Err(e) => service_error(&state, staff.lang, e),
    }
}

/// What awaits a second person's approval.
pub async fn approvals(State(state): Shared, staff: Staff) -> Response {
    let store = state.broadcasts.store();
    let list = match store
        .list_broadcasts_page(Some(BroadcastStatus::AwaitingApproval), None, 100)
        .await
    {
        Ok(l) => l,
        Err(e) => return store_error(&state, staff.lang, e),
    };
    let people = People::of(&state).await;
    let mut items = Vec::new();
    for b in &list {
        let reach = match state.broadcasts.reach_of(b).await {
            Ok(r) => r,
            Err(e) => return service_error(&state, staff.lang, e),
        };
        let desk = match state.broadcasts.desk_of_author(b).await {
            Ok(d) => d,
            Err(e) => return service_error(&state, staff.lang, e),
        };
        items.push(context! {
            b => row(&state, &people, b, &BroadcastStats::default()),
            total => reach.recipients.total(),
            own => b.author.as_deref() == Some(staff.actor().identity().as_str()),
            author => desk.as_ref().map(|(p, _)| p.clone()),
            department => desk.map(|(_, d)| d.department),
        });
    }
    state.page(
        StatusCode::OK,
        "approvals.html",
        context! { items, ..frame(&staff, "approvals") },
    )
}

/// A bar chart for `chart.html`: the geometry computed here, every text escaped by the
/// template engine there.
#[derive(Serialize)]
struct Chart {
    width: f64,
    height: f64,
    /// Names the chart for screen readers.
    title: String,
    /// Said instead of bars when there is nothing to draw.
    empty: String,
    /// Where the bars begin, right of the labels.
    axis_x: f64,
    baseline: f64,
    peak: String,
    first: String,
    last: String,
    bars: Vec<Bar>,
}

#[derive(Serialize)]
struct Bar {
    x: String,
    y: String,
    width: String,
    height: String,
    label: String,
}

impl Chart {
    fn new(width: f64, height: f64, axis_x: f64, title: &str, empty: &str) -> Chart {
        Chart {
            width,
            height,
            title: title.to_string(),
            empty: empty.to_string(),
            axis_x,
            baseline: height - 20.0,
            peak: String::new(),
            first: String::new(),
            last: String::new(),
            bars: Vec::new(),
        }
    }

    /// A bar at `x`, `fraction` of the chart's height tall, `width` wide.
    fn bar(&mut self, x: f64, fraction: f64, width: f64, top_margin: f64, label: String) {
        let h = fraction * (self.height - top_margin);
        self.bars.push(Bar {
            x: format!("{x:.1}"),
            y: format!("{:.1}", self.baseline - h),
            width: format!("{:.1}", (width - 1.0).max(1.0)),
            height: format!("{h:.1}"),
            label,
        });
    }
}

/// A daily count as a bar chart with its first and last day.
fn daily_chart(days: &[(String, u64)], title: &str, empty: &str) -> Chart {
    let mut chart = Chart::new(600.0, 140.0, 50.0, title, empty);
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return chart;
    };
    let peak = days.iter().map(|d| d.1).max().unwrap_or(1).max(1);
    let bar = (chart.width - chart.axis_x) / days.len() as f64;
    for (i, (day, n)) in days.iter().enumerate() {
        let x = chart.axis_x + i as f64 * bar;
        chart.bar(x, *n as f64 / peak as f64, bar, 35.0, format!("{day}: {n}"));
    }
    chart.peak = peak.to_string();
    chart.first = first.0.clone();
    chart.last = last.0.clone();
    chart
}

/// Messages per second as a bar chart. `title` names it for screen readers; with no message
/// sent yet it says `empty`.
fn rate_chart(points: &[(i64, u64)], title: &str, empty: &str) -> Chart {
    let mut chart = Chart::new(600.0, 160.0, 40.0, title, empty);
    let Some((first, last)) = points.first().zip(points.last()) else {
        return chart;
    };
    let span = (last.0 - first.0 + 1).max(1);
    let peak = points.iter().map(|p| p.1).max().unwrap_or(1).max(1);
    let bar = (chart.width - chart.axis_x) / span as f64;
    for (second, n) in points {
        let x = chart.axis_x + (second - first.0) as f64 * bar;
        chart.bar(x, *n as f64 / peak as f64, bar, 30.0, format!("{n}/s"));
    }
    chart.peak = format!("{peak}/s");
    chart.first = "0 s".into();
    chart.last = format!("{span} s");
    chart
}

/// Recurring schedules, one-off broadcasts waiting for their time, and the missed ones.
/// `?removed=ID` after a schedule was removed: the page says so.
#[derive(Deserialize)]
pub struct Removed {
    removed: Option<i64>,
}

pub async fn schedules(
    State(state): Shared,
    staff: Staff,
    Query(done): Query<Removed>,
) -> Response {
    let store = state.broadcasts.store();
    let (recurring, planned, missed) = match tokio::try_join!(
        store.schedules(),
        store.scheduled_broadcasts(),
        store.list_broadcasts_page(Some(BroadcastStatus::Missed), None, 50),
    ) {
        Ok(lists) => lists,
        Err(e) => return store_error(&state, staff.lang, e),
    };
    let people = People::of(&state).await;
    let recurring: Vec<Value> = recurring
        .iter()
        .map(|s| {
            context! {
                id => s.id, topic => s.topic.clone(), kind => s.kind.as_str(),
                text => s.text.clone(), cron => s.cron.clone(),
                next => local_time(&state, s.next_at),
                by => people.who_opt(s.created_by.as_deref()),
            }
        })
        .collect();
    let none = BroadcastStats::default();
    let planned: Vec<Row> = planned
        .iter()
        .map(|b| row(&state, &people, b, &none))
        .collect();
    let missed: Vec<Row> = missed
        .iter()
        .map(|b| row(&state, &people, b, &none))
        .collect();
    state.page(
        StatusCode::OK,
        "schedules.html",
        context! { recurring, planned, missed, removed => done.removed, ..frame(&staff, "schedules") },
    )
}

/// Stops a recurring schedule (as the policy allows).
pub async fn remove_schedule(
    State(state): Shared,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = staff.without_csrf(&state, f.csrf.as_deref()) {
        return refused;
    }
    match state.broadcasts.remove_schedule(staff.actor(), id).await {
        // Answered once removed; the page it leads to says which one went.
        Ok(_) => see_other(&format!("/dashboard/schedules?removed={id}")),
        Err(e) => service_error(&state, staff.lang, e),
    }
}

/// Active subscribers per topic and channel (counts only: no address on any page).
pub async fn subscribers(State(state): Shared, staff: Staff) -> Response {
    let store = state.broadcasts.store();
    let since = (state.broadcasts.clock().now() - chrono::Duration::days(90))
        .with_timezone(&state.broadcasts.tz())
        .format("%Y-%m-%d")
        .to_string();
    let (counts, days, by_area) = match tokio::try_join!(
        store.subscriber_counts(),
        store.subscriber_days(&since),
        store.area_subscriber_counts()
    ) {
        Ok(c) => c,
        Err(e) => return store_error(&state, staff.lang, e),
    };
    // Who chose each district (counts only).
    let districts = districts(&state, &by_area);
    let topics: Vec<Value> = state
        .broadcasts
        .topics()
        .iter()
        .map(|t| {
            let of = |c: ChannelKind| {
                counts
                    .iter()
                    .filter(|(ch, topic, _)| *ch == c && topic == t.id.as_str())
                    .map(|(_, _, n)| *n)
                    .sum::<u64>()
            };
            let (telegram, whatsapp) = (of(ChannelKind::Telegram), of(ChannelKind::Whatsapp));
            // The topic's daily totals over both channels, oldest first.
            let mut daily: Vec<(String, u64)> = Vec::new();
            for (day, _, _, n) in days.iter().filter(|d| d.1 == t.id.as_str()) {
                match daily.last_mut() {
                    Some((d, total)) if d == day => *total += n,
                    _ => daily.push((day.clone(), *n)),
                }
            }
            let title = state.texts.get(
                staff.lang,
                "dash-subscribers-chart",
                &[("topic", t.id.as_str().into())],
            );
            let empty = state.texts.get(staff.lang, "dash-chart-no-days", &[]);
            context! {
                id => t.id.as_str(), telegram, whatsapp, total => telegram + whatsapp,
                chart => daily_chart(&daily, &title, &empty),
            }
        })
        .collect();
    state.page(
        StatusCode::OK,
        "subscribers.html",
        context! { topics, districts, ..frame(&staff, "subscribers") },
    )
}

#[derive(Deserialize)]
pub struct AuditFilter {
    person: Option<String>,
    action: Option<String>,
}

/// The newest 500 audit entries, filtered by person (part of the name) and action.
pub async fn audit(State(state): Shared, staff: Staff, Query(q): Query<AuditFilter>) -> Response {
    let entries = match state.broadcasts.store().audit_log(500).await {
        Ok(e) => e,
        Err(e) => return store_error(&state, staff.lang, e),
    };
    let person = q.person.unwrap_or_default().trim().to_lowercase();
    let action = q.action.unwrap_or_default().trim().to_string();
    let mut actions: Vec<String> = entries.iter().map(|e| e.action.clone()).collect();
    actions.sort();
    actions.dedup();
    let people = People::of(&state).await;
    let rows: Vec<Value> = entries
        .iter()
        .filter(|e| person.is_empty() || e.actor.to_lowercase().contains(&person))
        .filter(|e| action.is_empty() || e.action == action)
        .map(|e| {
            context! {
                at => local_time(&state, e.at), actor => e.actor.clone(),
                who => people.who(&e.actor),
                action => e.action.clone(), detail => e.detail.clone(),
            }
        })
        .collect();
    state.page(
        StatusCode::OK,
        "audit.html",
        context! { rows, actions, person, action, ..frame(&staff, "audit") },
    )
}

/// `POST /dashboard/media` (multipart: `csrf`, `file`, and the compose form's fields as they
/// were): keeps the picture or document as the API does and shows the compose page again with
/// it attached, its preview and a field for its alternative text.
pub async fn upload_media(
    State(state): Shared,
    staff: Staff,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let lang = staff.lang;
    let bad = |reason: String| {
        state.message(
            StatusCode::BAD_REQUEST,
            lang,
            "dash-invalid",
            &[("field", "file".into()), ("reason", reason.into())],
        )
    };
    let multipart = match multipart {
        Ok(m) => m,
        Err(e) => return bad(e.body_text()),
    };
    let (bytes, name, fields) = match crate::api::read_upload(multipart).await {
        Ok(upload) => upload,
        Err(e) => {
            return state.message(
                e.status,
                lang,
                "dash-invalid",
                &[("field", "file".into()), ("reason", e.error.into())],
            );
        }
    };
    if let Some(refused) = staff.without_csrf(&state, fields.get("csrf").map(String::as_str)) {
        return refused;
    }
    let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let mut form = ComposeForm {
        topic: field("topic"),
        kind: field("kind"),
        priority: field("priority"),
        parent_id: field("parent_id"),
        text: field("text"),
        when: field("when"),
        at: field("at"),
        cron: field("cron"),
        alt: field("alt"),
        ..ComposeForm::default()
    };
    let media = crate::services::media::MediaService::new(state.broadcasts.store().clone());
    let (status, extra) = match media
        .accept(bytes, name, Some(staff.actor().audit_name()))
        .await
    {
        Ok(info) => {
            form.media_id = info.id.to_string();
            (StatusCode::OK, context! { media => info })
        }
        Err(crate::services::media::MediaError::Store(e)) => {
            tracing::error!(error = %e, "dashboard: the store failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                context! { error => state.texts.get(lang, "dash-unavailable", &[]) },
            )
        }
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            context! { error => state.texts.get(lang, "dash-invalid", &[("field", "file".into()), ("reason", e.to_string().into())]) },
        ),
    };
    let warnings = current_warnings(&state).await;
    state.page(
        status,
        "compose.html",
        context! { form, warnings, ..merge_maps([extra, compose_choices(&state, lang), frame(&staff, "compose")]) },
    )
}

/// `GET /dashboard/media/{id}`: a kept picture or document, for the staff's preview.
pub async fn media_file(State(state): Shared, _staff: Staff, Path(id): Path<i64>) -> Response {
    let store = state.broadcasts.store();
    match (store.media_info(id).await, store.media_bytes(id).await) {
        (Ok(Some(info)), Ok(Some(bytes))) => (
            [
                (axum::http::header::CONTENT_TYPE, info.mime),
                (
                    axum::http::header::CACHE_CONTROL,
                    "private, max-age=3600".into(),
                ),
                (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            ],
            bytes,
        )
            .into_response(),
        (Ok(None), _) | (_, Ok(None)) => StatusCode::NOT_FOUND.into_response(),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "dashboard: the store failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(chart: Chart) -> String {
        let mut env = minijinja::Environment::new();
        env.add_template("chart.html", include_str!("templates/chart.html"))
            .expect("the chart's template");
        env.get_template("chart.html")
            .and_then(|t| t.render(context! { chart }))
            .expect("rendered")
    }

    #[test]
    fn the_compose_form_keeps_every_ticked_district_and_names_where_a_target_error_goes() {
        let f = ComposeForm::parse(b"topic=news&area=01&area=12&lat=49%2C0195&text=a&text=b&x=1")
            .expect("a form");
        assert_eq!(f.area, vec!["01", "12"]);
        assert_eq!((f.topic.as_str(), f.text.as_str()), ("news", "b"));
        assert_eq!(f.lat, "49,0195");
        assert!(
            ComposeForm::parse(b"topic=news")
                .expect("a form")
                .area
                .is_empty()
        );
        for (field, slot) in [
            ("target.circle.radius_m", Some("radius")),
            ("target.circle", Some("circle")),
            ("target.areas", Some("areas")),
            ("target.polygon", Some("target")),
            ("topic", None),
        ] {
            assert_eq!(target_slot(field), slot, "{field}");
        }
    }

    #[test]
    fn a_chart_escapes_its_texts_in_attributes_and_elements() {
        let title = r#"Abonnenten "news" <b>&"#;
        let svg = render(daily_chart(
            &[
                ("2026-12-06".into(), 3),
                ("2026-12-07\"><script>".into(), 5),
            ],
            title,
            "",
        ));
        assert!(
            svg.contains(r#"aria-label="Abonnenten &quot;news&quot; &lt;b&gt;&amp;""#),
            "{svg}"
        );
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert_eq!(svg.matches("<rect ").count(), 2);
        assert!(
            svg.contains(r#"height="105.0""#),
            "the peak bar is full height: {svg}"
        );
        let empty = render(rate_chart(&[], title, "Noch nichts \"gesendet\""));
        assert!(
            empty.contains("Noch nichts &quot;gesendet&quot;"),
            "{empty}"
        );
        assert!(!empty.contains("<rect"));
    }
}
