//! The session cookie and the signed-in staff person of a request. The cookie holds a random
//! secret (HttpOnly, SameSite=Strict, Secure over https); the store holds its hash, the person's
//! address and the CSRF token, and ends it after 8 hours or 30 idle minutes.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{DashboardState, language};
use crate::domain::Actor;
use crate::services::sign_in::{SESSION_ABSOLUTE_MS, SignedIn, csrf_matches};

pub const COOKIE: &str = "amtsbote_session";

/// The staff person signed in for this request, and the page language.
pub struct Staff {
    pub session: SignedIn,
    pub lang: &'static str,
}

impl Staff {
    pub fn actor(&self) -> &Actor {
        &self.session.actor
    }

    /// The refusal of a state-changing request whose form does not carry the session's CSRF
    /// token; `None` when it does.
    pub fn without_csrf(&self, state: &DashboardState, given: Option<&str>) -> Option<Response> {
        if csrf_matches(&self.session, given.unwrap_or("")) {
            return None;
        }
        tracing::warn!(actor = %self.actor().audit_name(), "dashboard request without a valid CSRF token refused");
        Some(state.message(StatusCode::FORBIDDEN, self.lang, "dash-csrf-refused", &[]))
    }
}

impl FromRequestParts<Arc<DashboardState>> for Staff {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<DashboardState>,
    ) -> Result<Self, Self::Rejection> {
        let lang = language(&parts.headers);
        let signed_out = || {
            let mut r = state.message(StatusCode::UNAUTHORIZED, lang, "dash-signed-out", &[]);
            r.headers_mut()
                .insert(header::SET_COOKIE, clear_cookie(state.sign_in.secure()));
            r
        };
        let Some(secret) = cookie(&parts.headers, COOKIE) else {
            return Err(signed_out());
        };
        match state.sign_in.session(secret).await {
            Ok(Some(session)) => Ok(Staff { session, lang }),
            Ok(None) => Err(signed_out()),
            Err(e) => {
                tracing::error!(error = %e, "dashboard: the session could not be read");
                Err(state.message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    lang,
                    "dash-unavailable",
                    &[],
                ))
            }
        }
    }
}

/// The value of cookie `name` in the request, if any.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The cookie that carries a new session.
pub fn session_cookie(secret: &str, secure: bool) -> HeaderValue {
    let value = format!(
        "{COOKIE}={secret}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_ABSOLUTE_MS / 1000,
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| clear_cookie(secure))
}

/// The cookie that removes the session's from the browser.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    if secure {
        HeaderValue::from_static(
            "amtsbote_session=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0; Secure",
        )
    } else {
        HeaderValue::from_static(
            "amtsbote_session=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0",
        )
    }
}

/// Redirects after a POST (303: the browser follows with GET).
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}
