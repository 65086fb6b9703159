//! The operator's and press office's commands: `migrate`, `broadcast`, `cancel`, `stats`,
//! `staff`, `audit`, `warnings` and `demo`. Each returns what to print; errors reach `main` with their
//! context, and a [`Refused`] one makes `main` exit with code 2.

use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::json;

use crate::config::Config;
use crate::demo::{self, DemoOptions};
use crate::domain::{
    Actor, BroadcastKind, BroadcastStatus, ChannelKind, DeliveryStatus, PersonName, Priority, Role,
};
use crate::i18n::Texts;
use crate::service::open_store;
use crate::services::staff::{NewStaff, StaffError, person_and_address};
use crate::services::{BroadcastService, ServiceError, Submission, When};

pub use crate::services::staff::StaffTarget;

/// The broadcast service for one CLI command: no queue runs in this process; the running
/// `amtsbote run` picks up what it writes, and hears of what it released (`Announce`).
async fn service(config: &Config) -> anyhow::Result<(BroadcastService, Arc<Announce>)> {
    let store = open_store(config).await?;
    let announce = Arc::new(Announce {
        store: store.clone(),
        released: std::sync::Mutex::new(Vec::new()),
    });
    let service = BroadcastService::new(
        store,
        config.topics.clone(),
        config.second_approval,
        config.tz,
        Some(announce.clone()),
    )
    .with_feed_approval(config.warnings.as_ref().is_none_or(|w| w.approve))
    .with_areas(crate::service::load_areas(config)?);
    Ok((service, announce))
}

/// What a CLI command released, told to the running service before the command ends: its
/// fan-out and lanes take an alert from the CLI at once, not at their next poll.
struct Announce {
    store: Arc<dyn crate::store::Store>,
    released: std::sync::Mutex<Vec<Priority>>,
}

impl crate::services::QueueWake for Announce {
    fn released(&self, broadcast: &crate::store::Broadcast) {
        self.released
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(broadcast.priority);
    }
}

impl Announce {
    async fn tell(&self) {
        let released =
            std::mem::take(&mut *self.released.lock().unwrap_or_else(|p| p.into_inner()));
        if let Some(top) = released.into_iter().max() {
            self.store.announce_released(top).await;
        }
    }
}

fn operator() -> Actor {
    Actor::Operator { user: whoami() }
}

/// Who acts: the operator, or with `--as NAME` that staff person, with their role (a
/// department's person only drafts). The policy decides for them as in their chat.
async fn acting(
    store: &dyn crate::store::Store,
    as_person: Option<&PersonName>,
) -> anyhow::Result<Actor> {
    let Some(person) = as_person else {
        return Ok(operator());
    };
    let staff = store.list_staff().await?;
    let Some(m) = staff.iter().find(|m| m.person == person.as_str()) else {
        bail!(Refused(format!(
            "--as {person}: not staff (add them first with amtsbote staff add)"
        )));
    };
    Ok(Actor::Staff {
        person: m.person.clone(),
        role: m.role,
        channel: m.channel,
        address: m.address.clone(),
    })
}

/// `amtsbote draft --as NAME --topic T --text X`: a draft for the press office, which is asked
/// in the chat and sees it on the dashboard.
pub async fn draft(
    config: &Config,
    as_person: Option<&PersonName>,
    topic: &str,
    text: &str,
) -> anyhow::Result<()> {
    let (service, _) = service(config).await?;
    let actor = acting(&**service.store(), as_person).await?;
    let proposed = service
        .propose(&actor, topic, text)
        .await
        .map_err(cli_error)?;
    println!(
        "draft #{} awaits the press office's approval",
        proposed.broadcast.id
    );
    Ok(())
}

