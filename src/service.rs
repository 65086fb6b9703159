//! `amtsbote run`: opens the store, starts every configured channel's lane, fan-out,
//! housekeeping, Telegram polling and the HTTP side, and stops them all in order on SIGTERM or Ctrl-C.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::channels::intake::Intake;
use crate::channels::telegram::{self, TelegramChannel};
use crate::channels::whatsapp::{Template, Templates, WhatsappChannel, approval_template_body};
use crate::channels::{Addressee, Channel, ReplyPace, SendOutcome, Unpaced, http_client};
use crate::channels::{telegram_updates, whatsapp_webhook};
use crate::config::Config;
use crate::conversation::Conversation;
use crate::domain::{ChannelKind, DRILL_TOPIC, InstanceRole};
use crate::http;
use crate::i18n::Texts;
use crate::queue::{Engine, LaneBudget, LaneSettings};
use crate::services::check::{CheckService, Footer, PublicArchive};
use crate::services::{BroadcastService, QueueWake, SignIn};
use crate::store::{self, Store, StoreError};
use sha2::Digest;

/// Opens the configured store and brings its schema up to date.
/// The city's districts from `areas.file`, checked; `None` without the key. The error names the
/// file, and the feature's index and what is wrong with it.
pub fn load_areas(
    config: &Config,
) -> Result<Option<Arc<crate::domain::area::Catalogue>>, crate::config::ConfigError> {
    let Some(source) = &config.areas else {
        return Ok(None);
    };
    let fail = |what: String| {
        crate::config::ConfigError(format!("areas.file {}: {what}", source.file.display()))
    };
    let text = std::fs::read_to_string(&source.file).map_err(|e| fail(e.to_string()))?;
    let catalogue = crate::domain::area::Catalogue::from_geojson(
        &text,
        &source.id_property,
        &source.name_property,
    )
    .map_err(|e| fail(e.0))?;
    Ok(Some(Arc::new(catalogue)))
}

pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::connect(&config.database_url)
        .await
        .context("opening the database (AMTSBOTE_DATABASE_URL)")?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

pub type LaneSpec = (Arc<dyn Channel>, LaneSettings);

/// A Telegram lane sending through the Bot API at `api_url`.
pub fn telegram_lane(
    api_url: &str,
    token: SecretString,
    lane: LaneSettings,
) -> anyhow::Result<LaneSpec> {
    let client =
        http_client(lane.send_timeout, lane.concurrency).context("building the HTTP client")?;
    let channel = TelegramChannel::new(client, api_url, token)
        .context("AMTSBOTE_TELEGRAM_API_URL is not a URL")?;
    Ok((Arc::new(channel), lane))
}

/// A WhatsApp lane sending through the Graph API at `api_url`; the channel is also what the
/// webhook answers through.
pub fn whatsapp_lane(
    api_url: &str,
    phone_number_id: &str,
    token: SecretString,
    templates: impl Into<Templates>,
    lane: LaneSettings,
) -> anyhow::Result<(Arc<WhatsappChannel>, LaneSettings)> {
    let client =
        http_client(lane.send_timeout, lane.concurrency).context("building the HTTP client")?;
    Ok((
        Arc::new(WhatsappChannel::new(
            client,
            api_url,
            phone_number_id,
            token,
            templates,
        )),
        lane,
    ))
}

/// The lanes of the channels that are configured, and the WhatsApp channel for the webhook's
/// answers when WhatsApp is on.
pub fn configured_lanes(
    config: &Config,
) -> anyhow::Result<(Vec<LaneSpec>, Option<Arc<WhatsappChannel>>)> {
    let mut lanes = Vec::new();
    match &config.telegram {
        Some(tg) => lanes.push(telegram_lane(
            &tg.api_url,
            tg.token.clone(),
            config.telegram_lane.clone(),
        )?),
        None => tracing::info!("Telegram is off: AMTSBOTE_TELEGRAM_TOKEN is not set"),
    }
    let whatsapp = match &config.whatsapp {
        Some(wa) => {
            let (channel, lane) = whatsapp_lane(
                &wa.api_url,
                &wa.phone_number_id,
                wa.access_token.clone(),
                wa.templates.clone(),
                config.whatsapp_lane.clone(),
            )?;
            lanes.push((channel.clone() as Arc<dyn Channel>, lane));
            Some(channel)
        }
        None => {
            tracing::info!(
                "WhatsApp is off: AMTSBOTE_WHATSAPP_PHONE_NUMBER_ID and AMTSBOTE_WHATSAPP_ACCESS_TOKEN are not both set"
            );
            None
        }
    };
    Ok((lanes, whatsapp))
}

/// The configured outlets with an API, built on `client`; a Telegram channel posts with the bot
/// of `[telegram]`.
pub fn built_outlets(
    config: &Config,
    client: &reqwest::Client,
    footer: Option<Arc<Footer>>,
) -> anyhow::Result<crate::outlets::Built> {
    let bot = config
        .telegram
        .as_ref()
        .map(|tg| crate::outlets::TelegramBot {
            api_url: &tg.api_url,
            token: tg.token.clone(),
        });
    crate::outlets::build(&config.outlets, client, bot, footer).map_err(anyhow::Error::msg)
}

