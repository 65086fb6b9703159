//! `amtsbote doctor`: what the service needs before it is trusted, checked without sending to
//! anyone: the configuration, the database and its migrations, each platform's token and state,
//! the clock and the open-file limit. Each check is a value; rendering is the caller's. No
//! token reaches a check's text: platform errors are read from their bodies, network errors
//! without their URL (Telegram's holds the token).

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::Value;

use crate::config::{Config, TelegramConfig, WhatsappConfig};
use crate::store::Store;

/// The clock may differ from the database's by this much before it is worth a warning:
/// leases, schedules and sign-in links are timed by both.
const CLOCK_TOLERANCE_MS: i64 = 2_000;
/// Below this hard open-file limit the HTTP side takes fewer connections than configured.
const MIN_OPEN_FILES: u64 = 4_096;
const PLATFORM_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    /// Not configured, or not checkable because an earlier check failed.
    Skip,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

fn check(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
    }
}

/// Every check's outcome, in order.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl Report {
    fn of(checks: Vec<Check>) -> Report {
        Report {
            ok: !checks.iter().any(|c| c.status == Status::Fail),
            checks,
        }
    }

    /// The report when the configuration does not load: nothing else can be checked.
    pub fn configuration_failed(error: &str) -> Report {
        Report::of(vec![check("configuration", Status::Fail, error)])
    }

    /// One line per check, aligned, for a person.
    pub fn table(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for c in &self.checks {
            out.push_str(&format!(
                "{:<width$}  {:<4}  {}\n",
                c.name,
                c.status.as_str(),
                c.detail
            ));
        }
        out
    }
}

/// Runs every check against `config`.
pub async fn examine(config: &Config) -> Report {
    let mut checks = vec![check("configuration", Status::Ok, "loaded")];
    checks.extend(database_checks(&config.database_url).await);
    let client = crate::channels::http_client(PLATFORM_TIMEOUT, 1);
    match (&client, &config.telegram) {
        (_, None) => checks.push(check("telegram", Status::Skip, "not configured")),
        (Ok(client), Some(telegram)) => checks.extend(telegram_checks(client, telegram).await),
        (Err(e), Some(_)) => checks.push(check("telegram", Status::Fail, e.to_string())),
    }
    match (&client, &config.whatsapp) {
        (_, None) => checks.push(check("whatsapp", Status::Skip, "not configured")),
        (Ok(client), Some(whatsapp)) => checks.push(whatsapp_check(client, whatsapp).await),
        (Err(e), Some(_)) => checks.push(check("whatsapp", Status::Fail, e.to_string())),
    }
    checks.push(open_files_check());
    Report::of(checks)
}

/// The database answers, holds every migration, and keeps the host's time.
async fn database_checks(url: &str) -> Vec<Check> {
    // Opening a SQLite URL with `mode=rwc` would create an empty database: say so instead.
    if let Some(file) = crate::service::sqlite_file(url)
        && !file.is_file()
    {
        return vec![check(
            "database",
            Status::Fail,
            format!(
                "no database at {} (amtsbote migrate creates it)",
                file.display()
            ),
        )];
    }
    let kind = if crate::service::sqlite_file(url).is_some() {
        "SQLite"
    } else {
        "Postgres"
    };
    let store = match crate::store::connect(url).await {
        Ok(store) => store,
        Err(e) => return vec![check("database", Status::Fail, format!("{kind}: {e}"))],
    };
    if let Err(e) = store.ping().await {
        return vec![check("database", Status::Fail, format!("{kind}: {e}"))];
    }
    vec![
        check("database", Status::Ok, format!("{kind} answers")),
        migrations_check(&*store).await,
        clock_check(&*store).await,
    ]
}

async fn migrations_check(store: &dyn Store) -> Check {
    match store.schema().await {
        Ok(schema) if schema.is_current() => check("migrations", Status::Ok, schema.summary()),
        Ok(schema) => check("migrations", Status::Fail, schema.summary()),
        Err(e) => check("migrations", Status::Fail, e.to_string()),
    }
}

async fn clock_check(store: &dyn Store) -> Check {
    let before = chrono::Utc::now().timestamp_millis();
    let database = match store.clock_ms().await {
        Ok(ms) => ms,
        Err(e) => return check("clock", Status::Fail, e.to_string()),
    };
    let after = chrono::Utc::now().timestamp_millis();
    // The database read its clock somewhere between the two: compare with the middle.
    let skew = database - (before + after) / 2;
    let detail = format!("database and host differ by {skew} ms");
    if skew.abs() > CLOCK_TOLERANCE_MS {
        check(
            "clock",
            Status::Warn,
            format!("{detail} (more than {CLOCK_TOLERANCE_MS} ms: check NTP on both)"),
        )
    } else {
        check("clock", Status::Ok, detail)
    }
}

/// A platform's answer: its HTTP status and JSON body, or what kept it from answering (the
/// error without its URL).
async fn fetch(request: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
    let response = request
        .send()
        .await
        .map_err(crate::channels::describe_reqwest_error)?;
    let status = response.status().as_u16();
    let body = response
        .json::<Value>()
        .await
        .map_err(crate::channels::describe_reqwest_error)?;
    Ok((status, body))
}

