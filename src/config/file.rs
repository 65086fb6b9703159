//! The configuration file's shape: one struct per section. Each field's doc comment is its
//! documentation (docs/configuration.md's table is generated from it) and the `Default` impls
//! here are the only place a default is written.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole file. `topics`, `schedules` and `api.tokens` are read further in `config.rs`, where
/// each entry's own checks live.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub database: Database,
    pub instance: Instance,
    pub http: Http,
    pub telegram: Telegram,
    pub whatsapp: Whatsapp,
    pub queue: Queue,
    pub log: Log,
    pub alerts: Alerts,
    pub schedule: Schedule,
    pub quiet_hours: QuietHours,
    pub api: Api,
    pub dashboard: Dashboard,
    pub warnings: Warnings,
    pub areas: Areas,
    pub corrections: Corrections,
    pub archive: Archive,
    pub media: Media,
    pub drafts: Drafts,
    /// `[[topics]]` tables (`id`, `label_de`, `label_en`, `priority`, `quiet`).
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub topics: Option<toml::Value>,
    /// `[[schedules]]` tables (`cron`, `topic`, `text`, `priority`).
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub schedules: Option<toml::Value>,
    /// `[[outlets]]` tables (`kind`, `name`, `topics`, `alerts`, `rate_per_minute` and each
    /// kind's own settings; secrets are named by their variable: `token_env`, `password_env`,
    /// `secret_env`). See README, "Outlets".
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub outlets: Option<toml::Value>,
}

/// A list: an array in the file, or one comma-separated string (always so in a variable).
/// Items are trimmed; empty ones are dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct List(pub Vec<String>);

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        let items = match Raw::deserialize(d)? {
            Raw::One(s) => s.split(',').map(str::to_string).collect(),
            Raw::Many(v) => v,
        };
        Ok(List(
            items
                .into_iter()
                .map(|i| i.trim().to_string())
                .filter(|i| !i.is_empty())
                .collect(),
        ))
    }
}

impl JsonSchema for List {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "List".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": ["array", "string"], "items": { "type": "string" } })
    }
}

impl List {
    fn of(items: &[&str]) -> List {
        List(items.iter().map(|s| s.to_string()).collect())
    }
}

