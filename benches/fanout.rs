//! Fan-out throughput: how long releasing a broadcast to N subscribers takes to write its
//! deliveries, on SQLite and (when AMTSBOTE_TEST_POSTGRES_URL is set) on Postgres.
//! Run with `cargo bench --bench fanout`; set FANOUT_SIZES=100000,1000000 to choose sizes.

use std::time::Instant;

use amtsbote::domain::{BroadcastKind, BroadcastText, ChannelKind, Priority, Topic};
use amtsbote::store::{self, NewBroadcast, NewSubscriber, Store};

/// The service's own chunk size.
const CHUNK: u32 = 25_000;

async fn measure(store: &dyn Store, database: &str, n: u64, chunk: u32) -> anyhow::Result<()> {
    let topic = Topic::parse("news").map_err(anyhow::Error::msg)?;
    let seed_started = Instant::now();
    for start in (0..n).step_by(50_000) {
        let batch: Vec<NewSubscriber> = (start..(start + 50_000).min(n))
            .map(|i| NewSubscriber {
                channel: if i % 2 == 0 {
                    ChannelKind::Telegram
                } else {
                    ChannelKind::Whatsapp
                },
                address: format!("{}", 1_000_000_000 + i),
                language: "de".into(),
                topics: vec![topic.clone()],
            })
            .collect();
        store.add_subscribers(&batch).await?;
    }
    let seed_s = seed_started.elapsed().as_secs_f64();
    let b = store
        .create_broadcast(&NewBroadcast {
            topic: topic.clone(),
            kind: BroadcastKind::Announcement,
            priority: Priority::Normal,
            text: BroadcastText::parse("bench").map_err(anyhow::Error::msg)?,
            text_en: None,
            idempotency_key: None,
            created_by: None,
            parent_id: None,
            start: amtsbote::store::Start::Release,
            author: None,
            cron: None,
            target: None,
            audit_actor: None,
            notice: true,
            new_text: None,
            media_id: None,
            alt: None,
            scheduled_at: None,
        })
        .await?;
    let started = Instant::now();
    let mut written = 0;
    loop {
        let step = store.fan_out_chunk(b.broadcast.id, chunk).await?;
        written += step.inserted;
        if step.done {
            break;
        }
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{}",
        serde_json::json!({"bench": "fanout", "database": database, "subscribers": n, "deliveries": written,
            "chunk": chunk, "fanout_ms": (ms * 10.0).round() / 10.0, "seed_s": (seed_s * 100.0).round() / 100.0})
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes: Vec<u64> = std::env::var("FANOUT_SIZES")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for &n in &sizes {
        let dir = tempfile::tempdir()?;
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        let store = store::connect(&url).await?;
        store.migrate().await?;
        measure(&*store, "sqlite", n, CHUNK).await?;
    }
    if let Ok(admin) = std::env::var("AMTSBOTE_TEST_POSTGRES_URL") {
        for &n in sizes.iter().filter(|n| **n <= 100_000) {
            let url = amtsbote::store::testing::fresh_postgres_database(&admin).await?;
            let store = store::connect(&url).await?;
            store.migrate().await?;
            measure(&*store, "postgres", n, CHUNK).await?;
            amtsbote::store::testing::drop_postgres_database(&admin, &url).await?;
        }
    }
    Ok(())
}