/// Starts a lane for each configured outlet with an API, all under the role `outlets`: with
/// several instances on one database one of them posts, so each outlet's rate holds for all.
fn start_outlets(
    config: &Config,
    store: &Arc<dyn Store>,
    engine: &mut Engine,
    footer: Option<Arc<Footer>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    use crate::outlets::lane::{OutletLane, OutletLaneSettings};
    if config.outlets.is_empty() {
        return Ok(());
    }
    let client = http_client(config.telegram_lane.send_timeout, 2)
        .context("building the outlets' HTTP client")?;
    let mut lanes = Vec::new();
    for (outlet, spec) in built_outlets(config, &client, footer)? {
        let settings = OutletLaneSettings {
            rate_per_minute: spec.rate_per_minute,
            lease: config.telegram_lane.lease,
            poll: config.engine.poll,
            retry: config.telegram_lane.retry.clone(),
            archive: config.archive.as_ref().map(|a| a.public_url.clone()),
        };
        lanes.push((
            outlet,
            settings,
            Arc::new(crate::queue::LanePause::default()),
        ));
    }
    let (store, instance) = (store.clone(), config.engine.instance.clone());
    let work = move |grant: crate::roles::Grant, stop: CancellationToken| {
        let running: Vec<_> = lanes
            .iter()
            .map(|(outlet, settings, pause)| {
                OutletLane {
                    outlet: outlet.clone(),
                    store: store.clone(),
                    settings: settings.clone(),
                    instance: instance.clone(),
                    pause: pause.clone(),
                    grant: grant.clone(),
                }
                .run(stop.clone())
            })
            .collect();
        let store = store.clone();
        async move {
            // What the holder before leased (a killed or cut-off instance, or this one's
            // earlier life) goes back to the queue before the first claim.
            match store.take_over_outlets(grant.fence()).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::warn!(
                        posts = n,
                        "took over the outlets: returned what the holder before had leased to the queue"
                    )
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not take over the outlets; will try again");
                    return;
                }
            }
            futures_util::future::join_all(running).await;
        }
    };
    let running = engine
        .roles
        .clone()
        .run_as(InstanceRole::Outlets, shutdown.clone(), work);
    engine.tasks.spawn(async move {
        running.await;
        "outlets".to_string()
    });
    Ok(())
}

/// `amtsbote run`: the whole service until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    app.run_until_stopped(stop_signal()).await
}

/// The whole service, built from a `Config`: `run`, `demo` and the tests start this, so a test
/// runs what production runs. The HTTP listener is bound in `build` (port 0 picks a free one).
pub struct Application {
    pub store: Arc<dyn Store>,
    /// Dashboard sign-in, when `dashboard.public_url` is set.
    pub sign_in: Option<Arc<SignIn>>,
    pub broadcasts: Arc<BroadcastService>,
    pub conversation: Arc<Conversation>,
    pub notices: Arc<StaffNotices>,
    /// How the official warnings feed fares, when it is on.
    pub warnings: Option<Arc<crate::warnings::FeedHealth>>,
    /// Cancel it to stop everything (what `run_until_stopped` does when its signal comes).
    pub shutdown: CancellationToken,
    engine: Engine,
    http_task: tokio::task::JoinHandle<std::io::Result<()>>,
    local_addr: std::net::SocketAddr,
    /// The admin listener's address, when the API is served apart from the webhook.
    admin_addr: Option<std::net::SocketAddr>,
    queue_running: Arc<AtomicBool>,
    /// Held while the service runs on a SQLite file.
    _sole: Option<SoleInstance>,
}

/// The file a SQLite database `url` names; `None` for Postgres and an in-memory database.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return None;
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// The lock by which one `amtsbote run` keeps a SQLite database to itself: an exclusive
/// `flock` on a file beside it, which the kernel drops when the process ends, however it ends.
pub struct SoleInstance {
    _file: std::fs::File,
}

