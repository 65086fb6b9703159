//! `amtsbote doctor` against the fake platforms: every line passes with good tokens, a refused
//! token fails its line and the command, and no token is ever printed.

use amtsbote::simulator::Simulator;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestDb, VERIFY_TOKEN, WEBHOOK_SECRET, amtsbote};

const TELEGRAM_TOKEN: &str = "4711:doctor-telegram-secret";
const WHATSAPP_TOKEN: &str = "EAAdoctor-whatsapp-secret";

async fn doctor(url: &str, sim: &Simulator, args: &[&str]) -> (Option<i32>, String, String) {
    let out = amtsbote()
        .env("AMTSBOTE_DATABASE_URL", url)
        .env("AMTSBOTE_TELEGRAM_TOKEN", TELEGRAM_TOKEN)
        .env("AMTSBOTE_TELEGRAM_API_URL", &sim.telegram_url)
        .env("AMTSBOTE_WHATSAPP_API_URL", &sim.whatsapp_url)
        .env("AMTSBOTE_WHATSAPP_PHONE_NUMBER_ID", "109876543210")
        .env("AMTSBOTE_WHATSAPP_ACCESS_TOKEN", WHATSAPP_TOKEN)
        .env("AMTSBOTE_WHATSAPP_APP_SECRET", WEBHOOK_SECRET)
        .env("AMTSBOTE_WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN)
        .arg("doctor")
        .args(args)
        .output()
        .await
        .expect("run amtsbote doctor");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    for secret in [
        TELEGRAM_TOKEN,
        "doctor-telegram-secret",
        WHATSAPP_TOKEN,
        WEBHOOK_SECRET,
        VERIFY_TOKEN,
    ] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "a secret in the output:\n{stdout}\n{stderr}"
        );
    }
    (out.status.code(), stdout, stderr)
}

fn statuses(json: &str) -> Vec<(String, String)> {
    let report: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn status_of<'a>(checks: &'a [(String, String)], name: &str) -> &'a str {
    checks
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s.as_str())
        .unwrap_or_else(|| panic!("no check {name} in {checks:?}"))
}

async fn every_check_passes_against_the_fakes(db: TestDb) {
    let shutdown = CancellationToken::new();
    let sim = Simulator::start(shutdown.clone()).await.unwrap();
    let (code, table, stderr) = doctor(&db.url, &sim, &[]).await;
    assert_eq!(code, Some(0), "{table}{stderr}");
    for line in [
        "configuration",
        "database",
        "migrations",
        "clock",
        "telegram token",
        "telegram updates",
        "whatsapp",
        "open files",
    ] {
        assert!(
            table.lines().any(|l| l.starts_with(line)),
            "{line}: {table}"
        );
    }
    assert!(table.contains("@amtsbote_bot"), "{table}");
    assert!(table.contains("quality GREEN, limit TIER_1K"), "{table}");

    let (code, json, _) = doctor(&db.url, &sim, &["--json"]).await;
    assert_eq!(code, Some(0));
    let checks = statuses(&json);
    for (name, status) in &checks {
        // The open-file limit is the machine's: a warning there is no failure of the doctor.
        let allowed: &[&str] = if name == "open files" {
            &["ok", "warn"]
        } else {
            &["ok"]
        };
        assert!(
            allowed.contains(&status.as_str()),
            "{name}: {status} in {json}"
        );
    }
    shutdown.cancel();
}

#[tokio::test]
async fn every_check_passes_against_the_fakes_on_sqlite() {
    every_check_passes_against_the_fakes(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn every_check_passes_against_the_fakes_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        every_check_passes_against_the_fakes(db).await;
    }
}

#[tokio::test]
async fn a_refused_token_fails_its_line_and_the_command() {
    let db = TestDb::sqlite().await;
    let shutdown = CancellationToken::new();
    let sim = Simulator::start(shutdown.clone()).await.unwrap();
    sim.revoke_token(TELEGRAM_TOKEN);
    let (code, json, _) = doctor(&db.url, &sim, &["--json"]).await;
    assert_eq!(code, Some(1), "{json}");
    let checks = statuses(&json);
    assert_eq!(status_of(&checks, "telegram token"), "fail");
    assert_eq!(status_of(&checks, "database"), "ok");
    assert_eq!(status_of(&checks, "whatsapp"), "ok");

    sim.revoke_token(WHATSAPP_TOKEN);
    let (code, table, _) = doctor(&db.url, &sim, &[]).await;
    assert_eq!(code, Some(1), "{table}");
    let line = table
        .lines()
        .find(|l| l.starts_with("whatsapp"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        line.contains("FAIL") && line.contains("Meta error 190"),
        "{line}"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn a_missing_database_and_a_broken_configuration_each_fail() {
    let shutdown = CancellationToken::new();
    let sim = Simulator::start(shutdown.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.db");
    let url = format!("sqlite://{}?mode=rwc", missing.display());
    let (code, table, _) = doctor(&url, &sim, &[]).await;
    assert_eq!(code, Some(1), "{table}");
    assert!(table.contains("no database at"), "{table}");
    assert!(!missing.exists(), "the doctor creates no database");

    let out = amtsbote()
        .env("AMTSBOTE_TELEGRAM_RATE", "fast")
        .args(["doctor", "--json"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let checks = statuses(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(status_of(&checks, "configuration"), "fail");
    shutdown.cancel();
}
