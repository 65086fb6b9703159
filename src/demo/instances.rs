//! `amtsbote demo --instances N`: N `amtsbote run` processes on one Postgres database, one
//! news broadcast to every subscriber, and meanwhile the Telegram lane's holder killed
//! (`--kill-leader`: SIGKILL twice, then SIGSTOP for 10 s) or cut off from the database
//! (`--cut-leader`: its own TCP link partitioned for 10 s). Each instance sends to simulated
//! platforms of its own, so every message that arrived is known by who sent it; the report
//! holds losses, duplicates against the sends in flight at each event, the busiest second per
//! lane, failover times, and an alert released on one instance while another holds the lanes.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::link::Link;
use super::{Measure, release, round};
use crate::config::default_topics;
use crate::domain::{BroadcastKind, BroadcastStatus, ChannelKind, Priority, Topic};
use crate::i18n::Texts;
use crate::services::BroadcastService;
use crate::simulator::{Received, Simulator};
use crate::store::{NewSubscriber, RoleHolder, Store};

/// What `amtsbote demo --instances N` runs with.
#[derive(Debug, Clone)]
pub struct InstancesOptions {
    pub instances: u32,
    pub subscribers: u64,
    /// Messages per second on each lane, for all instances together.
    pub rate: u32,
    pub kill_leader: bool,
    pub cut_leader: bool,
    /// A Postgres server (any database on it): the demo makes a database of its own there and
    /// drops it at the end.
    pub database_url: String,
    /// A directory for the instances' logs (one file each); without it they are discarded.
    pub logs: Option<PathBuf>,
}

/// The lanes' roles and the channel each sends on.
const LANE_ROLES: [(&str, ChannelKind); 2] = [
    ("lane:telegram", ChannelKind::Telegram),
    ("lane:whatsapp", ChannelKind::Whatsapp),
];
/// The role whose holder the demo kills, freezes and cuts off.
const LEADER_ROLE: &str = "lane:telegram";
/// The alert goes to the first subscribers only: it measures the way in, not the lanes' rate.
const ALERT_RECIPIENTS: u64 = 200;
/// How long a frozen holder stays frozen and a cut one cut off.
const FROZEN_FOR: Duration = Duration::from_secs(10);
const CUT_FOR: Duration = Duration::from_secs(10);
/// Telegram messages that arrive after a takeover before the next event: each event comes
/// while the lane is sending.
const SENDING_BETWEEN_EVENTS: usize = 300;
/// Longest wait for a standby to take a role (the bar is 5 s; this only ends a demo
/// that would otherwise wait forever).
const TAKEOVER_WAIT: Duration = Duration::from_secs(20);

/// What the demo measured, at the simulators and in the database.
#[derive(Debug, Clone, Serialize)]
pub struct InstancesReport {
    pub instances: u32,
    pub database: &'static str,
    /// Messages per second configured on each lane.
    pub rate: u32,
    pub recipients: u64,
    /// Recipients the news reached (each counted once).
    pub delivered: u64,
    pub alert_recipients: u64,
    pub alert_delivered: u64,
    pub lost: u64,
    /// Extra copies of the news and the alert, over all lanes and instances.
    pub duplicates: u64,
    /// Deliveries leased in the database right after each event that had already arrived at
    /// the simulators from the instance hit (sent, not yet recorded): the only ones that may
    /// arrive twice. Summed over the events.
    pub in_flight_at_kills: u64,
    pub events: Vec<EventReport>,
    /// One per lane role the instance hit held.
    pub failover_ms: Vec<Failover>,
    /// Most messages in any one second (sliding) at the simulators, all instances together.
    pub telegram_max_1s: u64,
    pub whatsapp_max_1s: u64,
    /// From the alert's release (as the store recorded it) to its first message.
    pub alert_first_send_ms: f64,
    /// The instance whose API took the alert, and who held the Telegram lane then.
    pub alert_released_on: String,
    pub alert_lane_holder: String,
    /// `--cut-leader`: the cut instance's last message after the cut (0: none after it).
    pub cut_sender_stopped_after_ms: Option<f64>,
    /// `--cut-leader`: from the cut until another instance held the Telegram lane.
    pub cut_takeover_ms: Option<f64>,
    /// `--cut-leader`: messages the cut instance sent after its link returned that another
    /// instance had already sent.
    pub sends_by_old_holder_after_link_returned: Option<u64>,
    /// `--kill-leader`: messages the frozen instance sent after SIGCONT that another instance had
    /// already sent (sends it had begun before it froze: counted in flight).
    pub sends_by_old_holder_after_resume: Option<u64>,
    /// Messages the frozen or cut-off instance sent after it returned of deliveries it did not
    /// hold at the event: a send begun under a lost role. Must be 0.
    pub new_sends_by_old_holder_after_return: Option<u64>,
    /// Instances whose `/metrics` said they held the Telegram lane at the end (1 expected),
    /// and whether that was the holder the database named.
    pub telegram_lane_gauge_holders: u64,
    pub telegram_lane_gauge_agrees: bool,
    pub elapsed_s: f64,
}

/// One kill, freeze or cut.
#[derive(Debug, Clone, Serialize)]
pub struct EventReport {
    /// `kill`, `stop` or `cut`.
    pub event: &'static str,
    pub instance: String,
    /// The lane roles it held.
    pub roles: Vec<String>,
    /// Since the demo started.
    pub at_s: f64,
    pub in_flight: u64,
}