/// A number, or a word with the same meaning (`unlimited`, `announcement=0.0456, …`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum NumberOrText {
    Whole(u64),
    Number(f64),
    Text(String),
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Database {
    /// `sqlite://…` (file relative to the working directory) or `postgres://…`.
    pub url: String,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            url: super::DEFAULT_DATABASE_URL.into(),
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Instance {
    /// This instance's name among those sharing a Postgres database (roles, leases, `/readyz`);
    /// the hostname when unset. Keep it across restarts, different per instance.
    pub id: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
    /// Address of the HTTP side (only the webhook and `/healthz` when the admin address is set).
    pub listen: String,
    /// A second address for the API, `/metrics` and `/readyz`.
    pub admin_listen: Option<String>,
    /// A connection that sends no complete request headers within this many milliseconds is
    /// closed (at least 100).
    pub header_timeout_ms: u64,
    /// Milliseconds for reading the body and answering, else 408 (at least 100).
    pub request_timeout_ms: u64,
    /// Open connections at most (at least 16; lowered to fit the open-file limit).
    pub max_connections: usize,
    /// Open connections from one client address at most; `0` = no cap, for a listener behind a
    /// reverse proxy that buffers request bodies (every connection then comes from the proxy,
    /// which must do the per-address limiting).
    pub max_connections_per_ip: usize,
    /// A request body slower than this many bytes per second, counted from one second after the
    /// request began, is cut with 408; `0` = no minimum.
    pub min_body_bytes_per_s: u64,
    /// IP addresses of reverse proxies whose `X-Forwarded-For` names the client (limits per
    /// client, e.g. dashboard sign-ins).
    pub trusted_proxies: List,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            listen: "127.0.0.1:8080".into(),
            admin_listen: None,
            header_timeout_ms: 5000,
            request_timeout_ms: 30_000,
            max_connections: 1024,
            max_connections_per_ip: 64,
            min_body_bytes_per_s: 1024,
            trusted_proxies: List::default(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Telegram {
    /// Bot token; without it the Telegram lane is off.
    pub token: Option<String>,
    /// Bot API server (a local Bot API server, or a test fake).
    pub api_url: String,
    /// Messages per second on the Telegram lane; `0` = unlimited.
    pub rate: u32,
    /// Sends in flight at once (at least 1).
    pub concurrency: usize,
    /// Percent of the lane's rate kept for replies to people who just wrote (at least 1/s),
    /// which a broadcast cannot take; replies use more while no broadcast waits.
    pub reply_share: u32,
}

impl Default for Telegram {
    fn default() -> Self {
        Telegram {
            token: None,
            api_url: super::DEFAULT_TELEGRAM_API_URL.into(),
            rate: 30,
            concurrency: 32,
            reply_share: 15,
        }
    }
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Whatsapp {
    /// Graph API base with version.
    pub api_url: String,
    /// With the access token, turns the WhatsApp lane on.
    pub phone_number_id: Option<String>,
    /// Bearer token.
    pub access_token: Option<String>,
    /// Required with WhatsApp: webhook signatures; 32 hexadecimal characters as Meta issues it
    /// (App settings → Basic), anything else stops the start (exit 2).
    pub app_secret: Option<String>,
    /// Required with WhatsApp: webhook handshake; at least 16 characters.
    pub verify_token: Option<String>,
    /// Messages per second on the WhatsApp lane; `0` = unlimited.
    pub rate: u32,
    /// Sends in flight at once (at least 1).
    pub concurrency: usize,
    /// Percent of the lane's rate kept for replies to people who just wrote (at least 1/s),
    /// which a broadcast cannot take; replies use more while no broadcast waits.
    pub reply_share: u32,
    /// Approved template for announcements, `name:language`, for a recipient outside the
    /// 24-hour window; without one, such a recipient gets a `failed` delivery naming the missing
    /// variable.
    pub template_announcement: Option<String>,
    /// Approved template for alerts, `name:language` (as `template_announcement`).
    pub template_alert: Option<String>,
    /// Approved template for updates, `name:language` (as `template_announcement`).
    pub template_update: Option<String>,
    /// Approved template for all-clears, `name:language` (as `template_announcement`).
    pub template_allclear: Option<String>,
    /// Approved template with an IMAGE header and one body parameter, `name:language`, for a
    /// broadcast with a picture to a recipient outside the window; without one, such a
    /// recipient gets the text alone in its kind's template (the picture is on the archive
    /// page).
    pub template_picture: Option<String>,
    /// Approved template with a DOCUMENT header and one body parameter, `name:language` (as
    /// `template_picture`, for a PDF).
    pub template_document: Option<String>,
    /// Approved template, `name:language`, asking an approver outside the window who has no
    /// other address; body `{{1}}` the text to approve, `{{2}}` the code (`/confirm CODE`).
    pub template_approval: Option<String>,
    /// EUR per template message for the previews' cost estimate (none = 0): one price
    /// (`0.0456`) or per kind (`announcement=0.0456, alert=0.0191`).
    pub template_price: Option<NumberOrText>,
    /// Unique people per 24 h the number may start conversations with (`250`, `1000`, `10000`,
    /// `100000` or `unlimited`); previews warn when more need a template.
    pub messaging_limit: NumberOrText,
}

impl Default for Whatsapp {
    fn default() -> Self {
        Whatsapp {
            api_url: super::DEFAULT_WHATSAPP_API_URL.into(),
            phone_number_id: None,
            access_token: None,
            app_secret: None,
            verify_token: None,
            rate: 80,
            concurrency: 32,
            reply_share: 15,
            template_announcement: None,
            template_alert: None,
            template_update: None,
            template_allclear: None,
            template_picture: None,
            template_document: None,
            template_approval: None,
            template_price: None,
            messaging_limit: NumberOrText::Whole(250),
        }
    }
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Queue {
    /// Seconds a claim is held before it returns to the queue; a running lane extends it while
    /// it sends; a lane's new holder (or a restarted instance) returns the old holder's leases at
    /// once, so it bounds only a claim lost inside a running lane.
    pub lease_secs: u64,
    /// Time-out of one send, in milliseconds.
    pub send_timeout_ms: u64,
    /// Failed tries before a delivery ends `failed` (at least 1).
    pub max_attempts: i32,
    /// First backoff in milliseconds; doubles up to the maximum, ±20 % jitter.
    pub retry_initial_ms: u64,
    /// Longest backoff, in seconds.
    pub retry_max_secs: u64,
    /// Largest claim (at least 1).
    pub batch_max: u32,
    /// Deliveries written per fan-out transaction (at least 1).
    pub fanout_chunk: u32,
    /// Milliseconds between looks of an idle lane (enqueues wake it at once).
    pub poll_ms: u64,
}

impl Default for Queue {
    fn default() -> Self {
        Queue {
            lease_secs: 60,
            send_timeout_ms: 10_000,
            max_attempts: 10,
            retry_initial_ms: 2000,
            retry_max_secs: 600,
            batch_max: 500,
            fanout_chunk: 25_000,
            poll_ms: 500,
        }
    }
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `text`, or `json` for JSON lines; `RUST_LOG` filters.
    pub format: String,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            format: "text".into(),
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Alerts {
    /// A different emergency member confirms alerts, updates and all-clears.
    pub require_second_approval: bool,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Schedule {
    /// City time (an IANA time zone) for schedules, quiet hours and times shown.
    pub timezone: String,
    /// How many minutes late a schedule may still fire after downtime.
    pub grace_minutes: u64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            timezone: "Europe/Berlin".into(),
            grace_minutes: 30,
        }
    }
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct QuietHours {
    /// News goes silently during quiet hours (or waits, see topics); alerts, updates and
    /// all-clears always sound.
    pub enabled: bool,
    /// Start of the quiet window, city time (`HH:MM`).
    pub start: String,
    /// End of the quiet window, city time (`HH:MM`).
    pub end: String,
}

impl Default for QuietHours {
    fn default() -> Self {
        QuietHours {
            enabled: true,
            start: "22:00".into(),
            end: "07:00".into(),
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Api {
    /// API bearer token, press role; at least 16 characters.
    pub token: Option<String>,
    /// The person who holds `AMTSBOTE_API_TOKEN` (see "Who may do what").
    pub token_person: Option<String>,
    /// API bearer token, emergency role; at least 16 characters.
    pub emergency_token: Option<String>,
    /// The person who holds `AMTSBOTE_API_EMERGENCY_TOKEN`; with the two-person rule on, an
    /// unbound token may not alert.
    pub emergency_token_person: Option<String>,
    /// More tokens, as `[[api.tokens]]` tables: `name`, `token` (at least 16 characters), `role`
    /// (`press`, `emergency`, `admin`, `contributor`), `person` (its holder; a contributor
    /// token drafts for its person's department).
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub tokens: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Dashboard {
    /// Where staff reach the dashboard (`https://amtsbote.stadt.de`); the dashboard is off
    /// without it.
    pub public_url: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Warnings {
    /// Poll the official warnings (see "Official warnings").
    pub enabled: bool,
    /// Required when enabled: district keys, twelve digits ending in seven zeros, e.g.
    /// `051110000000`; any other shape stops the start (exit 2).
    pub ars: List,
    /// The warning API.
    pub base_url: String,
    /// Seconds between polls; 15 while a warning for the area is active.
    pub poll_seconds: u64,
    /// `Minor`, `Moderate`, `Severe` or `Extreme`.
    pub min_severity: String,
    /// Some of `mowas, dwd, katwarn, biwapp, lhp, police`.
    pub providers: List,
    /// `approve`, or `auto`: sent at once, the staff are told.
    pub mode: String,
    /// `approve` mode: an Extreme warning goes by itself after this many minutes; `0` = never.
    pub auto_release_minutes: u64,
    /// URLs of CAP 1.2 XML documents or Atom feeds of them, polled with the API.
    pub cap_feeds: List,
    /// Host names or addresses an Atom feed's entries may point at besides the feed's own host;
    /// a listed host may also be loopback, private or link-local.
    pub cap_allowed_hosts: List,
    /// Milliseconds per request to the warning API (at least 100).
    pub timeout_ms: u64,
    /// The most bytes of one fetched document (NINA's JSON, a CAP feed, its entries) that is
    /// read (2 MiB by default, at least 1024); a larger one is cut there and counts as a failed
    /// fetch.
    pub max_document_bytes: u64,
}

impl Default for Warnings {
    fn default() -> Self {
        Warnings {
            enabled: false,
            ars: List::default(),
            base_url: crate::warnings::DEFAULT_BASE_URL.into(),
            poll_seconds: 60,
            min_severity: "Moderate".into(),
            providers: List::of(&["mowas", "dwd", "katwarn", "biwapp", "lhp", "police"]),
            mode: "approve".into(),
            auto_release_minutes: 5,
            cap_feeds: List::default(),
            cap_allowed_hosts: List::default(),
            timeout_ms: 10_000,
            max_document_bytes: 2_097_152,
        }
    }
}

#[derive(Debug, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Archive {
    /// Where anyone reads what the city sent (`https://amtsbote.stadt.de`): the archive, its
    /// feeds, the check page and the check link under every message are served on the public
    /// listener under this address; all of it is off without it.
    pub public_url: Option<String>,
    /// Origins whose pages may show the wall (`/wall`) in a frame, e.g.
    /// `https://www.stadt.de` (CSP `frame-ancestors`); none by default.
    pub embed_origins: List,
    /// End every message to citizens with the check link ("Echt? stadt.de/m/CODE"); on by
    /// default when `public_url` is set.
    pub footer: Option<bool>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Areas {
    /// A GeoJSON FeatureCollection (RFC 7946, WGS 84, longitude first) of the city's
    /// districts, Polygon or MultiPolygon (a path, relative to the working directory); checked
    /// at start: a ring not closed or under four positions, a coordinate out of range, a
    /// missing or duplicate id stop the start (exit 2) naming the feature's index. Without it
    /// nothing is targeted and everyone gets everything.
    pub file: Option<PathBuf>,
    /// The feature property holding a district's id (Regensburg's file: `sbz`).
    pub id_property: String,
    /// The feature property holding a district's display name.
    pub name_property: String,
}

impl Default for Areas {
    fn default() -> Self {
        Areas {
            file: None,
            id_property: "id".into(),
            name_property: "name".into(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Corrections {
    /// Days the platform's id of each sent message is kept, so that a correction can edit it
    /// (Telegram) or quote it (WhatsApp); housekeeping forgets older ones, and such a message
    /// is no longer edited or quoted (its notice still goes). The outlets' posts of a broadcast
    /// are forgotten as long after the last of them; later corrections no longer reach the
    /// outlets. WhatsApp stops showing quotes of
    /// messages older than 30 days. At least 1.
    pub keep_days: u32,
}

impl Default for Corrections {
    fn default() -> Self {
        Corrections { keep_days: 30 }
    }
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Media {
    /// Days a picture or document is kept after the last broadcast that carries it ended (or
    /// after its upload, when no broadcast names it); housekeeping then deletes it from the
    /// database. At least 1.
    pub keep_days: u32,
}

impl Default for Media {
    fn default() -> Self {
        Media { keep_days: 30 }
    }
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Drafts {
    /// Days a contributor's draft waits for the press office; housekeeping then drops it and
    /// tells its author. At least 1.
    pub expire_days: u32,
}

impl Default for Drafts {
    fn default() -> Self {
        Drafts { expire_days: 14 }
    }
}
