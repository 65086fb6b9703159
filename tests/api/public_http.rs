//! The HTTP side faces the internet (Meta must reach the webhook): half-sent requests are closed
//! after a short header time-out, a body that stops coming gets 408, every route refuses a body
//! over 1 MiB, a flood of half-requests under a low open-file limit neither silences the webhook
//! nor starves the lanes, `/metrics` asks the database nothing, and the API can be served
//! apart from the webhook.

use std::time::{Duration, Instant};

use amtsbote::simulator::Simulator;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::helpers::{
    EMERGENCY_TOKEN, PRESS_TOKEN, Service, TestDb, WEBHOOK_SECRET, seed, wait_until,
};

fn host(base: &str) -> &str {
    base.trim_start_matches("http://")
}

/// Everything the server sends until it closes the connection (or `within` passes: None).
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

const HALF_REQUEST: &[u8] =
    b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";

#[tokio::test]
async fn half_a_request_is_closed_after_the_header_timeout_and_a_stalled_body_gets_408() {
    let db = TestDb::sqlite().await;
    let svc = Service::start(
        &db,
        false,
        &[
            ("AMTSBOTE_HTTP_HEADER_TIMEOUT_MS", "300"),
            ("AMTSBOTE_HTTP_REQUEST_TIMEOUT_MS", "500"),
        ],
    )
    .await;
    let mut half = TcpStream::connect(host(&svc.base)).await.unwrap();
    half.write_all(HALF_REQUEST).await.unwrap();
    assert!(
        until_closed(&mut half, Duration::from_secs(5))
            .await
            .is_some(),
        "a connection that never finishes its headers is closed"
    );
    // Nothing at all is sent: closed too.
    let mut silent = TcpStream::connect(host(&svc.base)).await.unwrap();
    assert!(
        until_closed(&mut silent, Duration::from_secs(5))
            .await
            .is_some()
    );

    let mut stalled = TcpStream::connect(host(&svc.admin)).await.unwrap();
    stalled
        .write_all(
            format!(
                "POST /api/v1/broadcasts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {PRESS_TOKEN}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"topic\""
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = status_line(&mut stalled).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// The status line of the answer to a request that announces a body of `length` bytes and
/// sends none of it.
async fn announced_body(addr: &str, method: &str, path: &str, length: usize) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {PRESS_TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    status_line(&mut s).await
}

/// The first line of the answer on `s`, waiting at most five seconds.
async fn status_line(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !got.windows(2).any(|w| w == b"\r\n") {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&got);
    text.lines().next().unwrap_or("no answer").to_string()
}

#[tokio::test]
async fn every_route_refuses_a_body_over_one_mebibyte_before_reading_it() {
    let db = TestDb::sqlite().await;
    let svc = Service::start(&db, false, &[]).await;
    let too_big = 1024 * 1024 + 1;
    for (method, path) in [
        ("POST", "/api/v1/broadcasts"),
        ("POST", "/webhooks/whatsapp"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
    ] {
        let status = announced_body(host(&svc.admin), method, path, too_big).await;
        assert!(
            status.starts_with("HTTP/1.1 413"),
            "{method} {path}: {status}"
        );
    }
    assert!(db.store.list_broadcasts(10).await.unwrap().is_empty());
}

/// Raises this process's soft open-file limit to its hard one.
fn raise_file_limit() {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
}

/// A signed webhook with one status event for an unknown message: answered 200, changes
/// nothing.
async fn signed_webhook(client: &reqwest::Client, base: &str) -> Result<StatusCode, String> {
    use hmac::{Hmac, Mac};
    let body = serde_json::to_vec(&json!({"entry": [{"changes": [{"value": {"statuses": [
        {"id": "wamid.unknown", "status": "delivered"}]}}]}]}))
    .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    client
        .post(format!("{base}/webhooks/whatsapp"))
        .header("X-Hub-Signature-256", sig)
        .body(body)
        .send()
        .await
        .map(|r| r.status())
        .map_err(|e| format!("{e:?}"))
}

/// The measurement, as a process test: `amtsbote run` under `ulimit -n 256`, 1,100
/// connections that each send half a request; the webhook, `/healthz` and the lanes still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_half_requests_under_a_low_file_limit_neither_silences_the_webhook_nor_the_lanes()
 {
    const HALF_REQUESTS: usize = 1100;
    // This process holds the other end of every connection: it may need more than 1,024 files.
    raise_file_limit();
    let db = TestDb::sqlite().await;
    seed(&*db.store, 20, 0, &["alerts"]).await;
    let shutdown = CancellationToken::new();
    let sim = Simulator::start(shutdown.clone()).await.unwrap();
    let port = crate::helpers::free_port();
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" run")
        .arg(env!("CARGO_BIN_EXE_amtsbote"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AMTSBOTE_") {
            cmd.env_remove(k);
        }
    }
    let _service = cmd
        .env("AMTSBOTE_DATABASE_URL", &db.url)
        .env("AMTSBOTE_HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .env("AMTSBOTE_TELEGRAM_TOKEN", "42:flood-test")
        .env("AMTSBOTE_TELEGRAM_API_URL", &sim.telegram_url)
        .env("AMTSBOTE_TELEGRAM_RATE", "0")
        .env("AMTSBOTE_WHATSAPP_API_URL", &sim.whatsapp_url)
        .env("AMTSBOTE_WHATSAPP_PHONE_NUMBER_ID", "1234")
        .env("AMTSBOTE_WHATSAPP_ACCESS_TOKEN", "wa-token")
        .env("AMTSBOTE_WHATSAPP_APP_SECRET", WEBHOOK_SECRET)
        .env(
            "AMTSBOTE_WHATSAPP_VERIFY_TOKEN",
            crate::helpers::VERIFY_TOKEN,
        )
        .env("AMTSBOTE_API_EMERGENCY_TOKEN", EMERGENCY_TOKEN)
        // One address opens every connection here: the file limit is what this tests.
        .env("AMTSBOTE_HTTP_MAX_CONNECTIONS_PER_IP", "0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let (c, b) = (client.clone(), base.clone());
    wait_until(Duration::from_secs(20), "/readyz", move || {
        let (c, b) = (c.clone(), b.clone());
        async move { matches!(c.get(format!("{b}/readyz")).send().await, Ok(r) if r.status() == 200) }
    })
    .await;

    // Far more half-requests than the process may open files.
    let mut flood = Vec::new();
    let opening = Instant::now();
    while flood.len() < HALF_REQUESTS && opening.elapsed() < Duration::from_secs(20) {
        let Ok(Ok(mut s)) = tokio::time::timeout(
            Duration::from_secs(2),
            TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        else {
            continue;
        };
        if s.write_all(HALF_REQUEST).await.is_ok() {
            flood.push(s);
        }
    }

    // New connections, as Meta opens them (a kept-alive one from above would not tell).
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let asked = Instant::now();
    let answer = signed_webhook(&client, &base).await;
    let took = asked.elapsed();
    assert_eq!(answer, Ok(StatusCode::OK), "the webhook answers");
    assert!(took < Duration::from_secs(3), "within {took:?}");
    assert_eq!(flood.len(), HALF_REQUESTS, "every half-request connected");
    let health = client.get(format!("{base}/healthz")).send().await;
    assert!(
        matches!(health, Ok(r) if r.status() == 200),
        "/healthz answers"
    );

    // The lanes still reach the platform: an alert arrives at every subscriber.
    let created = client
        .post(format!("{base}/api/v1/broadcasts"))
        .bearer_auth(EMERGENCY_TOKEN)
        .json(&json!({"topic": "alerts", "text": "Hochwasser"}))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(created.status(), StatusCode::CREATED);
    let s = sim.clone();
    wait_until(Duration::from_secs(20), "the alert delivered", move || {
        let s = s.clone();
        async move {
            s.count_text("Hochwasser")
                .get(&amtsbote::domain::ChannelKind::Telegram)
                .copied()
                .unwrap_or(0)
                == 20
        }
    })
    .await;
    drop(flood);
    shutdown.cancel();
}

#[tokio::test]
async fn with_an_admin_listener_the_public_one_serves_only_the_webhook_and_healthz() {
    let db = TestDb::sqlite().await;
    let svc = Service::start(&db, false, &[("AMTSBOTE_HTTP_ADMIN_LISTEN", "127.0.0.1:0")]).await;
    assert_ne!(svc.base, svc.admin);
    let client = reqwest::Client::new();
    let status = |base: &str, path: &str| {
        let url = format!("{base}{path}");
        let client = client.clone();
        async move {
            client
                .get(url)
                .bearer_auth(PRESS_TOKEN)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(status(&svc.base, "/healthz").await, StatusCode::OK);
    assert_eq!(signed_webhook(&client, &svc.base).await, Ok(StatusCode::OK));
    for path in [
        "/readyz",
        "/metrics",
        "/api/v1/broadcasts",
        "/api/v1/openapi.json",
    ] {
        assert_eq!(
            status(&svc.base, path).await,
            StatusCode::NOT_FOUND,
            "{path} on the public listener"
        );
        assert_eq!(
            status(&svc.admin, path).await,
            StatusCode::OK,
            "{path} on the admin listener"
        );
    }
    assert_eq!(status(&svc.admin, "/healthz").await, StatusCode::OK);
    assert_eq!(
        signed_webhook(&client, &svc.admin).await,
        Ok(StatusCode::NOT_FOUND),
        "the webhook is on the public listener only"
    );
    let (created, _) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            PRESS_TOKEN,
            Some(json!({"topic": "news", "text": "Getrennt"})),
        )
        .await;
    assert_eq!(created, StatusCode::CREATED);
}

/// A scrape reads what housekeeping keeps current: with the deliveries table locked (the
/// queue-depth query would wait), `/metrics` still answers at once.
#[tokio::test]
async fn metrics_answer_without_asking_the_database() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    seed(&*db.store, 3, 0, &["news"]).await;
    let svc = Service::start(&db, false, &[]).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let metrics = format!("{}/metrics", svc.admin);
    let (c, m) = (client.clone(), metrics.clone());
    // The gauges are the process's (tests share them): their presence is what counts here.
    wait_until(Duration::from_secs(20), "subscriber gauges", move || {
        let (c, m) = (c.clone(), m.clone());
        async move {
            match c.get(&m).send().await {
                Ok(r) => r
                    .text()
                    .await
                    .unwrap_or_default()
                    .contains("amtsbote_subscribers{"),
                Err(_) => false,
            }
        }
    })
    .await;
    let mut lock = sqlx::postgres::PgConnection::connect(&db.url)
        .await
        .unwrap();
    let mut tx = lock.begin().await.unwrap();
    sqlx::query("LOCK TABLE deliveries, subscribers IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let asked = Instant::now();
    let scrape = client
        .get(&metrics)
        .send()
        .await
        .expect("answered while the tables are locked");
    assert_eq!(scrape.status(), StatusCode::OK);
    let text = scrape.text().await.unwrap();
    assert!(text.contains("amtsbote_queue_depth"), "{text}");
    assert!(asked.elapsed() < Duration::from_secs(2));
    tx.rollback().await.unwrap();
}

/// One attacker's connection, over and over: a webhook request that announces a body of
/// 1,000,000 bytes and then sends one byte every four seconds, from `source`. Reconnects a
/// second after the server closes it.
async fn trickle(addr: std::net::SocketAddr, source: std::net::IpAddr, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let connected = async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(std::net::SocketAddr::new(source, 0))?;
            let mut s = socket.connect(addr).await?;
            s.write_all(
                b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                  Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{",
            )
            .await?;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return Ok::<_, std::io::Error>(()),
                    _ = tokio::time::sleep(Duration::from_secs(4)) => {}
                }
                s.write_all(b" ").await?;
            }
        };
        let _ = connected.await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// While `attackers` trickle bodies, a signed webhook and `/healthz`, each on a new
/// connection from 127.0.0.1 every 100 ms for three seconds, answer 200 within a second.
async fn answers_under_attack(svc: &Service, attackers: Vec<std::net::IpAddr>, per_address: usize) {
    let addr: std::net::SocketAddr = host(&svc.base).parse().unwrap();
    let stop = CancellationToken::new();
    let mut attack = tokio::task::JoinSet::new();
    for source in &attackers {
        for _ in 0..per_address {
            attack.spawn(trickle(addr, *source, stop.clone()));
        }
    }
    // The connections are open and trickling.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .local_address(std::net::IpAddr::from([127, 0, 0, 1]))
        .build()
        .unwrap();
    let mut failures = Vec::new();
    for round in 0..30 {
        let webhook =
            tokio::time::timeout(Duration::from_secs(1), signed_webhook(&client, &svc.base)).await;
        if !matches!(webhook, Ok(Ok(StatusCode::OK))) {
            failures.push(format!("webhook {round}: {webhook:?}"));
        }
        let health = tokio::time::timeout(
            Duration::from_secs(1),
            client.get(format!("{}/healthz", svc.base)).send(),
        )
        .await;
        if !matches!(&health, Ok(Ok(r)) if r.status() == StatusCode::OK) {
            failures.push(format!("healthz {round}: {health:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    while attack.join_next().await.is_some() {}
    assert!(
        failures.is_empty(),
        "{} of 60 answers missing or late under {} trickling connections from {} addresses: {failures:?}",
        failures.len(),
        attackers.len() * per_address,
        attackers.len()
    );
}

/// 1,030 connections that each announce a 1 MB webhook body and send a byte every 4 s took
/// every connection: `/healthz` and a signed webhook were refused while they were open. A body
/// slower than 1 KiB/s after its first second is cut with 408, one address keeps at most 64
/// connections, and at the cap a new connection goes before a body that trickles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_from_one_address_or_sixteen_neither_silence_the_webhook_nor_healthz() {
    // This process holds both ends of every connection.
    raise_file_limit();
    let db = TestDb::sqlite().await;
    let svc = Service::start(&db, false, &[]).await;
    answers_under_attack(&svc, vec![std::net::IpAddr::from([127, 0, 0, 2])], 1030).await;
    let sixteen = (3..19)
        .map(|i| std::net::IpAddr::from([127, 0, 0, i]))
        .collect();
    answers_under_attack(&svc, sixteen, 1030_usize.div_ceil(16)).await;

    // A body that keeps to the minimum rate is read to the end.
    let mut slow = TcpStream::connect(host(&svc.base)).await.unwrap();
    let body = b"{\"object\": \"whatsapp_business_account\", \"entry\": []}";
    slow.write_all(
        format!(
            "POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    slow.write_all(&body[..10]).await.unwrap();
    // Within its first second any pace will do.
    tokio::time::sleep(Duration::from_millis(500)).await;
    slow.write_all(&body[10..]).await.unwrap();
    let answer = status_line(&mut slow).await;
    assert!(!answer.starts_with("HTTP/1.1 408"), "{answer}");

    // One that stops after its first second is cut with 408.
    let mut stalled = TcpStream::connect(host(&svc.base)).await.unwrap();
    stalled
        .write_all(
            b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
        )
        .await
        .unwrap();
    let answer = status_line(&mut stalled).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let metrics = reqwest::get(format!("{}/metrics", svc.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("amtsbote_http_slow_bodies_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("amtsbote_http_connections_refused_total{reason=\"per_address\"}"),
        "{metrics}"
    );
}
