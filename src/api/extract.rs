//! What a request carries, checked before a handler runs: the caller behind the bearer token, a
//! broadcast id in the path, the list query, the Idempotency-Key header and the JSON body. Each
//! refuses with an [`ApiError`] naming what is wrong; the `…Errors` types, never built, put those
//! refusals in the OpenAPI document of every operation that uses the extractor.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, IntoResponses};

use super::doc::{STATUSES, one_of};
use super::{ApiError, ApiState};
use crate::domain::{BroadcastStatus, PersonName, Role};

/// Who is calling: the name and role of the bearer token the request carries, and the person
/// it is bound to.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
    pub person: Option<PersonName>,
}

impl Caller {
    /// How the audit log and `created_by` name this caller.
    pub fn actor(&self) -> String {
        format!("api:{}", self.name)
    }
}

impl FromRequestParts<Arc<ApiState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = |e: &str| ApiError::new(StatusCode::UNAUTHORIZED, e).at("Authorization");
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| unauthorized("missing bearer token"))?;
        // Every token is compared, by digest so all have one length, in constant time: timing
        // tells nothing about which token matched, nor how long any is.
        let given = Sha256::digest(given.as_bytes());
        let mut found = None;
        for t in &state.tokens {
            let known = Sha256::digest(t.token.expose_secret().as_bytes());
            if bool::from(known[..].ct_eq(&given[..])) {
                found = Some(t);
            }
        }
        let Some(token) = found else {
            tracing::warn!("API request with an unknown token");
            return Err(unauthorized("unknown bearer token"));
        };
        Ok(Caller {
            name: token.name.clone(),
            role: token.role,
            person: token.person.clone(),
        })
    }
}

/// The refusal of [`Caller`].
#[derive(IntoResponses)]
#[allow(dead_code, reason = "never built: it documents the answers")]
pub enum CallerErrors {
    /// No bearer token, or one that is not configured.
    #[response(status = 401)]
    Unauthorized(ApiError),
}

/// Answers when the store fails, which any operation may meet.
#[derive(IntoResponses)]
#[allow(dead_code, reason = "never built: it documents the answers")]
pub enum StoreErrors {
    /// A failure of the service; the cause is in its log.
    #[response(status = 500)]
    Internal(ApiError),
    /// The database cannot be reached; try again.
    #[response(status = 503)]
    Unavailable(ApiError),
}

/// The broadcast id of the path: a 64-bit integer.
#[derive(Debug, Clone, Copy)]
pub struct BroadcastId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for BroadcastId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<i64>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(BroadcastId(id)),
            Err(rejection) if rejection.status().is_client_error() => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "the broadcast id must be a whole number from {} to {}",
                    i64::MIN,
                    i64::MAX
                ),
            )
            .at("id")),
            Err(rejection) => Err(ApiError::internal(&rejection)),
        }
    }
}

/// The refusals of [`BroadcastId`] and of a lookup by it.
#[derive(IntoResponses)]
#[allow(dead_code, reason = "never built: it documents the answers")]
pub enum BroadcastIdErrors {
    /// The id is not a 64-bit integer.
    #[response(status = 400)]
    BadId(ApiError),
    /// There is no broadcast with this id.
    #[response(status = 404)]
    NotFound(ApiError),
}

/// The query of the list, as it arrives; [`ListQuery`] is what it means.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    #[param(schema_with = super::doc::status_filter)]
    status: Option<String>,
    /// How many broadcasts to answer at most, newest first.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200, default = 50)]
    limit: Option<String>,
    /// Only broadcasts older than this id: the last id of the previous page.
    #[param(value_type = Option<i64>)]
    before: Option<String>,
}

/// Which page of broadcasts to list.
#[derive(Debug, Clone, Copy)]
pub struct ListQuery {
    pub status: Option<BroadcastStatus>,
    pub before: Option<i64>,
    pub limit: u32,
}

