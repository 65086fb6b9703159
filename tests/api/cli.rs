//! The command line as an operator and the press office use it.

use std::time::Duration;

use crate::helpers::{TestDb, amtsbote, seed, wait_until};

async fn run_cli(db: &TestDb, args: &[&str]) -> std::process::Output {
    amtsbote()
        .env("AMTSBOTE_DATABASE_URL", &db.url)
        .args(args)
        .output()
        .await
        .expect("run amtsbote")
}

#[tokio::test]
async fn broadcast_shows_a_preview_and_sends_only_with_yes() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 2, 1, &["news"]).await;

    let preview = run_cli(
        &db,
        &[
            "broadcast",
            "--topic",
            "news",
            "--text",
            "Wasserrohrbruch in der Hauptstraße",
        ],
    )
    .await;
    assert!(preview.status.success());
    let stdout = String::from_utf8_lossy(&preview.stdout);
    assert!(
        stdout.contains("Wasserrohrbruch in der Hauptstraße"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Recipients: 3 (Telegram 2, WhatsApp 1)"),
        "{stdout}"
    );
    assert!(
        db.store.list_broadcasts(10).await.unwrap().is_empty(),
        "a preview creates nothing"
    );

    let args = [
        "broadcast",
        "--topic",
        "news",
        "--text",
        "Wasserrohrbruch",
        "--yes",
        "--json",
        "--idempotency-key",
        "cms-1",
    ];
    let sent = run_cli(&db, &args).await;
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let first: serde_json::Value = serde_json::from_slice(&sent.stdout).unwrap();
    assert_eq!(first["recipients"], 3);
    let again: serde_json::Value =
        serde_json::from_slice(&run_cli(&db, &args).await.stdout).unwrap();
    assert_eq!(
        first["id"], again["id"],
        "a retried command creates nothing new"
    );
    assert_eq!(db.store.list_broadcasts(10).await.unwrap().len(), 1);

    let other = run_cli(
        &db,
        &[
            "broadcast",
            "--topic",
            "news",
            "--text",
            "Anders",
            "--yes",
            "--idempotency-key",
            "cms-1",
        ],
    )
    .await;
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("idempotency-key was already used"));
}

#[tokio::test]
async fn bad_input_gets_a_clear_error() {
    let db = TestDb::sqlite().await;
    let unknown = run_cli(&db, &["broadcast", "--topic", "weather", "--text", "x"]).await;
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("unknown topic 'weather'; valid topics: news, traffic, alerts"),
        "{stderr}"
    );

    let empty = run_cli(&db, &["broadcast", "--topic", "news", "--text", "   "]).await;
    assert!(String::from_utf8_lossy(&empty.stderr).contains("--text: the text is empty"));

    let bad = amtsbote()
        .env("AMTSBOTE_TELEGRAM_RATE", "fast")
        .arg("migrate")
        .output()
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("AMTSBOTE_TELEGRAM_RATE: invalid value 'fast'"),
        "{stderr}"
    );
}

#[tokio::test]
async fn cancel_and_stats_show_where_a_broadcast_is() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 3, 0, &["news"]).await;
    let sent = run_cli(
        &db,
        &[
            "broadcast",
            "--topic",
            "news",
            "--text",
            "x",
            "--yes",
            "--json",
        ],
    )
    .await;
    let id = serde_json::from_slice::<serde_json::Value>(&sent.stdout).unwrap()["id"]
        .as_i64()
        .unwrap();
    let cancelled = run_cli(&db, &["cancel", &id.to_string()]).await;
    assert!(String::from_utf8_lossy(&cancelled.stdout).contains("is cancelled"));
    let stats = run_cli(&db, &["stats", &id.to_string(), "--json"]).await;
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["broadcasts"][0]["broadcast"]["status"], "cancelled");
    let missing = run_cli(&db, &["stats", "999"]).await;
    assert!(String::from_utf8_lossy(&missing.stderr).contains("broadcast 999 does not exist"));
}

#[tokio::test]
async fn run_without_channels_serves_health_and_stops_on_sigterm() {
    let db = TestDb::sqlite().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = amtsbote()
        .env("AMTSBOTE_DATABASE_URL", &db.url)
        .env("AMTSBOTE_HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .stderr(std::process::Stdio::piped())
        .arg("run")
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    wait_until(Duration::from_secs(20), "/readyz answers 200", || {
        let (client, ready) = (client.clone(), ready.clone());
        async move { matches!(client.get(&ready).send().await, Ok(r) if r.status() == 200) }
    })
    .await;
    let health = client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");

    let pid = child.id().unwrap().to_string();
    assert!(
        tokio::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("no channel is configured"), "{log}");
    assert!(log.contains("Telegram is off"), "{log}");
}

#[tokio::test]
async fn staff_are_added_listed_removed_and_audited() {
    let db = TestDb::sqlite().await;
    let add = run_cli(
        &db,
        &[
            "staff",
            "add",
            "--channel",
            "telegram",
            "--address",
            "12345",
            "--role",
            "emergency",
        ],
    )
    .await;
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let bad = run_cli(
        &db,
        &[
            "staff",
            "add",
            "--channel",
            "whatsapp",
            "--address",
            "+49 170",
            "--role",
            "press",
        ],
    )
    .await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("digits without +"));
    let role = run_cli(
        &db,
        &[
            "staff",
            "add",
            "--channel",
            "telegram",
            "--address",
            "1",
            "--role",
            "mayor",
        ],
    )
    .await;
    assert_eq!(role.status.code(), Some(2), "clap refuses an unknown role");

    let list = run_cli(&db, &["staff", "list"]).await;
    assert!(String::from_utf8_lossy(&list.stdout).contains("12345"));
    assert!(
        run_cli(
            &db,
            &[
                "staff",
                "remove",
                "--channel",
                "telegram",
                "--address",
                "12345"
            ]
        )
        .await
        .status
        .success()
    );
    assert!(
        !run_cli(
            &db,
            &[
                "staff",
                "remove",
                "--channel",
                "telegram",
                "--address",
                "12345"
            ]
        )
        .await
        .status
        .success()
    );
    let audit = String::from_utf8_lossy(&run_cli(&db, &["audit"]).await.stdout).to_string();
    assert!(
        audit.contains("staff-add") && audit.contains("staff-remove"),
        "{audit}"
    );
}