/// How long a role went without a holder, and its lane without a message.
#[derive(Debug, Clone, Serialize)]
pub struct Failover {
    pub event: &'static str,
    pub instance: String,
    pub role: String,
    /// From the event until another instance held the role (none: nobody took it).
    pub to_new_holder_ms: Option<f64>,
    /// From the event until another instance's next message on the role's lane arrived.
    pub to_next_send_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum EventKind {
    Kill,
    Stop,
    Cut,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            EventKind::Kill => "kill",
            EventKind::Stop => "stop",
            EventKind::Cut => "cut",
        }
    }
}

/// What was seen at an event, to be set against the record of arrivals at the end.
struct Event {
    kind: EventKind,
    victim: usize,
    /// On the demo's clock.
    at: Duration,
    roles: Vec<String>,
    /// Leased right after the event: (broadcast, channel, address).
    leased: Vec<(i64, ChannelKind, String)>,
    /// When another instance held each role (demo clock).
    takeovers: Vec<(String, Option<Duration>)>,
    /// When a frozen instance was resumed or a cut one's link came back.
    returned_at: Option<Duration>,
}

impl Event {
    /// Until when a message from the instance hit counts as sent before anyone else could
    /// send it: until the last of its roles was taken over.
    fn in_flight_until(&self) -> Duration {
        self.takeovers
            .iter()
            .filter_map(|(_, t)| *t)
            .max()
            .unwrap_or(self.at + Duration::from_secs(1))
    }
}

/// One `amtsbote run` and what it talks to.
struct Instance {
    id: String,
    sim: Simulator,
    /// The simulator's clock on the demo's: `offset + Received::at`.
    offset: Duration,
    /// Its way to the database when the demo may cut it.
    link: Option<Link>,
    database_url: String,
    http: std::net::SocketAddr,
    child: Option<tokio::process::Child>,
}

/// The running experiment.
struct Fleet {
    epoch: Instant,
    instances: Vec<Instance>,
    store: Arc<dyn Store>,
    observer: sqlx::PgPool,
    options: InstancesOptions,
    workdir: tempfile::TempDir,
    emergency_token: String,
    broadcasts: Vec<(i64, String)>,
    news_text: String,
}

pub async fn run(
    options: InstancesOptions,
    texts: &Texts,
    lang: &str,
) -> anyhow::Result<InstancesReport> {
    if !options.database_url.starts_with("postgres") {
        bail!(
            "demo --instances needs a Postgres server: --database-url or AMTSBOTE_DATABASE_URL postgres://…"
        );
    }
    if options.instances < 2 {
        bail!("demo --instances needs at least 2 instances");
    }
    eprintln!(
        "{}",
        texts.get(
            lang,
            "demo-instances-setup",
            &[
                ("instances", options.instances.into()),
                ("subscribers", options.subscribers.into()),
                ("rate", options.rate.into()),
            ]
        )
    );
    let url = crate::store::testing::fresh_postgres_database(&options.database_url)
        .await
        .context("creating the demo's database")?;
    let shutdown = CancellationToken::new();
    let result = measure(&options, &url, shutdown.clone(), texts, lang).await;
    shutdown.cancel();
    if let Err(e) = crate::store::testing::drop_postgres_database(&options.database_url, &url).await
    {
        tracing::warn!(error = %e, "the demo's database could not be dropped");
    }
    result
}

async fn measure(
    options: &InstancesOptions,
    url: &str,
    shutdown: CancellationToken,
    texts: &Texts,
    lang: &str,
) -> anyhow::Result<InstancesReport> {
    let epoch = Instant::now();
    let store = super::migrated(url).await?;
    seed(&*store, options.subscribers).await?;
    let observer = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .context("connecting to the demo database")?;

    let upstream = {
        let u = url::Url::parse(url).context("reading the database URL")?;
        format!(
            "{}:{}",
            u.host_str().unwrap_or("127.0.0.1"),
            u.port().unwrap_or(5432)
        )
    };
    let mut instances = Vec::new();
    for i in 1..=options.instances {
        let sim = Simulator::start_expecting(shutdown.clone(), options.subscribers as usize)
            .await
            .context("starting the simulated platforms")?;
        let offset = epoch.elapsed().saturating_sub(sim.elapsed());
        let (link, database_url) = if options.cut_leader {
            let link = Link::start(upstream.clone(), shutdown.clone())
                .await
                .context("starting a link to the database")?;
            let mut through = url::Url::parse(url).context("reading the database URL")?;
            let _ = through.set_host(Some("127.0.0.1"));
            let _ = through.set_port(Some(link.addr.port()));
            (Some(link), through.to_string())
        } else {
            (None, url.to_string())
        };
        instances.push(Instance {
            id: format!("i{i}"),
            sim,
            offset,
            link,
            database_url,
            http: free_addr()?,
            child: None,
        });
    }
    let run_id = format!("{:x}", chrono::Utc::now().timestamp_millis() % 0xFFFFFF);
    let mut fleet = Fleet {
        epoch,
        instances,
        store: store.clone(),
        observer,
        options: options.clone(),
        workdir: tempfile::tempdir().context("creating a working directory")?,
        emergency_token: format!("demo-emergency-{:032x}", rand::random::<u128>()),
        broadcasts: Vec::new(),
        news_text: texts.get(lang, "demo-news-text", &[("run", run_id.as_str().into())]),
    };
    let outcome = fleet.experiment(texts, lang, &run_id).await;
    fleet.stop_all().await;
    fleet.report(outcome?).await
}

