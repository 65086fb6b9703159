//! The `amtsbote` command line: parses arguments and configuration, sets up logging and hands
//! over to the library. Exit codes: 0 done, 1 failed, 2 bad configuration or usage, or refused
//! (nothing was changed).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Parser, Subcommand};

use amtsbote::cli::{self, BroadcastRequest, DemoMode, Refused, StaffTarget};
use amtsbote::config::{Config, Flags, LogFormat};
use amtsbote::demo::DemoOptions;
use amtsbote::demo::instances::InstancesOptions;
use amtsbote::domain::{BroadcastKind, ChannelKind, PersonName, Priority, Role};
use amtsbote::i18n::Texts;

#[derive(Parser)]
#[command(
    name = "amtsbote",
    version,
    about = "City news, traffic notices and emergency alerts over Telegram and WhatsApp"
)]
struct Cli {
    /// Configuration file (TOML); default ./amtsbote.toml when it exists.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Act as this staff person (with their role) instead of as the operator: broadcast,
    /// cancel and draft.
    #[arg(long = "as", global = true, value_parser = parse_person, value_name = "NAME")]
    as_person: Option<PersonName>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: every configured channel, the queue and the HTTP side.
    Run,
    /// Apply database migrations and exit.
    Migrate,
    /// Check the configuration, the database and its migrations, the platforms' tokens, the
    /// clock and the open-file limit, sending nothing; exit 1 when a check fails.
    Doctor {
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a consistent copy of the SQLite database to FILE while the service runs (for
    /// Postgres: print the pg_dump recipe and exit 2).
    Backup {
        /// Where the copy goes; must not exist.
        file: PathBuf,
    },
    /// Put a backup in place of the SQLite database; refused while an instance runs on it. The
    /// database before is kept beside it as <database>.before-restore-<time>.
    Restore { file: PathBuf },
    /// Preview a broadcast with its recipient count; send it with --yes.
    Broadcast {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        text: String,
        /// alert, urgent, normal or low; default: the topic's priority.
        #[arg(long, value_parser = parse_priority)]
        priority: Option<Priority>,
        /// announcement, alert, update or allclear.
        #[arg(long, default_value = "announcement", value_parser = parse_kind)]
        kind: BroadcastKind,
        /// The alert an update or all-clear follows (required for those kinds).
        #[arg(long, value_name = "ID")]
        parent: Option<i64>,
        /// Send at this time instead of now: "2026-12-01 08:00" (city time) or RFC 3339.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// A retried command with the same key creates nothing new.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
        /// Only to this district (id or name from `areas.file`); repeat for several.
        #[arg(long = "area", value_name = "ID")]
        areas: Vec<String>,
        /// Only to this circle: latitude, longitude, radius in metres (up to 50 km).
        #[arg(long, value_name = "LAT,LON,RADIUS_M", conflicts_with = "areas")]
        circle: Option<String>,
        /// A picture (JPEG, PNG, WebP) or document (PDF) to send with the text; the text
        /// becomes its caption. A picture's metadata (EXIF, GPS) is removed before it is kept.
        #[arg(long, value_name = "FILE")]
        attach: Option<std::path::PathBuf>,
        /// What the attached picture shows, for people who cannot see it (required with a
        /// picture).
        #[arg(long, value_name = "TEXT", requires = "attach")]
        alt: Option<String>,
        /// Send it (without, only the preview is shown).
        #[arg(long)]
        yes: bool,
        /// Print {id, recipients} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a broadcast: nothing not yet sent will be.
    Cancel { id: i64 },
    /// A draft for the press office (a department's person, with --as NAME): the press office
    /// is asked to approve it.
    Draft {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        text: String,
    },
    /// Correct a sent broadcast: what is not sent yet goes with the new text; whoever received
    /// it gets an edit (Telegram) and a notice (a reply, or a quoting message on WhatsApp).
    Correct {
        id: i64,
        /// The whole new text.
        #[arg(long)]
        text: String,
        /// Only edit, without a notice (news only; nothing reaches WhatsApp).
        #[arg(long)]
        silent: bool,
    },
    /// Take a sent broadcast back at once (no second person): what is not sent is cancelled,
    /// whoever received it gets a retraction notice at alert priority.
    Retract {
        id: i64,
        /// Added to the notice after the retraction line.
        #[arg(long)]
        text: Option<String>,
    },
    /// Progress per broadcast: deliveries per status and channel; lane pauses.
    Stats {
        id: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Staff who may announce (press), alert (emergency) or both (admin).
    Staff {
        #[command(subcommand)]
        action: StaffAction,
    },
    /// Official warnings: what is active for the area, and a stored document replayed.
    Warnings {
        #[command(subcommand)]
        action: WarningsAction,
    },
    /// The outlets of `[[outlets]]` (city channel, Mastodon, Bluesky, website).
    Outlets {
        #[command(subcommand)]
        action: OutletsAction,
    },
    /// The audit log of staff actions, newest first.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Run the whole path against simulated platforms on 127.0.0.1 and measure it.
    Demo {
        /// Subscribers, half on each channel; default 1000 (20,000 with --instances).
        #[arg(long)]
        subscribers: Option<u64>,
        /// Messages per second on the Telegram lane (0 = unlimited); default AMTSBOTE_TELEGRAM_RATE.
        #[arg(long)]
        telegram_rate: Option<u32>,
        /// Messages per second on the WhatsApp lane (0 = unlimited); default AMTSBOTE_WHATSAPP_RATE.
        #[arg(long)]
        whatsapp_rate: Option<u32>,
        /// Database to use instead of a temporary SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        /// People who send /start at once (half Telegram, half WhatsApp webhooks) while the news
        /// drains; a press officer asks for a preview meanwhile.
        #[arg(long, default_value_t = 0)]
        signups: u64,
        /// Print one JSON line with the measurements.
        #[arg(long)]
        json: bool,
        /// Keep the service and its dashboard running after the broadcasts until Ctrl-C.
        #[arg(long)]
        dashboard: bool,
        /// Where the emergency member sends the alert and presses Send under its preview:
        /// telegram (getUpdates) or whatsapp (a signed webhook).
        #[arg(long, value_parser = parse_channel, default_value = "telegram", value_name = "CHANNEL")]
        alert_from: ChannelKind,
        /// The simulated Telegram answers each Bot API call this long after it arrived, as
        /// Telegram's servers do across the internet (20-60 ms from Germany).
        #[arg(long, default_value_t = 0, value_name = "MS")]
        telegram_latency_ms: u64,
        /// Regensburg's districts: subscribers spread over them (70 % one district, 20 % a kept
        /// place, 10 % nothing) and the fan-out to three districts and to a 1 km circle timed
        /// against the same broadcast to everyone.
        #[arg(long)]
        areas: bool,
        /// Instead: the same broadcast to everyone as text, then with a picture, in one run:
        /// both throughputs, their ratio, the uploads per platform and the memory of each.
        #[arg(long)]
        picture: bool,
        /// Instead: the same alert to everyone three times in one run, without outlets, with
        /// simulated Mastodon, Bluesky, Telegram channel and webhook outlets, and without again:
        /// the first message and the citizens' rate of each, the ratios, and what each outlet
        /// received.
        #[arg(long, conflicts_with_all = ["picture", "retract", "warnings"])]
        outlets: bool,
        /// Instead: an official warning from a simulated warning API reaches every subscriber
        /// without a human, then its update and its cancel.
        #[arg(long)]
        warnings: bool,
        /// Instead: an alert to every subscriber, retracted after 3 s: from the retraction's
        /// confirmation to the first and the last notice, next to N/R.
        #[arg(long, conflicts_with = "warnings")]
        retract: bool,
        /// Instead: the public archive with 10,000 broadcasts under load (its first page and a
        /// broadcast's page against `/healthz` in the same run) and the check's latency.
        #[arg(long)]
        archive: bool,
        /// Instead: this many `amtsbote run` processes on one Postgres database (a database of
        /// the demo's own on the server --database-url or AMTSBOTE_DATABASE_URL names), one news
        /// broadcast to every subscriber, and an alert released on an instance without the lanes.
        #[arg(long, value_name = "N")]
        instances: Option<u32>,
        /// With --instances: SIGKILL the Telegram lane's holder twice, then SIGSTOP it for 10 s.
        #[arg(long, requires = "instances")]
        kill_leader: bool,
        /// With --instances: cut the Telegram lane's holder off from Postgres for 10 s.
        #[arg(long, requires = "instances")]
        cut_leader: bool,
        /// With --instances: messages per second on each lane (default 500).
        #[arg(long, requires = "instances")]
        rate: Option<u32>,
        /// With --instances: write each instance's log to DIR/<id>.log.
        #[arg(long, value_name = "DIR", requires = "instances")]
        instance_logs: Option<PathBuf>,
    },
}

// mimalloc keeps peak memory flat under many sending threads, where glibc's per-thread arenas
// fragment (the 100k demo peaked about 30 MiB higher with them) and is no slower.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Subcommand)]
enum OutletsAction {
    /// Checks each outlet's credentials and limits without posting.
    Check,
}

#[derive(Subcommand)]
enum WarningsAction {
    /// The active warnings for the area and what the bot did with each.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Run one stored warning document (warnings/{id}.json) through the pipeline: a dry run
    /// unless --send.
    Replay {
        file: PathBuf,
        /// The version the dashboard would list it with.
        #[arg(long, default_value_t = 1)]
        version: i64,
        #[arg(long)]
        send: bool,
    },
}

#[derive(Subcommand)]
enum StaffAction {
    /// Add a staff address, or change the role of a person who has only this address.
    Add {
        #[arg(long, value_parser = parse_channel)]
        channel: ChannelKind,
        /// Telegram user id, or WhatsApp number in digits without +.
        #[arg(long)]
        address: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The person this address belongs to: addresses with the same person are one person
        /// with one role. Without it, the address is a person of its own.
        #[arg(long, value_parser = parse_person, value_name = "NAME")]
        person: Option<PersonName>,
        /// With --role contributor: the department ("Tiefbauamt").
        #[arg(long, value_name = "NAME")]
        department: Option<String>,
        /// With --role contributor: the topics the department may draft for, comma-separated.
        #[arg(long, value_name = "TOPIC,TOPIC", requires = "department")]
        topics: Option<String>,
    },
    /// Remove one address (--channel and --address), or a person with all their addresses (--person).
    #[command(
        group(ArgGroup::new("who").required(true).args(["person", "address"])),
        override_usage = "amtsbote staff remove --person <NAME>\n       \
                          amtsbote staff remove --channel <CHANNEL> --address <ADDRESS>"
    )]
    Remove {
        /// The person to remove, with every address they have.
        #[arg(long, value_parser = parse_person, value_name = "NAME", conflicts_with = "channel")]
        person: Option<PersonName>,
        /// With --address: the channel of the one address to remove.
        #[arg(long, value_parser = parse_channel, requires = "address")]
        channel: Option<ChannelKind>,
        /// With --channel: the address to remove; its person keeps their other addresses.
        #[arg(long, requires = "channel")]
        address: Option<String>,
    },
    /// Staff by person: the person's role, then each of their addresses.
    List,
    /// Print a one-time dashboard sign-in link (10 minutes) for a staff person.
    LoginLink {
        #[arg(long, value_parser = parse_person, value_name = "NAME")]
        person: PersonName,
    },
}

fn parse_channel(s: &str) -> Result<ChannelKind, String> {
    s.parse()
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

fn parse_person(s: &str) -> Result<PersonName, String> {
    PersonName::parse(s)
}

fn parse_priority(s: &str) -> Result<Priority, String> {
    s.parse()
}

fn parse_kind(s: &str) -> Result<BroadcastKind, String> {
    s.parse()
}

/// mimalloc's `mi_option_purge_delay` (15 in its `mi_option_e`; the -sys crate names no constant).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Every file this process makes is its user's alone: the SQLite database, its -wal and -shm
    // hold chat ids, phone numbers and the pseudonym key. Before anything opens a file.
    let _previous = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    // Give freed memory back to the system at once instead of after 10 ms: a long-running service
    // should hold what it uses, not what it used at its peak.
    // SAFETY: sets a plain integer option; mimalloc allows this at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    let cli = Cli::parse();
    // The demo's options that stand for a configuration key win over the file and environment.
    let flags = match &cli.command {
        Command::Demo {
            database_url,
            telegram_rate,
            whatsapp_rate,
            ..
        } => Flags {
            database_url: database_url.clone(),
            telegram_rate: *telegram_rate,
            whatsapp_rate: *whatsapp_rate,
        },
        _ => Flags::default(),
    };
    let config = match Config::load_with_flags(cli.config.as_deref(), &flags)
        .and_then(|c| amtsbote::service::load_areas(&c).map(|_| c))
    {
        Ok(c) => c,
        // The doctor reports a configuration that does not load as its first check.
        Err(e) if matches!(cli.command, Command::Doctor { .. }) => {
            let json = matches!(cli.command, Command::Doctor { json: true });
            let report = amtsbote::doctor::Report::configuration_failed(&e.to_string());
            if let Err(e) = cli::print_doctor(&report, json) {
                eprintln!("amtsbote: {e}");
            }
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("amtsbote: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    // The demo prints its own progress; its logs would only bury it.
    let quiet = matches!(cli.command, Command::Demo { .. });
    init_logging(
        config.log_format,
        if quiet { "warn" } else { "info,sqlx=warn" },
    );
    let texts = match Texts::load() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("amtsbote: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("amtsbote: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let as_person = cli.as_person.clone();
        match cli.command {
            Command::Run => amtsbote::service::run(config).await,
            Command::Migrate => cli::migrate(&config).await,
            Command::Doctor { json } => {
                cli::print_doctor(&amtsbote::doctor::examine(&config).await, json)
            }
            Command::Backup { file } => cli::backup(&config, &file).await,
            Command::Restore { file } => cli::restore(&config, &file).await,
            Command::Broadcast {
                topic,
                text,
                priority,
                kind,
                parent,
                at,
                idempotency_key,
                areas,
                circle,
                attach,
                alt,
                yes,
                json,
            } => {
                let req = BroadcastRequest {
                    topic,
                    text,
                    priority,
                    kind,
                    parent_id: parent,
                    at,
                    idempotency_key,
                    areas,
                    circle,
                    attach,
                    alt,
                    yes,
                    json,
                    as_person: as_person.clone(),
                };
                cli::broadcast(&config, req, &texts).await
            }
            Command::Cancel { id } => cli::cancel(&config, id, as_person.as_ref(), &texts).await,
            Command::Draft { topic, text } => {
                cli::draft(&config, as_person.as_ref(), &topic, &text).await
            }
            Command::Correct { id, text, silent } => {
                cli::correct(&config, id, &text, silent, &texts).await
            }
            Command::Retract { id, text } => {
                cli::retract(&config, id, text.as_deref(), &texts).await
            }
            Command::Stats { id, json } => cli::stats(&config, id, json, &texts).await,
            Command::Staff { action } => match action {
                StaffAction::Add {
                    channel,
                    address,
                    role,
                    person,
                    department,
                    topics,
                } => {
                    let desk = department.map(|department| amtsbote::domain::Desk {
                        department: department.trim().to_string(),
                        topics: topics
                            .unwrap_or_default()
                            .split(',')
                            .map(str::trim)
                            .filter(|t| !t.is_empty())
                            .map(str::to_string)
                            .collect(),
                    });
                    cli::staff_add(&config, channel, &address, role, person.as_ref(), desk).await
                }
                StaffAction::Remove {
                    person,
                    channel,
                    address,
                } => match (person, channel, address) {
                    (Some(person), None, None) => {
                        cli::staff_remove(&config, StaffTarget::Person(person)).await
                    }
                    (None, Some(channel), Some(address)) => {
                        cli::staff_remove(&config, StaffTarget::Address(channel, address)).await
                    }
                    // clap lets through only the two forms; this says so should that change.
                    _ => Err(Refused(
                        "staff remove: give either --person NAME or --channel C --address A".into(),
                    )
                    .into()),
                },
                StaffAction::List => cli::staff_list(&config).await,
                StaffAction::LoginLink { person } => cli::login_link(&config, &person).await,
            },
            Command::Audit { limit } => cli::audit(&config, limit).await,
            Command::Outlets {
                action: OutletsAction::Check,
            } => cli::outlets_check(&config).await,
            Command::Warnings { action } => match action {
                WarningsAction::Status { json } => {
                    cli::warnings_status(&config, json, &texts).await
                }
                WarningsAction::Replay {
                    file,
                    version,
                    send,
                } => cli::warnings_replay(&config, &file, version, send).await,
            },
            Command::Demo {
                subscribers,
                signups,
                database_url,
                json,
                dashboard,
                alert_from,
                telegram_latency_ms,
                areas,
                picture,
                outlets,
                warnings,
                retract,
                archive,
                instances,
                kill_leader,
                cut_leader,
                rate,
                instance_logs,
                ..
            } => {
                if archive {
                    return cli::demo_archive(&config, json).await;
                }
                if let Some(instances) = instances {
                    let options = InstancesOptions {
                        instances,
                        subscribers: subscribers.unwrap_or(20_000),
                        rate: rate.unwrap_or(500),
                        kill_leader,
                        cut_leader,
                        database_url: config.database_url.clone(),
                        logs: instance_logs,
                    };
                    return cli::demo_instances(options, json, &texts).await;
                }
                let options = DemoOptions {
                    subscribers: subscribers.unwrap_or(1000),
                    telegram_rate: config.telegram_lane.rate,
                    whatsapp_rate: config.whatsapp_lane.rate,
                    database_url,
                    signups,
                    keep_dashboard: dashboard,
                    alert_from,
                    telegram_latency: std::time::Duration::from_millis(telegram_latency_ms),
                    areas,
                };
                let mode = if retract {
                    DemoMode::Retract
                } else if picture {
                    DemoMode::Picture
                } else if outlets {
                    DemoMode::Outlets
                } else if warnings {
                    DemoMode::Warnings
                } else {
                    DemoMode::Alert
                };
                cli::demo(mode, &config, options, json, &texts).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Refused as asked: not a failure to log, but the caller must know nothing changed.
        Err(e) if e.is::<Refused>() => {
            eprintln!("amtsbote: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "command failed");
            eprintln!("amtsbote: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `RUST_LOG` filters (default info; warn for the demo), `AMTSBOTE_LOG_FORMAT=json` for JSON lines.
fn init_logging(format: LogFormat, default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