impl SoleInstance {
    /// Takes the lock for the SQLite database `url` names (`None` for an in-memory one), or
    /// says who to stop when another process holds it.
    pub fn lock(url: &str) -> anyhow::Result<Option<SoleInstance>> {
        let Some(path) = sqlite_file(url) else {
            return Ok(None);
        };
        let path = path.display();
        let lock_path = format!("{path}.instance-lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening {lock_path}"))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(SoleInstance { _file: file })),
            Err(rustix::io::Errno::WOULDBLOCK) => anyhow::bail!(
                "another amtsbote instance is running on {path}: SQLite serves one instance \
                 (stop the other one, or use Postgres for several; see docs/instances.md)"
            ),
            Err(e) => Err(anyhow::Error::new(e).context(format!("locking {lock_path}"))),
        }
    }
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let store = open_store(&config).await?;
        Self::build_on(config, store).await
    }

    /// Like `build`, on a store that is already open and migrated.
    pub async fn build_on(config: Config, store: Arc<dyn Store>) -> anyhow::Result<Application> {
        crate::http::metrics_handle();
        // SQLite serves one instance: a second `run` on the same file would send everything
        // twice. (Several instances share Postgres through roles; see `roles`.)
        let sole = if store.shares_roles() {
            None
        } else {
            SoleInstance::lock(&config.database_url)?
        };
        // Leases left behind go back to the queue when a lane's role is taken (`Engine`).
        let (lanes, whatsapp) = configured_lanes(&config)?;
        if lanes.is_empty() {
            tracing::warn!(
                "no channel is configured: serving the HTTP side only; accepted broadcasts wait in the queue"
            );
        }

        let areas = load_areas(&config)?;
        let texts = Arc::new(Texts::load().map_err(anyhow::Error::msg)?);
        // The check link under every message to citizens, when the archive is on.
        let footer = config
            .archive
            .as_ref()
            .filter(|a| a.footer)
            .map(|a| Arc::new(Footer::new(texts.clone(), &a.public_url)));
        let lanes = lanes
            .into_iter()
            .map(|(channel, settings)| {
                let settings = LaneSettings {
                    footer: footer.clone(),
                    ..settings
                };
                (channel, settings)
            })
            .collect();
        let check = Arc::new(CheckService::new(store.clone()));
        let shutdown = CancellationToken::new();
        let mut engine = Engine::start(
            store.clone(),
            lanes,
            crate::queue::EngineSettings {
                areas: areas.clone(),
                ..config.engine.clone()
            },
            shutdown.clone(),
        );
        let broadcasts = Arc::new(
            BroadcastService::new(
                store.clone(),
                config.topics.clone(),
                config.second_approval,
                config.tz,
                Some(engine.signals.clone() as Arc<dyn QueueWake>),
            )
            .with_template_costs(config.template_costs.clone())
            .with_areas(areas.clone())
            .with_feed_approval(config.warnings.as_ref().is_none_or(|w| w.approve))
            .with_footer(footer.clone())
            .with_outlets(
                config.engine.outlets.clone(),
                config.archive.as_ref().map(|a| a.public_url.clone()),
            ),
        );
        let sign_in = config
            .dashboard_url
            .as_ref()
            .map(|url| Arc::new(SignIn::new(store.clone(), url, broadcasts.clock().clone())));
        let subscriptions = Arc::new(crate::services::subscriptions::SubscriptionService::new(
            store.clone(),
            config.topics.clone(),
            areas.clone(),
        ));
        // Files staff send in the chat are fetched from the platform they came on.
        let mut files: HashMap<ChannelKind, Arc<dyn crate::services::media::FetchFile>> =
            HashMap::new();
        if let Some(tg) = &config.telegram {
            let client = http_client(
                config.telegram_lane.send_timeout,
                config.telegram_lane.concurrency,
            )
            .context("building the HTTP client")?;
            let channel = TelegramChannel::new(client, &tg.api_url, tg.token.clone())
                .context("AMTSBOTE_TELEGRAM_API_URL is not a URL")?;
            files.insert(ChannelKind::Telegram, Arc::new(channel));
        }
        if let Some(wa) = &whatsapp {
            files.insert(ChannelKind::Whatsapp, wa.clone());
        }
        let conversation = Arc::new(Conversation {
            files,
            subscriptions,
            store: store.clone(),
            texts: texts.clone(),
            broadcasts: broadcasts.clone(),
            sign_in: sign_in.clone(),
            archive: config.archive.as_ref().map(|a| {
                Arc::new(PublicArchive {
                    check: check.clone(),
                    public_url: a.public_url.clone(),
                })
            }),
        });
        // Schedules from the config file, added once each (keyed by their content).
        for sc in &config.schedules {
            let source = format!(
                "config:{}",
                hex::encode(sha2::Sha256::digest(format!(
                    "{}|{}|{}",
                    sc.cron, sc.topic, sc.text
                )))
            );
            broadcasts
                .plan_from_config(&sc.topic, &sc.text, sc.priority, &sc.cron, &source)
                .await
                .map_err(|e| anyhow::anyhow!("[[schedules]] entry '{}': {e}", sc.cron))?;
        }
        // The outlets: a lane each, beside the citizens' lanes and never in their way.
        start_outlets(&config, &store, &mut engine, footer.clone(), &shutdown)?;
        let paces = Paces::of(&engine.budgets);
        // One intake for both channels: staff on either overtake citizens on both.
        let intake = Intake::start_default(shutdown.clone());
        let mut notice = StaffNotices {
            texts: texts.clone(),
            store: store.clone(),
            telegram: None,
            whatsapp: whatsapp.clone(),
            paces: paces.clone(),
            whatsapp_approval_template: config
                .whatsapp
                .as_ref()
                .and_then(|wa| wa.approval_template.clone()),
        };
        if let Some(tg) = &config.telegram {
            // Long polls need a client that waits longer than Telegram holds the request.
            let timeout = Duration::from_secs(u64::from(telegram_updates::LONG_POLL_SECS) + 10);
            let client = http_client(timeout, 2).context("building the HTTP client")?;
            let bot = telegram::bot(client, &tg.api_url, &tg.token)
                .context("AMTSBOTE_TELEGRAM_API_URL is not a URL")?;
            notice.telegram = Some(bot.clone());
            let handling = telegram_updates::UpdateHandling {
                bot,
                conversation: conversation.clone(),
                store: store.clone(),
                texts: texts.clone(),
                intake: intake.clone(),
                pace: paces.telegram.clone(),
            };
            // Telegram answers one long poll per bot: only the role's holder polls.
            let polling = engine.roles.clone().run_as(
                InstanceRole::TelegramPoller,
                shutdown.clone(),
                move |_, stop| telegram_updates::run(handling.clone(), stop),
            );
            engine.tasks.spawn(async move {
                polling.await;
                "Telegram polling".to_string()
            });
        }
        let notices = Arc::new(notice);
        broadcasts.tell_authors_through(notices.clone());
        let courier = ApprovalCourier {
            broadcasts: broadcasts.clone(),
            conversation: conversation.clone(),
            notices: notices.clone(),
        };
        let asking = courier.run(shutdown.clone());
        engine.tasks.spawn(async move {
            asking.await;
            "approval requests".to_string()
        });
        let reports = DrillReports {
            store: store.clone(),
            notices: notices.clone(),
        };
        let scheduler = crate::schedule::Scheduler {
            store: store.clone(),
            broadcasts: broadcasts.clone(),
            tz: config.tz,
            grace: config.schedule_grace,
            notice: Some(notices.clone() as Arc<dyn crate::schedule::StaffNotice>),
        };
        let desk_upkeep = DraftExpiry {
            broadcasts: broadcasts.clone(),
            max_age: config.drafts_expire,
        };
        // Schedules fire and drill reports go out once, from the role's holder. (Approval
        // requests go out from every instance: each is claimed in the database first.)
        let scheduling = engine.roles.clone().run_as(
            InstanceRole::Scheduler,
            shutdown.clone(),
            move |_, stop| {
                let (scheduler, reports) = (scheduler.clone(), reports.clone());
                let desk = desk_upkeep.clone();
                async move {
                    tokio::join!(
                        scheduler.run(stop.clone()),
                        reports.run(stop.clone()),
                        desk.run(stop)
                    );
                }
            },
        );
        engine.tasks.spawn(async move {
            scheduling.await;
            "scheduler".to_string()
        });
        let counting = keep_subscriber_days(store.clone(), config.tz, shutdown.clone());
        engine.tasks.spawn(async move {
            counting.await;
            "daily subscriber counts".to_string()
        });
        let warnings = match &config.warnings {
            Some(settings) => {
                let feed = crate::warnings::WarningsFeed::new(
                    settings.clone(),
                    broadcasts.clone(),
                    texts.clone(),
                    Some(notices.clone() as crate::warnings::Notice),
                )
                .map_err(anyhow::Error::msg)
                .context("AMTSBOTE_WARNINGS_BASE_URL")?;
                let health = feed.health();
                let polling = engine.roles.clone().run_as(
                    InstanceRole::Warnings,
                    shutdown.clone(),
                    move |_, stop| feed.clone().run(stop),
                );
                engine.tasks.spawn(async move {
                    polling.await;
                    "official warnings".to_string()
                });
                Some(health)
            }
            None => None,
        };
        let queue_running = Arc::new(AtomicBool::new(true));
        // The operator's and the city's side: the API, readiness and metrics.
        let admin = http::operator(http::AppState {
            store: store.clone(),
            queue_running: queue_running.clone(),
            warnings: warnings.clone(),
            roles: Some(engine.roles.clone()),
        })
        .merge(crate::api::router(Arc::new(crate::api::ApiState {
            broadcasts: broadcasts.clone(),
            tokens: config.api_tokens.clone(),
        })));
        let admin = match &sign_in {
            Some(sign_in) => {
                let state = crate::dashboard::DashboardState::new(
                    broadcasts.clone(),
                    sign_in.clone(),
                    texts.clone(),
                    config.http_trusted_proxies.clone(),
                )
                .map_err(anyhow::Error::msg)?;
                tracing::info!(url = %sign_in.dashboard_url(), "dashboard on");
                let forgetting = forget_sign_ins(sign_in.clone(), shutdown.clone());
                engine.tasks.spawn(async move {
                    forgetting.await;
                    "dashboard sign-in housekeeping".to_string()
                });
                admin.merge(crate::dashboard::router(Arc::new(state)))
            }
            None => {
                tracing::info!("the dashboard is off: AMTSBOTE_DASHBOARD_PUBLIC_URL is not set");
                admin
            }
        };
        if config.api_tokens.is_empty() {
            tracing::info!("the HTTP API answers 401 to everyone: no AMTSBOTE_API_TOKEN is set");
        }
        // What must face the internet: the webhook (Meta calls it) and the health check.
        let mut public = http::health();
        if let (Some(wa), Some(channel)) = (&config.whatsapp, whatsapp) {
            public = public.merge(whatsapp_webhook::router(Arc::new(
                whatsapp_webhook::WebhookState {
                    app_secret: wa.app_secret.clone(),
                    verify_token: wa.verify_token.clone(),
                    store: store.clone(),
                    conversation: conversation.clone(),
                    texts: texts.clone(),
                    channel,
                    intake: intake.clone(),
                    pace: paces.whatsapp.clone(),
                },
            )));
            tracing::info!("WhatsApp webhook listening at /webhooks/whatsapp");
        }
        // What anyone may read: the archive, its feeds and the check.
        if let Some(settings) = &config.archive {
            let state = crate::archive::ArchiveState::new(
                broadcasts.clone(),
                check.clone(),
                texts.clone(),
                settings.clone(),
                config.http_trusted_proxies.clone(),
            )
            .map_err(anyhow::Error::msg)?;
            public = public.merge(crate::archive::router(Arc::new(state)));
            tracing::info!(url = %settings.public_url, "public archive on");
        }
        // File descriptors the HTTP side must leave to the rest: the database's connections,
        // each lane's sends in flight, the Telegram poller, logs and the runtime.
        let lanes_in_flight: usize = [
            config
                .telegram
                .as_ref()
                .map(|_| config.telegram_lane.concurrency),
            config
                .whatsapp
                .as_ref()
                .map(|_| config.whatsapp_lane.concurrency),
        ]
        .into_iter()
        .flatten()
        .sum();
        let admin_connections = 64;
        let reserved = 100
            + lanes_in_flight as u64
            + config
                .http_admin_listen
                .map_or(0, |_| admin_connections as u64);
        let mut limits = config.http_limits.clone();
        limits.max_connections =
            http::connections_within_fd_limit(limits.max_connections, reserved);
        let listener = bind(config.http_listen).await?;
        let local_addr = listener.local_addr().context("reading the bound address")?;
        let (admin_addr, http_task) = match config.http_admin_listen {
            None => {
                tracing::info!(addr = %local_addr, connections = limits.max_connections, "HTTP listening");
                let all = public.merge(admin);
                let task = tokio::spawn(http::serve_on(listener, all, limits, shutdown.clone()));
                (None, task)
            }
            Some(addr) => {
                let admin_listener = bind(addr).await?;
                let admin_addr = admin_listener
                    .local_addr()
                    .context("reading the bound address")?;
                tracing::info!(addr = %local_addr, connections = limits.max_connections, "HTTP listening: webhook and /healthz");
                tracing::info!(addr = %admin_addr, "HTTP listening: API, /metrics, /readyz");
                let admin_limits = http::Limits {
                    max_connections: admin_connections.min(limits.max_connections),
                    ..limits.clone()
                };
                let admin = http::health().merge(admin);
                let stop = shutdown.clone();
                let task = tokio::spawn(async move {
                    tokio::try_join!(
                        http::serve_on(listener, public, limits, stop.clone()),
                        http::serve_on(admin_listener, admin, admin_limits, stop),
                    )
                    .map(|_| ())
                });
                (Some(admin_addr), task)
            }
        };
        Ok(Application {
            store,
            sign_in,
            broadcasts,
            conversation,
            notices,
            warnings,
            shutdown,
            engine,
            http_task,
            local_addr,
            admin_addr,
            queue_running,
            _sole: sole,
        })
    }

    /// The port the HTTP side listens on.
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local_addr
    }

    /// Where the API, `/metrics` and `/readyz` are served: the admin listener when there is
    /// one, else the one listener.
    pub fn admin_addr(&self) -> std::net::SocketAddr {
        self.admin_addr.unwrap_or(self.local_addr)
    }

    /// Runs until `stop` resolves (with the signal's name) or a part stops unexpectedly; then
    /// stops every part in order.
    pub async fn run_until_stopped(
        self,
        stop: impl std::future::Future<Output = &'static str>,
    ) -> anyhow::Result<()> {
        let Application {
            mut engine,
            mut http_task,
            shutdown,
            queue_running,
            local_addr,
            ..
        } = self;
        let outcome = tokio::select! {
            signal = stop => {
                tracing::info!(signal, "stopping: no new claims, finishing sends in flight");
                Ok(())
            }
            served = &mut http_task => {
                let err = match served {
                    Ok(Ok(())) => anyhow::anyhow!("the HTTP server stopped"),
                    Ok(Err(e)) => anyhow::Error::new(e).context(format!("HTTP server on {local_addr}")),
                    Err(e) => anyhow::Error::new(e).context("HTTP server task"),
                };
                tracing::error!(error = format!("{err:#}"), "HTTP side stopped; shutting down");
                Err(err)
            }
            Some(ended) = engine.tasks.join_next() => {
                let which = match ended {
                    Ok(name) => name,
                    Err(e) => format!("a queue task ({e})"),
                };
                tracing::error!(task = %which, "queue task stopped unexpectedly; shutting down");
                Err(anyhow::anyhow!("{which} stopped unexpectedly"))
            }
        };
        queue_running.store(false, Ordering::SeqCst);
        shutdown.cancel();
        engine.join().await;
        if !http_task.is_finished() {
            let _ = http_task.await;
        }
        tracing::info!("stopped");
        outcome
    }
}

