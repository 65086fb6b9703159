//! Configuration: an optional TOML file, overridden by environment variables. A file key
//! `section.key` is the variable `AMTSBOTE_SECTION_KEY`. Every value is checked at start-up; a
//! bad one stops the program with exit code 2 and names the variable or key.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::channels::whatsapp::Template;
use crate::domain::{BroadcastKind, Priority, Topic};
pub use crate::domain::{QuietPolicy, TopicConfig, default_topics};
use crate::queue::{EngineSettings, LaneSettings, RetryPolicy};

/// A configuration error: what is wrong, naming the variable or key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Every key the file may have, by section; the environment names follow from them.
const KNOWN: &[(&str, &[&str])] = &[
    ("database", &["url"]),
    ("instance", &["id"]),
    (
        "http",
        &[
            "listen",
            "admin_listen",
            "header_timeout_ms",
            "request_timeout_ms",
            "max_connections",
            "max_connections_per_ip",
            "min_body_bytes_per_s",
            "trusted_proxies",
        ],
    ),
    (
        "telegram",
        &["token", "api_url", "rate", "concurrency", "reply_share"],
    ),
    (
        "whatsapp",
        &[
            "api_url",
            "phone_number_id",
            "access_token",
            "app_secret",
            "verify_token",
            "rate",
            "concurrency",
            "reply_share",
            "template_announcement",
            "template_alert",
            "template_update",
            "template_allclear",
            "template_approval",
            "template_price",
            "messaging_limit",
        ],
    ),
    (
        "queue",
        &[
            "lease_secs",
            "send_timeout_ms",
            "max_attempts",
            "retry_initial_ms",
            "retry_max_secs",
            "batch_max",
            "fanout_chunk",
            "poll_ms",
        ],
    ),
    ("log", &["format"]),
    ("alerts", &["require_second_approval"]),
    ("schedule", &["timezone", "grace_minutes"]),
    ("quiet_hours", &["enabled", "start", "end"]),
    (
        "api",
        &[
            "token",
            "token_person",
            "emergency_token",
            "emergency_token_person",
            "tokens",
        ],
    ),
    ("dashboard", &["public_url"]),
    ("areas", &["file", "id_property", "name_property"]),
    (
        "warnings",
        &[
            "enabled",
            "ars",
            "base_url",
            "poll_seconds",
            "min_severity",
            "providers",
            "mode",
            "auto_release_minutes",
            "cap_feeds",
            "cap_allowed_hosts",
            "timeout_ms",
            "max_document_bytes",
        ],
    ),
];

/// The fewest characters of a secret the city chooses: an API token, the webhook's verify token.
pub const MIN_SECRET_CHARS: usize = 16;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://amtsbote.db?mode=rwc";
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
pub const DEFAULT_WHATSAPP_API_URL: &str = "https://graph.facebook.com/v23.0";

/// A recurring broadcast from the config file (`[[schedules]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Six fields: second minute hour day month weekday, city time.
    pub cron: String,
    pub topic: Topic,
    pub text: String,
    #[serde(default)]
    pub priority: Option<Priority>,
}

#[derive(Debug, Clone)]
pub struct TelegramConfig {
    pub token: SecretString,
    pub api_url: String,
}

#[derive(Debug, Clone)]
pub struct WhatsappConfig {
    pub api_url: String,
    pub phone_number_id: String,
    pub access_token: SecretString,
    pub app_secret: SecretString,
    pub verify_token: SecretString,
    pub templates: HashMap<BroadcastKind, Template>,
    /// Asks an approver outside the 24-hour window who has no other address to be asked on.
    pub approval_template: Option<Template>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub http_listen: SocketAddr,
    /// When set, the API, `/metrics` and `/readyz` are served here and `http_listen` serves
    /// only the webhook and `/healthz`.
    pub http_admin_listen: Option<SocketAddr>,
    pub http_limits: crate::http::Limits,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for limits per client).
    pub http_trusted_proxies: Vec<std::net::IpAddr>,
    pub telegram: Option<TelegramConfig>,
    pub telegram_lane: LaneSettings,
    pub whatsapp: Option<WhatsappConfig>,
    pub whatsapp_lane: LaneSettings,
    pub engine: EngineSettings,
    pub topics: Vec<TopicConfig>,
    pub log_format: LogFormat,
    /// A different emergency member must confirm an alert, update or all-clear.
    pub second_approval: bool,
    /// The city's time zone: schedules and times shown to people.
    pub tz: chrono_tz::Tz,
    /// How late a schedule may still fire after the service was down.
    pub schedule_grace: Duration,
    pub schedules: Vec<ScheduleConfig>,
    /// Bearer tokens of the HTTP API with their roles.
    pub api_tokens: Vec<crate::api::ApiToken>,
    /// Where staff reach the dashboard (`dashboard.public_url`); the dashboard is off without it.
    pub dashboard_url: Option<url::Url>,
    /// What WhatsApp templates cost, and the number's messaging limit, for previews.
    pub template_costs: crate::services::TemplateCosts,
    /// The official warnings feed, when `warnings.enabled`.
    pub warnings: Option<crate::warnings::WarningsSettings>,
    /// The city's districts (`areas.file`), when set.
    pub areas: Option<AreasSource>,
}

/// Where the city's districts come from: a GeoJSON file and the properties naming each one.
#[derive(Debug, Clone, PartialEq)]
pub struct AreasSource {
    pub file: PathBuf,
    pub id_property: String,
    pub name_property: String,
}

