//! The command line as an operator and the press office use it.

use crate::helpers::{TestDb, amtsbote, seed};

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
    let port = crate::helpers::free_port();
    let child = amtsbote()
        .env("AMTSBOTE_DATABASE_URL", &db.url)
        .env("AMTSBOTE_HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .stderr(std::process::Stdio::piped())
        .arg("run")
        .spawn()
        .unwrap();
    crate::helpers::wait_ready(port).await;
    let health = reqwest::Client::new()
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

#[tokio::test]
async fn staff_are_people_on_the_command_line() {
    staff_addresses_of_a_person_share_a_role_and_go_together(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn staff_are_people_on_the_command_line_with_postgres() {
    if let Some(db) = TestDb::postgres().await {
        staff_addresses_of_a_person_share_a_role_and_go_together(db).await;
    }
}

/// `staff add` with these flags; `--person` when `person` is not empty.
fn staff_add(channel: &str, address: &str, role: &str, person: &str) -> Vec<String> {
    let mut args = [
        "staff",
        "add",
        "--channel",
        channel,
        "--address",
        address,
        "--role",
        role,
    ]
    .map(String::from)
    .to_vec();
    if !person.is_empty() {
        args.extend(["--person".to_string(), person.to_string()]);
    }
    args
}

async fn run_cli_with(db: &TestDb, args: &[String]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_cli(db, &args).await
}

async fn staff_addresses_of_a_person_share_a_role_and_go_together(db: TestDb) {
    let added = run_cli_with(&db, &staff_add("telegram", "901", "emergency", "Anna")).await;
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(String::from_utf8_lossy(&added.stdout).contains("Anna: telegram:901 is now emergency"));
    for (channel, address, role, person) in [
        ("whatsapp", "4917012345", "emergency", "Anna"),
        ("telegram", "902", "press", ""),
    ] {
        let out = run_cli_with(&db, &staff_add(channel, address, role, person)).await;
        assert!(out.status.success(), "{address}");
    }

    let refused = run_cli_with(&db, &staff_add("whatsapp", "4917099999", "press", "Anna")).await;
    assert_eq!(refused.status.code(), Some(2), "a refusal exits with 2");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("Anna is emergency"), "{stderr}");
    assert!(
        db.store
            .staff_member(amtsbote::domain::ChannelKind::Whatsapp, "4917099999")
            .await
            .unwrap()
            .is_none(),
        "nothing was added"
    );
    let bad_name = run_cli_with(&db, &staff_add("telegram", "903", "press", "telegram:1")).await;
    assert_eq!(bad_name.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_name.stderr).contains("invalid person name"));

    let list = run_cli(&db, &["staff", "list"]).await;
    let list = String::from_utf8_lossy(&list.stdout);
    let lines: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["Anna", "emergency"],
            vec!["telegram", "901"],
            vec!["whatsapp", "4917012345"],
            vec!["telegram:902", "press"],
            vec!["telegram", "902"],
        ],
        "{list}"
    );
    assert!(
        list.lines().nth(1).is_some_and(|l| l.starts_with("    ")),
        "addresses are indented under their person: {list}"
    );

    for both_or_neither in [
        "--person Anna --channel telegram --address 902",
        "--person Anna --channel telegram",
        "--channel telegram",
        "",
    ] {
        let args: Vec<&str> = ["staff", "remove"]
            .into_iter()
            .chain(both_or_neither.split_whitespace())
            .collect();
        let out = run_cli(&db, &args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    assert_eq!(
        db.store.list_staff().await.unwrap().len(),
        3,
        "nothing was removed"
    );

    let removed = run_cli(&db, &["staff", "remove", "--person", "Anna"]).await;
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert!(
        String::from_utf8_lossy(&removed.stdout).contains("Anna (2 addresses) is no longer staff")
    );
    let left: Vec<String> = db
        .store
        .list_staff()
        .await
        .unwrap()
        .iter()
        .map(|m| m.person.clone())
        .collect();
    assert_eq!(left, ["telegram:902"]);
    let again = run_cli(&db, &["staff", "remove", "--person", "Anna"]).await;
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("Anna is not staff"));

    let audit = String::from_utf8_lossy(&run_cli(&db, &["audit"]).await.stdout).to_string();
    assert!(audit.contains("Anna: telegram:901 as emergency"), "{audit}");
    assert!(
        audit.contains("Anna: telegram:901, whatsapp:4917012345"),
        "{audit}"
    );
}

#[tokio::test]
async fn staff_login_link_prints_one_url_and_is_refused_without_the_dashboard() {
    let db = TestDb::sqlite().await;
    db.store
        .set_staff(
            amtsbote::domain::ChannelKind::Telegram,
            "77",
            amtsbote::domain::Role::Admin,
            Some("Ada"),
        )
        .await
        .unwrap();
    let off = run_cli(&db, &["staff", "login-link", "--person", "Ada"]).await;
    assert_eq!(off.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&off.stderr).contains("AMTSBOTE_DASHBOARD_PUBLIC_URL"));
    let on = amtsbote()
        .env("AMTSBOTE_DATABASE_URL", &db.url)
        .env(
            "AMTSBOTE_DASHBOARD_PUBLIC_URL",
            "https://amtsbote.stadt.example",
        )
        .args(["staff", "login-link", "--person", "Ada"])
        .output()
        .await
        .unwrap();
    assert!(on.status.success());
    let out = String::from_utf8(on.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].starts_with("https://amtsbote.stadt.example/dashboard/login?token="));
    let unknown = amtsbote()
        .env("AMTSBOTE_DATABASE_URL", &db.url)
        .env(
            "AMTSBOTE_DASHBOARD_PUBLIC_URL",
            "https://amtsbote.stadt.example",
        )
        .args(["staff", "login-link", "--person", "Bob"])
        .output()
        .await
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}

