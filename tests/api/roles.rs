//! Several instances on one Postgres: each role has one holder, a stale holder's claims and
//! outcomes are refused, the standby takes a lane over and the lane's rate stays one budget.
//! SQLite serves one instance and says so to a second one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use amtsbote::domain::{BroadcastStatus, ChannelKind, Priority, now_ms};
use amtsbote::queue::{Engine, EngineSettings};
use amtsbote::simulator::Simulator;
use amtsbote::store::{self, Ack, AckOutcome, Fence, Store, StoreError};
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestDb, amtsbote, new_broadcast, seed, test_lane, wait_until};

async fn holder(store: &dyn Store, role: &str) -> Option<String> {
    store
        .role_holders()
        .await
        .expect("role holders")
        .into_iter()
        .find(|r| r.role == role && r.expires_in_ms > 0)
        .map(|r| r.holder)
}

#[tokio::test]
async fn a_role_has_one_holder_until_its_lease_runs_out_on_the_database_clock() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let other = store::connect(&db.url).await.expect("second connection");
    let a = db
        .store
        .acquire_role("scheduler", "a", 400)
        .await
        .unwrap()
        .expect("a free role is taken");
    assert_eq!(
        other.acquire_role("scheduler", "b", 400).await.unwrap(),
        None,
        "held: nobody else takes it"
    );
    assert!(db.store.renew_role("scheduler", "a", a, 400).await.unwrap());
    assert_eq!(holder(&*other, "scheduler").await.as_deref(), Some("a"));
    // The operator sees who holds it.
    let out = amtsbote()
        .env("AMTSBOTE_DATABASE_URL", &db.url)
        .args(["stats", "--json"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        stats["roles"].as_array().is_some_and(|roles| roles
            .iter()
            .any(|r| r["role"] == "scheduler" && r["holder"] == "a" && r["token"] == a)),
        "{stats}"
    );
    // No renewal: the lease runs out and the next taker gets a newer token.
    let store = other.clone();
    wait_until(Duration::from_secs(5), "b takes the role", || {
        let store = store.clone();
        async move {
            matches!(store.acquire_role("scheduler", "b", 400).await, Ok(Some(b)) if b > a)
        }
    })
    .await;
    assert!(
        !db.store.renew_role("scheduler", "a", a, 400).await.unwrap(),
        "the old holder cannot renew what it lost"
    );
    assert_eq!(holder(&*db.store, "scheduler").await.as_deref(), Some("b"));
}