/// Runs `work` at once and then every ten minutes, until `shutdown`.
async fn every_ten_minutes<F, Fut>(shutdown: CancellationToken, mut work: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        work().await;
    }
}

/// Keeps today's active subscribers per topic and channel (the dashboard's chart): counts only.
async fn keep_subscriber_days(
    store: Arc<dyn Store>,
    tz: chrono_tz::Tz,
    shutdown: CancellationToken,
) {
    every_ten_minutes(shutdown, || async {
        let day = chrono::Utc::now()
            .with_timezone(&tz)
            .format("%Y-%m-%d")
            .to_string();
        let counted = match store.subscriber_counts().await {
            Ok(counts) => store.record_subscriber_day(&day, &counts).await,
            Err(e) => Err(e),
        };
        if let Err(e) = counted {
            tracing::warn!(error = %e, "the daily subscriber count could not be kept; will retry");
        }
    })
    .await
}

/// Deletes dashboard sessions and login links that can no longer be used.
async fn forget_sign_ins(sign_in: Arc<SignIn>, shutdown: CancellationToken) {
    every_ten_minutes(shutdown, || async {
        if let Err(e) = sign_in.forget_expired().await {
            tracing::warn!(error = %e, "expired dashboard sessions could not be deleted; will retry");
        }
    })
    .await
}