impl Config {
    /// Reads `path` (or `./amtsbote.toml` when it exists) and the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let default = PathBuf::from("amtsbote.toml");
        let path = match path {
            Some(p) => Some(p.to_path_buf()),
            None if default.exists() => Some(default),
            None => None,
        };
        let file = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    ConfigError(format!("cannot read config file {}: {e}", p.display()))
                })?;
                Some((p.display().to_string(), text))
            }
            None => None,
        };
        Config::from_sources(file.as_ref().map(|(n, t)| (n.as_str(), t.as_str())), &env)
    }

    /// Builds the configuration from a file's text (with its name, for messages) and variables.
    pub fn from_sources(
        file: Option<(&str, &str)>,
        env: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let s = Settings::new(file, env)?;
        let rate = |section: &str, default: u32| {
            s.get::<u32>(
                section,
                "rate",
                "a whole number of messages per second (0 = unlimited)",
            )
            .map(|v| v.unwrap_or(default))
        };
        let retry = RetryPolicy {
            max_attempts: s
                .get::<i32>("queue", "max_attempts", "a whole number ≥ 1")?
                .unwrap_or(10)
                .max(1),
            initial: Duration::from_millis(
                s.get("queue", "retry_initial_ms", "milliseconds")?
                    .unwrap_or(2000),
            ),
            max: Duration::from_secs(s.get("queue", "retry_max_secs", "seconds")?.unwrap_or(600)),
            ..RetryPolicy::default()
        };
        let tz = s
            .get::<chrono_tz::Tz>(
                "schedule",
                "timezone",
                "an IANA time zone like Europe/Berlin",
            )?
            .unwrap_or(chrono_tz::Europe::Berlin);
        let topics = s.topics()?;
        let clock = |key: &str, default: &str| -> Result<chrono::NaiveTime, ConfigError> {
            let raw = s
                .get::<String>("quiet_hours", key, "a time like 22:00")?
                .unwrap_or_else(|| default.into());
            chrono::NaiveTime::parse_from_str(raw.trim(), "%H:%M")
                .map_err(|_| s.invalid("quiet_hours", key, &raw, "a time like 22:00"))
        };
        let quiet = if s
            .get::<bool>("quiet_hours", "enabled", "true or false")?
            .unwrap_or(true)
        {
            Some(std::sync::Arc::new(crate::domain::time::QuietHours {
                start: clock("start", "22:00")?,
                end: clock("end", "07:00")?,
                tz,
                hold: topics
                    .iter()
                    .filter(|t| t.quiet == QuietPolicy::Hold)
                    .map(|t| t.id.to_string())
                    .collect(),
            }))
        } else {
            None
        };
        let lane = |section: &str, default_rate: u32| -> Result<LaneSettings, ConfigError> {
            let defaults = LaneSettings::default();
            Ok(LaneSettings {
                rate: rate(section, default_rate)?,
                concurrency: s
                    .get::<usize>(
                        section,
                        "concurrency",
                        "a whole number of parallel sends ≥ 1",
                    )?
                    .unwrap_or(defaults.concurrency)
                    .max(1),
                batch_max: s
                    .get::<u32>("queue", "batch_max", "a whole number ≥ 1")?
                    .unwrap_or(defaults.batch_max)
                    .max(1),
                send_timeout: Duration::from_millis(
                    s.get("queue", "send_timeout_ms", "milliseconds")?
                        .unwrap_or(10_000),
                ),
                lease: Duration::from_secs(s.get("queue", "lease_secs", "seconds")?.unwrap_or(60)),
                idle_poll: Duration::from_millis(
                    s.get("queue", "poll_ms", "milliseconds")?.unwrap_or(500),
                ),
                retry: retry.clone(),
                quiet: quiet.clone(),
                reply_share: s
                    .get::<u32>(section, "reply_share", "a percentage from 0 to 100")?
                    .unwrap_or(defaults.reply_share)
                    .min(100),
            })
        };
        let telegram_lane = lane("telegram", 30)?;
        let whatsapp_lane = lane("whatsapp", 80)?;

        let telegram = s
            .get::<String>("telegram", "token", "the bot token")?
            .filter(|t| !t.is_empty())
            .map(|token| {
                Ok::<_, ConfigError>(TelegramConfig {
                    token: SecretString::from(token),
                    api_url: s
                        .get::<String>("telegram", "api_url", "a URL")?
                        .unwrap_or_else(|| DEFAULT_TELEGRAM_API_URL.into()),
                })
            });
        let telegram = telegram.transpose()?;
        if let Some(tg) = &telegram
            && url::Url::parse(&tg.api_url).is_err()
        {
            return Err(s.invalid(
                "telegram",
                "api_url",
                &tg.api_url,
                "a URL like https://api.telegram.org",
            ));
        }
        let whatsapp = match (
            s.get::<String>("whatsapp", "phone_number_id", "the phone number id")?,
            s.get::<String>("whatsapp", "access_token", "the access token")?,
        ) {
            (Some(id), Some(token)) if !id.is_empty() && !token.is_empty() => {
                Some(WhatsappConfig {
                    api_url: s
                        .get::<String>("whatsapp", "api_url", "a URL")?
                        .unwrap_or_else(|| DEFAULT_WHATSAPP_API_URL.into()),
                    phone_number_id: id,
                    access_token: SecretString::from(token),
                    app_secret: SecretString::from(s.app_secret()?),
                    verify_token: SecretString::from(s.long_enough(
                        "whatsapp",
                        "verify_token",
                        "the verify token",
                        s.required(
                            "whatsapp",
                            "verify_token",
                            "the verify token of the webhook handshake",
                        )?,
                    )?),
                    templates: s.templates()?,
                    approval_template: s.template("template_approval")?,
                })
            }
            _ => None,
        };

        let database_url = s
            .get::<String>("database", "url", "a sqlite:// or postgres:// URL")?
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(s.invalid(
                "database",
                "url",
                &database_url,
                "a sqlite:// or postgres:// URL",
            ));
        }

        let log_format = match s.get::<String>("log", "format", "text or json")?.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(s.invalid("log", "format", other, "text or json")),
        };

        let instance = s
            .get::<String>("instance", "id", "a name for this instance")?
            .filter(|id| !id.trim().is_empty())
            .unwrap_or_else(crate::queue::hostname);
        if instance.len() > 200 || instance.chars().any(char::is_control) {
            return Err(s.invalid(
                "instance",
                "id",
                &instance,
                "a name of at most 200 printable characters",
            ));
        }
        let engine = EngineSettings {
            instance,
            fan_out_chunk: s
                .get::<u32>("queue", "fanout_chunk", "a whole number of deliveries ≥ 1")?
                .unwrap_or(EngineSettings::default().fan_out_chunk)
                .max(1),
            ..EngineSettings::default()
        };

        let default_limits = crate::http::Limits::default();
        let http_limits = crate::http::Limits {
            header_read: s
                .get::<u64>("http", "header_timeout_ms", "milliseconds ≥ 100")?
                .map(|ms| Duration::from_millis(ms.max(100)))
                .unwrap_or(default_limits.header_read),
            request: s
                .get::<u64>("http", "request_timeout_ms", "milliseconds ≥ 100")?
                .map(|ms| Duration::from_millis(ms.max(100)))
                .unwrap_or(default_limits.request),
            max_connections: s
                .get::<usize>("http", "max_connections", "a whole number ≥ 16")?
                .map(|n| n.max(16))
                .unwrap_or(default_limits.max_connections),
            max_connections_per_ip: s
                .get::<usize>(
                    "http",
                    "max_connections_per_ip",
                    "a whole number (0 = no cap, behind a proxy)",
                )?
                .unwrap_or(default_limits.max_connections_per_ip),
            min_body_rate: s
                .get::<u64>(
                    "http",
                    "min_body_bytes_per_s",
                    "bytes per second (0 = no minimum)",
                )?
                .unwrap_or(default_limits.min_body_rate),
        };

        Ok(Config {
            database_url,
            http_listen: s
                .get("http", "listen", "an address like 127.0.0.1:8080")?
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            http_admin_listen: s.get("http", "admin_listen", "an address like 127.0.0.1:8081")?,
            http_limits,
            http_trusted_proxies: s.trusted_proxies()?,
            telegram,
            telegram_lane,
            whatsapp,
            whatsapp_lane,
            engine,
            topics,
            log_format,
            second_approval: s
                .get::<bool>("alerts", "require_second_approval", "true or false")?
                .unwrap_or(false),
            tz: s
                .get::<chrono_tz::Tz>(
                    "schedule",
                    "timezone",
                    "an IANA time zone like Europe/Berlin",
                )?
                .unwrap_or(chrono_tz::Europe::Berlin),
            schedule_grace: Duration::from_secs(
                60 * s
                    .get::<u64>("schedule", "grace_minutes", "whole minutes")?
                    .unwrap_or(30),
            ),
            schedules: s.schedules()?,
            api_tokens: s.api_tokens()?,
            dashboard_url: s.dashboard_url()?,
            template_costs: crate::services::TemplateCosts {
                price_eur: s.template_prices()?,
                messaging_limit: s.messaging_limit()?,
            },
            warnings: s.warnings()?,
            areas: match s.get::<String>("areas", "file", "a path to a GeoJSON file")? {
                Some(file) if !file.trim().is_empty() => Some(AreasSource {
                    file: PathBuf::from(file.trim()),
                    id_property: s
                        .get::<String>("areas", "id_property", "a property name")?
                        .unwrap_or_else(|| "id".into()),
                    name_property: s
                        .get::<String>("areas", "name_property", "a property name")?
                        .unwrap_or_else(|| "name".into()),
                }),
                _ => None,
            },
        })
    }

    pub fn topic(&self, id: &str) -> Result<&TopicConfig, String> {
        self.topics
            .iter()
            .find(|t| t.id.as_str() == id)
            .ok_or_else(|| {
                let valid: Vec<&str> = self.topics.iter().map(|t| t.id.as_str()).collect();
                format!("unknown topic '{id}'; valid topics: {}", valid.join(", "))
            })
    }
}