#[tokio::test]
async fn a_stale_holder_can_neither_claim_nor_write_outcomes_and_the_new_one_sends_its_rows() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    seed(&*db.store, 10, 0, &["news"]).await;
    let created = db
        .store
        .create_broadcast(&new_broadcast("news", Priority::Normal, "Fenced"))
        .await
        .unwrap();
    while !db
        .store
        .fan_out_chunk(created.broadcast.id, 100)
        .await
        .unwrap()
        .done
    {}
    let role = "lane:telegram";
    let old = Fence {
        role: role.into(),
        token: db
            .store
            .acquire_role(role, "a", 300)
            .await
            .unwrap()
            .unwrap(),
    };
    let until = now_ms() + 60_000;
    let claimed = db
        .store
        .claim_fenced(Some(&old), ChannelKind::Telegram, "a:1", 4, now_ms(), until)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 4);

    // "a" freezes past its lease; "b" takes the lane over.
    let other = store::connect(&db.url).await.unwrap();
    let store = other.clone();
    wait_until(Duration::from_secs(5), "b takes the lane", || {
        let store = store.clone();
        async move { matches!(store.acquire_role(role, "b", 3000).await, Ok(Some(_))) }
    })
    .await;
    let token = other.role_holders().await.unwrap()[0].token;
    let new = Fence {
        role: role.into(),
        token,
    };
    assert_eq!(
        other
            .take_over_lane(ChannelKind::Telegram, Some(&new))
            .await
            .unwrap(),
        4,
        "what a leased goes back to the queue"
    );

    // "a" wakes up: its outcome and its next claim are refused.
    let ack = Ack {
        delivery_id: claimed[0].id,
        lease: "a:1".into(),
        outcome: AckOutcome::Sent {
            at: now_ms(),
            platform_id: Some("1".into()),
        },
    };
    assert!(matches!(
        db.store.acknowledge_fenced(Some(&old), &[ack]).await,
        Err(StoreError::RoleLost(r)) if r == role
    ));
    assert!(matches!(
        db.store
            .claim_fenced(
                Some(&old),
                ChannelKind::Telegram,
                "a:2",
                10,
                now_ms(),
                until
            )
            .await,
        Err(StoreError::RoleLost(_))
    ));
    let all = other
        .claim_fenced(
            Some(&new),
            ChannelKind::Telegram,
            "b:1",
            10,
            now_ms(),
            until,
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 10, "the new holder claims every delivery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_within_one_budget_and_the_standby_takes_the_lane_over() {
    const RECIPIENTS: usize = 900;
    const RATE: u32 = 300;
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    seed(&*db.store, RECIPIENTS as u64, 0, &["news"]).await;
    let sim_shutdown = CancellationToken::new();
    let sim = Simulator::start(sim_shutdown.clone()).await.unwrap();
    let start = |instance: &str, store: Arc<dyn Store>| {
        let shutdown = CancellationToken::new();
        let lanes = vec![
            amtsbote::service::telegram_lane(
                &sim.telegram_url,
                secrecy::SecretString::from("42:test-token"),
                test_lane(RATE),
            )
            .unwrap(),
        ];
        let settings = EngineSettings {
            instance: instance.into(),
            fan_out_chunk: 300,
            poll: Duration::from_millis(50),
            housekeeping: Duration::from_millis(50),
            areas: None,
            keep_platform_ids: Duration::from_secs(86_400),
            media_keep: Duration::from_secs(86_400),
            ..EngineSettings::default()
        };
        (
            Engine::start(store, lanes, settings, shutdown.clone()),
            shutdown,
        )
    };
    let (a, stop_a) = start("a", store::connect(&db.url).await.unwrap());
    let (b, stop_b) = start("b", store::connect(&db.url).await.unwrap());
    let store = db.store.clone();
    wait_until(
        Duration::from_secs(5),
        "one instance holds the lane",
        || {
            let store = store.clone();
            async move { holder(&*store, "lane:telegram").await.is_some() }
        },
    )
    .await;
    let first = holder(&*db.store, "lane:telegram").await.unwrap();
    let created = db
        .store
        .create_broadcast(&new_broadcast("news", Priority::Normal, "Two instances"))
        .await
        .unwrap();
    let id = created.broadcast.id;
    let s = sim.clone();
    wait_until(Duration::from_secs(20), "a third sent", || {
        let s = s.clone();
        async move { s.received_count() >= RECIPIENTS / 3 }
    })
    .await;
    // The holder stops cleanly: it gives the role up and the other takes over at once.
    let ((stopped, stop), (running, keep_on)) = if first == "a" {
        ((a, stop_a), (b, stop_b))
    } else {
        ((b, stop_b), (a, stop_a))
    };
    stop.cancel();
    stopped.join().await;
    let store = db.store.clone();
    wait_until(Duration::from_secs(30), "the broadcast done", || {
        let store = store.clone();
        async move {
            matches!(store.broadcast(id).await, Ok(Some(b)) if b.status == BroadcastStatus::Done)
        }
    })
    .await;
    let second = holder(&*db.store, "lane:telegram").await.unwrap();
    assert_ne!(first, second, "the standby holds the lane now");
    let received = sim.received();
    let mut per: HashMap<&str, usize> = HashMap::new();
    for r in &received {
        *per.entry(&r.address).or_default() += 1;
    }
    assert_eq!(per.len(), RECIPIENTS, "everyone has it");
    assert!(
        per.values().all(|n| *n == 1),
        "a clean handover sends nothing twice"
    );
    let busiest = amtsbote::simulator::busiest_second(received.iter().map(|r| r.at).collect());
    assert!(
        busiest <= RATE as usize,
        "{busiest} in the busiest second, the lane's rate is {RATE}"
    );
    keep_on.cancel();
    running.join().await;
    sim_shutdown.cancel();
}

#[tokio::test]
async fn a_second_run_on_the_same_sqlite_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("city.db").display());
    let mut first = amtsbote()
        .env("AMTSBOTE_DATABASE_URL", &url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .arg("run")
        .spawn()
        .unwrap();
    let probe = url.clone();
    wait_until(
        Duration::from_secs(20),
        "the first run holds the file",
        || {
            let probe = probe.clone();
            async move { amtsbote::service::SoleInstance::lock(&probe).is_err() }
        },
    )
    .await;
    let second = amtsbote()
        .env("AMTSBOTE_DATABASE_URL", &url)
        .arg("run")
        .output()
        .await
        .unwrap();
    assert!(!second.status.success(), "the second run stops");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("another amtsbote instance is running"),
        "it says why: {said}"
    );
    assert!(first.try_wait().unwrap().is_none(), "the first runs on");
    first.kill().await.unwrap();
    first.wait().await.unwrap();
    // The kernel dropped the lock with the process: the file is free again.
    assert!(amtsbote::service::SoleInstance::lock(&url).is_ok());
}