/// The service's answer as the CLI reports it: refusals and bad input exit with 2.
fn cli_error(e: ServiceError) -> anyhow::Error {
    match e {
        ServiceError::Store(e) => anyhow::Error::new(e),
        ServiceError::Invalid { field, message } => {
            anyhow::Error::new(Refused(format!("--{}: {message}", field.replace('_', "-"))))
        }
        ServiceError::IdempotencyConflict => anyhow::Error::new(Refused(
            "--idempotency-key was already used for a different broadcast; nothing was sent".into(),
        )),
        other => anyhow::Error::new(Refused(other.to_string())),
    }
}

/// What `amtsbote broadcast` was asked to do.
#[derive(Debug, Clone)]
pub struct BroadcastRequest {
    pub topic: String,
    pub text: String,
    pub priority: Option<Priority>,
    pub kind: BroadcastKind,
    /// The alert an update or all-clear follows.
    pub parent_id: Option<i64>,
    /// A time to send at, city time or RFC 3339.
    pub at: Option<String>,
    pub idempotency_key: Option<String>,
    /// `--area`: districts (ids or names).
    pub areas: Vec<String>,
    /// `--circle LAT,LON,RADIUS_M`.
    pub circle: Option<String>,
    /// `--attach FILE`: a picture or document to send with the text.
    pub attach: Option<std::path::PathBuf>,
    /// `--alt TEXT`: what the attached picture shows.
    pub alt: Option<String>,
    pub yes: bool,
    pub json: bool,
    /// `--as NAME`: a staff person acting at the command line instead of the operator.
    pub as_person: Option<PersonName>,
}

/// `--area` and `--circle` as a target; neither: the whole city.
fn cli_target(req: &BroadcastRequest) -> Result<Option<crate::domain::area::Target>, Refused> {
    use crate::domain::area::{Circle, Target};
    if let Some(raw) = &req.circle {
        let parts: Vec<f64> = raw
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                Refused(format!(
                    "--circle {raw}: expected LAT,LON,RADIUS_M like 49.0195,12.0975,300"
                ))
            })?;
        let [lat, lon, radius_m] = parts[..] else {
            return Err(Refused(format!(
                "--circle {raw}: expected three numbers LAT,LON,RADIUS_M like 49.0195,12.0975,300"
            )));
        };
        return Ok(Some(Target::Circle(Circle { lat, lon, radius_m })));
    }
    Ok((!req.areas.is_empty()).then(|| Target::Areas(req.areas.clone())))
}

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    open_store(config).await?;
    eprintln!("database is up to date");
    Ok(())
}

/// A backup refusal exits with 2 (nothing was changed); other failures with 1.
fn backup_error(e: crate::backup::BackupError) -> anyhow::Error {
    match e {
        crate::backup::BackupError::Refused(why) => anyhow::Error::new(Refused(why)),
        other => anyhow::Error::new(other),
    }
}

/// `amtsbote backup FILE`: a consistent copy of the SQLite database while the service runs;
/// for Postgres the `pg_dump` recipe, and exit 2 (nothing was written).
pub async fn backup(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    if crate::service::sqlite_file(&config.database_url).is_none() {
        print!("{}", crate::backup::postgres_recipe(file));
    }
    let written = crate::backup::backup(&config.database_url, file)
        .await
        .map_err(backup_error)?;
    println!(
        "backup of {} written to {} ({} bytes; {})",
        written.database.display(),
        file.display(),
        written.bytes,
        written.schema.summary()
    );
    println!("it holds chat ids and phone numbers: keep it as private as the database");
    Ok(())
}

/// `amtsbote restore FILE`: puts a backup in place of the SQLite database while no instance
/// runs on it, and keeps the database before aside.
pub async fn restore(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    let restored = crate::backup::restore(&config.database_url, file, chrono::Utc::now())
        .await
        .map_err(backup_error)?;
    println!(
        "restored {} to {} ({})",
        file.display(),
        restored.database.display(),
        restored.schema.summary()
    );
    if !restored.schema.pending.is_empty() {
        println!("amtsbote run (or amtsbote migrate) applies the pending migrations");
    }
    match restored.aside {
        Some(aside) => println!("the database before is kept as {}", aside.display()),
        None => println!("there was no database before"),
    }
    Ok(())
}

