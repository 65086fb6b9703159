//! The dashboard for the press office and emergency staff (`/dashboard/`): one more way in,
//! calling the same broadcast service as the chat, the API and the CLI, with the same policy.
//! It owns sign-in by one-time link (the secrets live in `services::sign_in`), the session
//! cookie and CSRF checks, and server-rendered pages (minijinja templates, texts from
//! `messages/*.ftl`); the live broadcast page updates over server-sent events.

mod limits;
mod map;
mod pages;
mod people;
mod plan;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::{Environment, Value};

use crate::i18n::Texts;
use crate::services::{BroadcastService, SignIn};

pub use session::Staff;

/// What every page handler reads.
pub struct DashboardState {
    pub broadcasts: Arc<BroadcastService>,
    pub sign_in: Arc<SignIn>,
    pub texts: Arc<Texts>,
    templates: Environment<'static>,
    sign_in_limit: limits::SignInLimit,
    streams: Arc<limits::Streams>,
}

/// The templates, compiled into the binary like the texts.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("message.html", include_str!("templates/message.html")),
    ("login.html", include_str!("templates/login.html")),
    ("compose.html", include_str!("templates/compose.html")),
    ("broadcast.html", include_str!("templates/broadcast.html")),
    ("progress.html", include_str!("templates/progress.html")),
    ("chart.html", include_str!("templates/chart.html")),
    ("map.html", include_str!("templates/map.html")),
    ("target_map.html", include_str!("templates/target_map.html")),
    (
        "outlet_preview.html",
        include_str!("templates/outlet_preview.html"),
    ),
    ("broadcasts.html", include_str!("templates/broadcasts.html")),
    ("approvals.html", include_str!("templates/approvals.html")),
    ("schedules.html", include_str!("templates/schedules.html")),
    (
        "textbausteine.html",
        include_str!("templates/textbausteine.html"),
    ),
    (
        "subscribers.html",
        include_str!("templates/subscribers.html"),
    ),
    ("audit.html", include_str!("templates/audit.html")),
    ("plan.html", include_str!("templates/plan.html")),
    ("who.html", include_str!("templates/who.html")),
    ("team.html", include_str!("templates/team.html")),
];

const STYLE: &str = include_str!("static/dashboard.css");
const LIVE_SCRIPT: &str = include_str!("static/live.js");

impl DashboardState {
    pub fn new(
        broadcasts: Arc<BroadcastService>,
        sign_in: Arc<SignIn>,
        texts: Arc<Texts>,
        trusted_proxies: Vec<std::net::IpAddr>,
    ) -> Result<DashboardState, String> {
        let env = crate::i18n::html_templates(texts.clone(), TEMPLATES)
            .map_err(|e| format!("dashboard {e}"))?;
        Ok(DashboardState {
            broadcasts,
            sign_in,
            texts,
            templates: env,
            sign_in_limit: limits::SignInLimit::new(trusted_proxies),
            streams: Arc::default(),
        })
    }

    /// Renders template `name` with `ctx` as an HTML page with `status`.
    fn page(&self, status: StatusCode, name: &str, ctx: Value) -> Response {
        match self
            .templates
            .get_template(name)
            .and_then(|t| t.render(ctx))
        {
            Ok(html) => (status, html_headers(), html).into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "a dashboard page could not be rendered");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        }
    }

    /// Renders a fragment (no page around it), for server-sent events.
    fn fragment(&self, name: &str, ctx: Value) -> String {
        self.templates
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .unwrap_or_else(|e| {
                tracing::error!(template = name, error = %e, "a dashboard fragment could not be rendered");
                String::new()
            })
    }

    /// A page with one message (a refusal, an error, "signed out") in `lang`.
    fn message(
        &self,
        status: StatusCode,
        lang: &str,
        key: &str,
        args: &[(&str, fluent_bundle::FluentValue<'_>)],
    ) -> Response {
        let message = self.texts.get(lang, key, args);
        self.page(
            status,
            "message.html",
            minijinja::context! { lang, key, message },
        )
    }
}

/// Pages are private and change with every request: never cached, never framed, scripts and
/// styles only from here.
fn html_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h
}

/// The page language: German on every page, whatever the browser prefers (issue 25: the press
/// office works in German, and dates follow the page). Staff who chat in English still get
/// their chat in English.
fn language(_headers: &HeaderMap) -> &'static str {
    crate::i18n::DEFAULT_LANGUAGE
}

/// The dashboard's routes, all under `/dashboard`.
pub fn router(state: Arc<DashboardState>) -> Router {
    Router::new()
        .route(
            "/dashboard",
            get(|| async { axum::response::Redirect::to("/dashboard/") }),
        )
        .route("/dashboard/", get(pages::home))
        .route(
            "/dashboard/login",
            get(pages::login_page).post(pages::login),
        )
        .route("/dashboard/logout", post(pages::logout))
        .route(
            "/dashboard/compose",
            get(pages::compose_page).post(pages::compose),
        )
        .route("/dashboard/media", post(pages::upload_media))
        .route("/dashboard/media/{id}", get(pages::media_file))
        .route("/dashboard/broadcasts", get(pages::broadcasts))
        .route("/dashboard/broadcasts/{id}", get(pages::broadcast))
        .route("/dashboard/broadcasts/{id}/events", get(pages::events))
        .route("/dashboard/broadcasts/{id}/{action}", post(pages::act))
        .route("/dashboard/approvals", get(pages::approvals))
        .route("/dashboard/schedules", get(pages::schedules))
        .route(
            "/dashboard/textbausteine",
            get(pages::templates_page).post(pages::save_template),
        )
        .route(
            "/dashboard/schedules/{id}/remove",
            post(pages::remove_schedule),
        )
        .route("/dashboard/plan", get(plan::plan))
        .route("/dashboard/plan/{id}/move", post(plan::move_item))
        .route(
            "/dashboard/plan/calendar-link",
            post(plan::new_calendar_link),
        )
        .route("/dashboard/calendar.ics", get(plan::calendar_feed))
        .route("/dashboard/team", get(people::team).post(people::add))
        .route("/dashboard/team/remove", post(people::remove))
        .route("/dashboard/subscribers", get(pages::subscribers))
        .route("/dashboard/audit", get(pages::audit))
        .route(
            "/dashboard/static/dashboard.css",
            get(|| async { static_file("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/dashboard/static/live.js",
            get(|| async { static_file("text/javascript; charset=utf-8", LIVE_SCRIPT) }),
        )
        .with_state(state)
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
        .into_response()
}
