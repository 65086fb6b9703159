//! The public archive and the check: what the city sent is readable at `/archiv` and
//! `/m/{CODE}` and in three feeds (parsed by an independent, strict parser), every message to
//! citizens ends with its check link, and a forwarded message, a pasted text or a code is told
//! apart from a fake in the chat, on the check page and in the API; on both stores.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{EMERGENCY_TOKEN, PRESS_TOKEN, Service, TestDb, seed};

crate::helpers::on_both_stores!(
    the_archive_shows_what_was_sent_in_pages_and_feeds_and_every_message_links_to_it,
    forwarded_messages_pasted_texts_and_codes_are_told_apart_from_fakes,
    corrected_and_retracted_broadcasts_are_known_by_their_old_text_and_their_pages_and_feeds_say_so,
);

const PUBLIC_URL: &str = "https://stadt.example/amtsbote";
/// HTML and quotes in a broadcast: escaped on every page and in every feed.
const NEWS: &str =
    "Sperrung der <b>Hauptstraße</b> & Umleitung über die \"Ringstraße\" bis Freitag.";

fn settings() -> [(&'static str, &'static str); 1] {
    [("AMTSBOTE_ARCHIVE_PUBLIC_URL", PUBLIC_URL)]
}

/// Sends `text` on `topic` with `token` and waits until it is done; its public code.
async fn sent(svc: &Service, db: &TestDb, token: &str, topic: &str, text: &str) -> String {
    let (status, b) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            token,
            Some(json!({"topic": topic, "text": text})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let id = b["id"].as_i64().expect("id");
    svc.wait_done(id, Duration::from_secs(20)).await;
    db.store
        .broadcast(id)
        .await
        .expect("store")
        .and_then(|b| b.public_code)
        .expect("a public code")
}

/// The status a raw HTTP/1.1 GET of `path` gets (an HTTP client refuses to send a URL of a
/// megabyte); `None` when the server closes the connection instead.
async fn raw_status(base: &str, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    // The server may stop reading and answer before all of it is written.
    let _ = conn.write_all(request.as_bytes()).await;
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).await.ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut r = reqwest::Client::new().get(url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.expect("the archive answers")
}

async fn the_archive_shows_what_was_sent_in_pages_and_feeds_and_every_message_links_to_it(
    db: TestDb,
) {
    seed(&*db.store, 2, 1, &["news"]).await;
    let mut svc = Service::start(&db, false, &settings()).await;
    let code = sent(&svc, &db, PRESS_TOKEN, "news", NEWS).await;
    assert_eq!(code.len(), 8);

    // Every citizen's message ends with the link to its page, in their language.
    let got: Vec<_> = svc
        .sim
        .received()
        .into_iter()
        .filter(|r| r.text.contains("Hauptstraße"))
        .collect();
    assert_eq!(got.len(), 3, "{got:?}");
    for r in &got {
        let link = format!("stadt.example/amtsbote/m/{code}");
        assert!(
            r.text.ends_with(&format!("Real? {link}"))
                || r.text.ends_with(&format!("Echt? {link}")),
            "{}",
            r.text
        );
    }
    // Neither a drill nor a draft is public.
    sent(&svc, &db, EMERGENCY_TOKEN, "drill", "Übung Sirenenprobe").await;
    let (status, draft) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            PRESS_TOKEN,
            Some(json!({"topic": "news", "text": "Entwurf Stadtfest", "draft": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");

    let archive = get(&format!("{}/archiv", svc.base), &[]).await;
    assert_eq!(archive.status(), StatusCode::OK);
    assert_eq!(
        archive.headers()["cache-control"].to_str().ok(),
        Some("public, max-age=60")
    );
    let html = archive.text().await.expect("a page");
    assert!(
        html.contains("Sperrung der &lt;b&gt;Hauptstraße&lt;"),
        "{html}"
    );
    assert!(!html.contains("<b>Hauptstraße"), "unescaped: {html}");
    // (Slashes in attributes come as `&#x2f;`, which browsers read as `/`.)
    assert!(
        html.replace("&#x2f;", "/").contains(&format!("/m/{code}")),
        "{html}"
    );
    assert!(
        !html.contains("Sirenenprobe") && !html.contains("Stadtfest"),
        "{html}"
    );
    assert!(html.contains(r#"type="application/atom+xml""#), "{html}");

    // The broadcast's page, cached by its tag; unknown and malformed codes are 404 pages.
    let page = get(&format!("{}/m/{}", svc.base, code.to_lowercase()), &[]).await;
    assert_eq!(page.status(), StatusCode::OK);
    let tag = page.headers()["etag"].to_str().expect("etag").to_string();
    let html = page.text().await.expect("a page");
    assert!(
        html.contains("Hauptstraße") && html.contains(&code),
        "{html}"
    );
    let again = get(
        &format!("{}/m/{code}", svc.base),
        &[("if-none-match", tag.as_str())],
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    for bad in ["ZZZZZZZZ", "%3Cscript%3E", "1", &"A".repeat(5000)] {
        let r = get(&format!("{}/m/{bad}", svc.base), &[]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{bad}");
        assert!(!r.text().await.unwrap_or_default().contains("<script>"));
    }

    // Three feeds, read by feed-rs: the same one entry, with the page's address.
    for ext in ["atom", "rss", "json"] {
        for name in ["all", "news"] {
            let r = get(&format!("{}/feed/{name}.{ext}", svc.base), &[]).await;
            assert_eq!(r.status(), StatusCode::OK, "{name}.{ext}");
            let body = r.bytes().await.expect("a feed");
            let feed = feed_rs::parser::parse(&body[..])
                .unwrap_or_else(|e| panic!("{name}.{ext} does not parse: {e}"));
            assert_eq!(feed.entries.len(), 1, "{name}.{ext}");
            let entry = &feed.entries[0];
            let url = format!("{PUBLIC_URL}/m/{code}");
            assert!(
                entry.links.iter().any(|l| l.href == url),
                "{name}.{ext}: {:?}",
                entry.links
            );
            let said = entry
                .content
                .as_ref()
                .and_then(|c| c.body.clone())
                .or_else(|| entry.summary.as_ref().map(|s| s.content.clone()))
                .unwrap_or_default();
            assert!(
                said.contains("<b>Hauptstraße</b> & Umleitung"),
                "{ext}: {said}"
            );
        }
    }
    let none = get(&format!("{}/feed/drill.atom", svc.base), &[]).await;
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
    svc.stop().await;
}

/// A Telegram message `user` forwards: `text`, first sent by Telegram user `origin`.
fn forwarded(user: i64, text: &str, origin: i64) -> Value {
    let mut u = crate::telegram::message(user, text);
    u["message"]["forward_origin"] = json!({
        "type": "user",
        "date": 1_700_000_000,
        "sender_user": {"id": origin, "is_bot": origin == 42, "first_name": "Amtsbote"},
    });
    u
}

/// The newest message to `to` after the first `from`, once one with `needle` arrived (else
/// the test fails showing what did arrive).
async fn answer(svc: &Service, to: &str, from: usize, needle: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let to_them: Vec<String> = svc
            .sim
            .received_from(from)
            .into_iter()
            .filter(|r| *r.address == *to)
            .map(|r| r.text.to_string())
            .collect();
        if let Some(hit) = to_them.iter().rfind(|t| t.contains(needle)) {
            return hit.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no answer to {to} with “{needle}”; they got {to_them:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn forwarded_messages_pasted_texts_and_codes_are_told_apart_from_fakes(db: TestDb) {
    use crate::telegram::message;
    seed(&*db.store, 1, 1, &["news"]).await;
    let mut svc = Service::start(&db, false, &settings()).await;
    let real = "Ab Montag fährt die Linie 6 wieder über den Domplatz.";
    let code = sent(&svc, &db, PRESS_TOKEN, "news", real).await;
    let as_sent = svc
        .sim
        .received()
        .into_iter()
        .find(|r| *r.address == *"1000")
        .map(|r| r.text.to_string())
        .expect("the citizen got it");

    // Forwarded from the bot itself: certainly ours.
    let n = svc.sim.received_count();
    svc.sim.push_update(forwarded(1000, &as_sent, 42));
    let a = answer(&svc, "1000", n, "✅ Echt").await;
    assert!(a.contains(&format!("{PUBLIC_URL}/m/{code}")), "{a}");

    // Forwarded from someone else with one word changed: not ours, and the real one shown.
    let fake = as_sent.replace("Montag", "Dienstag");
    let n = svc.sim.received_count();
    svc.sim.push_update(forwarded(1000, &fake, 777));
    let a = answer(&svc, "1000", n, "Nicht von uns").await;
    assert!(a.contains(real), "the real text is shown: {a}");

    // A code typed (lower case, with a hyphen): that broadcast. An unknown one: not ours.
    let typed = format!("{}-{}", &code[..4], &code[4..]).to_lowercase();
    let n = svc.sim.received_count();
    svc.sim.push_update(message(1000, &typed));
    answer(&svc, "1000", n, "✅ Echt").await;
    let n = svc.sim.received_count();
    svc.sim.push_update(message(1000, "ZZZZZZZZ"));
    let a = answer(&svc, "1000", n, "Nicht von uns").await;
    assert!(a.contains(&format!("{PUBLIC_URL}/archiv")), "{a}");

    // WhatsApp flags a forwarded message: the exact text (German answer).
    let mut body = crate::whatsapp::says("4915100000000", real);
    body["entry"][0]["changes"][0]["value"]["messages"][0]["context"] = json!({"forwarded": true});
    let n = svc.sim.received_count();
    assert_eq!(svc.webhook(&body).await, StatusCode::OK);
    answer(&svc, "4915100000000", n, "Echt").await;

    // /latest: the last broadcasts on one's topics, with their links.
    let n = svc.sim.received_count();
    svc.sim.push_update(message(1000, "/neueste"));
    let a = answer(&svc, "1000", n, "Die letzten Meldungen").await;
    assert!(
        a.contains("Linie 6") && a.contains(&format!("/m/{code}")),
        "{a}"
    );

    // Other free text: the help pointer and one line about the check.
    let n = svc.sim.received_count();
    svc.sim.push_update(message(1000, "hallo"));
    answer(&svc, "1000", n, "Leiten Sie sie mir weiter").await;

    // The page and the API give the same verdicts.
    let api = |q: String| {
        let base = svc.base.clone();
        async move {
            let r = get(&format!("{base}/api/v1/check?{q}"), &[]).await;
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or_default())
        }
    };
    let (status, v) = api(format!("code={code}")).await;
    assert_eq!(
        (status, v["verdict"].as_str()),
        (StatusCode::OK, Some("genuine")),
        "{v}"
    );
    let q = |t: &str| {
        format!(
            "text={}",
            url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()
        )
    };
    let (_, v) = api(q(&fake)).await;
    assert_eq!(v["verdict"], "not_ours", "{v}");
    assert_eq!(v["broadcast"]["code"], json!(code), "the real one: {v}");
    let (_, v) = api(q("Heute ist das Freibad geöffnet.")).await;
    assert_eq!(v["verdict"], "not_ours", "{v}");
    assert!(v["broadcast"].is_null(), "{v}");
    let (status, _) = api(String::new()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = get(&format!("{}/pruefen?{}&lang=en", svc.base, q(real)), &[]).await;
    assert_eq!(
        page.headers()["cache-control"].to_str().ok(),
        Some("no-store")
    );
    let html = page.text().await.unwrap_or_default();
    assert!(html.contains("Real: the city sent this"), "{html}");
    // A huge query string is refused, not read.
    let status = raw_status(&svc.base, &format!("/pruefen?text={}", "a".repeat(1 << 20))).await;
    assert!(
        status.is_none_or(|s| (400..500).contains(&s)),
        "a 1 MB query string: {status:?}"
    );
    assert_eq!(
        get(&format!("{}/healthz", svc.base), &[]).await.status(),
        StatusCode::OK
    );

    // A flood from one address, and from one chat, is refused politely.
    let mut limited = false;
    for _ in 0..30 {
        let (status, _) = api(format!("code={code}")).await;
        limited |= status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited, "the API limits one address");
    for _ in 0..25 {
        svc.sim.push_update(message(1000, &code));
    }
    answer(&svc, "1000", 0, "Zu viele Prüfungen").await;
    svc.stop().await;
}

async fn corrected_and_retracted_broadcasts_are_known_by_their_old_text_and_their_pages_and_feeds_say_so(
    db: TestDb,
) {
    seed(&*db.store, 1, 0, &["news", "alerts"]).await;
    let mut svc = Service::start(&db, false, &settings()).await;
    let old = "Das Bürgerbüro ist am Samstag von 9 bis 12 Uhr geöffnet.";
    let new = "Das Bürgerbüro ist am Samstag von 10 bis 12 Uhr geöffnet.";
    let code = sent(&svc, &db, PRESS_TOKEN, "news", old).await;
    let id = db
        .store
        .archived(&code)
        .await
        .expect("store")
        .expect("public")
        .id;
    let as_sent = svc
        .sim
        .received()
        .into_iter()
        .find(|r| r.text.contains("Bürgerbüro"))
        .map(|r| r.text.to_string())
        .expect("the citizen got it");
    // The pages are read once before the correction (so a stale copy would be kept now).
    let before = get(&format!("{}/archiv", svc.base), &[]).await;
    assert!(before.text().await.unwrap_or_default().contains("9 bis 12"));
    get(&format!("{}/m/{code}", svc.base), &[]).await;
    // Feeds say times to the second: the correction comes a second later.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let (status, c) = svc
        .api(
            Method::POST,
            &format!("/api/v1/broadcasts/{id}/corrections"),
            PRESS_TOKEN,
            Some(json!({"text": new})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let correction = c["correction"]["id"].as_i64().expect("the correction's id");
    svc.wait_done(correction, Duration::from_secs(20)).await;

    // The archive shows the new text at once, marked, and the broadcast's page the old one too.
    let page = |path: String| async move { get(&path, &[]).await.text().await.unwrap_or_default() };
    let html = page(format!("{}/archiv", svc.base)).await;
    assert!(
        html.contains("10 bis 12") && html.contains("Korrigiert am"),
        "{html}"
    );
    let html = page(format!("{}/m/{code}?lang=en", svc.base)).await;
    assert!(
        html.contains(new) && html.contains("Corrected on"),
        "{html}"
    );
    assert!(
        html.contains("Earlier versions") && html.contains(old),
        "the former text: {html}"
    );

    // The feeds' entry keeps its id and says it was updated.
    for ext in ["atom", "json"] {
        let body = get(&format!("{}/feed/all.{ext}", svc.base), &[])
            .await
            .bytes()
            .await
            .expect("a feed");
        let feed = feed_rs::parser::parse(&body[..]).expect("it parses");
        let entry = feed
            .entries
            .iter()
            .find(|e| e.links.iter().any(|l| l.href.ends_with(&code)))
            .expect("the entry");
        assert_eq!(entry.id, format!("{PUBLIC_URL}/m/{code}"), "{ext}");
        let (published, updated) = (entry.published.expect("published"), entry.updated);
        assert!(
            updated.is_some_and(|u| u > published),
            "{ext}: updated {updated:?}, published {published}"
        );
        let said = entry
            .content
            .as_ref()
            .and_then(|c| c.body.clone())
            .or_else(|| entry.summary.as_ref().map(|s| s.content.clone()))
            .unwrap_or_default();
        assert!(said.contains("10 bis 12"), "{ext}: {said}");
    }

    // The old text is ours but corrected (with what it says now); the new one is genuine; the
    // old one with a word changed is not ours.
    let check = |t: &str| {
        let url = format!(
            "{}/api/v1/check?text={}",
            svc.base,
            url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()
        );
        async move {
            get(&url, &[])
                .await
                .json::<Value>()
                .await
                .unwrap_or_default()
        }
    };
    let v = check(old).await;
    assert_eq!(v["verdict"], "corrected", "{v}");
    assert_eq!(v["broadcast"]["text"], json!(new), "{v}");
    let v = check(new).await;
    assert_eq!(v["verdict"], "genuine", "{v}");
    let v = check(&old.replace("Samstag", "Sonntag")).await;
    assert_eq!(v["verdict"], "not_ours", "{v}");
    // The message as first received, with its link, forwarded by someone else.
    let v = check(&as_sent).await;
    assert_eq!(v["verdict"], "corrected", "{v}");

    // In the chat: the old message forwarded → corrected, with the text as it is now.
    let n = svc.sim.received_count();
    svc.sim.push_update(forwarded(1000, &as_sent, 777));
    let a = answer(&svc, "1000", n, "korrigiert").await;
    assert!(a.contains(new), "{a}");

    // A retracted alert: its page stays, marked; forwarded, it is "widerrufen".
    let alert = "Großbrand im Hafen: Fenster und Türen geschlossen halten.";
    let alert_code = sent(&svc, &db, EMERGENCY_TOKEN, "alerts", alert).await;
    let alert_id = db
        .store
        .archived(&alert_code)
        .await
        .expect("store")
        .expect("public")
        .id;
    let (status, r) = svc
        .api(
            Method::POST,
            &format!("/api/v1/broadcasts/{alert_id}/retract"),
            EMERGENCY_TOKEN,
            Some(json!({"text": "Es brennt nicht."})),
        )
        .await;
    assert!(status.is_success(), "{status}: {r}");
    let got = svc
        .sim
        .received()
        .into_iter()
        .find(|r| r.text.starts_with("Großbrand im Hafen"))
        .map(|r| r.text.to_string())
        .expect("the citizen got the alert");
    let html = page(format!("{}/m/{alert_code}", svc.base)).await;
    assert!(html.contains("widerrufen"), "{html}");
    let v = check(&got).await;
    assert_eq!(v["verdict"], "retracted", "{v}");
    let n = svc.sim.received_count();
    svc.sim.push_update(forwarded(1000, &got, 777));
    answer(&svc, "1000", n, "widerrufen").await;
    svc.stop().await;
}