/// The raw sources, read key by key with the error naming where a bad value came from.
struct Settings<'a> {
    file_name: String,
    file: BTreeMap<String, toml::Value>,
    env: &'a HashMap<String, String>,
}

impl<'a> Settings<'a> {
    fn new(
        file: Option<(&str, &str)>,
        env: &'a HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let (file_name, table) = match file {
            Some((name, text)) => {
                let table: toml::Table = text.parse().map_err(|e| {
                    ConfigError(format!("config file {name} is not valid TOML: {e}"))
                })?;
                (name.to_string(), table)
            }
            None => (String::new(), toml::Table::new()),
        };
        for (section, value) in &table {
            if section == "topics" || section == "schedules" {
                continue;
            }
            let Some((_, keys)) = KNOWN.iter().find(|(s, _)| s == section) else {
                return Err(ConfigError(format!(
                    "config file {file_name}: unknown section [{section}]"
                )));
            };
            let Some(inner) = value.as_table() else {
                return Err(ConfigError(format!(
                    "config file {file_name}: [{section}] must be a table"
                )));
            };
            for key in inner.keys() {
                if !keys.contains(&key.as_str()) {
                    return Err(ConfigError(format!(
                        "config file {file_name}: unknown key {section}.{key}; known: {}",
                        keys.join(", ")
                    )));
                }
            }
        }
        Ok(Settings {
            file_name,
            file: table.into_iter().collect(),
            env,
        })
    }

    fn var(section: &str, key: &str) -> String {
        format!("AMTSBOTE_{}_{}", section.to_uppercase(), key.to_uppercase())
    }

    fn invalid(&self, section: &str, key: &str, value: &str, expected: &str) -> ConfigError {
        let var = Self::var(section, key);
        if self.env.contains_key(&var) {
            ConfigError(format!(
                "{var}: invalid value '{value}', expected {expected}"
            ))
        } else {
            ConfigError(format!(
                "{section}.{key} in {}: invalid value '{value}', expected {expected}",
                self.file_name
            ))
        }
    }

    fn get<T: FromStr>(
        &self,
        section: &str,
        key: &str,
        expected: &str,
    ) -> Result<Option<T>, ConfigError> {
        let var = Self::var(section, key);
        let raw = if let Some(v) = self.env.get(&var) {
            v.clone()
        } else {
            match self.file.get(section).and_then(|s| s.get(key)) {
                None => return Ok(None),
                Some(toml::Value::String(s)) => s.clone(),
                Some(toml::Value::Integer(i)) => i.to_string(),
                Some(toml::Value::Float(f)) => f.to_string(),
                Some(toml::Value::Boolean(b)) => b.to_string(),
                Some(other) => other.to_string(),
            }
        };
        raw.trim()
            .parse::<T>()
            .map(Some)
            .map_err(|_| self.invalid(section, key, &raw, expected))
    }

    /// A value that must be there (naming the variable when it is not).
    fn required(&self, section: &str, key: &str, what: &str) -> Result<String, ConfigError> {
        match self.get::<String>(section, key, what)? {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ConfigError(format!(
                "{} ({section}.{key}) is missing: {what} is needed when WhatsApp is on",
                Self::var(section, key)
            ))),
        }
    }

    /// Where `section.key` came from, for a message that must not repeat its value (a secret).
    fn source(&self, section: &str, key: &str) -> String {
        let var = Self::var(section, key);
        if self.env.contains_key(&var) {
            var
        } else {
            format!("{section}.{key} in {}", self.file_name)
        }
    }

    /// `secret`, when it has at least [`MIN_SECRET_CHARS`] characters; the error names where it
    /// came from, never the value.
    fn long_enough(
        &self,
        section: &str,
        key: &str,
        what: &str,
        secret: String,
    ) -> Result<String, ConfigError> {
        let n = secret.chars().count();
        if n < MIN_SECRET_CHARS {
            return Err(ConfigError(format!(
                "{}: {what} needs at least {MIN_SECRET_CHARS} characters, this one has {n}",
                self.source(section, key)
            )));
        }
        Ok(secret)
    }

    /// `whatsapp.app_secret`: 32 hexadecimal characters, as Meta issues it (App settings →
    /// Basic); anything else would fail every webhook's signature.
    fn app_secret(&self) -> Result<String, ConfigError> {
        let secret = self.required(
            "whatsapp",
            "app_secret",
            "the app secret for webhook signatures",
        )?;
        if secret.len() != 32 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConfigError(format!(
                "{}: the app secret is 32 hexadecimal characters as Meta shows it (App settings → Basic); this one has {} characters{}",
                self.source("whatsapp", "app_secret"),
                secret.chars().count(),
                if secret.chars().all(|c| c.is_ascii_hexdigit()) {
                    ""
                } else {
                    ", not all hexadecimal"
                }
            )));
        }
        Ok(secret)
    }

    fn templates(&self) -> Result<HashMap<BroadcastKind, Template>, ConfigError> {
        let mut templates = HashMap::new();
        for kind in BroadcastKind::ALL {
            let key = format!("template_{}", kind.as_str());
            if let Some(t) = self.template(&key)? {
                templates.insert(kind, t);
            }
        }
        Ok(templates)
    }

    /// `dashboard.public_url`: an http(s) URL, or nothing.
    fn dashboard_url(&self) -> Result<Option<url::Url>, ConfigError> {
        let expected = "an http or https URL like https://amtsbote.stadt.de";
        match self.get::<String>("dashboard", "public_url", expected)? {
            Some(raw) if !raw.trim().is_empty() => match url::Url::parse(raw.trim()) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Some(u)),
                _ => Err(self.invalid("dashboard", "public_url", &raw, expected)),
            },
            _ => Ok(None),
        }
    }

    /// `whatsapp.template_price`: EUR per template message, one price for every kind (`0.0456`)
    /// or per kind (`announcement=0.0456, alert=0.0191`).
    fn template_prices(&self) -> Result<HashMap<BroadcastKind, f64>, ConfigError> {
        let expected = "EUR per template, e.g. 0.0456 or announcement=0.0456, alert=0.0191";
        let Some(raw) = self.get::<String>("whatsapp", "template_price", expected)? else {
            return Ok(HashMap::new());
        };
        let bad = || self.invalid("whatsapp", "template_price", &raw, expected);
        let price = |v: &str| match v.trim().parse::<f64>() {
            Ok(p) if p.is_finite() && p >= 0.0 => Ok(p),
            _ => Err(bad()),
        };
        if !raw.contains('=') {
            let p = price(&raw)?;
            return Ok(BroadcastKind::ALL.iter().map(|k| (*k, p)).collect());
        }
        let mut prices = HashMap::new();
        for part in raw.split(',').filter(|p| !p.trim().is_empty()) {
            let (kind, value) = part.split_once('=').ok_or_else(bad)?;
            let kind = BroadcastKind::ALL
                .iter()
                .find(|k| k.as_str() == kind.trim())
                .ok_or_else(bad)?;
            prices.insert(*kind, price(value)?);
        }
        Ok(prices)
    }

    /// `whatsapp.messaging_limit`: unique recipients per 24 h the number may start conversations
    /// with (250, 1000, 10000, 100000) or `unlimited`; Meta starts a new number at 250.
    fn messaging_limit(&self) -> Result<Option<u64>, ConfigError> {
        let expected = "250, 1000, 10000, 100000 or unlimited";
        match self.get::<String>("whatsapp", "messaging_limit", expected)? {
            None => Ok(Some(250)),
            Some(raw) if raw.trim() == "unlimited" => Ok(None),
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err(self.invalid("whatsapp", "messaging_limit", &raw, expected)),
            },
        }
    }

    /// The template `whatsapp.{key}`, `name:language`, if set.
    fn template(&self, key: &str) -> Result<Option<Template>, ConfigError> {
        match self.get::<String>("whatsapp", key, "name:language")? {
            Some(raw) => Template::parse(&raw)
                .map(Some)
                .map_err(|e| self.invalid("whatsapp", key, &raw, &e)),
            None => Ok(None),
        }
    }

    /// The API's tokens: `api.token` (press) and `api.emergency_token`, each bound to its holder
    /// with `…_person`, and `[[api.tokens]]` with `person`. Each has at least
    /// [`MIN_SECRET_CHARS`] characters.
    fn api_tokens(&self) -> Result<Vec<crate::api::ApiToken>, ConfigError> {
        use crate::domain::{PersonName, Role};
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Entry {
            name: String,
            token: String,
            role: Role,
            #[serde(default)]
            person: Option<String>,
        }
        const PERSON: &str = "a person's name as staff add --person takes it: 1-64 letters, digits, spaces, '.', '-' or '_'";
        let mut tokens = Vec::new();
        for (key, name, role) in [
            ("token", "press", Role::Press),
            ("emergency_token", "emergency", Role::Emergency),
        ] {
            let person_key = format!("{key}_person");
            let person = self
                .get::<String>("api", &person_key, PERSON)?
                .filter(|p| !p.is_empty())
                .map(|p| {
                    PersonName::parse(&p).map_err(|_| self.invalid("api", &person_key, &p, PERSON))
                })
                .transpose()?;
            let token = self
                .get::<String>("api", key, "a token")?
                .filter(|t| !t.is_empty())
                .map(|t| self.long_enough("api", key, "a token", t))
                .transpose()?;
            match token {
                Some(t) => tokens.push(crate::api::ApiToken {
                    name: name.into(),
                    token: SecretString::from(t),
                    role,
                    person,
                }),
                None if person.is_some() => {
                    return Err(ConfigError(format!(
                        "{} names the holder of a token, but {} is not set",
                        self.source("api", &person_key),
                        Self::var("api", key)
                    )));
                }
                None => {}
            }
        }
        if let Some(list) = self.file.get("api").and_then(|a| a.get("tokens")) {
            let entries: Vec<Entry> = list.clone().try_into().map_err(|e| {
                ConfigError(format!(
                    "[[api.tokens]] in {}: {e}; each needs name, token and role, and person for its holder",
                    self.file_name
                ))
            })?;
            for e in entries {
                let refused = |why: String| {
                    ConfigError(format!(
                        "[[api.tokens]] '{}' in {}: {why}",
                        e.name, self.file_name
                    ))
                };
                if e.token.chars().count() < MIN_SECRET_CHARS {
                    return Err(refused(format!(
                        "a token needs at least {MIN_SECRET_CHARS} characters"
                    )));
                }
                let person = e
                    .person
                    .as_deref()
                    .map(|p| PersonName::parse(p).map_err(refused))
                    .transpose()?;
                tokens.push(crate::api::ApiToken {
                    name: e.name,
                    token: SecretString::from(e.token),
                    role: e.role,
                    person,
                });
            }
        }
        Ok(tokens)
    }

    /// `http.trusted_proxies`: IP addresses.
    fn trusted_proxies(&self) -> Result<Vec<std::net::IpAddr>, ConfigError> {
        self.list("http", "trusted_proxies")
            .unwrap_or_default()
            .iter()
            .map(|a| {
                a.parse().map_err(|_| {
                    self.invalid(
                        "http",
                        "trusted_proxies",
                        a,
                        "IP addresses like 127.0.0.1, ::1",
                    )
                })
            })
            .collect()
    }

    /// A list: an array in the file, or comma-separated (the variable, or a string in the file).
    fn list(&self, section: &str, key: &str) -> Option<Vec<String>> {
        let items: Vec<String> = if let Some(v) = self.env.get(&Self::var(section, key)) {
            v.split(',').map(str::to_string).collect()
        } else {
            match self.file.get(section).and_then(|s| s.get(key))? {
                toml::Value::Array(a) => a
                    .iter()
                    .map(|v| match v {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect(),
                toml::Value::String(s) => s.split(',').map(str::to_string).collect(),
                other => vec![other.to_string()],
            }
        };
        Some(
            items
                .into_iter()
                .map(|i| i.trim().to_string())
                .filter(|i| !i.is_empty())
                .collect(),
        )
    }

    fn warnings(&self) -> Result<Option<crate::warnings::WarningsSettings>, ConfigError> {
        use crate::warnings::WarningsSettings;
        use crate::warnings::fetch::AllowedHost;
        use crate::warnings::mapping::{Ars, Provider, Severity};
        const W: &str = "warnings";
        if !self
            .get::<bool>(W, "enabled", "true or false")?
            .unwrap_or(false)
        {
            return Ok(None);
        }
        let defaults = WarningsSettings::default();
        let ars = self.list(W, "ars").unwrap_or_default();
        if ars.is_empty() {
            return Err(ConfigError(format!(
                "{} (warnings.ars) is missing: the district's Regionalschlüssel (like 051110000000) is needed when warnings are enabled",
                Self::var(W, "ars")
            )));
        }
        let ars = ars
            .iter()
            .map(|a| Ars::parse(a).map_err(|e| self.invalid(W, "ars", a, &e)))
            .collect::<Result<Vec<_>, _>>()?;
        let providers = match self.list(W, "providers") {
            None => defaults.providers.clone(),
            Some(list) => list
                .iter()
                .map(|p| {
                    p.parse::<Provider>()
                        .ok()
                        .filter(|p| *p != Provider::Cap)
                        .ok_or_else(|| {
                            self.invalid(
                                W,
                                "providers",
                                p,
                                "some of mowas, dwd, katwarn, biwapp, lhp, police",
                            )
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let base_url = self
            .get::<String>(W, "base_url", "a URL")?
            .unwrap_or(defaults.base_url);
        if url::Url::parse(&base_url).is_err() {
            return Err(self.invalid(
                W,
                "base_url",
                &base_url,
                "a URL like https://warnung.bund.de/api31",
            ));
        }
        let cap_feeds = self.list(W, "cap_feeds").unwrap_or_default();
        for f in &cap_feeds {
            if url::Url::parse(f).is_err() {
                return Err(self.invalid(
                    W,
                    "cap_feeds",
                    f,
                    "URLs of CAP 1.2 documents or Atom feeds",
                ));
            }
        }
        let cap_allowed_hosts = self
            .list(W, "cap_allowed_hosts")
            .unwrap_or_default()
            .iter()
            .map(|h| {
                AllowedHost::parse(h).map_err(|_| {
                    self.invalid(
                        W,
                        "cap_allowed_hosts",
                        h,
                        "host names or addresses like warnung.example.org or 127.0.0.1",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let approve = match self.get::<String>(W, "mode", "auto or approve")?.as_deref() {
            None | Some("approve") => true,
            Some("auto") => false,
            Some(other) => return Err(self.invalid(W, "mode", other, "auto or approve")),
        };
        let min_severity =
            match self.get::<String>(W, "min_severity", "Minor, Moderate, Severe or Extreme")? {
                None => defaults.min_severity,
                Some(raw) => raw
                    .parse::<Severity>()
                    .ok()
                    .filter(|s| *s != Severity::Unknown)
                    .ok_or_else(|| {
                        self.invalid(
                            W,
                            "min_severity",
                            &raw,
                            "Minor, Moderate, Severe or Extreme",
                        )
                    })?,
            };
        let poll = self
            .get::<u64>(W, "poll_seconds", "whole seconds ≥ 1")?
            .map(|s| Duration::from_secs(s.max(1)))
            .unwrap_or(defaults.poll);
        let auto_release =
            match self.get::<u64>(W, "auto_release_minutes", "whole minutes (0 = never)")? {
                None => defaults.auto_release,
                Some(0) => None,
                Some(m) => Some(Duration::from_secs(60 * m)),
            };
        let timeout = self
            .get::<u64>(W, "timeout_ms", "milliseconds ≥ 100")?
            .map(|ms| Duration::from_millis(ms.max(100)))
            .unwrap_or(defaults.timeout);
        let max_document_bytes = self
            .get::<u64>(W, "max_document_bytes", "a whole number of bytes ≥ 1024")?
            .map(|b| b.max(1024))
            .unwrap_or(defaults.max_document_bytes);
        Ok(Some(WarningsSettings {
            ars,
            base_url,
            poll,
            min_severity,
            providers,
            approve,
            auto_release,
            cap_feeds,
            cap_allowed_hosts,
            timeout,
            max_document_bytes,
        }))
    }

    fn schedules(&self) -> Result<Vec<ScheduleConfig>, ConfigError> {
        let Some(value) = self.file.get("schedules") else {
            return Ok(Vec::new());
        };
        let list: Vec<ScheduleConfig> = value.clone().try_into().map_err(|e| {
            ConfigError(format!(
                "[[schedules]] in {}: {e}; each needs cron, topic and text",
                self.file_name
            ))
        })?;
        for s in &list {
            crate::domain::time::Recurrence::parse(&s.cron)
                .map_err(|e| ConfigError(format!("[[schedules]] in {}: {e}", self.file_name)))?;
        }
        Ok(list)
    }

    fn topics(&self) -> Result<Vec<TopicConfig>, ConfigError> {
        let Some(value) = self.file.get("topics") else {
            return Ok(default_topics());
        };
        let topics: Vec<TopicConfig> = value.clone().try_into().map_err(|e| {
            ConfigError(format!(
                "[[topics]] in {}: {e}; each needs id, label_de, label_en and priority",
                self.file_name
            ))
        })?;
        if topics.is_empty() {
            return Err(ConfigError(format!(
                "[[topics]] in {}: at least one topic is needed",
                self.file_name
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for t in &topics {
            if !seen.insert(t.id.as_str()) {
                return Err(ConfigError(format!(
                    "[[topics]] in {}: topic '{}' is listed twice",
                    self.file_name, t.id
                )));
            }
        }
        Ok(topics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The configuration table in docs/configuration.md: every `section.key` in its file-key
    /// column.
    fn documented_keys() -> std::collections::BTreeSet<String> {
        include_str!("../docs/configuration.md")
            .lines()
            .filter(|l| l.starts_with("| "))
            .filter_map(|l| l.split(" | ").nth(1))
            .flat_map(|cell| {
                cell.split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter(|k| k.contains('.') && !k.contains(' '))
            .collect()
    }

    #[test]
    fn every_documented_key_is_accepted_and_every_accepted_key_is_documented() {
        let accepted: std::collections::BTreeSet<String> = KNOWN
            .iter()
            .flat_map(|(section, keys)| keys.iter().map(move |k| format!("{section}.{k}")))
            .collect();
        let documented = documented_keys();
        assert!(documented.len() > 40, "the table was found: {documented:?}");
        let refused: Vec<_> = documented.difference(&accepted).collect();
        assert!(
            refused.is_empty(),
            "documented in docs/configuration.md but refused: {refused:?}"
        );
        let undocumented: Vec<_> = accepted.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "accepted but not in docs/configuration.md's table: {undocumented:?}"
        );
        // And a file with each documented key is read (the value's check is the key's own).
        for key in &documented {
            let (section, name) = key.split_once('.').unwrap_or_default();
            let file = format!("[{section}]\n{name} = \"x\"\n");
            if let Err(ConfigError(e)) = Config::from_sources(Some(("a.toml", &file)), &env(&[])) {
                assert!(!e.contains("unknown"), "{key}: {e}");
            }
        }
    }

    #[test]
    fn an_instance_section_names_the_instance() {
        let file = "[instance]\nid = \"a\"\n";
        let c = Config::from_sources(Some(("amtsbote.toml", file)), &env(&[])).expect("valid");
        assert_eq!(c.engine.instance, "a");
    }

    #[test]
    fn defaults_need_nothing() {
        let c = Config::from_sources(None, &env(&[])).expect("defaults");
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.http_listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.telegram_lane.rate, 30);
        assert_eq!(c.whatsapp_lane.rate, 80);
        assert!(c.telegram.is_none() && c.whatsapp.is_none());
        let ids: Vec<&str> = c.topics.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["news", "traffic", "alerts"]);
        assert_eq!(c.topic("traffic").map(|t| t.priority), Ok(Priority::Urgent));
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let file = "[telegram]\nrate = 10\n[http]\nlisten = \"0.0.0.0:9000\"\n";
        let c = Config::from_sources(
            Some(("a.toml", file)),
            &env(&[("AMTSBOTE_TELEGRAM_RATE", "0")]),
        )
        .expect("valid");
        assert_eq!(c.telegram_lane.rate, 0);
        assert_eq!(c.http_listen.to_string(), "0.0.0.0:9000");
    }

    #[test]
    fn the_reply_share_is_a_percentage_per_lane() {
        let file = "[whatsapp]\nreply_share = 30\n";
        let c = Config::from_sources(
            Some(("a.toml", file)),
            &env(&[("AMTSBOTE_TELEGRAM_REPLY_SHARE", "250")]),
        )
        .expect("valid");
        assert_eq!(c.telegram_lane.reply_share, 100, "at most all of it");
        assert_eq!(c.whatsapp_lane.reply_share, 30);
        let c = Config::from_sources(None, &env(&[])).expect("defaults");
        assert_eq!(c.telegram_lane.reply_share, 15);
        let err = Config::from_sources(None, &env(&[("AMTSBOTE_WHATSAPP_REPLY_SHARE", "half")]))
            .unwrap_err();
        assert!(err.0.starts_with("AMTSBOTE_WHATSAPP_REPLY_SHARE"), "{err}");
    }

    #[test]
    fn a_bad_value_names_its_variable_or_key() {
        let err =
            Config::from_sources(None, &env(&[("AMTSBOTE_WHATSAPP_RATE", "fast")])).unwrap_err();
        assert!(
            err.0
                .starts_with("AMTSBOTE_WHATSAPP_RATE: invalid value 'fast'"),
            "{err}"
        );
        let err = Config::from_sources(
            Some(("a.toml", "[http]\nlisten = \"nowhere\"\n")),
            &env(&[]),
        )
        .unwrap_err();
        assert!(err.0.starts_with("http.listen in a.toml"), "{err}");
        let err =
            Config::from_sources(Some(("a.toml", "[http]\nlisen = 1\n")), &env(&[])).unwrap_err();
        assert!(err.0.contains("unknown key http.lisen"), "{err}");
        let err = Config::from_sources(None, &env(&[("AMTSBOTE_DATABASE_URL", "mysql://x")]))
            .unwrap_err();
        assert!(err.0.starts_with("AMTSBOTE_DATABASE_URL"), "{err}");
    }

    #[test]
    fn trusted_proxies_are_ip_addresses_and_none_by_default() {
        let c = Config::from_sources(None, &env(&[])).expect("defaults");
        assert!(c.http_trusted_proxies.is_empty());
        let file = "[http]\ntrusted_proxies = [\"127.0.0.1\", \"::1\"]\n";
        let c = Config::from_sources(Some(("a.toml", file)), &env(&[])).expect("valid");
        assert_eq!(c.http_trusted_proxies.len(), 2);
        let err = Config::from_sources(
            None,
            &env(&[("AMTSBOTE_HTTP_TRUSTED_PROXIES", "10.0.0.0/8")]),
        )
        .unwrap_err();
        assert!(
            err.0
                .starts_with("AMTSBOTE_HTTP_TRUSTED_PROXIES: invalid value '10.0.0.0/8'"),
            "{err}"
        );
    }

    #[test]
    fn the_dashboard_url_template_prices_and_messaging_limit_are_read_and_checked() {
        let c = Config::from_sources(None, &env(&[])).unwrap();
        assert_eq!(c.dashboard_url, None, "the dashboard is off by default");
        assert_eq!(c.template_costs.messaging_limit, Some(250));
        assert!(c.template_costs.price_eur.is_empty());
        let c = Config::from_sources(
            None,
            &env(&[
                ("AMTSBOTE_DASHBOARD_PUBLIC_URL", "https://amtsbote.stadt.de"),
                (
                    "AMTSBOTE_WHATSAPP_TEMPLATE_PRICE",
                    "announcement=0.0456, alert=0.0191",
                ),
                ("AMTSBOTE_WHATSAPP_MESSAGING_LIMIT", "unlimited"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.dashboard_url.map(|u| u.to_string()),
            Some("https://amtsbote.stadt.de/".into())
        );
        assert_eq!(c.template_costs.messaging_limit, None);
        assert_eq!(
            c.template_costs.price_eur.get(&BroadcastKind::Announcement),
            Some(&0.0456)
        );
        assert_eq!(c.template_costs.price_eur.get(&BroadcastKind::Update), None);
        let file = "[whatsapp]\ntemplate_price = 0.05\nmessaging_limit = 1000\n";
        let c = Config::from_sources(Some(("amtsbote.toml", file)), &env(&[])).unwrap();
        assert_eq!(c.template_costs.price_eur.len(), 4);
        assert_eq!(c.template_costs.messaging_limit, Some(1000));
        for (var, bad) in [
            ("AMTSBOTE_DASHBOARD_PUBLIC_URL", "ftp://x"),
            ("AMTSBOTE_WHATSAPP_TEMPLATE_PRICE", "teuer"),
            ("AMTSBOTE_WHATSAPP_TEMPLATE_PRICE", "warning=0.1"),
            ("AMTSBOTE_WHATSAPP_MESSAGING_LIMIT", "0"),
        ] {
            let err = Config::from_sources(None, &env(&[(var, bad)])).unwrap_err();
            assert!(err.0.starts_with(var), "{err}");
        }
    }

    #[test]
    fn whatsapp_needs_its_webhook_secrets_and_reads_templates() {
        let on = [
            ("AMTSBOTE_WHATSAPP_PHONE_NUMBER_ID", "123"),
            ("AMTSBOTE_WHATSAPP_ACCESS_TOKEN", "t"),
        ];
        let err = Config::from_sources(None, &env(&on)).unwrap_err();
        assert!(err.0.starts_with("AMTSBOTE_WHATSAPP_APP_SECRET"), "{err}");
        // An app secret as Meta issues it: 32 hexadecimal characters, and nothing else.
        for bad in [
            "geheim",
            "amtsbote-fixture-secret-not-real",
            "9f0c2b7e4a1d3c5b8e6f7a9d0c1b2e3",
            "9f0c2b7e4a1d3c5b8e6f7a9d0c1b2e3f4",
        ] {
            let mut all = on.to_vec();
            all.push(("AMTSBOTE_WHATSAPP_APP_SECRET", bad));
            let err = Config::from_sources(None, &env(&all)).unwrap_err();
            assert!(
                err.0.starts_with(
                    "AMTSBOTE_WHATSAPP_APP_SECRET: the app secret is 32 hexadecimal characters"
                ),
                "{err}"
            );
            assert!(!err.0.contains(bad), "the secret is not repeated: {err}");
        }
        let mut all = on.to_vec();
        all.push((
            "AMTSBOTE_WHATSAPP_APP_SECRET",
            "9F0C2B7E4A1D3C5B8E6F7A9D0C1B2E3F",
        ));
        let err = Config::from_sources(None, &env(&all)).unwrap_err();
        assert!(err.0.starts_with("AMTSBOTE_WHATSAPP_VERIFY_TOKEN"), "{err}");
        let mut short = all.clone();
        short.push(("AMTSBOTE_WHATSAPP_VERIFY_TOKEN", "v"));
        let err = Config::from_sources(None, &env(&short)).unwrap_err();
        assert!(
            err.0
                .starts_with("AMTSBOTE_WHATSAPP_VERIFY_TOKEN: the verify token needs at least 16"),
            "{err}"
        );
        all.push(("AMTSBOTE_WHATSAPP_VERIFY_TOKEN", "verify-me-0123456789"));
        all.push(("AMTSBOTE_WHATSAPP_TEMPLATE_ALERT", "stadt_warnung:de"));
        let c = Config::from_sources(None, &env(&all)).expect("valid");
        let wa = c.whatsapp.expect("WhatsApp on");
        assert_eq!(wa.templates[&BroadcastKind::Alert].name, "stadt_warnung");
        assert_eq!(wa.approval_template, None);
        all.push(("AMTSBOTE_WHATSAPP_TEMPLATE_APPROVAL", "stadt_freigabe:de"));
        let c = Config::from_sources(None, &env(&all)).expect("valid");
        let approval = c.whatsapp.and_then(|wa| wa.approval_template);
        assert_eq!(approval.map(|t| t.name), Some("stadt_freigabe".into()));
        all.push(("AMTSBOTE_WHATSAPP_TEMPLATE_UPDATE", "kaputt"));
        let err = Config::from_sources(None, &env(&all)).unwrap_err();
        assert!(
            err.0
                .starts_with("AMTSBOTE_WHATSAPP_TEMPLATE_UPDATE: invalid value 'kaputt'"),
            "{err}"
        );
    }

    #[test]
    fn api_tokens_have_16_characters_wherever_they_come_from_and_name_their_person() {
        let c = Config::from_sources(
            None,
            &env(&[
                ("AMTSBOTE_API_TOKEN", "press-token-0123456789"),
                ("AMTSBOTE_API_EMERGENCY_TOKEN", "emergency-token-0123456789"),
                ("AMTSBOTE_API_EMERGENCY_TOKEN_PERSON", " Anna Schmidt "),
            ]),
        )
        .expect("valid");
        let person = |i: usize| c.api_tokens[i].person.as_ref().map(|p| p.to_string());
        assert_eq!((person(0), person(1)), (None, Some("Anna Schmidt".into())));
        for (var, short) in [
            ("AMTSBOTE_API_TOKEN", "kurz"),
            ("AMTSBOTE_API_EMERGENCY_TOKEN", "fifteen-chars-x"),
        ] {
            let err = Config::from_sources(None, &env(&[(var, short)])).unwrap_err();
            assert!(
                err.0
                    .starts_with(&format!("{var}: a token needs at least 16 characters")),
                "{err}"
            );
            assert!(!err.0.contains(short), "the token is not repeated: {err}");
        }
        let err = Config::from_sources(
            Some(("a.toml", "[api]\nemergency_token = \"zu-kurz\"\n")),
            &env(&[]),
        )
        .unwrap_err();
        assert!(err.0.starts_with("api.emergency_token in a.toml"), "{err}");
        let err = Config::from_sources(
            None,
            &env(&[
                ("AMTSBOTE_API_TOKEN", "press-token-0123456789"),
                ("AMTSBOTE_API_TOKEN_PERSON", "telegram:901"),
            ]),
        )
        .unwrap_err();
        assert!(err.0.starts_with("AMTSBOTE_API_TOKEN_PERSON"), "{err}");
        let err =
            Config::from_sources(None, &env(&[("AMTSBOTE_API_TOKEN_PERSON", "Anna")])).unwrap_err();
        assert!(
            err.0
                .starts_with("AMTSBOTE_API_TOKEN_PERSON names the holder"),
            "{err}"
        );

        let file = "[[api.tokens]]\nname = \"leitstelle\"\ntoken = \"leitstelle-0123456789\"\nrole = \"emergency\"\nperson = \"Erika\"\n\
                    [[api.tokens]]\nname = \"cms\"\ntoken = \"cms-token-0123456789\"\nrole = \"press\"\n";
        let c = Config::from_sources(Some(("a.toml", file)), &env(&[])).expect("valid");
        assert_eq!(
            c.api_tokens[0].person.as_ref().map(|p| p.as_str()),
            Some("Erika")
        );
        assert_eq!(c.api_tokens[1].person, None);
        let bad = file.replace("\"Erika\"", "\"Erika;DROP\"");
        let err = Config::from_sources(Some(("a.toml", &bad)), &env(&[])).unwrap_err();
        assert!(
            err.0
                .starts_with("[[api.tokens]] 'leitstelle' in a.toml: invalid person name"),
            "{err}"
        );
    }

    #[test]
    fn quiet_hours_default_to_the_night_and_topics_may_hold() {
        let c = Config::from_sources(None, &env(&[])).expect("defaults");
        let q = c.telegram_lane.quiet.expect("on by default");
        assert_eq!(
            (q.start.to_string(), q.end.to_string()),
            ("22:00:00".into(), "07:00:00".into())
        );
        let file = "[[topics]]\nid = \"waste\"\nlabel_de = \"Abfall\"\nlabel_en = \"Waste\"\npriority = \"low\"\nquiet = \"hold\"\n";
        let c = Config::from_sources(
            Some(("a.toml", file)),
            &env(&[("AMTSBOTE_QUIET_HOURS_START", "23:30")]),
        )
        .expect("valid");
        let q = c.whatsapp_lane.quiet.expect("on");
        assert!(q.holds("waste"));
        assert_eq!(q.start.to_string(), "23:30:00");
        let err =
            Config::from_sources(None, &env(&[("AMTSBOTE_QUIET_HOURS_END", "7 Uhr")])).unwrap_err();
        assert!(err.0.starts_with("AMTSBOTE_QUIET_HOURS_END"), "{err}");
        let off = Config::from_sources(None, &env(&[("AMTSBOTE_QUIET_HOURS_ENABLED", "false")]))
            .expect("valid");
        assert!(off.telegram_lane.quiet.is_none());
    }

    #[test]
    fn the_example_config_is_valid_as_shipped_and_with_every_key_set() {
        let text = include_str!("../deploy/amtsbote.toml");
        Config::from_sources(Some(("deploy/amtsbote.toml", text)), &env(&[])).expect("as shipped");
        let uncommented: String = text
            .lines()
            .map(|l| {
                let t = l.strip_prefix("# ").unwrap_or(l);
                let setting = t.starts_with("[[")
                    || t.split_once(" = ").is_some_and(|(k, _)| {
                        k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    });
                if setting { t } else { l }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c = Config::from_sources(Some(("uncommented", &uncommented)), &env(&[]))
            .expect("every key set");
        assert_eq!(c.topics.len(), 3);
        assert_eq!(c.schedules.len(), 1);
        assert_eq!(c.api_tokens.len(), 1);
    }

    #[test]
    fn warnings_need_a_district_key_and_read_every_setting() {
        let on = ("AMTSBOTE_WARNINGS_ENABLED", "true");
        let err = Config::from_sources(None, &env(&[on])).unwrap_err();
        assert!(err.0.starts_with("AMTSBOTE_WARNINGS_ARS"), "{err}");
        let err = Config::from_sources(None, &env(&[on, ("AMTSBOTE_WARNINGS_ARS", "05111")]))
            .unwrap_err();
        assert!(
            err.0
                .starts_with("AMTSBOTE_WARNINGS_ARS: invalid value '05111'"),
            "{err}"
        );
        let c = Config::from_sources(None, &env(&[on, ("AMTSBOTE_WARNINGS_ARS", "051110000000")]))
            .expect("valid");
        let w = c.warnings.expect("on");
        assert!(w.approve);
        assert_eq!(w.poll, Duration::from_secs(60));
        assert_eq!(w.providers.len(), 6);
        let file = "[warnings]\nenabled = true\nars = [\"051110000000\", \"051120000000\"]\nmode = \"auto\"\n\
                    providers = [\"mowas\", \"dwd\"]\nmin_severity = \"Severe\"\nauto_release_minutes = 0\npoll_seconds = 1\n";
        let c = Config::from_sources(Some(("a.toml", file)), &env(&[])).expect("valid");
        let w = c.warnings.expect("on");
        assert_eq!(w.ars.len(), 2);
        assert!(!w.approve);
        assert_eq!(w.providers.len(), 2);
        assert_eq!(w.auto_release, None);
        assert_eq!(w.poll, Duration::from_secs(1));
        assert!(w.cap_allowed_hosts.is_empty());
        assert_eq!(w.max_document_bytes, 2_097_152, "2 MiB by default");
        let file = "[warnings]\nenabled = true\nars = \"051110000000\"\n\
                    cap_allowed_hosts = [\"cap.example.org\", \"127.0.0.1\"]\nmax_document_bytes = 65536\n";
        let w = Config::from_sources(Some(("a.toml", file)), &env(&[]))
            .expect("valid")
            .warnings
            .expect("on");
        assert_eq!(w.cap_allowed_hosts.len(), 2);
        assert_eq!(w.max_document_bytes, 65536);
        let w = Config::from_sources(
            Some(("a.toml", file)),
            &env(&[
                ("AMTSBOTE_WARNINGS_CAP_ALLOWED_HOSTS", "a.example, ::1"),
                ("AMTSBOTE_WARNINGS_MAX_DOCUMENT_BYTES", "1048576"),
            ]),
        )
        .expect("valid")
        .warnings
        .expect("on");
        assert_eq!(w.cap_allowed_hosts.len(), 2);
        assert_eq!(w.max_document_bytes, 1_048_576);
        for (var, bad) in [
            (
                "AMTSBOTE_WARNINGS_CAP_ALLOWED_HOSTS",
                "https://cap.example.org/",
            ),
            ("AMTSBOTE_WARNINGS_MAX_DOCUMENT_BYTES", "2MB"),
        ] {
            let err =
                Config::from_sources(Some(("a.toml", file)), &env(&[(var, bad)])).unwrap_err();
            assert!(err.0.starts_with(var), "{err}");
        }
        let err = Config::from_sources(
            None,
            &env(&[
                on,
                ("AMTSBOTE_WARNINGS_ARS", "051110000000"),
                ("AMTSBOTE_WARNINGS_MODE", "yolo"),
            ]),
        )
        .unwrap_err();
        assert!(err.0.starts_with("AMTSBOTE_WARNINGS_MODE"), "{err}");
        assert!(
            Config::from_sources(None, &env(&[]))
                .expect("off")
                .warnings
                .is_none()
        );
    }

    #[test]
    fn topics_come_from_the_file() {
        let file = "[[topics]]\nid = \"waste\"\nlabel_de = \"Abfall\"\nlabel_en = \"Waste\"\npriority = \"low\"\n";
        let c = Config::from_sources(Some(("a.toml", file)), &env(&[])).expect("valid");
        assert_eq!(c.topics.len(), 1);
        assert_eq!(c.topics[0].priority, Priority::Low);
        assert!(c.topic("news").unwrap_err().contains("valid topics: waste"));
    }
}