/// The kernel's queue of connections not yet accepted: tokio's default (1,024) overflows when a
/// flood's refused connections come back all at once, and a connection whose SYN is dropped
/// then retries only after a second (a webhook answered late under attack).
const LISTEN_BACKLOG: u32 = 4096;

async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    };
    socket
        .and_then(|s| {
            s.set_reuseaddr(true)?;
            s.bind(addr)?;
            s.listen(LISTEN_BACKLOG)
        })
        .with_context(|| format!("binding the HTTP listener on {addr}"))
}

/// Resolves with the name of the first stop signal (SIGTERM or Ctrl-C).
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the service");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

/// Tells staff in their own chat: missed schedules, requests for approval.
pub struct StaffNotices {
    pub texts: Arc<Texts>,
    pub store: Arc<dyn Store>,
    pub telegram: Option<teloxide::Bot>,
    pub whatsapp: Option<Arc<WhatsappChannel>>,
    /// For approvers outside WhatsApp's 24-hour window (`whatsapp.template_approval`).
    pub whatsapp_approval_template: Option<Template>,
    /// The lanes' budgets these messages draw on, as staff replies.
    pub paces: Paces,
}

/// The budget each platform's replies draw on: its lane's (see `queue::budget`).
#[derive(Clone)]
pub struct Paces {
    pub telegram: Arc<dyn ReplyPace>,
    pub whatsapp: Arc<dyn ReplyPace>,
}