/// `amtsbote doctor [--json]`: prints the report as a table or JSON; fails (exit 1) when one
/// check failed.
pub fn print_doctor(report: &crate::doctor::Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", report.table());
    }
    let failed = report
        .checks
        .iter()
        .filter(|c| c.status == crate::doctor::Status::Fail)
        .count();
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    Ok(())
}

/// `amtsbote outlets check`: signs in where an outlet needs it and reads its limits, posting
/// nothing; fails when one outlet cannot be used.
pub async fn outlets_check(config: &Config) -> anyhow::Result<()> {
    if config.outlets.is_empty() {
        println!("no outlets configured ([[outlets]] in the config file)");
        return Ok(());
    }
    let client = crate::channels::http_client(std::time::Duration::from_secs(10), 1)?;
    let built = crate::service::built_outlets(config, &client, None)?;
    let mut failed = 0;
    for spec in &config.outlets {
        let name = &spec.route.name;
        let kind = spec.route.kind.as_str();
        match built.iter().find(|(o, _)| o.name() == name) {
            None => println!("{name} ({kind}): posted by hand from the dashboard"),
            Some((outlet, _)) => match outlet.check().await {
                Ok(line) => println!("{name} ({kind}): ok — {line}"),
                Err(e) => {
                    failed += 1;
                    println!("{name} ({kind}): FAILED — {e}");
                }
            },
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} outlet(s) cannot be used");
    }
    Ok(())
}

