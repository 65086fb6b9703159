//! Configuration: an optional TOML file, overridden by environment variables, overridden by
//! command-line flags. The file's shape and every key's documentation are the structs in
//! [`file`]; [`sources`] layers them. Every value is checked here at start-up; a bad one stops
//! the program with exit code 2 and names the variable, the flag or the key.

mod file;
mod sources;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::channels::whatsapp::{Template, Templates};
use crate::domain::{BroadcastKind, Priority, Topic};
pub use crate::domain::{QuietPolicy, TopicConfig, default_topics};
use crate::queue::{EngineSettings, LaneSettings, RetryPolicy};
use file::{FileConfig, NumberOrText};
pub use sources::reference;
use sources::{Sources, var};

/// A configuration error: what is wrong, naming the variable or key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The fewest characters of a secret the city chooses: an API token, the webhook's verify token.
pub const MIN_SECRET_CHARS: usize = 16;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://amtsbote.db?mode=rwc";
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
pub const DEFAULT_WHATSAPP_API_URL: &str = "https://graph.facebook.com/v23.0";

/// Command-line options that stand for a file key and win over the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--database-url`: `database.url`.
    pub database_url: Option<String>,
    /// `--telegram-rate`: `telegram.rate`.
    pub telegram_rate: Option<u32>,
    /// `--whatsapp-rate`: `whatsapp.rate`.
    pub whatsapp_rate: Option<u32>,
}

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
    pub templates: Templates,
    /// Asks an approver outside the 24-hour window who has no other address to be asked on.
    pub approval_template: Option<Template>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the city's districts are read from (`[areas]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreasSource {
    /// A GeoJSON FeatureCollection.
    pub file: PathBuf,
    /// The feature property holding a district's id.
    pub id_property: String,
    /// The feature property holding a district's name.
    pub name_property: String,
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
    /// Where broadcasts are posted besides the citizens' chats (`[[outlets]]`).
    pub outlets: Vec<crate::outlets::OutletSpec>,
    /// Bearer tokens of the HTTP API with their roles.
    pub api_tokens: Vec<crate::api::ApiToken>,
    /// Where staff reach the dashboard (`dashboard.public_url`); the dashboard is off without it.
    pub dashboard_url: Option<url::Url>,
    /// What WhatsApp templates cost, and the number's messaging limit, for previews.
    pub template_costs: crate::services::TemplateCosts,
    /// The official warnings feed, when `warnings.enabled`.
    pub warnings: Option<crate::warnings::WarningsSettings>,
    /// The city's districts, when `areas.file` is set (not read yet).
    pub areas: Option<AreasSource>,
    /// The public archive, when `archive.public_url` is set.
    pub archive: Option<ArchiveSettings>,
    /// How long a contributor's draft waits for the press office (`drafts.expire_days`).
    pub drafts_expire: Duration,
}

/// The public archive (`[archive]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveSettings {
    /// Where the archive is read; pages and links are made from it.
    pub public_url: url::Url,
    /// Origins allowed to frame the wall.
    pub embed_origins: Vec<String>,
    /// Whether messages to citizens end with the check link.
    pub footer: bool,
}