impl Default for Paces {
    /// No budget: replies go at once.
    fn default() -> Self {
        Paces {
            telegram: Arc::new(Unpaced),
            whatsapp: Arc::new(Unpaced),
        }
    }
}

impl Paces {
    /// The budgets of the running lanes; a platform without a lane has none.
    pub fn of(budgets: &HashMap<ChannelKind, Arc<LaneBudget>>) -> Paces {
        let pace = |c: ChannelKind| -> Arc<dyn ReplyPace> {
            match budgets.get(&c) {
                Some(b) => b.clone(),
                None => Arc::new(Unpaced),
            }
        };
        Paces {
            telegram: pace(ChannelKind::Telegram),
            whatsapp: pace(ChannelKind::Whatsapp),
        }
    }
}

impl StaffNotices {
    /// Sends replies to staff on `channel`; false when that channel is off.
    pub async fn send(
        &self,
        channel: ChannelKind,
        replies: Vec<crate::conversation::Reply>,
    ) -> bool {
        match (channel, &self.telegram, &self.whatsapp) {
            (ChannelKind::Telegram, Some(bot), _) => {
                telegram_updates::render(bot, &*self.paces.telegram, Addressee::Staff, replies)
                    .await;
                true
            }
            (ChannelKind::Whatsapp, _, Some(wa)) => {
                whatsapp_webhook::render(
                    wa,
                    &self.texts,
                    &*self.paces.whatsapp,
                    Addressee::Staff,
                    replies,
                )
                .await;
                true
            }
            _ => false,
        }
    }