#[tokio::test]
async fn a_stored_warning_is_replayed_dry_then_sent_once_and_listed_as_active() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 2, 1, &["alerts"]).await;
    let doc = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/nina/warning_dwd_profile_ha_edited.json"
    );
    let warnings = |args: &[&str]| {
        let mut cmd = amtsbote();
        cmd.env("AMTSBOTE_DATABASE_URL", &db.url)
            .env("AMTSBOTE_WARNINGS_ENABLED", "true")
            .env("AMTSBOTE_WARNINGS_ARS", "051110000000")
            .env("AMTSBOTE_WARNINGS_MODE", "auto")
            .arg("warnings")
            .args(args);
        cmd
    };
    let json = |out: &std::process::Output| -> serde_json::Value {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    let dry = json(&warnings(&["replay", doc]).output().await.expect("run"));
    assert_eq!(dry["decision"], "would_send_alert", "{dry}");
    assert!(
        dry["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Amtliche Warnung: Ausfall Notruf 112"))
    );
    assert!(db.store.list_broadcasts(5).await.expect("db").is_empty());

    let sent = json(
        &warnings(&["replay", doc, "--send"])
            .output()
            .await
            .expect("run"),
    );
    assert_eq!(sent["decision"], "sent", "{sent}");
    let again = json(
        &warnings(&["replay", doc, "--send"])
            .output()
            .await
            .expect("run"),
    );
    assert_eq!(again["decision"], "duplicate", "{again}");
    assert_eq!(db.store.list_broadcasts(5).await.expect("db").len(), 1);

    let status = json(&warnings(&["status", "--json"]).output().await.expect("run"));
    assert_eq!(
        status[0]["identifier"],
        "mow.DE-NW-BN-SE030-20201014-30-000"
    );
    assert_eq!(status[0]["decision"], "sent");

    // Not configured: refused with exit code 2.
    let off = run_cli(&db, &["warnings", "replay", doc]).await;
    assert_eq!(off.status.code(), Some(2));
}

#[tokio::test]
async fn short_secrets_and_a_malformed_app_secret_stop_the_start_with_exit_2_naming_the_variable() {
    let db = TestDb::sqlite().await;
    // WhatsApp on with valid secrets; each case spoils one value.
    let whatsapp = [
        ("AMTSBOTE_WHATSAPP_PHONE_NUMBER_ID", "1234"),
        ("AMTSBOTE_WHATSAPP_ACCESS_TOKEN", "wa-token"),
        (
            "AMTSBOTE_WHATSAPP_APP_SECRET",
            crate::helpers::WEBHOOK_SECRET,
        ),
        (
            "AMTSBOTE_WHATSAPP_VERIFY_TOKEN",
            crate::helpers::VERIFY_TOKEN,
        ),
    ];
    let start = |spoilt: (&'static str, &'static str)| {
        let mut cmd = amtsbote();
        cmd.env("AMTSBOTE_DATABASE_URL", &db.url);
        for (k, v) in whatsapp {
            cmd.env(k, v);
        }
        cmd.env(spoilt.0, spoilt.1).arg("migrate").output()
    };
    let fine = start(("AMTSBOTE_API_TOKEN", "press-token-0123456789"))
        .await
        .expect("runs");
    assert!(
        fine.status.success(),
        "{}",
        String::from_utf8_lossy(&fine.stderr)
    );
    for (var, value, says) in [
        (
            "AMTSBOTE_API_TOKEN",
            "kurz",
            "a token needs at least 16 characters",
        ),
        (
            "AMTSBOTE_API_EMERGENCY_TOKEN",
            "fifteen-chars-x",
            "a token needs at least 16 characters",
        ),
        (
            "AMTSBOTE_WHATSAPP_VERIFY_TOKEN",
            "verify-me",
            "the verify token needs at least 16 characters",
        ),
        (
            "AMTSBOTE_WHATSAPP_APP_SECRET",
            "amtsbote-fixture-secret-not-real",
            "the app secret is 32 hexadecimal characters",
        ),
        (
            "AMTSBOTE_WHATSAPP_APP_SECRET",
            "ff27a6934c41d005c02c3a94dbef570",
            "the app secret is 32 hexadecimal characters",
        ),
    ] {
        let out = start((var, value)).await.expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {stderr}");
        assert!(stderr.contains(&format!("{var}: {says}")), "{stderr}");
        assert!(
            !stderr.contains(value),
            "the secret is not repeated: {stderr}"
        );
    }
}