pub async fn broadcast(
    config: &Config,
    req: BroadcastRequest,
    texts: &Texts,
) -> anyhow::Result<()> {
    let lang = Texts::terminal_language();
    let when = match &req.at {
        Some(at) => When::At(
            crate::domain::time::parse_time(at, config.tz)
                .map_err(|e| Refused(format!("--at: {e}")))?
                .timestamp_millis(),
        ),
        None => When::Now,
    };
    // The file is read and checked (and a picture cleaned) before anything else; it is kept
    // only when the broadcast is sent.
    let attached = match &req.attach {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| Refused(format!("--attach {}: {e}", path.display())))?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let checked = {
                let (bytes, name) = (bytes.clone(), name.clone());
                tokio::task::spawn_blocking(move || {
                    crate::services::media::clean(&bytes, name.as_deref())
                })
                .await?
            }
            .map_err(|e| Refused(format!("--attach {}: {e}", path.display())))?;
            let alt = crate::services::broadcasts::checked_alt(checked.kind, req.alt.as_deref())
                .map_err(cli_error)?;
            Some((bytes, name, checked, alt))
        }
        None => None,
    };
    let mut submission = Submission {
        attachment: None,
        target: cli_target(&req)?,
        topic: req.topic.clone(),
        kind: Some(req.kind),
        priority: req.priority,
        text: req.text.clone(),
        text_en: None,
        parent_id: req.parent_id,
        when,
        draft: false,
        idempotency_key: req.idempotency_key.clone(),
    };
    let (service, announce) = service(config).await?;
    let actor = acting(&**service.store(), req.as_person.as_ref()).await?;
    let (kind, priority, recipients) = service
        .preview(&actor, &submission)
        .await
        .map_err(cli_error)?;
    let target = match &submission.target {
        Some(t) => service.resolve_target(t).map_err(cli_error)?,
        None => None,
    };

    if !req.json {
        println!(
            "{}",
            texts.get(
                lang,
                "cli-preview-header",
                &[
                    ("kind", kind.as_str().into()),
                    ("topic", req.topic.as_str().into()),
                    ("priority", priority.as_str().into()),
                ]
            )
        );
        if let Some(t) = &target {
            println!(
                "{}",
                texts.get(
                    lang,
                    "cli-preview-target",
                    &[("areas", t.names.join(", ").into())]
                )
            );
            let topic = crate::domain::Topic::parse(&req.topic).map_err(Refused)?;
            let groups = service.targeting(&topic, t).await.map_err(cli_error)?;
            println!(
                "{}",
                texts.get(
                    lang,
                    "cli-preview-target-groups",
                    &[
                        ("district", groups.count.by_district.total().into()),
                        ("place", groups.count.by_place.total().into()),
                        ("none", groups.count.without_area.total().into()),
                    ]
                )
            );
        }
        if let Some((_, _, c, alt)) = &attached {
            let size = crate::domain::media::human_size(c.bytes.len() as u64);
            let dims = match (c.width, c.height) {
                (Some(w), Some(h)) => format!("{w} × {h}"),
                _ => c.file_name.clone(),
            };
            println!(
                "{}",
                texts.get(
                    lang,
                    "cli-preview-media",
                    &[
                        ("kind", c.kind.as_str().into()),
                        ("what", dims.into()),
                        ("size", size.into()),
                        ("alt", alt.clone().unwrap_or_default().into()),
                    ]
                )
            );
        }
        println!("────────\n{}\n────────", req.text.trim());
        println!(
            "{}",
            texts.get(
                lang,
                "cli-preview-recipients",
                &[
                    ("total", recipients.total().into()),
                    ("telegram", recipients.telegram.into()),
                    ("whatsapp", recipients.whatsapp.into()),
                ]
            )
        );
    }
    if !req.yes {
        if req.json {
            println!(
                "{}",
                json!({"id": null, "recipients": recipients.total(), "by_channel": recipients})
            );
        } else {
            println!("{}", texts.get(lang, "cli-preview-not-sent", &[]));
        }
        return Ok(());
    }
    if let Some((bytes, name, _, alt)) = attached {
        let media = crate::services::media::MediaService::new(service.store().clone());
        let info = media
            .accept(bytes, name, Some(actor.audit_name()))
            .await
            .map_err(|e| match e {
                crate::services::media::MediaError::Store(e) => anyhow::Error::new(e),
                other => anyhow::Error::new(Refused(format!("--attach: {other}"))),
            })?;
        submission.attachment = Some(crate::services::broadcasts::Attachment {
            media_id: info.id,
            alt,
        });
    }
    let created = service
        .submit(&actor, submission)
        .await
        .map_err(cli_error)?;
    announce.tell().await;
    let b = &created.broadcast;
    let id = b.id;
    let recipients = &created.recipients;
    if req.json {
        println!(
            "{}",
            json!({"id": id, "status": b.status.as_str(), "recipients": recipients.total(), "by_channel": recipients, "media_id": b.media_id})
        );
    } else if !created.created {
        println!(
            "{}",
            texts.get(
                lang,
                "cli-already-created",
                &[("id", id.into()), ("status", b.status.as_str().into())]
            )
        );
    } else {
        let line = match b.status {
            BroadcastStatus::AwaitingApproval => {
                texts.get(lang, "cli-awaiting", &[("id", id.into())])
            }
            BroadcastStatus::Scheduled => {
                let at = b
                    .scheduled_at
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map(|t| {
                        t.with_timezone(&config.tz)
                            .format("%Y-%m-%d %H:%M %Z")
                            .to_string()
                    })
                    .unwrap_or_default();
                texts.get(
                    lang,
                    "cli-scheduled",
                    &[("id", id.into()), ("at", at.into())],
                )
            }
            _ => texts.get(
                lang,
                "cli-released",
                &[("id", id.into()), ("total", recipients.total().into())],
            ),
        };
        println!("{line}");
    }
    Ok(())
}