    /// Whether free text reaches this staff address now: always on Telegram when it is on; on
    /// WhatsApp only within 24 hours of the person's last message that we know of.
    async fn reachable(&self, channel: ChannelKind, address: &str) -> Result<bool, StoreError> {
        Ok(match channel {
            ChannelKind::Telegram => self.telegram.is_some(),
            ChannelKind::Whatsapp => {
                let last = self.store.last_inbound(channel, address).await?;
                self.whatsapp.is_some()
                    && last.is_some_and(|t| {
                        crate::domain::now_ms() - t < crate::channels::whatsapp::WINDOW_MS
                    })
            }
        })
    }

    /// Asks `address` on WhatsApp with the approval template; false when there is none (or
    /// WhatsApp is off).
    async fn ask_by_template(&self, address: &str, b: &store::Broadcast, code: &str) -> bool {
        let (Some(wa), Some(template)) = (&self.whatsapp, &self.whatsapp_approval_template) else {
            return false;
        };
        let body = approval_template_body(address, template, &b.text, code);
        match wa.post(&body).await {
            SendOutcome::Sent { .. } => {}
            other => tracing::warn!(
                outcome = ?other,
                broadcast = b.id,
                "the approval template could not be delivered"
            ),
        }
        true
    }
}

/// Asks the emergency staff to approve what awaits approval, in their chats: at once for what
/// this process submitted, at the next look for what another process did (the CLI).
pub struct ApprovalCourier {
    pub broadcasts: Arc<BroadcastService>,
    pub conversation: Arc<Conversation>,
    pub notices: Arc<StaffNotices>,
}

impl ApprovalCourier {
    /// Sends every request not sent yet; returns how many addresses were asked.
    pub async fn deliver(&self) -> Result<usize, StoreError> {
        let store = self.broadcasts.store();
        let mut asked = 0;
        for b in store.approvals_to_request().await? {
            // Claimed first: each request goes out once, even with a second process looking.
            if !store
                .approval_requested(b.id, crate::domain::now_ms())
                .await?
            {
                continue;
            }
            let mut approvers = Vec::new();
            let subject = crate::services::Subject::of(&b);
            for m in store.list_staff().await? {
                let actor = crate::domain::Actor::Staff {
                    person: m.person.clone(),
                    role: m.role,
                    channel: m.channel,
                    address: m.address.clone(),
                };
                // Every address of every person the policy lets approve it: the emergency
                // staff for an alert, the press office too for a department's draft; never
                // the author.
                if crate::services::policy::decide(
                    &actor,
                    crate::services::Action::Approve,
                    &subject,
                    crate::services::policy::Approvals::default(),
                )
                .is_ok()
                {
                    approvers.push(m);
                }
            }
            let Some(first) = approvers.first() else {
                tracing::warn!(
                    broadcast = b.id,
                    "an alert awaits approval but there is no other emergency member to ask"
                );
                continue;
            };
            let code = self
                .broadcasts
                .approval_code(b.id, first.channel, &first.address)
                .await
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let mut reachable = Vec::with_capacity(approvers.len());
            for m in &approvers {
                reachable.push(self.notices.reachable(m.channel, &m.address).await?);
            }
            for (m, open) in approvers.iter().zip(&reachable) {
                // WhatsApp refuses free text outside the window (131047, reported only later):
                // the person is asked on another address, or with the approval template.
                if m.channel == ChannelKind::Whatsapp && !open {
                    let elsewhere = approvers
                        .iter()
                        .zip(&reachable)
                        .any(|(o, ok)| *ok && o.person == m.person);
                    if elsewhere {
                        tracing::info!(
                            broadcast = b.id,
                            "an approver outside WhatsApp's 24-hour window is asked on another address"
                        );
                        continue;
                    }
                    if self.notices.ask_by_template(&m.address, &b, &code).await {
                        asked += 1;
                        continue;
                    }
                    // Free text may still arrive: we know the window of subscribers only.
                    tracing::warn!(
                        broadcast = b.id,
                        "an approver is outside WhatsApp's 24-hour window, has no other address and no approval template is set (AMTSBOTE_WHATSAPP_TEMPLATE_APPROVAL): trying free text, which WhatsApp will likely refuse"
                    );
                }
                let reply = self
                    .conversation
                    .approval_request(m.channel, &m.address, &b, &code)
                    .await?;
                if self.notices.send(m.channel, vec![reply]).await {
                    asked += 1;
                } else {
                    tracing::warn!(channel = %m.channel, broadcast = b.id, "cannot ask an approver: channel off");
                }
            }
            tracing::info!(
                broadcast = b.id,
                approvers = approvers.len(),
                "approval requested"
            );
        }
        Ok(asked)
    }

    /// Looks when this process asks, and every two seconds for other processes.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.broadcasts.approvals_waiting() => {}
                _ = shutdown.cancelled() => return,
            }
            if let Err(e) = self.deliver().await {
                tracing::warn!(error = %e, "approval requests could not be sent; will retry");
            }
        }
    }
}

