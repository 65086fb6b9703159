//! What the operator sees of a running service: Prometheus metrics without personal data.

use std::time::Duration;

use amtsbote::domain::BroadcastStatus;
use amtsbote::domain::ChannelKind;
use amtsbote::simulator::{Fault, Simulator};
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestDb, amtsbote, seed, wait_until};

#[tokio::test]
async fn metrics_parse_as_prometheus_text_hold_no_address_or_token_and_cover_the_alert_rules() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 4, 0, &["news"]).await;
    let shutdown = CancellationToken::new();
    let sim = Simulator::start(shutdown.clone()).await.unwrap();
    let port = crate::helpers::free_port();
    let token = "4242:metrics-secret-token";
    // A throttled send and a failing warnings feed: every series the alert rules use appears.
    sim.inject(
        ChannelKind::Telegram,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    );
    let _service = amtsbote()
        .env("AMTSBOTE_WARNINGS_ENABLED", "true")
        .env("AMTSBOTE_WARNINGS_ARS", "051110000000")
        .env("AMTSBOTE_WARNINGS_BASE_URL", "http://127.0.0.1:1")
        .env("AMTSBOTE_WARNINGS_POLL_SECONDS", "1")
        .env("AMTSBOTE_DATABASE_URL", &db.url)
        .env("AMTSBOTE_HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .env("AMTSBOTE_TELEGRAM_TOKEN", token)
        .env("AMTSBOTE_TELEGRAM_API_URL", &sim.telegram_url)
        .env("AMTSBOTE_API_TOKEN", "api-secret-token-0123456789")
        .stderr(std::process::Stdio::null())
        .arg("run")
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let (c, b) = (client.clone(), base.clone());
    wait_until(Duration::from_secs(20), "/readyz", move || {
        let (c, b) = (c.clone(), b.clone());
        async move { matches!(c.get(format!("{b}/readyz")).send().await, Ok(r) if r.status() == 200) }
    })
    .await;
    let created = client
        .post(format!("{base}/api/v1/broadcasts"))
        .bearer_auth("api-secret-token-0123456789")
        .json(&serde_json::json!({"topic": "news", "text": "Metrik"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let store = db.store.clone();
    wait_until(Duration::from_secs(20), "broadcast done", move || {
        let store = store.clone();
        async move {
            matches!(store.broadcast(id).await, Ok(Some(b)) if b.status == BroadcastStatus::Done)
        }
    })
    .await;

    let (c, b) = (client.clone(), base.clone());
    wait_until(
        Duration::from_secs(20),
        "a warnings poll counted",
        move || {
            let (c, b) = (c.clone(), b.clone());
            async move {
                let text = c.get(format!("{b}/metrics")).send().await;
                match text {
                    Ok(r) => r
                        .text()
                        .await
                        .unwrap_or_default()
                        .contains("amtsbote_warnings_polls_total"),
                    Err(_) => false,
                }
            }
        },
    )
    .await;
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus/amtsbote.rules.yml"
    ))
    .unwrap();
    let used: std::collections::BTreeSet<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("amtsbote_") && !w.ends_with('_'))
        .collect();
    assert!(used.len() >= 6, "{used:?}");
    for name in used {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))),
            "the alert rules use {name}, which /metrics does not expose:\n{text}"
        );
    }
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line}"));
        assert!(value.parse::<f64>().is_ok(), "value of {line}");
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "name of {line}"
        );
    }
    assert!(
        text.contains(r#"amtsbote_deliveries_total{channel="telegram",outcome="sent"} 4"#),
        "{text}"
    );
    assert!(
        text.contains(r#"amtsbote_subscribers{channel="telegram",topic="news"} 4"#),
        "{text}"
    );
    assert!(
        text.contains(r#"amtsbote_queue_depth{priority="alert"} 0"#),
        "{text}"
    );
    assert!(text.contains("amtsbote_send_seconds_bucket"), "{text}");
    // Subscriber addresses could only appear as label values; tokens anywhere.
    for address in ["1000", "1001", "1002", "1003"] {
        assert!(
            !text.contains(&format!("\"{address}\"")),
            "{address} appears in /metrics"
        );
    }
    for secret in ["metrics-secret-token", "api-secret-token"] {
        assert!(!text.contains(secret), "{secret} appears in /metrics");
    }
    shutdown.cancel();
}

#[tokio::test]
async fn the_bot_token_never_reaches_the_logs_when_telegram_is_unreachable() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let token = "987654:very-secret-bot-token";
    let mut service = amtsbote()
        .env("AMTSBOTE_DATABASE_URL", &db.url)
        .env("AMTSBOTE_TELEGRAM_TOKEN", token)
        // Nothing listens on port 1: every Bot API call fails with a network error.
        .env("AMTSBOTE_TELEGRAM_API_URL", "http://127.0.0.1:1")
        .env("RUST_LOG", "debug")
        .stderr(std::process::Stdio::from(log))
        .arg("run")
        .spawn()
        .unwrap();
    let path = log_path.clone();
    wait_until(
        Duration::from_secs(20),
        "failed Bot API calls in the log",
        move || {
            let path = path.clone();
            async move {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                text.contains("getUpdates failed") && text.contains("command menu")
            }
        },
    )
    .await;
    service.kill().await.unwrap();
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        !text.contains("very-secret-bot-token"),
        "the token is in the log:\n{text}"
    );
    assert!(!text.contains("987654:"), "part of the token is in the log");
}