impl ListQuery {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(raw) = Query::<ListParams>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        let status = raw
            .status
            .as_deref()
            .map(|s| one_of(&STATUSES, BroadcastStatus::as_str, "status", s))
            .transpose()
            .map_err(|e| ApiError::invalid("status", e))?;
        let limit = match raw.limit.as_deref() {
            None => Self::DEFAULT_LIMIT,
            Some(l) => whole_number(l)
                .and_then(|l| u32::try_from(l).ok())
                .filter(|l| (1..=Self::MAX_LIMIT).contains(l))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "limit",
                        format!("limit must be a whole number from 1 to {}", Self::MAX_LIMIT),
                    )
                })?,
        };
        let before = raw
            .before
            .as_deref()
            .map(|b| {
                whole_number(b)
                    .ok_or_else(|| ApiError::invalid("before", "before must be a broadcast id"))
            })
            .transpose()?;
        Ok(ListQuery {
            status,
            before,
            limit,
        })
    }
}

/// A whole number as JSON Schema counts them: `7`, and also `7.0` or `7e0`.
fn whole_number(s: &str) -> Option<i64> {
    s.parse::<i64>()
        .ok()
        .or_else(|| s.parse::<f64>().ok().and_then(integral))
}

/// The integer a float stands for, when it has no fraction and is below 2^53 in size, where
/// every integer is exact. (An integer literal too large for i64 arrives as a float: refused.)
pub fn integral(f: f64) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    (f.fract() == 0.0 && f.abs() < EXACT).then_some(f as i64)
}

/// The refusals of [`ListQuery`].
#[derive(IntoResponses)]
#[allow(dead_code, reason = "never built: it documents the answers")]
pub enum ListQueryErrors {
    /// The query string cannot be read (e.g. a parameter given twice).
    #[response(status = 400)]
    Unreadable(ApiError),
    /// A parameter's value is not one the API knows; `field` names it.
    #[response(status = 422)]
    Invalid(ApiError),
}

/// The Idempotency-Key header: 1 to 255 visible ASCII characters, when given.
#[derive(Debug, Clone, Default)]
pub struct IdempotencyKey(pub Option<String>);

impl IdempotencyKey {
    pub const HEADER: &'static str = "Idempotency-Key";
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let refuse = |e: &str| ApiError::new(StatusCode::BAD_REQUEST, e).at(Self::HEADER);
        let mut given = parts.headers.get_all(Self::HEADER).iter();
        let key = match (given.next(), given.next()) {
            (None, _) => return Ok(IdempotencyKey(None)),
            (Some(key), None) => key,
            (Some(_), Some(_)) => {
                return Err(refuse("send one Idempotency-Key header, not several"));
            }
        };
        let key = key
            .to_str()
            .ok()
            .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| refuse("an Idempotency-Key has 1 to 255 visible ASCII characters"))?;
        Ok(IdempotencyKey(Some(key.to_string())))
    }
}

/// The refusal of [`IdempotencyKey`].
#[derive(IntoResponses)]
#[allow(dead_code, reason = "never built: it documents the answers")]
pub enum IdempotencyKeyErrors {
    /// The Idempotency-Key is not 1 to 255 visible ASCII characters, or is given twice.
    #[response(status = 400)]
    BadKey(ApiError),
}

/// A JSON request body: `Content-Type: application/json`, read into `T`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON with Content-Type: application/json",
            )
            .at("Content-Type"));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        let unreadable = |e: serde_json::Error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the body is not readable JSON: {e}"),
            )
        };
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.classify() != serde_json::error::Category::Data {
                return unreadable(inner);
            }
            let refused = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, inner.to_string());
            if path == "." {
                refused
            } else {
                refused.at(&path)
            }
        })?;
        de.end().map_err(unreadable)?;
        Ok(JsonBody(value))
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The refusals of [`JsonBody`] (a value the handler refuses is a 422 too).
#[derive(IntoResponses)]
#[allow(dead_code, reason = "never built: it documents the answers")]
pub enum JsonBodyErrors {
    /// The body is not JSON.
    #[response(status = 400)]
    Unreadable(ApiError),
    /// The body is larger than the service reads.
    #[response(status = 413)]
    TooLarge(ApiError),
    /// The body was not sent as `application/json`.
    #[response(status = 415)]
    NotJson(ApiError),
    /// A field has a value of the wrong type, or is unknown; `field` names it where it can.
    #[response(status = 422)]
    Invalid(ApiError),
}