/// Sends each drill's report to its author once it is done (and keeps it for `amtsbote stats`,
/// which computes it from the deliveries).
#[derive(Clone)]
pub struct DrillReports {
    pub store: Arc<dyn Store>,
    pub notices: Arc<StaffNotices>,
}

impl DrillReports {
    /// Reports the drills that are done and not reported yet; how many it reported.
    pub async fn deliver(&self) -> Result<usize, StoreError> {
        let mut reported = 0;
        for b in self.store.list_broadcasts(50).await? {
            if b.status != crate::domain::BroadcastStatus::Done || b.topic != DRILL_TOPIC {
                continue;
            }
            // Reported ones are skipped before their figures are counted again.
            let key = format!("drill-report:{}", b.id);
            if self.store.channel_state(&key).await?.is_some() {
                continue;
            }
            let Some(report) = crate::services::DrillReport::of(&*self.store, &b).await? else {
                continue;
            };
            self.store.set_channel_state(&key, "sent").await?;
            // The author in a chat (`channel:address`); a token or the CLI read `amtsbote stats`.
            let author = b
                .created_by
                .as_deref()
                .and_then(|c| c.split_once(':'))
                .and_then(|(c, a)| Some((c.parse::<ChannelKind>().ok()?, a)));
            if let Some((channel, address)) = author {
                self.notices
                    .tell_with(channel, address, "drill-report", &report.args())
                    .await;
            }
            tracing::info!(
                drill = b.id,
                sent = report.sent,
                recipients = report.recipients,
                "drill done"
            );
            reported += 1;
        }
        Ok(reported)
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            if let Err(e) = self.deliver().await {
                tracing::warn!(error = %e, "drill reports could not be sent; will retry");
            }
        }
    }
}

/// Drops departments' drafts nobody released in `drafts.expire_days`, and tells their authors.
#[derive(Clone)]
pub struct DraftExpiry {
    pub broadcasts: Arc<BroadcastService>,
    pub max_age: Duration,
}

impl DraftExpiry {
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            match self.broadcasts.expire_drafts(self.max_age).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(drafts = n, "dropped drafts nobody released in time"),
                Err(e) => tracing::warn!(error = %e, "could not drop old drafts; will retry"),
            }
        }
    }
}

#[async_trait::async_trait]
impl crate::services::AuthorNotice for StaffNotices {
    async fn tell_person(&self, person: &str, key: &str, args: &[(&str, String)]) {
        let addresses = match self.store.list_staff().await {
            Ok(staff) => staff,
            Err(e) => {
                tracing::warn!(error = %e, key, "cannot tell a draft's author: staff unreadable");
                return;
            }
        };
        // Telegram first: free text always reaches it; WhatsApp only within its window.
        let mut theirs: Vec<_> = addresses
            .into_iter()
            .filter(|m| m.person == person)
            .collect();
        theirs.sort_by_key(|m| m.channel != ChannelKind::Telegram);
        let Some(m) = theirs.first() else {
            tracing::info!(key, "a draft's author has no chat address; not told");
            return;
        };
        let lang = match self.store.subscriber(m.channel, &m.address).await {
            Ok(Some(s)) => s.language,
            _ => crate::i18n::DEFAULT_LANGUAGE.to_string(),
        };
        let text = {
            let args: Vec<_> = args.iter().map(|(k, v)| (*k, v.clone().into())).collect();
            self.texts.get(&lang, key, &args)
        };
        let reply = crate::conversation::Reply::Send {
            to: m.address.clone(),
            text,
            buttons: Vec::new(),
        };
        if !self.send(m.channel, vec![reply]).await {
            tracing::warn!(channel = %m.channel, key, "cannot tell a draft's author: channel off");
        }
    }
}

impl StaffNotices {
    /// Tells a staff address text `key` with `args`, in their language.
    pub async fn tell_with(
        &self,
        channel: ChannelKind,
        address: &str,
        key: &str,
        args: &[(&str, f64)],
    ) {
        let lang = match self.store.subscriber(channel, address).await {
            Ok(Some(s)) => s.language,
            _ => crate::i18n::DEFAULT_LANGUAGE.to_string(),
        };
        let text = {
            let args: Vec<_> = args.iter().map(|(k, v)| (*k, (*v).into())).collect();
            self.texts.get(&lang, key, &args)
        };
        let reply = crate::conversation::Reply::Send {
            to: address.to_string(),
            text,
            buttons: Vec::new(),
        };
        if !self.send(channel, vec![reply]).await {
            tracing::warn!(%channel, key, "cannot tell a staff member: channel off");
        }
    }
}

#[async_trait::async_trait]
impl crate::schedule::StaffNotice for StaffNotices {
    async fn tell(&self, channel: ChannelKind, address: &str, key: &str, id: i64) {
        self.tell_with(channel, address, key, &[("id", id as f64)])
            .await
    }
}