pub async fn cancel(
    config: &Config,
    id: i64,
    as_person: Option<&PersonName>,
    texts: &Texts,
) -> anyhow::Result<()> {
    let lang = Texts::terminal_language();
    let (service, _) = service(config).await?;
    let actor = acting(&**service.store(), as_person).await?;
    let key = match service.cancel(&actor, id).await {
        Ok(_) => "cli-cancelled",
        Err(ServiceError::WrongStatus { .. }) => "cli-not-cancelled",
        Err(e) => return Err(cli_error(e)),
    };
    println!("{}", texts.get(lang, key, &[("id", id.into())]));
    Ok(())
}

/// `amtsbote correct ID --text …`: a correction as the operator, released at once (or, for an
/// alert under the two-person rule, waiting for a second person).
pub async fn correct(
    config: &Config,
    id: i64,
    text: &str,
    silent: bool,
    texts: &Texts,
) -> anyhow::Result<()> {
    let lang = Texts::terminal_language();
    let (service, announce) = service(config).await?;
    let request = crate::services::CorrectionRequest {
        text: text.to_string(),
        notice: !silent,
        draft: false,
        idempotency_key: None,
    };
    let created = service
        .correct(&operator(), id, request)
        .await
        .map_err(cli_error)?;
    announce.tell().await;
    let b = &created.broadcast;
    let key = if b.status == crate::domain::BroadcastStatus::AwaitingApproval {
        "cli-correction-awaits"
    } else {
        "cli-corrected"
    };
    println!(
        "{}",
        texts.get(
            lang,
            key,
            &[
                ("id", id.into()),
                ("correction", b.id.into()),
                ("version", b.version.into()),
                ("recipients", created.recipients.total().into()),
            ]
        )
    );
    Ok(())
}

/// `amtsbote retract ID [--text …]`: at once, no second person.
pub async fn retract(
    config: &Config,
    id: i64,
    text: Option<&str>,
    texts: &Texts,
) -> anyhow::Result<()> {
    let lang = Texts::terminal_language();
    let (service, announce) = service(config).await?;
    let (_, notice) = service
        .retract(&operator(), id, text)
        .await
        .map_err(cli_error)?;
    // The running service hears of the notice (alert priority) at once.
    announce.tell().await;
    println!(
        "{}",
        texts.get(
            lang,
            "retracted-ok",
            &[("id", id.into()), ("notice", notice.id.into())]
        )
    );
    Ok(())
}