/// `getMe` (the token) and `getWebhookInfo` (the service polls with `getUpdates`, which
/// Telegram refuses while a webhook is set).
async fn telegram_checks(client: &reqwest::Client, telegram: &TelegramConfig) -> Vec<Check> {
    let base = format!(
        "{}/bot{}",
        telegram.api_url.trim_end_matches('/'),
        telegram.token.expose_secret()
    );
    let me = match fetch(client.post(format!("{base}/getMe"))).await {
        Err(e) => {
            return vec![
                check("telegram token", Status::Fail, e),
                updates_unchecked(),
            ];
        }
        Ok((_, body)) if body["ok"] == true => {
            let r = &body["result"];
            check(
                "telegram token",
                Status::Ok,
                format!(
                    "@{} (bot id {})",
                    r["username"].as_str().unwrap_or("?"),
                    r["id"]
                ),
            )
        }
        Ok((status, body)) => {
            return vec![
                check(
                    "telegram token",
                    Status::Fail,
                    format!(
                        "refused: {status} {}",
                        body["description"].as_str().unwrap_or("(no description)")
                    ),
                ),
                updates_unchecked(),
            ];
        }
    };
    let hook = match fetch(client.post(format!("{base}/getWebhookInfo"))).await {
        Err(e) => check("telegram updates", Status::Fail, e),
        Ok((_, body)) if body["ok"] == true => webhook_state(&body["result"]),
        Ok((status, body)) => check(
            "telegram updates",
            Status::Fail,
            format!(
                "getWebhookInfo refused: {status} {}",
                body["description"].as_str().unwrap_or("(no description)")
            ),
        ),
    };
    vec![me, hook]
}

fn updates_unchecked() -> Check {
    check(
        "telegram updates",
        Status::Skip,
        "not checked without a working token",
    )
}

/// What `getWebhookInfo` says about polling: fine with no webhook set.
fn webhook_state(info: &Value) -> Check {
    let waiting = info["pending_update_count"].as_i64().unwrap_or(0);
    let url = info["url"].as_str().unwrap_or_default();
    if !url.is_empty() {
        // Only the host: a webhook's path often holds a secret.
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "?".into());
        return check(
            "telegram updates",
            Status::Fail,
            format!(
                "a webhook is set (to {host}): getUpdates is refused while it is; remove it with deleteWebhook"
            ),
        );
    }
    match info["last_error_message"].as_str() {
        Some(error) => check(
            "telegram updates",
            Status::Warn,
            format!("polling, {waiting} update(s) waiting; last error: {error}"),
        ),
        None => check(
            "telegram updates",
            Status::Ok,
            format!("polling (no webhook set), {waiting} update(s) waiting"),
        ),
    }
}

/// The phone number as Meta sees it: the token and number id hold, the quality rating and the
/// messaging limit tier.
async fn whatsapp_check(client: &reqwest::Client, whatsapp: &WhatsappConfig) -> Check {
    let url = format!(
        "{}/{}",
        whatsapp.api_url.trim_end_matches('/'),
        whatsapp.phone_number_id
    );
    let request = client
        .get(url)
        .query(&[(
            "fields",
            "verified_name,display_phone_number,quality_rating,messaging_limit_tier",
        )])
        .bearer_auth(whatsapp.access_token.expose_secret());
    let (status, body) = match fetch(request).await {
        Ok(answer) => answer,
        Err(e) => return check("whatsapp", Status::Fail, e),
    };
    if status != 200 {
        let error = &body["error"];
        return check(
            "whatsapp",
            Status::Fail,
            format!(
                "refused: {status}, Meta error {}: {}",
                error["code"],
                error["message"].as_str().unwrap_or("(no message)")
            ),
        );
    }
    let quality = body["quality_rating"].as_str().unwrap_or("UNKNOWN");
    let detail = format!(
        "{} ({}), quality {quality}, limit {}",
        body["display_phone_number"].as_str().unwrap_or("?"),
        body["verified_name"].as_str().unwrap_or("?"),
        body["messaging_limit_tier"].as_str().unwrap_or("?"),
    );
    // Meta lowers the messaging limit of a number rated RED; YELLOW is the warning before.
    let status = match quality {
        "GREEN" => Status::Ok,
        "RED" => Status::Fail,
        _ => Status::Warn,
    };
    check("whatsapp", status, detail)
}

/// The hard open-file limit: `run` raises the soft limit to it at start.
fn open_files_check() -> Check {
    use rustix::process::{Resource, getrlimit};
    let limit = getrlimit(Resource::Nofile);
    let show = |n: Option<u64>| n.map_or("unlimited".to_string(), |n| n.to_string());
    let detail = format!(
        "soft {}, hard {} (run raises the soft limit to the hard one)",
        show(limit.current),
        show(limit.maximum)
    );
    match limit.maximum {
        Some(hard) if hard < MIN_OPEN_FILES => check(
            "open files",
            Status::Warn,
            format!("{detail}; under {MIN_OPEN_FILES}: set LimitNOFILE=65536"),
        ),
        _ => check("open files", Status::Ok, detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_fails_polling_and_shows_only_its_host() {
        let set = webhook_state(&serde_json::json!({
            "url": "https://bot.example.org/hook/s3cret-path", "has_custom_certificate": false,
            "pending_update_count": 3
        }));
        assert_eq!(set.status, Status::Fail);
        assert!(set.detail.contains("bot.example.org"));
        assert!(!set.detail.contains("s3cret"));
        let polling = webhook_state(&serde_json::json!({
            "url": "", "has_custom_certificate": false, "pending_update_count": 0
        }));
        assert_eq!(polling.status, Status::Ok);
    }

    #[test]
    fn one_failure_fails_the_report() {
        let report = Report::of(vec![
            check("a", Status::Ok, ""),
            check("b", Status::Warn, ""),
        ]);
        assert!(report.ok);
        assert!(!Report::configuration_failed("bad").ok);
    }
}
