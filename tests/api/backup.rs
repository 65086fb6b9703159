//! Backup and restore as an operator runs them: a backup taken while a broadcast goes out,
//! restored elsewhere, finishes it; restore refuses a running instance and files not ours.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use amtsbote::domain::BroadcastStatus;
use amtsbote::simulator::Simulator;
use amtsbote::store;
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestDb, amtsbote, free_port, seed, wait_until};

const TEXT: &str = "Sicherung mitten im Versand";

async fn cli(url: &str, args: &[&str]) -> std::process::Output {
    amtsbote()
        .env("AMTSBOTE_DATABASE_URL", url)
        .args(args)
        .output()
        .await
        .expect("run amtsbote")
}

fn service(url: &str, sim: &Simulator, rate: &str) -> tokio::process::Child {
    amtsbote()
        .env("AMTSBOTE_DATABASE_URL", url)
        .env("AMTSBOTE_TELEGRAM_TOKEN", "42:backup-test")
        .env("AMTSBOTE_TELEGRAM_API_URL", &sim.telegram_url)
        .env("AMTSBOTE_TELEGRAM_RATE", rate)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .arg("run")
        .spawn()
        .expect("start amtsbote run")
}

fn arrivals(sim: &Simulator) -> HashMap<String, usize> {
    let mut per = HashMap::new();
    for r in sim.received().iter().filter(|r| &*r.text == TEXT) {
        *per.entry(r.address.to_string()).or_insert(0) += 1;
    }
    per
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_mid_broadcast_is_restored_elsewhere_and_finishes_it_exactly_once() {
    const SUBSCRIBERS: usize = 1500;
    let db = TestDb::sqlite().await;
    seed(&*db.store, SUBSCRIBERS as u64, 0, &["news"]).await;
    let shutdown = CancellationToken::new();
    let before = Simulator::start(shutdown.clone()).await.unwrap();
    let sent = cli(
        &db.url,
        &[
            "broadcast",
            "--topic",
            "news",
            "--text",
            TEXT,
            "--yes",
            "--json",
        ],
    )
    .await;
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let id = serde_json::from_slice::<serde_json::Value>(&sent.stdout).unwrap()["id"]
        .as_i64()
        .unwrap();

    // 100 messages a second: the broadcast takes 15 s, the backup is taken after 200.
    let mut first = service(&db.url, &before, "100");
    let b = before.clone();
    wait_until(Duration::from_secs(30), "sending under way", || {
        let b = b.clone();
        async move { b.received_count() >= 200 }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("amtsbote-backup.db");
    let backup = cli(&db.url, &["backup", path_str(&file)]).await;
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    assert!(
        String::from_utf8_lossy(&backup.stdout).contains("written to"),
        "{}",
        String::from_utf8_lossy(&backup.stdout)
    );
    // The machine is lost: what it sent after the backup is gone with it.
    first.kill().await.unwrap();
    let arrived_before = arrivals(&before);
    assert!(
        arrived_before.len() < SUBSCRIBERS,
        "the backup came mid-broadcast"
    );

    // A fresh place: no database there yet.
    let place = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        place.path().join("restored.db").display()
    );
    let restore = cli(&url, &["restore", path_str(&file)]).await;
    let out = String::from_utf8_lossy(&restore.stdout);
    assert!(
        restore.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    assert!(out.contains("there was no database before"), "{out}");

    let restored = store::connect(&url).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.address, d.status FROM deliveries d \
         JOIN subscribers s ON s.id = d.subscriber_id WHERE d.broadcast_id = $1",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let sent_in_backup: HashSet<String> = rows
        .iter()
        .filter(|(_, status)| status == "sent")
        .map(|(address, _)| address.clone())
        .collect();
    let open_in_backup = rows.len() - sent_in_backup.len();
    assert!(
        !sent_in_backup.is_empty() && open_in_backup > 0,
        "the backup holds sent and pending deliveries: {} sent, {open_in_backup} open",
        sent_in_backup.len()
    );
    for address in &sent_in_backup {
        assert!(
            arrived_before.contains_key(address),
            "{address} is sent in the backup but never arrived"
        );
    }

    let after = Simulator::start(shutdown.clone()).await.unwrap();
    let mut second = service(&url, &after, "0");
    wait_until(Duration::from_secs(60), "the broadcast done after the restore", || {
        let restored = restored.clone();
        async move {
            matches!(restored.broadcast(id).await, Ok(Some(b)) if b.status == BroadcastStatus::Done)
        }
    })
    .await;
    second.kill().await.unwrap();

    let arrived_after = arrivals(&after);
    for i in 0..SUBSCRIBERS {
        let address = (1000 + i).to_string();
        let expected = usize::from(!sent_in_backup.contains(&address));
        assert_eq!(
            arrived_after.get(&address).copied().unwrap_or(0),
            expected,
            "{address}: sent in the backup: {}",
            sent_in_backup.contains(&address)
        );
    }
    shutdown.cancel();
}

#[tokio::test]
async fn restore_refuses_a_running_instance_and_files_not_ours_and_keeps_the_database_before() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 3, 0, &["news"]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.db");
    assert!(
        cli(&db.url, &["backup", path_str(&file)])
            .await
            .status
            .success()
    );
    let again = cli(&db.url, &["backup", path_str(&file)]).await;
    assert_eq!(again.status.code(), Some(2), "a backup never overwrites");
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));

    let port = free_port();
    let mut running = amtsbote()
        .env("AMTSBOTE_DATABASE_URL", &db.url)
        .env("AMTSBOTE_HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .stderr(std::process::Stdio::null())
        .arg("run")
        .spawn()
        .unwrap();
    crate::helpers::wait_ready(port).await;
    let refused = cli(&db.url, &["restore", path_str(&file)]).await;
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("another amtsbote instance is running"),
        "{stderr}"
    );
    running.kill().await.unwrap();
    running.wait().await.unwrap();

    // Not SQLite, SQLite but not ours, ours but from a newer version: each refused as it is.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database").unwrap();
    let foreign = dir.path().join("foreign.db");
    let newer = dir.path().join("newer.db");
    std::fs::copy(&file, &newer).unwrap();
    for (path, setup) in [
        (&foreign, "CREATE TABLE t (x INTEGER)"),
        (
            &newer,
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99999999999999, 'from the future', true, x'00', 0)",
        ),
    ] {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        sqlx::query(setup).execute(&pool).await.unwrap();
        pool.close().await;
    }
    for (path, why) in [
        (&text, "no SQLite database"),
        (&foreign, "no Amtsbote database"),
        (&newer, "unknown to this binary: 99999999999999"),
        (&dir.path().join("missing.db"), "no such file"),
    ] {
        let out = cli(&db.url, &["restore", path_str(path)]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
        assert!(stderr.contains(why), "{}: {stderr}", path.display());
    }
    assert_eq!(
        db.store
            .recipient_count(&crate::helpers::topic("news"))
            .await
            .unwrap()
            .total(),
        3,
        "a refused restore changes nothing"
    );

    let restored = cli(&db.url, &["restore", path_str(&file)]).await;
    let out = String::from_utf8_lossy(&restored.stdout);
    assert!(
        restored.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let aside = out
        .lines()
        .find_map(|l| l.strip_prefix("the database before is kept as "))
        .unwrap_or_else(|| panic!("no aside in: {out}"));
    assert!(aside.contains(".before-restore-"), "{aside}");
    let kept = store::connect(&format!("sqlite://{aside}")).await.unwrap();
    assert!(kept.schema().await.unwrap().is_current());
}

#[tokio::test]
async fn a_postgres_backup_and_restore_are_left_to_pg_dump_and_pg_restore() {
    // Nothing listens there: neither command connects.
    const URL: &str = "postgres://amtsbote:secret-password@127.0.0.1:1/amtsbote";
    let out = cli(URL, &["backup", "/tmp/never-written.dump"]).await;
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("pg_dump --format=custom --file=/tmp/never-written.dump"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("for Postgres use pg_dump"));
    for text in [stdout, String::from_utf8_lossy(&out.stderr)] {
        assert!(!text.contains("secret-password"), "{text}");
    }
    assert!(!Path::new("/tmp/never-written.dump").exists());

    let restore = cli(URL, &["restore", "/tmp/never-written.dump"]).await;
    assert_eq!(restore.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&restore.stderr);
    assert!(
        stderr.contains("restore Postgres with pg_restore"),
        "{stderr}"
    );
}