pub async fn stats(
    config: &Config,
    id: Option<i64>,
    as_json: bool,
    texts: &Texts,
) -> anyhow::Result<()> {
    let lang = Texts::terminal_language();
    let store = open_store(config).await?;
    let broadcasts = match id {
        Some(id) => vec![
            store
                .broadcast(id)
                .await?
                .with_context(|| format!("broadcast {id} does not exist"))?,
        ],
        None => store.list_broadcasts(20).await?,
    };
    let lanes = store.lane_states().await?;
    let roles = store.role_holders().await?;
    let now = crate::domain::now_ms();
    let mut rows = Vec::new();
    for b in &broadcasts {
        rows.push((
            b,
            store.broadcast_stats(b.id).await?,
            store.failure_reasons(b.id).await?,
        ));
    }
    let mut drills = Vec::new();
    for (b, _, _) in &rows {
        drills.push(crate::services::DrillReport::of(&*store, b).await?);
    }
    if as_json {
        let list: Vec<_> = rows
            .iter()
            .zip(&drills)
            .map(|((b, s, f), d)| json!({"broadcast": b, "deliveries": s.counts, "failures": f, "drill": d}))
            .collect();
        let lanes: Vec<_> = lanes
            .iter()
            .map(|l| json!({"channel": l.channel, "paused": l.paused_until.is_some_and(|u| u > now), "paused_until": l.paused_until, "reason": l.pause_reason}))
            .collect();
        println!(
            "{}",
            json!({"broadcasts": list, "lanes": lanes, "roles": roles})
        );
        return Ok(());
    }
    // Several instances on one database: who holds which role.
    for r in &roles {
        let key = if r.expires_in_ms > 0 {
            "stats-role-held"
        } else {
            "stats-role-free"
        };
        println!(
            "{}",
            texts.get(
                lang,
                key,
                &[
                    ("role", r.role.clone().into()),
                    ("holder", r.holder.clone().into()),
                    ("token", (r.token as f64).into()),
                    ("ms", (r.expires_in_ms.max(0) as f64).into()),
                ],
            )
        );
    }
    for l in lanes
        .iter()
        .filter(|l| l.paused_until.is_some_and(|u| u > now))
    {
        let until = l
            .paused_until
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        println!(
            "{}",
            texts.get(
                lang,
                "stats-lane-paused",
                &[
                    ("channel", l.channel.as_str().into()),
                    ("until", until.into()),
                    ("reason", l.pause_reason.clone().unwrap_or_default().into()),
                ]
            )
        );
    }
    if rows.is_empty() {
        println!("{}", texts.get(lang, "stats-none", &[]));
        return Ok(());
    }
    println!(
        "{:>6}  {:<10} {:<12} {:<8} {:<9} {:>8} {:>8} {:>8} {:>7} {:>7} {:>9}",
        "id",
        "status",
        "kind",
        "topic",
        "channel",
        "pending",
        "leased",
        "sent",
        "failed",
        "gone",
        "cancelled"
    );
    for (b, s, _) in &rows {
        for c in ChannelKind::ALL {
            let n = |st: DeliveryStatus| s.count(c, st);
            println!(
                "{:>6}  {:<10} {:<12} {:<8} {:<9} {:>8} {:>8} {:>8} {:>7} {:>7} {:>9}",
                b.id,
                b.status.as_str(),
                b.kind.as_str(),
                b.topic,
                c.as_str(),
                n(DeliveryStatus::Pending),
                n(DeliveryStatus::Leased),
                n(DeliveryStatus::Sent),
                n(DeliveryStatus::Failed),
                n(DeliveryStatus::Gone),
                n(DeliveryStatus::Cancelled),
            );
        }
    }
    for (b, _, failures) in &rows {
        for (reason, n) in failures {
            println!(
                "{}",
                texts.get(
                    lang,
                    "stats-failure",
                    &[
                        ("id", b.id.into()),
                        ("count", (*n).into()),
                        ("reason", reason.as_str().into()),
                    ]
                )
            );
        }
    }
    for d in drills.iter().flatten() {
        let args: Vec<_> = d.args().into_iter().map(|(k, v)| (k, v.into())).collect();
        println!("{}", texts.get(lang, "drill-report", &args));
    }
    Ok(())
}

/// The demo modes that run on the demo's options (`amtsbote demo [--MODE]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoMode {
    /// News to everyone, an alert overtaking it.
    Alert,
    Warnings,
    Retract,
    Picture,
    Outlets,
}

/// `amtsbote demo` in `mode`: its report as one JSON line or the summary.
pub async fn demo(
    mode: DemoMode,
    config: &Config,
    options: DemoOptions,
    as_json: bool,
    texts: &Texts,
) -> anyhow::Result<()> {
    let lang = Texts::terminal_language();
    match mode {
        DemoMode::Alert => {
            let r = demo::run(config, options, texts, lang).await?;
            print_report(&r, as_json, demo::summary(&r, texts, lang), r.lost)
        }
        DemoMode::Warnings => {
            let r = demo::warnings::run(config, options, texts, lang).await?;
            print_report(
                &r,
                as_json,
                demo::warnings::summary(&r, texts, lang),
                r.lost,
            )
        }
        DemoMode::Retract => {
            let r = demo::retract::run(config, options, texts, lang).await?;
            print_report(&r, as_json, demo::retract::summary(&r, texts, lang), r.lost)
        }
        DemoMode::Picture => {
            let r = demo::picture::run(config, options, texts, lang).await?;
            print_report(&r, as_json, demo::picture::summary(&r, texts, lang), r.lost)
        }
        DemoMode::Outlets => {
            let r = demo::outlets::run(config, options, texts, lang).await?;
            print_report(&r, as_json, demo::outlets::summary(&r, texts, lang), r.lost)
        }
    }
}

