//! The HTTP API as the city's CMS uses it: tokens and roles, idempotency, validation, the
//! broadcast lifecycle, and an OpenAPI document that matches the live router.

use std::sync::Arc;
use std::time::Duration;

use amtsbote::api::{ApiState, ApiToken, router};
use amtsbote::domain::Role;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDb, seed, spawn_app, test_lane, wait_until};

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
                person: None,
            },
            ApiToken {
                name: "leitstelle".into(),
                token: SecretString::from(EMERGENCY),
                role: Role::Emergency,
                person: None,
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
        .header("Content-Type", "application/json")
        .body("{topic:")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let not_json = api
        .client
        .post(format!("{}/api/v1/broadcasts", api.base))
        .bearer_auth(PRESS)
        .header("Content-Type", "text/plain")
        .body(r#"{"topic": "news", "text": "x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
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
            "DELETE /api/v1/staff/{person}",
            "GET /api/v1/areas",
            "GET /api/v1/broadcasts",
            "GET /api/v1/broadcasts/{id}",
            "GET /api/v1/stats",
            "GET /api/v1/templates",
            "POST /api/v1/broadcasts",
            "POST /api/v1/broadcasts/{id}/approve",
            "POST /api/v1/broadcasts/{id}/cancel",
            "POST /api/v1/broadcasts/{id}/confirm",
            "POST /api/v1/broadcasts/{id}/corrections",
            "POST /api/v1/broadcasts/{id}/retract",
            "POST /api/v1/drafts",
            "POST /api/v1/drills",
            "POST /api/v1/media",
            "POST /api/v1/staff",
            "POST /api/v1/templates",
        ]
    );
    // Every documented operation exists on the live router: without a token it answers 401,
    // where an unknown route would answer 404 and a wrong method 405.
    for op in &documented {
        let (method, path) = op.split_once(' ').unwrap();
        let url = format!(
            "{}{}",
            api.base,
            path.replace("{id}", "1").replace("{person}", "Anna")
        );
        let req = match method {
            "GET" => api.client.get(url),
            "DELETE" => api.client.delete(url),
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

/// The answer to a request: status, content type and body (Null when not JSON).
async fn answer(req: reqwest::RequestBuilder) -> (StatusCode, String, Value) {
    let r = req.send().await.unwrap();
    let status = r.status();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, r.json().await.unwrap_or(Value::Null))
}

/// Asserts the body is exactly `{"error": "<not empty>", "field": <string or null>}`.
fn assert_refusal(body: &Value, what: &str) {
    let object = body.as_object().unwrap_or_else(|| panic!("{what}: {body}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["error", "field"], "{what}: {body}");
    assert!(
        !body["error"].as_str().unwrap_or_default().is_empty(),
        "{what}: {body}"
    );
    assert!(
        body["field"].is_string() || body["field"].is_null(),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn an_id_that_is_not_a_64_bit_integer_is_a_bad_request_naming_the_field() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let api = start(&app).await;
    for (method, path) in [
        ("GET", "/api/v1/broadcasts/9223372036854775808"),
        ("GET", "/api/v1/broadcasts/-9223372036854775809"),
        ("GET", "/api/v1/broadcasts/abc"),
        ("POST", "/api/v1/broadcasts/1.5/confirm"),
        ("POST", "/api/v1/broadcasts/9223372036854775808/cancel"),
    ] {
        let url = format!("{}{path}", api.base);
        let req = match method {
            "GET" => api.client.get(url),
            _ => api.client.post(url),
        };
        let (status, content_type, body) = answer(req.bearer_auth(PRESS)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}");
        assert!(content_type.starts_with("application/json"), "{path}");
        assert_refusal(&body, path);
        assert_eq!(body["field"], "id", "{path}");
    }
    // The largest id is an id: there is just no such broadcast.
    let (status, body) = api
        .get("/api/v1/broadcasts/9223372036854775807", Some(PRESS))
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::NOT_FOUND, Some("id"))
    );
}

#[tokio::test]
async fn an_idempotency_key_that_is_not_visible_ascii_is_refused_and_creates_nothing() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let api = start(&app).await;
    let body = json!({"topic": "news", "text": "Straßenfest"});
    let too_long = "k".repeat(256);
    let bad: [&[u8]; 5] = [
        b"",
        b"mit leerzeichen",
        b"tab\there",
        too_long.as_bytes(),
        "schlüssel".as_bytes(),
    ];
    for key in bad {
        let key = reqwest::header::HeaderValue::from_bytes(key).unwrap();
        let req = api
            .client
            .post(format!("{}/api/v1/broadcasts", api.base))
            .bearer_auth(PRESS)
            .header("Idempotency-Key", key.clone())
            .json(&body);
        let (status, _, refusal) = answer(req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key:?}");
        assert_refusal(&refusal, "bad key");
        assert_eq!(refusal["field"], "Idempotency-Key", "{key:?}");
    }
    let twice = api
        .client
        .post(format!("{}/api/v1/broadcasts", api.base))
        .bearer_auth(PRESS)
        .header("Idempotency-Key", "a")
        .header("Idempotency-Key", "b")
        .json(&body);
    assert_eq!(answer(twice).await.0, StatusCode::BAD_REQUEST);
    assert!(db.store.list_broadcasts(10).await.unwrap().is_empty());

    let longest: String = (b'!'..=b'~').cycle().take(255).map(char::from).collect();
    let (status, _) = api
        .post("/api/v1/broadcasts", Some(PRESS), &body, Some(&longest))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_retry_whose_scheduled_time_has_passed_answers_with_the_broadcast_it_made() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 1, 0, &["news"]).await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let api = start(&app).await;
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let body = json!({"topic": "news", "text": "Sperrung Brücke", "scheduled_at": at.to_rfc3339()});
    let (status, first) = api
        .post("/api/v1/broadcasts", Some(PRESS), &body, Some("cms-late-1"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["status"], "scheduled");
    // The CMS did not see the answer and retries after the time has passed.
    wait_until(Duration::from_secs(5), "the time passed", || async move {
        chrono::Utc::now() > at
    })
    .await;
    let (status, again) = api
        .post("/api/v1/broadcasts", Some(PRESS), &body, Some("cms-late-1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], first["id"]);
    // Without the key, or with another body, a past time is still refused.
    let (status, refused) = api
        .post("/api/v1/broadcasts", Some(PRESS), &body, None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["field"], "scheduled_at");
    let other = json!({"topic": "news", "text": "etwas anderes", "scheduled_at": at.to_rfc3339()});
    let (status, refused) = api
        .post(
            "/api/v1/broadcasts",
            Some(PRESS),
            &other,
            Some("cms-late-1"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["field"], "Idempotency-Key");
    assert_eq!(db.store.list_broadcasts(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_text_with_a_nul_character_is_refused_naming_the_field() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let api = start(&app).await;
    for text in ["Rathaus\u{0}geschlossen", "\u{0}"] {
        let (status, refused) = api
            .post(
                "/api/v1/broadcasts",
                Some(PRESS),
                &json!({"topic": "news", "text": text}),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text:?}");
        assert_eq!(refused["field"], "text");
    }
    assert!(db.store.list_broadcasts(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_list_pages_newest_first_with_limit_and_before() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let api = start(&app).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let draft = n % 2 == 1;
        let (status, created) = api
            .post(
                "/api/v1/broadcasts",
                Some(PRESS),
                &json!({"topic": "news", "text": format!("Meldung {n}"), "draft": draft}),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        ids.push(created["id"].as_i64().unwrap());
    }
    let page = |query: String| {
        let api = &api;
        async move {
            let (status, list) = api
                .get(&format!("/api/v1/broadcasts{query}"), Some(PRESS))
                .await;
            assert_eq!(status, StatusCode::OK, "{query}: {list}");
            list.as_array()
                .unwrap()
                .iter()
                .map(|b| b["id"].as_i64().unwrap())
                .collect::<Vec<i64>>()
        }
    };
    assert_eq!(
        page(String::new()).await,
        [ids[4], ids[3], ids[2], ids[1], ids[0]]
    );
    assert_eq!(page("?limit=2".into()).await, [ids[4], ids[3]]);
    assert_eq!(
        page(format!("?limit=2&before={}", ids[3])).await,
        [ids[2], ids[1]]
    );
    assert_eq!(page(format!("?limit=2&before={}", ids[1])).await, [ids[0]]);
    assert_eq!(page(format!("?before={}", ids[0])).await, Vec::<i64>::new());
    assert_eq!(page("?status=draft&limit=1".into()).await, [ids[3]]);
    assert_eq!(
        page(format!("?status=draft&before={}", ids[3])).await,
        [ids[1]]
    );
    // Each broadcast comes with its deliveries per channel and status, zeros included.
    let (_, list) = api.get("/api/v1/broadcasts?limit=1", Some(PRESS)).await;
    assert_eq!(list[0]["deliveries"]["whatsapp"]["pending"], 0);

    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?limit=zehn", "limit"),
        ("?before=gestern", "before"),
        ("?before=9223372036854775808", "before"),
        ("?status=Draft", "status"),
    ] {
        let (status, refusal) = api
            .get(&format!("/api/v1/broadcasts{query}"), Some(PRESS))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(refusal["field"], field, "{query}");
    }
}

#[tokio::test]
async fn every_refusal_is_json_with_error_and_field_and_is_in_the_document() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let api = start(&app).await;
    let (_, doc) = api.get("/api/v1/openapi.json", None).await;
    let (_, released) = api
        .post(
            "/api/v1/broadcasts",
            Some(PRESS),
            &json!({"topic": "news", "text": "x"}),
            None,
        )
        .await;
    let (_, alert_draft) = api
        .post(
            "/api/v1/broadcasts",
            Some(EMERGENCY),
            &json!({"topic": "alerts", "text": "Sturm", "draft": true}),
            None,
        )
        .await;
    let url = |path: &str| format!("{}{path}", api.base);
    let c = &api.client;
    let create = || c.post(url("/api/v1/broadcasts")).bearer_auth(PRESS);
    let news = json!({"topic": "news", "text": "x"});
    let cases = [
        (
            "post",
            "/api/v1/broadcasts",
            c.post(url("/api/v1/broadcasts")).json(&news),
            401,
        ),
        (
            "get",
            "/api/v1/broadcasts",
            c.get(url("/api/v1/broadcasts")).bearer_auth("falsch"),
            401,
        ),
        ("get", "/api/v1/stats", c.get(url("/api/v1/stats")), 401),
        (
            "get",
            "/api/v1/broadcasts/{id}",
            c.get(url("/api/v1/broadcasts/9223372036854775808"))
                .bearer_auth(PRESS),
            400,
        ),
        (
            "get",
            "/api/v1/broadcasts/{id}",
            c.get(url("/api/v1/broadcasts/999")).bearer_auth(PRESS),
            404,
        ),
        (
            "post",
            "/api/v1/broadcasts",
            create()
                .header("Content-Type", "application/json")
                .body("{"),
            400,
        ),
        (
            "post",
            "/api/v1/broadcasts",
            create().header("Idempotency-Key", "").json(&news),
            400,
        ),
        ("post", "/api/v1/broadcasts", create().body("{}"), 415),
        (
            "post",
            "/api/v1/broadcasts",
            create().json(&json!({"topic": "news", "text": "x", "to": 1})),
            422,
        ),
        (
            "post",
            "/api/v1/broadcasts",
            create().json(&json!({"topic": "news", "text": "x", "draft": "ja"})),
            422,
        ),
        (
            "post",
            "/api/v1/broadcasts",
            create().json(&json!({"topic": "alerts", "text": "x"})),
            403,
        ),
        (
            "post",
            "/api/v1/broadcasts",
            create()
                .header("Content-Type", "application/json")
                .body(vec![b' '; 3 << 20]),
            413,
        ),
        (
            "get",
            "/api/v1/broadcasts",
            c.get(url("/api/v1/broadcasts?limit=0")).bearer_auth(PRESS),
            422,
        ),
        (
            "get",
            "/api/v1/broadcasts",
            c.get(url("/api/v1/broadcasts?status=draft&status=done"))
                .bearer_auth(PRESS),
            400,
        ),
        (
            "post",
            "/api/v1/broadcasts/{id}/confirm",
            c.post(url(&format!(
                "/api/v1/broadcasts/{}/confirm",
                released["id"]
            )))
            .bearer_auth(PRESS),
            409,
        ),
        (
            "post",
            "/api/v1/broadcasts/{id}/confirm",
            c.post(url(&format!(
                "/api/v1/broadcasts/{}/confirm",
                alert_draft["id"]
            )))
            .bearer_auth(PRESS),
            403,
        ),
        (
            "post",
            "/api/v1/broadcasts/{id}/cancel",
            c.post(url("/api/v1/broadcasts/999/cancel"))
                .bearer_auth(PRESS),
            404,
        ),
    ];
    for (method, path, req, expected) in cases {
        let what = format!("{method} {path} → {expected}");
        let (status, content_type, body) = answer(req).await;
        assert_eq!(status.as_u16(), expected, "{what}: {body}");
        assert!(content_type.starts_with("application/json"), "{what}");
        assert_refusal(&body, &what);
        let documented = &doc["paths"][path][method]["responses"][expected.to_string()];
        assert_eq!(
            documented["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ApiError",
            "{what} is not documented"
        );
    }
    // A method the route does not have: 405 with Allow, in the same shape.
    let wrong_method = c
        .delete(url("/api/v1/broadcasts/1"))
        .bearer_auth(PRESS)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong_method.headers().contains_key("allow"));
    assert_refusal(&wrong_method.json().await.unwrap(), "DELETE");
}

#[tokio::test]
async fn a_store_failure_is_a_500_that_shows_no_sql() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let api = start(&app).await;
    let news = json!({"topic": "news", "text": "x"});
    api.post("/api/v1/broadcasts", Some(PRESS), &news, None)
        .await;
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    sqlx::query("ALTER TABLE deliveries RENAME TO deliveries_elsewhere")
        .execute(&pool)
        .await
        .unwrap();
    let (status, body) = api.get("/api/v1/broadcasts", Some(PRESS)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_refusal(&body, "store failure");
    let error = body["error"].as_str().unwrap();
    assert!(
        !error.contains("deliveries") && !error.contains("SELECT"),
        "{error}"
    );
}

#[tokio::test]
async fn the_openapi_document_states_what_the_handlers_enforce() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let api = start(&app).await;
    let (_, doc) = api.get("/api/v1/openapi.json", None).await;
    let request = &doc["components"]["schemas"]["BroadcastRequest"];
    let field = |name: &str| &request["properties"][name];
    let topics: Vec<String> = amtsbote::config::default_topics()
        .iter()
        .map(|t| t.id.to_string())
        .collect();
    assert_eq!(field("topic")["enum"], json!(topics));
    assert_eq!(
        field("priority")["enum"],
        json!(["alert", "urgent", "normal", "low", null])
    );
    assert_eq!(
        field("kind")["enum"],
        json!(["announcement", "alert", "update", "allclear", null])
    );
    assert_eq!(field("text")["minLength"], 1);
    assert_eq!(field("text")["maxLength"], 16384);
    assert!(field("text")["pattern"].is_string());
    assert_eq!(field("scheduled_at")["format"], "date-time");
    assert_eq!(field("parent_id")["format"], "int64");
    assert_eq!(request["required"], json!(["topic", "text"]));
    assert_eq!(request["additionalProperties"], false);

    let create = &doc["paths"]["/api/v1/broadcasts"]["post"];
    let key = &create["parameters"][0];
    assert_eq!(key["name"], "Idempotency-Key");
    assert_eq!(key["schema"]["type"], "string");
    assert_eq!(key["schema"]["pattern"], "^[!-~]+$");
    assert_eq!(key["schema"]["maxLength"], 255);
    for path in [
        "/api/v1/broadcasts/{id}",
        "/api/v1/broadcasts/{id}/confirm",
        "/api/v1/broadcasts/{id}/cancel",
    ] {
        let operation = doc["paths"][path]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap();
        assert_eq!(
            operation["parameters"][0]["schema"]["format"], "int64",
            "{path}"
        );
    }
    let list = &doc["paths"]["/api/v1/broadcasts"]["get"]["parameters"];
    let limit = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(
        (
            &limit["schema"]["minimum"],
            &limit["schema"]["maximum"],
            &limit["schema"]["default"]
        ),
        (&json!(1), &json!(200), &json!(50))
    );
}

#[tokio::test]
async fn an_update_names_its_alert_and_reaches_the_alerts_recipients() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 2, 0, &["alerts"]).await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let api = start(&app).await;
    let (_, alert) = api
        .post(
            "/api/v1/broadcasts",
            Some(EMERGENCY),
            &json!({"topic": "alerts", "text": "Hochwasser"}),
            None,
        )
        .await;
    let alert_id = alert["id"].as_i64().unwrap();
    app.wait_done(alert_id, Duration::from_secs(20)).await;
    // Someone who subscribes after the alert does not get its update.
    seed(&*db.store, 3, 0, &["alerts"]).await;
    for parent in [json!("7"), json!(1.5), json!(9.3e18)] {
        let (status, refusal) = api
            .post(
                "/api/v1/broadcasts",
                Some(EMERGENCY),
                &json!({"topic": "alerts", "text": "x", "kind": "update", "parent_id": parent}),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{parent}");
        assert_eq!(refusal["field"], "parent_id", "{parent}");
    }
    // JSON Schema counts 3.0 as an integer, so it is one.
    let (status, update) = api
        .post(
            "/api/v1/broadcasts",
            Some(EMERGENCY),
            &json!({"topic": "alerts", "text": "Pegel sinkt", "kind": "update",
                    "parent_id": alert_id as f64}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{update}");
    app.wait_done(update["id"].as_i64().unwrap(), Duration::from_secs(20))
        .await;
    assert_eq!(
        app.sim.count_text("Pegel sinkt")[&amtsbote::domain::ChannelKind::Telegram],
        2
    );
}