impl Config {
    /// Reads `path` (or `./amtsbote.toml` when it exists) and the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with_flags(path, &Flags::default())
    }

    /// As [`Config::load`], with the command line's options on top.
    pub fn load_with_flags(path: Option<&Path>, flags: &Flags) -> Result<Config, ConfigError> {
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
        Config::from_layers(
            file.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
            &env,
            flags,
        )
    }

    /// Builds the configuration from a file's text (with its name, for messages) and variables.
    pub fn from_sources(
        file: Option<(&str, &str)>,
        env: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        Config::from_layers(file, env, &Flags::default())
    }

    fn from_layers(
        file: Option<(&str, &str)>,
        env: &HashMap<String, String>,
        flags: &Flags,
    ) -> Result<Config, ConfigError> {
        let (f, s) = Sources::layer(file, env, flags)?;
        let retry = RetryPolicy {
            max_attempts: f.queue.max_attempts.max(1),
            initial: Duration::from_millis(f.queue.retry_initial_ms),
            max: Duration::from_secs(f.queue.retry_max_secs),
            ..RetryPolicy::default()
        };
        let tz = f.schedule.timezone.parse::<chrono_tz::Tz>().map_err(|_| {
            s.invalid(
                "schedule",
                "timezone",
                &f.schedule.timezone,
                "an IANA time zone like Europe/Berlin",
            )
        })?;
        let topics = topics(&f, &s)?;
        let outlets = outlets(&f, &s, &topics)?;
        let clock = |key: &str, raw: &str| {
            chrono::NaiveTime::parse_from_str(raw, "%H:%M")
                .map_err(|_| s.invalid("quiet_hours", key, raw, "a time like 22:00"))
        };
        let quiet = if f.quiet_hours.enabled {
            Some(std::sync::Arc::new(crate::domain::time::QuietHours {
                start: clock("start", &f.quiet_hours.start)?,
                end: clock("end", &f.quiet_hours.end)?,
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
        let lane = |rate: u32, concurrency: usize, reply_share: u32| LaneSettings {
            rate,
            concurrency: concurrency.max(1),
            batch_max: f.queue.batch_max.max(1),
            send_timeout: Duration::from_millis(f.queue.send_timeout_ms),
            lease: Duration::from_secs(f.queue.lease_secs),
            idle_poll: Duration::from_millis(f.queue.poll_ms),
            retry: retry.clone(),
            quiet: quiet.clone(),
            reply_share: reply_share.min(100),
            // Set by the service once the texts are loaded.
            footer: None,
        };
        let telegram_lane = lane(
            f.telegram.rate,
            f.telegram.concurrency,
            f.telegram.reply_share,
        );
        let whatsapp_lane = lane(
            f.whatsapp.rate,
            f.whatsapp.concurrency,
            f.whatsapp.reply_share,
        );

        let telegram = match f.telegram.token.as_deref() {
            Some(token) if !token.is_empty() => {
                if url::Url::parse(&f.telegram.api_url).is_err() {
                    return Err(s.invalid(
                        "telegram",
                        "api_url",
                        &f.telegram.api_url,
                        "a URL like https://api.telegram.org",
                    ));
                }
                Some(TelegramConfig {
                    token: SecretString::from(token),
                    api_url: f.telegram.api_url.clone(),
                })
            }
            _ => None,
        };
        let whatsapp = whatsapp(&f.whatsapp, &s)?;

        let database_url = f.database.url.clone();
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

        let log_format = match f.log.format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(s.invalid("log", "format", other, "text or json")),
        };

        let instance = f
            .instance
            .id
            .clone()
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
            fan_out_chunk: f.queue.fanout_chunk.max(1),
            keep_platform_ids: Duration::from_secs(
                u64::from(f.corrections.keep_days.max(1)) * 86_400,
            ),
            media_keep: Duration::from_secs(u64::from(f.media.keep_days.max(1)) * 86_400),
            outlets: outlets.iter().map(|o| o.route.clone()).collect(),
            ..EngineSettings::default()
        };

        let h = &f.http;
        let http_limits = crate::http::Limits {
            header_read: Duration::from_millis(h.header_timeout_ms.max(100)),
            request: Duration::from_millis(h.request_timeout_ms.max(100)),
            max_connections: h.max_connections.max(16),
            max_connections_per_ip: h.max_connections_per_ip,
            min_body_rate: h.min_body_bytes_per_s,
        };
        let address = |key: &str, raw: &str, example: &str| {
            raw.parse::<SocketAddr>()
                .map_err(|_| s.invalid("http", key, raw, &format!("an address like {example}")))
        };
        let http_trusted_proxies = h
            .trusted_proxies
            .0
            .iter()
            .map(|a| {
                a.parse().map_err(|_| {
                    s.invalid(
                        "http",
                        "trusted_proxies",
                        a,
                        "IP addresses like 127.0.0.1, ::1",
                    )
                })
            })
            .collect::<Result<_, _>>()?;

        Ok(Config {
            database_url,
            http_listen: address("listen", &h.listen, "127.0.0.1:8080")?,
            http_admin_listen: h
                .admin_listen
                .as_deref()
                .map(|a| address("admin_listen", a, "127.0.0.1:8081"))
                .transpose()?,
            http_limits,
            http_trusted_proxies,
            telegram,
            telegram_lane,
            whatsapp,
            whatsapp_lane,
            engine,
            topics,
            log_format,
            second_approval: f.alerts.require_second_approval,
            tz,
            schedule_grace: Duration::from_secs(60 * f.schedule.grace_minutes),
            schedules: schedules(&f, &s)?,
            outlets,
            api_tokens: api_tokens(&f, &s)?,
            dashboard_url: dashboard_url(&f, &s)?,
            template_costs: crate::services::TemplateCosts {
                price_eur: template_prices(&f.whatsapp, &s)?,
                messaging_limit: messaging_limit(&f.whatsapp, &s)?,
            },
            warnings: warnings(&f.warnings, &s)?,
            areas: areas(&f, &s)?,
            archive: archive(&f, &s)?,
            drafts_expire: Duration::from_secs(u64::from(f.drafts.expire_days.max(1)) * 86_400),
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

/// A value that must be there when WhatsApp is on (naming the variable when it is not).
fn required(value: &Option<String>, key: &str, what: &str) -> Result<String, ConfigError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v.clone()),
        _ => Err(ConfigError(format!(
            "{} (whatsapp.{key}) is missing: {what} is needed when WhatsApp is on",
            var("whatsapp", key)
        ))),
    }
}

/// `secret`, when it has at least [`MIN_SECRET_CHARS`] characters; the error names where it came
/// from, never the value.
fn long_enough(
    s: &Sources,
    section: &str,
    key: &str,
    what: &str,
    secret: String,
) -> Result<String, ConfigError> {
    let n = secret.chars().count();
    if n < MIN_SECRET_CHARS {
        return Err(ConfigError(format!(
            "{}: {what} needs at least {MIN_SECRET_CHARS} characters, this one has {n}",
            s.origin(section, key)
        )));
    }
    Ok(secret)
}

fn whatsapp(w: &file::Whatsapp, s: &Sources) -> Result<Option<WhatsappConfig>, ConfigError> {
    let (Some(id), Some(token)) = (&w.phone_number_id, &w.access_token) else {
        return Ok(None);
    };
    if id.is_empty() || token.is_empty() {
        return Ok(None);
    }
    let verify_token = required(
        &w.verify_token,
        "verify_token",
        "the verify token of the webhook handshake",
    );
    let app_secret = app_secret(w, s)?;
    let verify_token = long_enough(
        s,
        "whatsapp",
        "verify_token",
        "the verify token",
        verify_token?,
    )?;
    let mut templates = HashMap::new();
    for kind in BroadcastKind::ALL {
        let raw = match kind {
            BroadcastKind::Announcement => &w.template_announcement,
            BroadcastKind::Alert => &w.template_alert,
            BroadcastKind::Update => &w.template_update,
            BroadcastKind::Allclear => &w.template_allclear,
            // They go with the template of what they are about (alert or announcement).
            BroadcastKind::Correction | BroadcastKind::Retraction => continue,
        };
        if let Some(t) = template(raw, &format!("template_{}", kind.as_str()), s)? {
            templates.insert(kind, t);
        }
    }
    Ok(Some(WhatsappConfig {
        api_url: w.api_url.clone(),
        phone_number_id: id.clone(),
        access_token: SecretString::from(token.clone()),
        app_secret: SecretString::from(app_secret),
        verify_token: SecretString::from(verify_token),
        templates: Templates {
            by_kind: templates,
            picture: template(&w.template_picture, "template_picture", s)?,
            document: template(&w.template_document, "template_document", s)?,
        },
        approval_template: template(&w.template_approval, "template_approval", s)?,
    }))
}

/// `whatsapp.app_secret`: 32 hexadecimal characters, as Meta issues it (App settings → Basic);
/// anything else would fail every webhook's signature.
fn app_secret(w: &file::Whatsapp, s: &Sources) -> Result<String, ConfigError> {
    let secret = required(
        &w.app_secret,
        "app_secret",
        "the app secret for webhook signatures",
    )?;
    if secret.len() != 32 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ConfigError(format!(
            "{}: the app secret is 32 hexadecimal characters as Meta shows it (App settings → Basic); this one has {} characters{}",
            s.origin("whatsapp", "app_secret"),
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

/// The template `whatsapp.{key}`, `name:language`, if set.
fn template(raw: &Option<String>, key: &str, s: &Sources) -> Result<Option<Template>, ConfigError> {
    raw.as_deref()
        .map(|raw| Template::parse(raw).map_err(|e| s.invalid("whatsapp", key, raw, &e)))
        .transpose()
}

/// `dashboard.public_url`: an http(s) URL, or nothing.
fn dashboard_url(f: &FileConfig, s: &Sources) -> Result<Option<url::Url>, ConfigError> {
    let expected = "an http or https URL like https://amtsbote.stadt.de";
    match f.dashboard.public_url.as_deref() {
        Some(raw) if !raw.is_empty() => match url::Url::parse(raw) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Some(u)),
            _ => Err(s.invalid("dashboard", "public_url", raw, expected)),
        },
        _ => Ok(None),
    }
}

/// `whatsapp.template_price`: EUR per template message, one price for every kind (`0.0456`) or
/// per kind (`announcement=0.0456, alert=0.0191`).
fn template_prices(
    w: &file::Whatsapp,
    s: &Sources,
) -> Result<HashMap<BroadcastKind, f64>, ConfigError> {
    let expected = "EUR per template, e.g. 0.0456 or announcement=0.0456, alert=0.0191";
    let raw = match &w.template_price {
        None => return Ok(HashMap::new()),
        Some(NumberOrText::Whole(n)) => n.to_string(),
        Some(NumberOrText::Number(p)) => p.to_string(),
        Some(NumberOrText::Text(t)) => t.clone(),
    };
    let bad = || s.invalid("whatsapp", "template_price", &raw, expected);
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
fn messaging_limit(w: &file::Whatsapp, s: &Sources) -> Result<Option<u64>, ConfigError> {
    let expected = "250, 1000, 10000, 100000 or unlimited";
    match &w.messaging_limit {
        NumberOrText::Whole(n) if *n > 0 => Ok(Some(*n)),
        NumberOrText::Text(t) if t == "unlimited" => Ok(None),
        NumberOrText::Whole(n) => {
            Err(s.invalid("whatsapp", "messaging_limit", &n.to_string(), expected))
        }
        NumberOrText::Number(n) => {
            Err(s.invalid("whatsapp", "messaging_limit", &n.to_string(), expected))
        }
        NumberOrText::Text(t) => Err(s.invalid("whatsapp", "messaging_limit", t, expected)),
    }
}

/// The API's tokens: `api.token` (press) and `api.emergency_token`, each bound to its holder with
/// `…_person`, and `[[api.tokens]]` with `person`. Each has at least [`MIN_SECRET_CHARS`]
/// characters.
fn api_tokens(f: &FileConfig, s: &Sources) -> Result<Vec<crate::api::ApiToken>, ConfigError> {
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
    for (key, token, person, name, role) in [
        (
            "token",
            &f.api.token,
            &f.api.token_person,
            "press",
            Role::Press,
        ),
        (
            "emergency_token",
            &f.api.emergency_token,
            &f.api.emergency_token_person,
            "emergency",
            Role::Emergency,
        ),
    ] {
        let person_key = format!("{key}_person");
        let person = person
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(|p| PersonName::parse(p).map_err(|_| s.invalid("api", &person_key, p, PERSON)))
            .transpose()?;
        let token = token
            .clone()
            .filter(|t| !t.is_empty())
            .map(|t| long_enough(s, "api", key, "a token", t))
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
                    s.origin("api", &person_key),
                    var("api", key)
                )));
            }
            None => {}
        }
    }
    if let Some(list) = &f.api.tokens {
        let entries: Vec<Entry> = list.clone().try_into().map_err(|e| {
            ConfigError(format!(
                "[[api.tokens]] in {}: {e}; each needs name, token and role, and person for its holder",
                s.file_name()
            ))
        })?;
        for e in entries {
            let refused = |why: String| {
                ConfigError(format!(
                    "[[api.tokens]] '{}' in {}: {why}",
                    e.name,
                    s.file_name()
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

fn warnings(
    w: &file::Warnings,
    s: &Sources,
) -> Result<Option<crate::warnings::WarningsSettings>, ConfigError> {
    use crate::warnings::WarningsSettings;
    use crate::warnings::fetch::AllowedHost;
    use crate::warnings::mapping::{Ars, Provider, Severity};
    const W: &str = "warnings";
    if !w.enabled {
        return Ok(None);
    }
    if w.ars.0.is_empty() {
        return Err(ConfigError(format!(
            "{} (warnings.ars) is missing: the district's Regionalschlüssel (like 051110000000) is needed when warnings are enabled",
            var(W, "ars")
        )));
    }
    let ars = w
        .ars
        .0
        .iter()
        .map(|a| Ars::parse(a).map_err(|e| s.invalid(W, "ars", a, &e)))
        .collect::<Result<Vec<_>, _>>()?;
    let providers = w
        .providers
        .0
        .iter()
        .map(|p| {
            p.parse::<Provider>()
                .ok()
                .filter(|p| *p != Provider::Cap)
                .ok_or_else(|| {
                    s.invalid(
                        W,
                        "providers",
                        p,
                        "some of mowas, dwd, katwarn, biwapp, lhp, police",
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if url::Url::parse(&w.base_url).is_err() {
        return Err(s.invalid(
            W,
            "base_url",
            &w.base_url,
            "a URL like https://warnung.bund.de/api31",
        ));
    }
    for f in &w.cap_feeds.0 {
        if url::Url::parse(f).is_err() {
            return Err(s.invalid(W, "cap_feeds", f, "URLs of CAP 1.2 documents or Atom feeds"));
        }
    }
    let cap_allowed_hosts = w
        .cap_allowed_hosts
        .0
        .iter()
        .map(|h| {
            AllowedHost::parse(h).map_err(|_| {
                s.invalid(
                    W,
                    "cap_allowed_hosts",
                    h,
                    "host names or addresses like warnung.example.org or 127.0.0.1",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let approve = match w.mode.as_str() {
        "approve" => true,
        "auto" => false,
        other => return Err(s.invalid(W, "mode", other, "auto or approve")),
    };
    let min_severity = w
        .min_severity
        .parse::<Severity>()
        .ok()
        .filter(|s| *s != Severity::Unknown)
        .ok_or_else(|| {
            s.invalid(
                W,
                "min_severity",
                &w.min_severity,
                "Minor, Moderate, Severe or Extreme",
            )
        })?;
    Ok(Some(WarningsSettings {
        ars,
        base_url: w.base_url.clone(),
        poll: Duration::from_secs(w.poll_seconds.max(1)),
        min_severity,
        providers,
        approve,
        auto_release: (w.auto_release_minutes > 0)
            .then(|| Duration::from_secs(60 * w.auto_release_minutes)),
        cap_feeds: w.cap_feeds.0.clone(),
        cap_allowed_hosts,
        timeout: Duration::from_millis(w.timeout_ms.max(100)),
        max_document_bytes: w.max_document_bytes.max(1024),
    }))
}

/// `[archive]`: on with a public URL; embedding origins are URLs' origins.
fn archive(f: &FileConfig, s: &Sources) -> Result<Option<ArchiveSettings>, ConfigError> {
    let a = &f.archive;
    let Some(raw) = a.public_url.as_deref().filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let public_url = match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
        _ => {
            return Err(s.invalid(
                "archive",
                "public_url",
                raw,
                "an http or https URL like https://amtsbote.stadt.de",
            ));
        }
    };
    let mut embed_origins = Vec::new();
    for origin in &a.embed_origins.0 {
        match url::Url::parse(origin) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                embed_origins.push(u.origin().ascii_serialization());
            }
            _ => {
                return Err(s.invalid(
                    "archive",
                    "embed_origins",
                    origin,
                    "origins like https://www.stadt.de",
                ));
            }
        }
    }
    Ok(Some(ArchiveSettings {
        public_url,
        embed_origins,
        footer: a.footer.unwrap_or(true),
    }))
}

/// `[areas]`: where the districts are, when a file is named.
fn areas(f: &FileConfig, s: &Sources) -> Result<Option<AreasSource>, ConfigError> {
    let a = &f.areas;
    let Some(file) = a.file.clone().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(None);
    };
    for (key, value) in [
        ("id_property", &a.id_property),
        ("name_property", &a.name_property),
    ] {
        if value.is_empty() {
            return Err(s.invalid("areas", key, value, "the name of a feature property"));
        }
    }
    Ok(Some(AreasSource {
        file,
        id_property: a.id_property.clone(),
        name_property: a.name_property.clone(),
    }))
}

fn schedules(f: &FileConfig, s: &Sources) -> Result<Vec<ScheduleConfig>, ConfigError> {
    let Some(value) = &f.schedules else {
        return Ok(Vec::new());
    };
    let list: Vec<ScheduleConfig> = value.clone().try_into().map_err(|e| {
        ConfigError(format!(
            "[[schedules]] in {}: {e}; each needs cron, topic and text",
            s.file_name()
        ))
    })?;
    for entry in &list {
        crate::domain::time::Recurrence::parse(&entry.cron)
            .map_err(|e| ConfigError(format!("[[schedules]] in {}: {e}", s.file_name())))?;
    }
    Ok(list)
}

/// One `[[outlets]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutletEntry {
    kind: crate::domain::outlet::OutletKind,
    name: String,
    topics: Option<Vec<String>>,
    #[serde(default = "yes")]
    alerts: bool,
    rate_per_minute: Option<u32>,
    url: Option<String>,
    chat: Option<String>,
    handle: Option<String>,
    token_env: Option<String>,
    password_env: Option<String>,
    secret_env: Option<String>,
}

fn yes() -> bool {
    true
}

fn outlets(
    f: &FileConfig,
    s: &Sources,
    topics: &[TopicConfig],
) -> Result<Vec<crate::outlets::OutletSpec>, ConfigError> {
    use crate::domain::outlet::{OutletKind, OutletRoute};
    use crate::outlets::{OutletSettings, OutletSpec};
    let Some(value) = &f.outlets else {
        return Ok(Vec::new());
    };
    let file = s.file_name();
    let list: Vec<OutletEntry> = value.clone().try_into().map_err(|e| {
        ConfigError(format!(
            "[[outlets]] in {file}: {e}; each needs kind and name, and its kind's settings"
        ))
    })?;
    let mut specs: Vec<OutletSpec> = Vec::new();
    for e in list {
        let bad = |why: String| ConfigError(format!("[[outlets]] '{}' in {file}: {why}", e.name));
        let name_ok = !e.name.is_empty()
            && e.name.len() <= 40
            && e.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(bad("the name takes 1 to 40 letters, digits, - and _".into()));
        }
        if specs.iter().any(|o| o.route.name == e.name) {
            return Err(bad("the name is used twice".into()));
        }
        if let Some(list) = &e.topics {
            for t in list {
                if !topics.iter().any(|c| c.id.as_str() == t) {
                    return Err(bad(format!("unknown topic '{t}'")));
                }
            }
        }
        let url = |required: bool| -> Result<Option<url::Url>, ConfigError> {
            match &e.url {
                Some(u) => url::Url::parse(u)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .map(Some)
                    .ok_or_else(|| bad(format!("url '{u}' is not an http(s) address"))),
                None if required => Err(bad("url is needed".into())),
                None => Ok(None),
            }
        };
        // A secret is named by its variable in the file and read from the environment.
        let secret = |key: &str, var: &Option<String>| -> Result<SecretString, ConfigError> {
            let Some(var) = var else {
                return Err(bad(format!(
                    "{key} is needed: the name of the variable with the secret"
                )));
            };
            s.env_var(var)
                .map(|v| SecretString::from(v.to_string()))
                .ok_or_else(|| bad(format!("the variable {var} ({key}) is not set")))
        };
        let (settings, default_rate) = match e.kind {
            OutletKind::TelegramChannel => {
                let chat = e
                    .chat
                    .clone()
                    .filter(|c| c.starts_with('@') && c.len() > 1 || c.parse::<i64>().is_ok());
                match chat {
                    Some(chat) => (OutletSettings::TelegramChannel { chat }, 20),
                    None => {
                        return Err(bad(
                            "chat is needed: @name or the channel's numeric id".into()
                        ));
                    }
                }
            }
            OutletKind::Mastodon => (
                OutletSettings::Mastodon {
                    url: url(true)?.ok_or_else(|| bad("url is needed".into()))?,
                    token: secret("token_env", &e.token_env)?,
                },
                // 300 posts in 3 hours per account.
                30,
            ),
            OutletKind::Bluesky => (
                OutletSettings::Bluesky {
                    url: url(false)?.unwrap_or_else(|| {
                        url::Url::parse("https://bsky.social").expect("a constant URL")
                    }),
                    handle: e
                        .handle
                        .clone()
                        .ok_or_else(|| bad("handle is needed".into()))?,
                    password: secret("password_env", &e.password_env)?,
                },
                30,
            ),
            OutletKind::Webhook => (
                OutletSettings::Webhook {
                    url: url(true)?.ok_or_else(|| bad("url is needed".into()))?,
                    secret: secret("secret_env", &e.secret_env)?,
                },
                60,
            ),
            OutletKind::WhatsappChannel => {
                (OutletSettings::WhatsappChannel { url: url(false)? }, 0)
            }
        };
        specs.push(OutletSpec {
            route: OutletRoute {
                name: e.name.clone(),
                kind: e.kind,
                topics: e.topics.clone(),
                alerts: e.alerts,
            },
            rate_per_minute: e.rate_per_minute.unwrap_or(default_rate),
            settings,
        });
    }
    Ok(specs)
}

fn topics(f: &FileConfig, s: &Sources) -> Result<Vec<TopicConfig>, ConfigError> {
    let Some(value) = &f.topics else {
        return Ok(default_topics());
    };
    let name = s.file_name();
    let topics: Vec<TopicConfig> = value.clone().try_into().map_err(|e| {
        ConfigError(format!(
            "[[topics]] in {name}: {e}; each needs id, label_de, label_en and priority"
        ))
    })?;
    if topics.is_empty() {
        return Err(ConfigError(format!(
            "[[topics]] in {name}: at least one topic is needed"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for t in &topics {
        if !seen.insert(t.id.as_str()) {
            return Err(ConfigError(format!(
                "[[topics]] in {name}: topic '{}' is listed twice",
                t.id
            )));
        }
    }
    Ok(topics)
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

    const BEGIN: &str = "<!-- BEGIN generated from src/config/file.rs -->\n";
    const END: &str = "<!-- END generated -->";

    #[test]
    fn every_key_is_documented_and_the_reference_is_what_the_structs_generate() {
        let keys = sources::keys();
        assert!(keys.len() > 40, "the keys were found: {}", keys.len());
        let undocumented: Vec<String> = keys
            .iter()
            .filter(|k| k.doc.trim().is_empty())
            .map(|k| k.path())
            .collect();
        assert!(
            undocumented.is_empty(),
            "keys without a doc comment: {undocumented:?}"
        );
        let page = include_str!("../docs/configuration.md");
        let table = page
            .split_once(BEGIN)
            .and_then(|(_, rest)| rest.split_once(END))
            .map(|(table, _)| table);
        let generated = reference();
        if table != Some(generated.as_str()) && std::env::var_os("AMTSBOTE_WRITE_DOCS").is_some() {
            let (head, rest) = page.split_once(BEGIN).expect("begin marker");
            let (_, tail) = rest.split_once(END).expect("end marker");
            std::fs::write(
                concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md"),
                format!("{head}{BEGIN}{generated}{END}{tail}"),
            )
            .expect("write docs");
            return;
        }
        assert_eq!(
            table,
            Some(generated.as_str()),
            "docs/configuration.md's table differs from the structs' doc comments; \
             run AMTSBOTE_WRITE_DOCS=1 cargo test --lib config to regenerate it"
        );
        // And a file with each documented key is read (the value's check is the key's own).
        for key in &keys {
            let file = format!("[{}]\n{} = \"x\"\n", key.section, key.name);
            if let Err(ConfigError(e)) = Config::from_sources(Some(("a.toml", &file)), &env(&[])) {
                assert!(!e.contains("unknown"), "{}: {e}", key.path());
            }
        }
    }

    #[test]
    fn an_unknown_key_names_its_line_and_the_known_ones() {
        let file = "[database]\nurl = \"sqlite://x.db\"\n[http]\nlistn = \"0.0.0.0:80\"\n";
        let err = Config::from_sources(Some(("amtsbote.toml", file)), &env(&[])).unwrap_err();
        assert!(
            err.0
                .starts_with("amtsbote.toml line 4: unknown key http.listn; known: "),
            "{err}"
        );
        assert!(err.0.contains("max_connections_per_ip"), "{err}");
        let err = Config::from_sources(Some(("amtsbote.toml", "\n[htp]\nx = 1\n")), &env(&[]))
            .unwrap_err();
        assert!(
            err.0
                .starts_with("amtsbote.toml line 2: unknown section [htp]"),
            "{err}"
        );
    }

    #[test]
    fn a_mistyped_value_in_the_file_names_its_key_and_line() {
        let file = "[telegram]\nrate = 10\n\n[queue]\nmax_attempts = \"many\"\n";
        let err = Config::from_sources(Some(("amtsbote.toml", file)), &env(&[])).unwrap_err();
        assert_eq!(
            err.0,
            "queue.max_attempts in amtsbote.toml line 5: invalid value 'many', expected a whole number"
        );
    }

    #[test]
    fn numbers_and_switches_written_as_text_in_the_file_are_read_as_before() {
        let file = "[telegram]\nrate = \"10\"\n[alerts]\nrequire_second_approval = \"true\"\n";
        let c = Config::from_sources(Some(("amtsbote.toml", file)), &env(&[])).expect("valid");
        assert_eq!(c.telegram_lane.rate, 10);
        assert!(c.second_approval);
    }

    #[test]
    fn a_variable_sets_a_key_whose_name_has_underscores() {
        let file = "[http]\nmax_connections_per_ip = 8\n";
        let c = Config::from_sources(
            Some(("a.toml", file)),
            &env(&[
                ("AMTSBOTE_HTTP_MAX_CONNECTIONS_PER_IP", "0"),
                ("AMTSBOTE_QUIET_HOURS_ENABLED", "false"),
                (
                    "AMTSBOTE_WARNINGS_CAP_ALLOWED_HOSTS",
                    "a.example, b.example",
                ),
            ]),
        )
        .expect("valid");
        assert_eq!(c.http_limits.max_connections_per_ip, 0);
        assert!(c.telegram_lane.quiet.is_none());
        let err = Config::from_sources(
            None,
            &env(&[("AMTSBOTE_HTTP_MAX_CONNECTIONS_PER_IP", "many")]),
        )
        .unwrap_err();
        assert_eq!(
            err.0,
            "AMTSBOTE_HTTP_MAX_CONNECTIONS_PER_IP: invalid value 'many', expected a whole number"
        );
    }

    #[test]
    fn flags_win_over_the_environment_and_the_file() {
        let file = "[telegram]\nrate = 10\n";
        let flags = Flags {
            telegram_rate: Some(3),
            database_url: Some("sqlite://demo.db".into()),
            whatsapp_rate: None,
        };
        let c = Config::from_layers(
            Some(("a.toml", file)),
            &env(&[
                ("AMTSBOTE_TELEGRAM_RATE", "20"),
                ("AMTSBOTE_WHATSAPP_RATE", "7"),
            ]),
            &flags,
        )
        .expect("valid");
        assert_eq!((c.telegram_lane.rate, c.whatsapp_lane.rate), (3, 7));
        assert_eq!(c.database_url, "sqlite://demo.db");
        let flags = Flags {
            database_url: Some("mysql://x".into()),
            ..Flags::default()
        };
        let err = Config::from_layers(None, &env(&[]), &flags).unwrap_err();
        assert!(err.0.starts_with("--database-url: invalid value"), "{err}");
    }

    #[test]
    fn areas_are_read_from_a_named_file_only() {
        let c = Config::from_sources(None, &env(&[])).expect("defaults");
        assert_eq!(c.areas, None);
        let file = "[areas]\nfile = \"stadtteile.geojson\"\nname_property = \"STT_NAME\"\n";
        let c = Config::from_sources(Some(("a.toml", file)), &env(&[])).expect("valid");
        assert_eq!(
            c.areas,
            Some(AreasSource {
                file: PathBuf::from("stadtteile.geojson"),
                id_property: "id".into(),
                name_property: "STT_NAME".into(),
            })
        );
        let c = Config::from_sources(
            Some(("a.toml", file)),
            &env(&[
                ("AMTSBOTE_AREAS_FILE", "/etc/amtsbote/bezirke.geojson"),
                ("AMTSBOTE_AREAS_ID_PROPERTY", "BEZ_ID"),
            ]),
        )
        .expect("valid");
        let areas = c.areas.expect("on");
        assert_eq!(areas.file, PathBuf::from("/etc/amtsbote/bezirke.geojson"));
        assert_eq!(
            (areas.id_property.as_str(), areas.name_property.as_str()),
            ("BEZ_ID", "STT_NAME")
        );
        let err = Config::from_sources(
            Some(("a.toml", file)),
            &env(&[("AMTSBOTE_AREAS_ID_PROPERTY", " ")]),
        )
        .unwrap_err();
        assert!(err.0.starts_with("AMTSBOTE_AREAS_ID_PROPERTY"), "{err}");
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
        assert_eq!(c.template_costs.price_eur.len(), BroadcastKind::ALL.len());
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
        assert_eq!(
            wa.templates.by_kind[&BroadcastKind::Alert].name,
            "stadt_warnung"
        );
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
    #[test]
    fn outlets_come_from_the_file_with_their_secrets_from_the_named_variables() {
        let file = "[[outlets]]\nkind = \"mastodon\"\nname = \"m\"\nurl = \"https://social.example\"\ntoken_env = \"M_TOKEN\"\ntopics = [\"news\"]\n\
                    [[outlets]]\nkind = \"whatsapp_channel\"\nname = \"wa\"\nalerts = false\n";
        let c = Config::from_sources(Some(("a.toml", file)), &env(&[("M_TOKEN", "s3cret-token")]))
            .expect("valid");
        assert_eq!(c.outlets.len(), 2);
        assert_eq!(c.outlets[0].route.topics, Some(vec!["news".to_string()]));
        assert!(c.outlets[0].route.alerts, "alerts by default");
        assert_eq!(c.outlets[0].rate_per_minute, 30);
        assert!(!c.outlets[1].route.alerts);
        assert_eq!(c.engine.outlets.len(), 2, "fan-out knows them");

        let missing = Config::from_sources(Some(("a.toml", file)), &env(&[])).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("the variable M_TOKEN (token_env) is not set"),
            "{missing}"
        );
        let bad_topic = file.replace("[\"news\"]", "[\"nope\"]");
        let e = Config::from_sources(Some(("a.toml", &bad_topic)), &env(&[("M_TOKEN", "x")]))
            .unwrap_err();
        assert!(e.to_string().contains("unknown topic 'nope'"), "{e}");
        let twice = format!(
            "{file}[[outlets]]\nkind = \"webhook\"\nname = \"m\"\nurl = \"https://x.example\"\nsecret_env = \"M_TOKEN\"\n"
        );
        let e =
            Config::from_sources(Some(("a.toml", &twice)), &env(&[("M_TOKEN", "x")])).unwrap_err();
        assert!(e.to_string().contains("the name is used twice"), "{e}");
        let unknown = "[[outlets]]\nkind = \"myspace\"\nname = \"x\"\n";
        assert!(Config::from_sources(Some(("a.toml", unknown)), &env(&[])).is_err());
    }
}