/// `amtsbote demo --archive`.
pub async fn demo_archive(config: &Config, as_json: bool) -> anyhow::Result<()> {
    let texts = std::sync::Arc::new(Texts::load().map_err(anyhow::Error::msg)?);
    let report = demo::archive::run(config, texts).await?;
    let summary = demo::archive::summary(&report);
    print_report(&report, as_json, summary, report.archive_errors)
}

/// `amtsbote demo --instances N`.
pub async fn demo_instances(
    options: demo::instances::InstancesOptions,
    as_json: bool,
    texts: &Texts,
) -> anyhow::Result<()> {
    let lang = Texts::terminal_language();
    let report = demo::instances::run(options, texts, lang).await?;
    let summary = demo::instances::summary(&report, texts, lang);
    print_report(&report, as_json, summary, report.lost)
}

/// One JSON line or the summary; a failure when anything was lost.
fn print_report(
    report: &impl serde::Serialize,
    as_json: bool,
    summary: String,
    lost: u64,
) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        println!("{summary}");
    }
    if lost > 0 {
        bail!("{lost} messages were lost");
    }
    Ok(())
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "operator".into())
}

/// A command refused as given, and nothing was changed: a change the store refused, or a form
/// of arguments the parser should not have let through. `main` exits with code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// A staff change the team service refused: bad input and refusals exit with 2 ([`Refused`]);
/// a bad address or someone not staff as before, the store's failure with its context.
fn staff_refused(e: StaffError) -> anyhow::Error {
    match e {
        StaffError::Store(e) => anyhow::Error::new(e).context("the staff could not be changed"),
        e @ (StaffError::BadAddress { .. } | StaffError::NotStaff(_)) => anyhow::anyhow!("{e}"),
        e => Refused(e.to_string()).into(),
    }
}

pub async fn staff_add(
    config: &Config,
    channel: ChannelKind,
    address: &str,
    role: Role,
    person: Option<&PersonName>,
    desk: Option<crate::domain::Desk>,
) -> anyhow::Result<()> {
    // The address is checked before the database is opened, as the operator typed it.
    crate::services::staff::parse_address(channel, address).map_err(staff_refused)?;
    let store = open_store(config).await?;
    let new = NewStaff {
        channel,
        address: address.to_string(),
        role,
        person: person.cloned(),
        desk,
    };
    let member = crate::services::staff::add(&*store, &config.topics, &operator(), new)
        .await
        .map_err(staff_refused)?;
    println!(
        "{} is now {}",
        person_and_address(&member),
        member.role.as_str()
    );
    Ok(())
}

pub async fn staff_remove(config: &Config, target: StaffTarget) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let removed = crate::services::staff::remove(&*store, &operator(), target)
        .await
        .map_err(staff_refused)?;
    println!("{removed} is no longer staff");
    Ok(())
}

/// Prints a one-time dashboard sign-in link for `person` (nothing else on stdout).
pub async fn login_link(config: &Config, person: &PersonName) -> anyhow::Result<()> {
    let Some(url) = &config.dashboard_url else {
        bail!(Refused(
            "the dashboard is off: set AMTSBOTE_DASHBOARD_PUBLIC_URL (dashboard.public_url)".into()
        ));
    };
    let store = open_store(config).await?;
    let sign_in = crate::services::SignIn::new(
        store,
        url,
        std::sync::Arc::new(crate::domain::time::SystemClock),
    );
    match sign_in.login_link_for_person(person.as_str()).await? {
        Some(link) => {
            println!("{link}");
            Ok(())
        }
        None => bail!(Refused(format!(
            "{person} is not staff: add them first with amtsbote staff add"
        ))),
    }
}

