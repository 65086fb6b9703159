//! The one shape of every answer other than success, `{"error": "…", "field": "…"}` with its
//! status, and how a store error becomes one: what the caller did wrong is told, a failure of
//! ours is logged here with its cause and answered with a generic text.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::services::ServiceError;
use crate::store::StoreError;

/// An answer other than success.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    #[serde(skip)]
    #[schema(ignore)]
    pub status: StatusCode,
    /// What is wrong, for the developer of the calling system.
    pub error: String,
    /// The body field, path or query parameter or header at fault; null when it is none of them.
    #[schema(required = true)]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        ApiError {
            status,
            error: error.into(),
            field: None,
        }
    }

    /// The same error, naming the field, parameter or header at fault.
    pub fn at(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }

    /// 422: the request is readable, but this field's value is not acceptable.
    pub fn invalid(field: &str, error: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error).at(field)
    }

    pub fn no_such_broadcast(id: i64) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("broadcast {id} does not exist"),
        )
        .at("id")
    }

    /// A failure of ours, logged with its cause; the caller learns only that it happened.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "API request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; it has been logged",
        )
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Refused(r) => {
                tracing::info!(refusal = %r, "API request refused by the policy");
                ApiError::new(StatusCode::FORBIDDEN, r.to_string())
            }
            ServiceError::Invalid { field, message } => ApiError::invalid(field, message),
            ServiceError::NotFound(id) => ApiError::no_such_broadcast(id),
            e @ (ServiceError::WrongStatus { .. } | ServiceError::NoSchedule(_)) => {
                ApiError::new(StatusCode::CONFLICT, e.to_string())
            }
            e @ ServiceError::UnknownCode => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            ServiceError::IdempotencyConflict => StoreError::IdempotencyConflict.into(),
            ServiceError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownBroadcast(id) => ApiError::no_such_broadcast(id),
            StoreError::WrongStatus { id, status, .. } => {
                ApiError::new(StatusCode::CONFLICT, format!("broadcast {id} is {status}"))
            }
            StoreError::IdempotencyConflict => ApiError::invalid(
                "Idempotency-Key",
                "this Idempotency-Key was used for a different request",
            ),
            e if database_unreachable(&e) => {
                tracing::error!(error = %e, "API request failed: the database is unreachable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is not available; try again",
                )
            }
            e => ApiError::internal(&e),
        }
    }
}

/// Whether the database could not be reached at all (a retry may succeed), as opposed to a
/// statement that failed.
fn database_unreachable(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Database(
            sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
        )
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::info!(
                status = self.status.as_u16(),
                error = %self.error,
                field = self.field.as_deref(),
                "API request refused"
            );
        }
        let mut response = (self.status, Json(&self)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_failure_tells_the_caller_nothing_of_its_cause() {
        let unreachable = [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ];
        for e in unreachable {
            let answer = ApiError::from(StoreError::from(e));
            assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        }
        let failed = StoreError::from(sqlx::Error::Protocol(
            "syntax error at SELECT secret FROM tokens".into(),
        ));
        let answer = ApiError::from(failed);
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!answer.error.contains("SELECT"), "{}", answer.error);
        assert_eq!(answer.field, None);
    }

    #[test]
    fn what_the_caller_can_change_is_told() {
        assert_eq!(
            ApiError::from(StoreError::UnknownBroadcast(7)).status,
            StatusCode::NOT_FOUND
        );
        let reused = ApiError::from(StoreError::IdempotencyConflict);
        assert_eq!(
            (reused.status, reused.field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("Idempotency-Key"))
        );
    }
}