/// The alert's way in: where it was released and who held the lanes then.
struct AlertRelease {
    id: i64,
    on: String,
    holder: String,
}

/// What the experiment saw while the instances ran; the record of arrivals comes after.
struct Observed {
    events: Vec<Event>,
    alert: AlertRelease,
    /// The instances whose `/metrics` said they held the Telegram lane at the end.
    gauges: Vec<String>,
    /// Who held it then, by the database.
    holder: Option<String>,
}

impl Fleet {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    async fn experiment(
        &mut self,
        texts: &Texts,
        lang: &str,
        run_id: &str,
    ) -> anyhow::Result<Observed> {
        for i in 0..self.instances.len() {
            self.spawn(i)?;
        }
        for i in 0..self.instances.len() {
            self.wait_healthy(i).await?;
        }
        self.wait_for_lane_holders().await?;

        let news_topic = Topic::parse("news").map_err(anyhow::Error::msg)?;
        let service = BroadcastService::new(
            self.store.clone(),
            default_topics(),
            false,
            chrono_tz::Europe::Berlin,
            None,
        );
        let news = release(
            &service,
            &news_topic,
            BroadcastKind::Announcement,
            Priority::Normal,
            &self.news_text,
        )
        .await?;
        self.broadcasts.push((news, self.news_text.clone()));

        self.wait_for_sending(0).await?;
        let alert_text = texts.get(lang, "demo-alert-text", &[("run", run_id.into())]);
        let alert = self.release_alert_elsewhere(&alert_text).await?;
        self.broadcasts.push((alert.id, alert_text));
        // The alert measures the way in across instances: it is out before anything is hit.
        self.wait_done_within(&[alert.id], Duration::from_secs(30))
            .await?;

        let mut events = Vec::new();
        if self.options.kill_leader {
            for kind in [EventKind::Kill, EventKind::Kill, EventKind::Stop] {
                let event = self.hit_leader(kind, texts, lang).await?;
                let since = self.telegram_news_arrived();
                events.push(event);
                self.wait_for_sending(since).await?;
            }
        }
        if self.options.cut_leader {
            let event = self.hit_leader(EventKind::Cut, texts, lang).await?;
            events.push(event);
        }
        self.wait_done().await?;
        self.ensure_running()?;
        // A stale send after a return comes at once if it comes: give it time to show.
        if let Some(back) = events.iter().filter_map(|e| e.returned_at).max() {
            let settle = back + Duration::from_secs(3);
            if let Some(rest) = settle.checked_sub(self.now()) {
                tokio::time::sleep(rest).await;
            }
        }
        Ok(Observed {
            events,
            alert,
            gauges: self.gauge_holders().await,
            holder: self.holder_of(LEADER_ROLE).await?,
        })
    }

