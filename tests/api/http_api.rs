//! The HTTP API as the city's CMS uses it: tokens and roles, idempotency, validation, the
//! broadcast lifecycle, and an OpenAPI document that matches the live router.

use std::sync::Arc;
use std::time::Duration;

use amtsbote::api::{ApiState, ApiToken, router};
use amtsbote::domain::Role;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDb, seed, spawn_app, test_lane};

const PRESS: &str = "press-token-0123456789";
const EMERGENCY: &str = "emergency-token-0123456789";

struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let r = req.send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }
}

async fn start(app: &TestApp) -> Api {
    let state = Arc::new(ApiState {
        broadcasts: crate::helpers::broadcasts_on(app.store.clone(), Some(app), false),
        tokens: vec![
            ApiToken {
                name: "cms".into(),
                token: SecretString::from(PRESS),
                role: Role::Press,
            },
            ApiToken {
                name: "leitstelle".into(),
                token: SecretString::from(EMERGENCY),
                role: Role::Emergency,
            },
        ],
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = app.shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(state))
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
    });
    Api {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
    }
}

#[tokio::test]
async fn tokens_decide_who_may_announce_and_who_may_alert() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 2, 1, &["news", "alerts"]).await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let api = start(&app).await;
    let news = json!({"topic": "news", "text": "Rathaus geschlossen"});
    assert_eq!(
        api.post("/api/v1/broadcasts", None, &news, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.post("/api/v1/broadcasts", Some("wrong"), &news, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, created) = api
        .post("/api/v1/broadcasts", Some(PRESS), &news, None)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["status"], "released");
    assert_eq!(
        created["recipients"],
        json!({"telegram": 2, "whatsapp": 1, "total": 3})
    );
    for alert in [
        json!({"topic": "alerts", "text": "Sturm"}),
        json!({"topic": "news", "text": "Sturm", "priority": "alert"}),
        json!({"topic": "news", "text": "Sturm", "kind": "update"}),
    ] {
        assert_eq!(
            api.post("/api/v1/broadcasts", Some(PRESS), &alert, None)
                .await
                .0,
            StatusCode::FORBIDDEN,
            "{alert}"
        );
    }
    let (status, alert) = api
        .post(
            "/api/v1/broadcasts",
            Some(EMERGENCY),
            &json!({"topic": "alerts", "text": "Sturm"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(alert["priority"], "alert");
    let id = created["id"].as_i64().unwrap();
    app.wait_done(id, Duration::from_secs(20)).await;
    let (status, view) = api
        .get(&format!("/api/v1/broadcasts/{id}"), Some(PRESS))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "done");
    assert_eq!(view["deliveries"]["telegram"]["sent"], 2);
    let (_, stats) = api.get("/api/v1/stats", Some(PRESS)).await;
    assert_eq!(stats["subscribers"]["news"]["total"], 3);
}

#[tokio::test]
async fn a_retried_request_sends_nothing_new_and_a_reused_key_is_refused() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 3, 0, &["news"]).await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let api = start(&app).await;
    let body = json!({"topic": "news", "text": "Müllabfuhr verschoben"});
    let (first_status, first) = api
        .post("/api/v1/broadcasts", Some(PRESS), &body, Some("cms-77"))
        .await;
    assert_eq!(first_status, StatusCode::CREATED);
    app.wait_done(first["id"].as_i64().unwrap(), Duration::from_secs(20))
        .await;
    let (again_status, again) = api
        .post("/api/v1/broadcasts", Some(PRESS), &body, Some("cms-77"))
        .await;
    assert_eq!(again_status, StatusCode::OK);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(
        app.sim.count_text("Müllabfuhr verschoben")[&amtsbote::domain::ChannelKind::Telegram],
        3,
        "nothing new sent"
    );
    let other = json!({"topic": "news", "text": "etwas anderes"});
    let (status, err) = api
        .post("/api/v1/broadcasts", Some(PRESS), &other, Some("cms-77"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["field"], "Idempotency-Key");
}

#[tokio::test]
async fn bad_requests_get_clear_errors_naming_the_field() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let api = start(&app).await;
    let raw = api
        .client
        .post(format!("{}/api/v1/broadcasts", api.base))
        .bearer_auth(PRESS)
        .body("{topic:")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let long = "x".repeat(20_000);
    for (body, field) in [
        (json!({"topic": "weather", "text": "x"}), "topic"),
        (json!({"text": "x"}), "topic"),
        (json!({"topic": "news", "text": "  "}), "text"),
        (json!({"topic": "news", "text": long}), "text"),
        (
            json!({"topic": "news", "text": "x", "scheduled_at": "bald"}),
            "scheduled_at",
        ),
        (
            json!({"topic": "news", "text": "x", "scheduled_at": "2001-01-01T08:00:00Z"}),
            "scheduled_at",
        ),
        (
            json!({"topic": "news", "text": "x", "priority": "sehr"}),
            "priority",
        ),
    ] {
        let (status, err) = api
            .post("/api/v1/broadcasts", Some(PRESS), &body, None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(err["field"], field, "{body}: {err}");
        assert!(!err["error"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        api.get("/api/v1/broadcasts/999", Some(PRESS)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.post(
            "/api/v1/broadcasts/999/cancel",
            Some(PRESS),
            &json!({}),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn drafts_wait_for_confirmation_and_ended_broadcasts_cannot_be_cancelled() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 1, 0, &["news"]).await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let api = start(&app).await;
    let (_, draft) = api
        .post(
            "/api/v1/broadcasts",
            Some(PRESS),
            &json!({"topic": "news", "text": "Entwurf", "draft": true}),
            None,
        )
        .await;
    assert_eq!(draft["status"], "draft");
    let id = draft["id"].as_i64().unwrap();
    let (_, drafts) = api
        .get("/api/v1/broadcasts?status=draft", Some(PRESS))
        .await;
    assert_eq!(drafts.as_array().unwrap().len(), 1);
    let (status, confirmed) = api
        .post(
            &format!("/api/v1/broadcasts/{id}/confirm"),
            Some(PRESS),
            &json!({}),
            None,
        )
        .await;
    assert_eq!(
        (status, confirmed["status"].as_str()),
        (StatusCode::OK, Some("released"))
    );
    assert_eq!(
        api.post(
            &format!("/api/v1/broadcasts/{id}/confirm"),
            Some(PRESS),
            &json!({}),
            None
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    app.wait_done(id, Duration::from_secs(20)).await;
    assert_eq!(
        api.post(
            &format!("/api/v1/broadcasts/{id}/cancel"),
            Some(PRESS),
            &json!({}),
            None
        )
        .await
        .0,
        StatusCode::CONFLICT
    );

    let (_, planned) = api
        .post(
            "/api/v1/broadcasts",
            Some(PRESS),
            &json!({"topic": "news", "text": "Später", "scheduled_at": "2031-01-01 08:00"}),
            None,
        )
        .await;
    assert_eq!(planned["status"], "scheduled");
    let pid = planned["id"].as_i64().unwrap();
    let (status, cancelled) = api
        .post(
            &format!("/api/v1/broadcasts/{pid}/cancel"),
            Some(PRESS),
            &json!({}),
            None,
        )
        .await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    assert_eq!(
        api.get("/api/v1/broadcasts?status=nonsense", Some(PRESS))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn the_openapi_document_matches_the_live_router() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let api = start(&app).await;
    let (status, doc) = api.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    assert_eq!(
        documented,
        [
            "GET /api/v1/broadcasts",
            "GET /api/v1/broadcasts/{id}",
            "GET /api/v1/stats",
            "POST /api/v1/broadcasts",
            "POST /api/v1/broadcasts/{id}/cancel",
            "POST /api/v1/broadcasts/{id}/confirm",
        ]
    );
    // Every documented operation exists on the live router: without a token it answers 401,
    // where an unknown route would answer 404 and a wrong method 405.
    for op in &documented {
        let (method, path) = op.split_once(' ').unwrap();
        let url = format!("{}{}", api.base, path.replace("{id}", "1"));
        let req = match method {
            "GET" => api.client.get(url),
            _ => api.client.post(url).json(&json!({})),
        };
        assert_eq!(
            req.send().await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "{op}"
        );
    }
    assert_eq!(
        api.client
            .delete(format!("{}/api/v1/broadcasts/1", api.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}