/// Each person with their role, then their addresses indented below.
pub async fn staff_list(config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let staff = store.list_staff().await?;
    let desks: std::collections::HashMap<String, crate::domain::Desk> =
        store.desks().await?.into_iter().collect();
    let mut current: Option<(&str, Role)> = None;
    for m in &staff {
        let role = match current {
            Some((person, role)) if person == m.person => role,
            _ => {
                match desks.get(&m.person) {
                    Some(d) if m.role == Role::Contributor => println!(
                        "{:<32} {} ({}: {})",
                        m.person,
                        m.role.as_str(),
                        d.department,
                        d.topics.join(", ")
                    ),
                    _ => println!("{:<32} {}", m.person, m.role.as_str()),
                }
                current = Some((&m.person, m.role));
                m.role
            }
        };
        // One role per person is what the store keeps; a row that differs says so.
        let differs = if m.role == role {
            String::new()
        } else {
            format!("  ({})", m.role.as_str())
        };
        println!("    {:<9} {}{differs}", m.channel.as_str(), m.address);
    }
    Ok(())
}

/// `amtsbote warnings status`: the warnings for the area that are still active (the latest
/// version of each), and what the bot did with each.
pub async fn warnings_status(config: &Config, as_json: bool, texts: &Texts) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let now = crate::domain::now_ms();
    let mut seen = std::collections::HashSet::new();
    let active: Vec<_> = store
        .warnings(1000)
        .await?
        .into_iter()
        .filter(|w| seen.insert(w.identifier.clone()))
        .filter(|w| w.expires_at.is_none_or(|e| e > now) && w.msg_type != "Cancel")
        .collect();
    if as_json {
        println!("{}", serde_json::to_string(&active)?);
        return Ok(());
    }
    let lang = Texts::terminal_language();
    if active.is_empty() {
        println!("{}", texts.get(lang, "warnings-none-active", &[]));
    }
    for w in active {
        let broadcast = w.broadcast_id.map(|b| format!("#{b}")).unwrap_or_default();
        println!(
            "{} v{}  {:<8} {:<9} {:<7} {:<18} {:<6} {}",
            w.identifier,
            w.version,
            w.provider,
            w.severity,
            w.msg_type,
            w.decision,
            broadcast,
            w.headline
        );
    }
    Ok(())
}

/// `amtsbote warnings replay FILE [--send]`: one stored document (`warnings/{id}.json`)
/// through the mapping and, with `send`, through the broadcast service as the feed would.
pub async fn warnings_replay(
    config: &Config,
    file: &std::path::Path,
    version: i64,
    send: bool,
) -> anyhow::Result<()> {
    let Some(settings) = config.warnings.clone() else {
        return Err(Refused(
            "warnings are not configured: set AMTSBOTE_WARNINGS_ENABLED=true and AMTSBOTE_WARNINGS_ARS".into(),
        )
        .into());
    };
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    // A CAP 1.2 XML document, or the NINA API's JSON.
    let doc = if text.trim_start().starts_with('<') {
        crate::warnings::cap::parse(&text)
    } else {
        crate::warnings::nina::Document::from_json(&text)
    }
    .map_err(|e| Refused(format!("{} is not a warning document: {e}", file.display())))?;
    let texts = std::sync::Arc::new(Texts::load().map_err(anyhow::Error::msg)?);
    let (service, announce) = service(config).await?;
    let feed = crate::warnings::WarningsFeed::new(settings, Arc::new(service), texts, None)
        .map_err(anyhow::Error::msg)?;
    let handled = feed
        .replay(&doc, version, send)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    announce.tell().await;
    println!("{}", serde_json::to_string_pretty(&handled)?);
    Ok(())
}

pub async fn audit(config: &Config, limit: u32) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    for e in store.audit_log(limit).await? {
        let at = chrono::DateTime::from_timestamp_millis(e.at)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        println!("{at}  {:<22} {:<16} {}", e.actor, e.action, e.detail);
    }
    Ok(())
}