    /// Starts instance `i` (again), with its own simulators and HTTP port.
    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let rate = self.options.rate.to_string();
        let http = free_addr()?;
        let log = match &self.options.logs {
            Some(dir) => {
                std::fs::create_dir_all(dir).context("creating the log directory")?;
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{}.log", self.instances[i].id)))
                    .context("opening an instance's log")?;
                Stdio::from(file)
            }
            None => Stdio::null(),
        };
        let inst = &mut self.instances[i];
        inst.http = http;
        let mut cmd =
            tokio::process::Command::new(std::env::current_exe().context("finding amtsbote")?);
        // The operator's settings are not the demo's: each instance gets exactly these.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AMTSBOTE_") {
                cmd.env_remove(k);
            }
        }
        let templates = [
            ("ANNOUNCEMENT", "announcement"),
            ("ALERT", "alert"),
            ("UPDATE", "update"),
            ("ALLCLEAR", "allclear"),
        ];
        for (var, kind) in templates {
            cmd.env(
                format!("AMTSBOTE_WHATSAPP_TEMPLATE_{var}"),
                format!("amtsbote_demo_{kind}:de"),
            );
        }
        cmd.arg("run")
            .current_dir(self.workdir.path())
            .env("AMTSBOTE_DATABASE_URL", &inst.database_url)
            .env("AMTSBOTE_INSTANCE_ID", &inst.id)
            .env("AMTSBOTE_HTTP_LISTEN", http.to_string())
            .env("AMTSBOTE_TELEGRAM_TOKEN", "123456:demo-token")
            .env("AMTSBOTE_TELEGRAM_API_URL", &inst.sim.telegram_url)
            .env("AMTSBOTE_TELEGRAM_RATE", &rate)
            .env("AMTSBOTE_WHATSAPP_API_URL", &inst.sim.whatsapp_url)
            .env("AMTSBOTE_WHATSAPP_PHONE_NUMBER_ID", "100000000000001")
            .env("AMTSBOTE_WHATSAPP_ACCESS_TOKEN", "demo-access-token")
            .env("AMTSBOTE_WHATSAPP_APP_SECRET", super::DEMO_APP_SECRET)
            .env("AMTSBOTE_WHATSAPP_VERIFY_TOKEN", "demo-verify-token")
            .env("AMTSBOTE_WHATSAPP_RATE", &rate)
            .env("AMTSBOTE_API_EMERGENCY_TOKEN", &self.emergency_token)
            .env("AMTSBOTE_ALERTS_REQUIRE_SECOND_APPROVAL", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        inst.child = Some(
            cmd.spawn()
                .with_context(|| format!("starting instance {}", inst.id))?,
        );
        Ok(())
    }

    async fn wait_healthy(&mut self, i: usize) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let url = format!("http://{}/healthz", self.instances[i].http);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(child) = self.instances[i].child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "instance {} ended at start ({status}); see its log (--instance-logs DIR)",
                    self.instances[i].id
                );
            }
            if Instant::now() > deadline {
                bail!("instance {} did not come up", self.instances[i].id);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Who holds which role now, with a lease that has not run out.
    async fn holders(&self) -> anyhow::Result<Vec<RoleHolder>> {
        let mut holders = self
            .store
            .role_holders()
            .await
            .context("reading who holds which role")?;
        holders.retain(|h| h.expires_in_ms > 0);
        Ok(holders)
    }

    async fn holder_of(&self, role: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .holders()
            .await?
            .into_iter()
            .find(|h| h.role == role)
            .map(|h| h.holder))
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.instances.iter().position(|i| i.id == id)
    }

    /// Until both lanes have a holder.
    async fn wait_for_lane_holders(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + TAKEOVER_WAIT;
        loop {
            let holders = self.holders().await?;
            if LANE_ROLES
                .iter()
                .all(|(r, _)| holders.iter().any(|h| h.role == *r))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("no instance took the lanes within {TAKEOVER_WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn telegram_news_arrived(&self) -> usize {
        self.instances
            .iter()
            .map(|i| {
                i.sim
                    .count_text(&self.news_text)
                    .get(&ChannelKind::Telegram)
                    .copied()
                    .unwrap_or(0)
            })
            .sum()
    }

    /// Until a few hundred more Telegram news messages arrived than `since` (or all of them).
    async fn wait_for_sending(&self, since: usize) -> anyhow::Result<()> {
        let all = (self.options.subscribers / 2 + self.options.subscribers % 2) as usize;
        let wanted = (since + SENDING_BETWEEN_EVENTS).min(all);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.telegram_news_arrived() < wanted {
            if Instant::now() > deadline {
                bail!("the Telegram lane sent nothing for a minute");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// An emergency token posts the alert to the API of an instance that holds no lane.
    async fn release_alert_elsewhere(&self, text: &str) -> anyhow::Result<AlertRelease> {
        let holders = self.holders().await?;
        let lane_holders: HashSet<&str> = holders
            .iter()
            .filter(|h| LANE_ROLES.iter().any(|(r, _)| *r == h.role))
            .map(|h| h.holder.as_str())
            .collect();
        let holder = holders
            .iter()
            .find(|h| h.role == LEADER_ROLE)
            .map(|h| h.holder.clone())
            .unwrap_or_default();
        // The one that holds no lane, else one that does not hold the Telegram lane.
        let on = self
            .instances
            .iter()
            .find(|i| !lane_holders.contains(i.id.as_str()))
            .or_else(|| self.instances.iter().find(|i| i.id != holder))
            .context("no instance to release the alert on")?;
        let answer = reqwest::Client::new()
            .post(format!("http://{}/api/v1/broadcasts", on.http))
            .bearer_auth(&self.emergency_token)
            .json(&serde_json::json!({
                "topic": "alerts", "text": text, "priority": "alert", "kind": "alert"
            }))
            .send()
            .await
            .context("posting the alert")?;
        let status = answer.status();
        let body: serde_json::Value = answer.json().await.unwrap_or_default();
        let id = body["id"]
            .as_i64()
            .with_context(|| format!("the API refused the alert ({status}): {body}"))?;
        Ok(AlertRelease {
            id,
            on: on.id.clone(),
            holder,
        })
    }

    /// Kills, freezes or cuts off the Telegram lane's holder and follows the failover.
    async fn hit_leader(
        &mut self,
        kind: EventKind,
        texts: &Texts,
        lang: &str,
    ) -> anyhow::Result<Event> {
        self.ensure_running()?;
        let holders = self.holders().await?;
        let leader = holders
            .iter()
            .find(|h| h.role == LEADER_ROLE)
            .with_context(|| format!("nobody holds {LEADER_ROLE}"))?;
        let victim = self
            .index_of(&leader.holder)
            .with_context(|| format!("{LEADER_ROLE} is held by an unknown {}", leader.holder))?;
        let id = self.instances[victim].id.clone();
        let roles: Vec<String> = holders
            .iter()
            .filter(|h| h.holder == id && LANE_ROLES.iter().any(|(r, _)| *r == h.role))
            .map(|h| h.role.clone())
            .collect();
        match kind {
            EventKind::Kill => self.signal(victim, rustix::process::Signal::KILL)?,
            EventKind::Stop => self.signal(victim, rustix::process::Signal::STOP)?,
            EventKind::Cut => {
                if let Some(link) = &self.instances[victim].link {
                    link.cut();
                }
            }
        }
        let at = self.now();
        eprintln!(
            "{}",
            texts.get(
                lang,
                "demo-instances-event",
                &[
                    ("event", kind.as_str().into()),
                    ("instance", id.as_str().into()),
                    ("roles", roles.join(", ").into()),
                    ("at", round(at.as_secs_f64(), 1).into()),
                ]
            )
        );
        let leased = self.leased().await?;
        let takeovers = self.wait_for_takeover(&id, &roles).await?;
        let mut returned_at = None;
        match kind {
            EventKind::Kill => {
                if let Some(mut child) = self.instances[victim].child.take() {
                    let _ = child.wait().await;
                }
                self.spawn(victim)?;
                self.wait_healthy(victim).await?;
            }
            EventKind::Stop => {
                sleep_until(self.epoch, at + FROZEN_FOR).await;
                self.signal(victim, rustix::process::Signal::CONT)?;
                returned_at = Some(self.now());
            }
            EventKind::Cut => {
                sleep_until(self.epoch, at + CUT_FOR).await;
                if let Some(link) = &self.instances[victim].link {
                    link.restore();
                }
                returned_at = Some(self.now());
            }
        }
        Ok(Event {
            kind,
            victim,
            at,
            roles,
            leased,
            takeovers,
            returned_at,
        })
    }

    /// Fails when an instance ended that the demo did not end.
    fn ensure_running(&mut self) -> anyhow::Result<()> {
        for inst in &mut self.instances {
            if let Some(child) = inst.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "instance {} ended by itself ({status}); see its log (--instance-logs DIR)",
                    inst.id
                );
            }
        }
        Ok(())
    }

    fn signal(&self, i: usize, signal: rustix::process::Signal) -> anyhow::Result<()> {
        let pid = self.instances[i]
            .child
            .as_ref()
            .and_then(|c| c.id())
            .and_then(|p| rustix::process::Pid::from_raw(p as i32))
            .with_context(|| format!("instance {} is not running", self.instances[i].id))?;
        rustix::process::kill_process(pid, signal)
            .with_context(|| format!("signalling instance {}", self.instances[i].id))?;
        Ok(())
    }

    /// The demo's deliveries leased now, by recipient.
    async fn leased(&self) -> anyhow::Result<Vec<(i64, ChannelKind, String)>> {
        let ids: Vec<i64> = self.broadcasts.iter().map(|(id, _)| *id).collect();
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT d.broadcast_id, d.channel, s.address FROM deliveries d \
             JOIN subscribers s ON s.id = d.subscriber_id \
             WHERE d.status = 'leased' AND d.broadcast_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.observer)
        .await
        .context("reading the leased deliveries")?;
        Ok(rows
            .into_iter()
            .filter_map(|(b, c, a)| Some((b, c.parse().ok()?, a)))
            .collect())
    }

    /// When another instance held each of `roles` (none for a role nobody took in time).
    async fn wait_for_takeover(
        &self,
        victim: &str,
        roles: &[String],
    ) -> anyhow::Result<Vec<(String, Option<Duration>)>> {
        let mut taken: Vec<(String, Option<Duration>)> =
            roles.iter().map(|r| (r.clone(), None)).collect();
        let deadline = Instant::now() + TAKEOVER_WAIT;
        while taken.iter().any(|(_, t)| t.is_none()) && Instant::now() < deadline {
            let holders = self.holders().await?;
            let now = self.now();
            for (role, t) in taken.iter_mut().filter(|(_, t)| t.is_none()) {
                if holders
                    .iter()
                    .any(|h| h.role == *role && h.holder != victim)
                {
                    *t = Some(now);
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(taken)
    }

    /// Until the news and the alert are done in the store.
    async fn wait_done(&self) -> anyhow::Result<()> {
        let planned = self.options.subscribers as f64 / 2.0 / f64::from(self.options.rate.max(1));
        let ids: Vec<i64> = self.broadcasts.iter().map(|(id, _)| *id).collect();
        self.wait_done_within(&ids, Duration::from_secs_f64(planned * 3.0 + 120.0))
            .await
    }

    /// Until the broadcasts `ids` are done in the store, or `within` passed (then the report
    /// shows what arrived).
    async fn wait_done_within(&self, ids: &[i64], within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let mut done = true;
            for id in ids {
                done &= self
                    .store
                    .broadcast(*id)
                    .await?
                    .is_some_and(|b| b.status == BroadcastStatus::Done);
            }
            if done {
                return Ok(());
            }
            if Instant::now() > deadline {
                tracing::error!(
                    "demo deadline passed before every delivery ended; reporting what arrived"
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Which instances' `/metrics` say they hold the Telegram lane.
    async fn gauge_holders(&self) -> Vec<String> {
        let client = reqwest::Client::new();
        let mut holding = Vec::new();
        for inst in &self.instances {
            let Ok(r) = client
                .get(format!("http://{}/metrics", inst.http))
                .send()
                .await
            else {
                continue;
            };
            let body = r.text().await.unwrap_or_default();
            let held = body.lines().any(|l| {
                l.starts_with("amtsbote_role_held{")
                    && l.contains(&format!("role=\"{LEADER_ROLE}\""))
                    && l.split_whitespace().last() == Some("1")
            });
            if held {
                holding.push(inst.id.clone());
            }
        }
        holding
    }

    /// Resumes and cuts back in whatever is still frozen or cut off, then SIGTERM for all.
    async fn stop_all(&mut self) {
        for i in 0..self.instances.len() {
            if let Some(link) = &self.instances[i].link {
                link.restore();
            }
            let _ = self.signal(i, rustix::process::Signal::CONT);
            let _ = self.signal(i, rustix::process::Signal::TERM);
        }
        for inst in &mut self.instances {
            if let Some(mut child) = inst.child.take() {
                let ended = tokio::time::timeout(Duration::from_secs(15), child.wait()).await;
                if !matches!(ended, Ok(Ok(_))) {
                    tracing::warn!(
                        instance = inst.id,
                        "the instance did not stop on SIGTERM; killed"
                    );
                    let _ = child.kill().await;
                }
            }
        }
    }

    async fn report(&mut self, observed: Observed) -> anyhow::Result<InstancesReport> {
        let Observed {
            events,
            alert,
            gauges,
            holder: db_holder,
        } = observed;
        let record = Record::take(&self.instances);
        let news_text = self.news_text.clone();
        let alert_text = self
            .broadcasts
            .iter()
            .find(|(id, _)| *id == alert.id)
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        let measure = Measure::new(&record.received);
        let (delivered, news_dupes) = measure.distinct(&news_text);
        let (alert_delivered, alert_dupes) = measure.distinct(&alert_text);
        let (_, telegram_max_1s) = measure.lane(ChannelKind::Telegram);
        let (_, whatsapp_max_1s) = measure.lane(ChannelKind::Whatsapp);
        let alerts = Topic::parse("alerts").map_err(anyhow::Error::msg)?;
        let news = Topic::parse("news").map_err(anyhow::Error::msg)?;
        let recipients = self.store.recipient_count(&news).await?.total();
        let alert_recipients = self.store.recipient_count(&alerts).await?.total();

        let texts_of: HashMap<i64, &str> = self
            .broadcasts
            .iter()
            .map(|(id, t)| (*id, t.as_str()))
            .collect();
        let mut event_reports = Vec::new();
        let mut failovers = Vec::new();
        for e in &events {
            let victim = &self.instances[e.victim].id;
            let in_flight = record.in_flight(e, &texts_of);
            event_reports.push(EventReport {
                event: e.kind.as_str(),
                instance: victim.clone(),
                roles: e.roles.clone(),
                at_s: round(e.at.as_secs_f64(), 3),
                in_flight,
            });
            for (role, taken) in &e.takeovers {
                let channel = LANE_ROLES.iter().find(|(r, _)| r == role).map(|(_, c)| *c);
                failovers.push(Failover {
                    event: e.kind.as_str(),
                    instance: victim.clone(),
                    role: role.clone(),
                    to_new_holder_ms: taken.map(|t| ms(t.saturating_sub(e.at))),
                    to_next_send_ms: channel
                        .and_then(|c| record.next_send(c, e.victim, e.at))
                        .map(|t| ms(t.saturating_sub(e.at))),
                });
            }
        }
        let cut = events.iter().find(|e| e.kind == EventKind::Cut);
        let stop = events.iter().find(|e| e.kind == EventKind::Stop);
        let released_at = self
            .store
            .broadcast(alert.id)
            .await?
            .and_then(|b| b.released_at);
        let epoch_ms = crate::domain::now_ms() - self.epoch.elapsed().as_millis() as i64;
        let alert_first_send_ms = record
            .first(&alert_text)
            .zip(released_at)
            .map(|(first, released)| {
                (epoch_ms as f64 + first.as_secs_f64() * 1000.0) - released as f64
            })
            .unwrap_or(-1.0);
        Ok(InstancesReport {
            instances: self.options.instances,
            database: "postgres",
            rate: self.options.rate,
            recipients,
            delivered,
            alert_recipients,
            alert_delivered,
            lost: recipients.saturating_sub(delivered)
                + alert_recipients.saturating_sub(alert_delivered),
            duplicates: news_dupes + alert_dupes,
            in_flight_at_kills: event_reports.iter().map(|e| e.in_flight).sum(),
            events: event_reports,
            failover_ms: failovers,
            telegram_max_1s,
            whatsapp_max_1s,
            alert_first_send_ms: round(alert_first_send_ms, 1),
            alert_released_on: alert.on,
            alert_lane_holder: alert.holder,
            cut_sender_stopped_after_ms: cut.map(|e| record.stopped_after(e)),
            cut_takeover_ms: cut.and_then(|e| {
                e.takeovers
                    .iter()
                    .find(|(r, _)| r == LEADER_ROLE)
                    .and_then(|(_, t)| *t)
                    .map(|t| ms(t.saturating_sub(e.at)))
            }),
            sends_by_old_holder_after_link_returned: cut.map(|e| record.stale_after_return(e)),
            sends_by_old_holder_after_resume: stop.map(|e| record.stale_after_return(e)),
            new_sends_by_old_holder_after_return: stop
                .or(cut)
                .map(|e| record.new_after_return(e, &texts_of)),
            telegram_lane_gauge_holders: gauges.len() as u64,
            telegram_lane_gauge_agrees: gauges.len() == 1
                && db_holder.as_deref() == gauges.first().map(String::as_str),
            elapsed_s: round(self.epoch.elapsed().as_secs_f64(), 2),
        })
    }
}

/// Every message that arrived at any instance's simulators, on the demo's clock, in order,
/// with the instance that sent it.
struct Record {
    received: Vec<Received>,
    from: Vec<usize>,
}

impl Record {
    fn take(instances: &[Instance]) -> Record {
        Record::of(
            instances
                .iter()
                .enumerate()
                .flat_map(|(i, inst)| {
                    inst.sim.take_received().into_iter().map(move |mut r| {
                        r.at += inst.offset;
                        (i, r)
                    })
                })
                .collect(),
        )
    }

    /// The arrivals (sender, message) in the order they arrived.
    fn of(mut arrivals: Vec<(usize, Received)>) -> Record {
        arrivals.sort_by_key(|(_, r)| r.at);
        let (from, received) = arrivals.into_iter().unzip();
        Record { received, from }
    }

    fn by(&self, instance: usize) -> impl Iterator<Item = &Received> {
        self.received
            .iter()
            .zip(&self.from)
            .filter(move |(_, f)| **f == instance)
            .map(|(r, _)| r)
    }

    /// Leased at the event and arrived from the instance hit before anyone took over, or after
    /// it returned: a send it had begun before it froze or was cut off (handed to the HTTP
    /// client, not yet on the wire) goes out when it wakes, and no platform takes a fencing
    /// token to refuse it.
    fn in_flight(&self, e: &Event, texts: &HashMap<i64, &str>) -> u64 {
        let until = e.in_flight_until();
        let back = e.returned_at.unwrap_or(Duration::MAX);
        let arrived: HashSet<(ChannelKind, &str, &str)> = self
            .by(e.victim)
            .filter(|r| r.at <= until || r.at >= back)
            .map(|r| (r.channel, &*r.address, &*r.text))
            .collect();
        e.leased
            .iter()
            .filter(|(b, c, a)| {
                texts
                    .get(b)
                    .is_some_and(|t| arrived.contains(&(*c, a.as_str(), *t)))
            })
            .count() as u64
    }

    /// The first message on `channel` from another instance than `victim` after `at`.
    fn next_send(&self, channel: ChannelKind, victim: usize, at: Duration) -> Option<Duration> {
        self.received
            .iter()
            .zip(&self.from)
            .find(|(r, f)| **f != victim && r.channel == channel && r.at > at)
            .map(|(r, _)| r.at)
    }

    fn first(&self, text: &str) -> Option<Duration> {
        self.received
            .iter()
            .find(|r| &*r.text == text)
            .map(|r| r.at)
    }

    /// How long after the event the instance hit went on sending, until it returned.
    fn stopped_after(&self, e: &Event) -> f64 {
        let back = e.returned_at.unwrap_or(Duration::MAX);
        self.by(e.victim)
            .filter(|r| r.at >= e.at && r.at < back)
            .map(|r| r.at)
            .max()
            .map(|t| ms(t - e.at))
            .unwrap_or(0.0)
    }

    /// Messages from the instance hit, after it returned, of deliveries it did not hold at the
    /// event: what it would have claimed or sent under the role it had lost.
    fn new_after_return(&self, e: &Event, texts: &HashMap<i64, &str>) -> u64 {
        let Some(back) = e.returned_at else {
            return 0;
        };
        let held: HashSet<(ChannelKind, &str, &str)> = e
            .leased
            .iter()
            .filter_map(|(b, c, a)| texts.get(b).map(|t| (*c, a.as_str(), *t)))
            .collect();
        self.by(e.victim)
            .filter(|r| r.at >= back && !held.contains(&(r.channel, &*r.address, &*r.text)))
            .count() as u64
    }

    /// Messages from the instance hit, after it returned, that another one had sent before.
    fn stale_after_return(&self, e: &Event) -> u64 {
        let Some(back) = e.returned_at else {
            return 0;
        };
        let mut sent_elsewhere: HashSet<(ChannelKind, &str, &str)> = HashSet::new();
        let mut stale = 0;
        for (r, f) in self.received.iter().zip(&self.from) {
            let key = (r.channel, &*r.address, &*r.text);
            if *f != e.victim {
                sent_elsewhere.insert(key);
            } else if r.at >= back && sent_elsewhere.contains(&key) {
                stale += 1;
            }
        }
        stale
    }
}

fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0, 1)
}

async fn sleep_until(epoch: Instant, at: Duration) {
    tokio::time::sleep_until((epoch + at).into()).await;
}

/// A port nobody listens on now, for an instance that binds it itself.
fn free_addr() -> anyhow::Result<std::net::SocketAddr> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .context("finding a free port")
}

/// The demo's subscribers, as `demo` seeds them (even numbers on Telegram, odd on WhatsApp),
/// all on `news`; the first [`ALERT_RECIPIENTS`] on `alerts` too.
async fn seed(store: &dyn Store, n: u64) -> anyhow::Result<()> {
    let news = Topic::parse("news").map_err(anyhow::Error::msg)?;
    let alerts = Topic::parse("alerts").map_err(anyhow::Error::msg)?;
    for start in (0..n).step_by(10_000) {
        let slice: Vec<NewSubscriber> = (start..(start + 10_000).min(n))
            .map(|i| {
                let (channel, address) = if i % 2 == 0 {
                    (ChannelKind::Telegram, format!("{}", 100_000_000 + i))
                } else {
                    (ChannelKind::Whatsapp, format!("49151{i:08}"))
                };
                let topics = if i < ALERT_RECIPIENTS {
                    vec![news.clone(), alerts.clone()]
                } else {
                    vec![news.clone()]
                };
                NewSubscriber {
                    channel,
                    address,
                    language: "de".into(),
                    topics,
                }
            })
            .collect();
        store
            .add_subscribers(&slice)
            .await
            .context("adding the demo subscribers")?;
    }
    Ok(())
}

/// A database of the demo's own on the server `admin` names: (its name, its URL).
/// The human summary of a report.
pub fn summary(report: &InstancesReport, texts: &Texts, lang: &str) -> String {
    let mut text = super::summary_of(report, texts, lang, "demo-instances-summary");
    for f in &report.failover_ms {
        let or_none = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_else(|| "–".into());
        text.push('\n');
        text.push_str(&texts.get(
            lang,
            "demo-instances-failover",
            &[
                ("event", f.event.into()),
                ("instance", f.instance.as_str().into()),
                ("role", f.role.as_str().into()),
                ("holder_ms", or_none(f.to_new_holder_ms).into()),
                ("send_ms", or_none(f.to_next_send_ms).into()),
            ],
        ));
    }
    if let Some(stopped) = report.cut_sender_stopped_after_ms {
        text.push('\n');
        text.push_str(
            &texts.get(
                lang,
                "demo-instances-cut",
                &[
                    ("stopped_ms", stopped.into()),
                    (
                        "takeover_ms",
                        report
                            .cut_takeover_ms
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "–".into())
                            .into(),
                    ),
                    (
                        "stale",
                        report
                            .sends_by_old_holder_after_link_returned
                            .unwrap_or(0)
                            .into(),
                    ),
                ],
            ),
        );
    }
    if let Some(stale) = report.sends_by_old_holder_after_resume {
        text.push('\n');
        text.push_str(&texts.get(lang, "demo-instances-resume", &[("stale", stale.into())]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(at_ms: u64, channel: ChannelKind, address: &str, text: &str) -> Received {
        Received {
            channel,
            address: address.into(),
            text: Arc::from(text),
            silent: false,
            markup: None,
            at: Duration::from_millis(at_ms),
            id: 0,
            reply_to: None,
            media: None,
            message_id: 0,
        }
    }

    /// i0 held the lane and was hit at 1 s; i1 took over at 4 s; i0 came back at 10 s.
    fn event(leased: &[&str]) -> Event {
        Event {
            kind: EventKind::Cut,
            victim: 0,
            at: Duration::from_secs(1),
            roles: vec![LEADER_ROLE.into()],
            leased: leased
                .iter()
                .map(|a| (7, ChannelKind::Telegram, a.to_string()))
                .collect(),
            takeovers: vec![(LEADER_ROLE.into(), Some(Duration::from_secs(4)))],
            returned_at: Some(Duration::from_secs(10)),
        }
    }

    fn record(arrivals: Vec<(usize, Received)>) -> Record {
        Record::of(arrivals)
    }

    const T: ChannelKind = ChannelKind::Telegram;

    #[test]
    fn in_flight_counts_leased_deliveries_the_instance_hit_sent_before_the_takeover() {
        let r = record(vec![
            (0, arrival(900, T, "a", "news")),
            (0, arrival(1_100, T, "b", "news")),
            // Sent by the old holder after the takeover: not in flight, a stale send.
            (0, arrival(4_500, T, "c", "news")),
            // Sent by the new holder: leased at the event, but not sent by the one hit.
            (1, arrival(4_100, T, "d", "news")),
            // The same recipient with another text is another message.
            (0, arrival(950, T, "e", "alert")),
        ]);
        let texts = HashMap::from([(7, "news")]);
        assert_eq!(r.in_flight(&event(&["a", "b", "c", "d", "e"]), &texts), 2);
    }

    #[test]
    fn the_next_send_is_another_instances_first_message_on_the_lane_after_the_event() {
        let r = record(vec![
            (0, arrival(1_200, T, "a", "news")),
            (1, arrival(1_300, ChannelKind::Whatsapp, "b", "news")),
            (2, arrival(4_200, T, "c", "news")),
        ]);
        assert_eq!(
            r.next_send(T, 0, Duration::from_secs(1)),
            Some(Duration::from_millis(4_200))
        );
        assert_eq!(r.next_send(T, 0, Duration::from_secs(5)), None);
    }

    #[test]
    fn a_cut_holder_stopped_with_its_last_message_before_the_link_returned() {
        let r = record(vec![
            (0, arrival(1_500, T, "a", "news")),
            (0, arrival(2_800, T, "b", "news")),
            (0, arrival(11_000, T, "x", "news")),
        ]);
        assert_eq!(r.stopped_after(&event(&[])), 1_800.0);
        assert_eq!(record(vec![]).stopped_after(&event(&[])), 0.0);
    }

    #[test]
    fn only_what_another_instance_sent_first_is_stale_after_the_return() {
        let r = record(vec![
            (1, arrival(5_000, T, "a", "news")),
            (1, arrival(5_000, T, "b", "news")),
            // After the return: "a" again is stale, "z" was nobody's yet.
            (0, arrival(10_500, T, "a", "news")),
            (0, arrival(10_600, T, "z", "news")),
            // Before the return it is in flight, not stale.
            (0, arrival(2_000, T, "b", "news")),
            // Sent again later by the new holder: a duplicate, not the old holder's.
            (1, arrival(12_000, T, "z", "news")),
        ]);
        assert_eq!(r.stale_after_return(&event(&[])), 1);
    }

    #[test]
    fn what_the_instance_hit_sends_after_it_returns_is_in_flight_if_it_held_it_else_new() {
        let r = record(vec![
            // Held at the event, out on the wire only after the return: begun before, in flight.
            (0, arrival(10_100, T, "a", "news")),
            // Not held at the event: a send begun under the lost role.
            (0, arrival(10_200, T, "z", "news")),
        ]);
        let texts = HashMap::from([(7, "news")]);
        let e = event(&["a"]);
        assert_eq!(r.in_flight(&e, &texts), 1);
        assert_eq!(r.new_after_return(&e, &texts), 1);
        assert_eq!(record(vec![]).new_after_return(&e, &texts), 0);
    }
}
