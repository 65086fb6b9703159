//! Pictures and documents: uploaded through the API with their metadata removed, sent to
//! everyone with one upload per platform and the rest by the platform's id, captions that do
//! not fit going as a reply, bad input refused while the service keeps serving, and one upload
//! across a kill -9 and restart.

use std::io::Cursor;
use std::time::Duration;

use amtsbote::domain::{ChannelKind, now_ms};
use amtsbote::simulator::Received;
use amtsbote::store::UploadClaim;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PRESS_TOKEN, Service, TestDb, amtsbote, on_both_stores, seed, wait_until};

on_both_stores!(
    a_picture_reaches_everyone_with_one_upload_per_platform,
    a_pdf_goes_as_a_document,
    outside_the_window_a_picture_goes_in_its_own_template_or_the_text_alone,
    a_caption_too_long_follows_the_picture_as_a_reply,
    bad_input_is_refused_and_the_service_keeps_serving,
    one_upload_is_claimed_once,
    the_archive_shows_the_picture_with_its_alternative_text,
    staff_attach_a_picture_in_the_chat_with_the_command_as_its_caption,
    staff_attach_a_picture_by_replying_to_a_drafts_preview,
);

/// A real camera JPEG with GPS EXIF (see tests/fixtures/SOURCES.md).
fn gps_photo() -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/media/gps_nikon_coolpix_p6000_DSCN0010.jpg",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("the fixture")
}

/// A small PDF, as a word processor writes the minimum of one.
fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
      2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n\
      3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n\
      trailer << /Root 1 0 R >>\n%%EOF\n"
        .to_vec()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 255) as u8, (y % 255) as u8, 90])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encode");
    out
}

/// The GPS position in a file's EXIF, when it has EXIF at all.
fn exif_gps(bytes: &[u8]) -> Result<Option<String>, String> {
    let exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .map_err(|e| e.to_string())?;
    Ok(exif
        .get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY)
        .map(|f| f.display_value().to_string()))
}

async fn upload(svc: &Service, bytes: Vec<u8>, name: &str, mime: &str) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(mime)
        .expect("mime");
    let form = reqwest::multipart::Form::new().part("file", part);
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/media", svc.admin))
        .bearer_auth(PRESS_TOKEN)
        .multipart(form)
        .send()
        .await
        .expect("the API answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn broadcast(svc: &Service, body: Value) -> (u16, Value) {
    let (status, answer) = svc
        .api(Method::POST, "/api/v1/broadcasts", PRESS_TOKEN, Some(body))
        .await;
    (status.as_u16(), answer)
}

fn on(received: &[Received], channel: ChannelKind) -> Vec<Received> {
    received
        .iter()
        .filter(|r| r.channel == channel)
        .cloned()
        .collect()
}

async fn a_picture_reaches_everyone_with_one_upload_per_platform(db: TestDb) {
    seed(&*db.store, 500, 500, &["news"]).await;
    let svc = Service::start(&db, false, &[]).await;
    let original = gps_photo();
    let position = exif_gps(&original).expect("the fixture has EXIF");
    assert!(position.is_some(), "the fixture has a GPS position");

    let (status, media) = upload(&svc, original.clone(), "DSCN0010.jpg", "image/jpeg").await;
    assert_eq!(status, 201, "{media}");
    assert_eq!(media["kind"], "picture");
    assert!(media["width"].as_u64().unwrap_or(0) > 0, "{media}");
    let id = media["id"].as_i64().expect("an id");
    let kept = db.store.media_bytes(id).await.unwrap().expect("kept");
    assert_eq!(media["bytes"].as_u64(), Some(kept.len() as u64));
    assert!(
        exif_gps(&kept).is_err(),
        "the kept picture has no EXIF at all"
    );
    image::load_from_memory(&kept).expect("the kept picture decodes");

    // A picture without its alternative text is refused, naming the field.
    let text = "Die Uferstraße ist ab 14 Uhr gesperrt; die Umleitung zeigt das Bild.";
    let (status, answer) =
        broadcast(&svc, json!({"topic": "news", "text": text, "media_id": id})).await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (422, Some("alt")),
        "{answer}"
    );

    let alt = "Karte: Umleitung über die Brückenstraße";
    let (status, answer) = broadcast(
        &svc,
        json!({"topic": "news", "text": text, "media_id": id, "alt": alt}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let broadcast_id = answer["id"].as_i64().unwrap();
    svc.wait_done(broadcast_id, Duration::from_secs(90)).await;

    for channel in [ChannelKind::Telegram, ChannelKind::Whatsapp] {
        let uploads = svc.sim.uploads(channel);
        assert_eq!(uploads.len(), 1, "{channel}: one upload");
        assert!(
            exif_gps(&uploads[0].bytes).is_err(),
            "{channel}: what went out has no EXIF"
        );
    }
    // Telegram's first send is the upload; WhatsApp uploads apart and sends all by id.
    assert_eq!(svc.sim.media_sends_by_id(ChannelKind::Telegram), 499);
    assert_eq!(svc.sim.media_sends_by_id(ChannelKind::Whatsapp), 500);
    let received = svc.sim.received();
    for channel in [ChannelKind::Telegram, ChannelKind::Whatsapp] {
        let got = on(&received, channel);
        assert_eq!(got.len(), 500, "{channel}: one message each");
        assert!(got.iter().all(|r| r.media.is_some() && &*r.text == text));
    }
    let recorded = db.store.media_uploads(id).await.unwrap();
    assert_eq!(recorded.len(), 2);
    assert!(
        recorded
            .iter()
            .all(|u| u.uploads == 1 && u.platform_ref.is_some())
    );

    let (_, view) = svc
        .api(
            Method::GET,
            &format!("/api/v1/broadcasts/{broadcast_id}"),
            PRESS_TOKEN,
            None,
        )
        .await;
    assert_eq!(
        (view["media_id"].as_i64(), view["alt"].as_str()),
        (Some(id), Some(alt))
    );
}

async fn a_pdf_goes_as_a_document(db: TestDb) {
    seed(&*db.store, 3, 2, &["news"]).await;
    let svc = Service::start(&db, false, &[]).await;
    let (status, media) = upload(
        &svc,
        pdf(),
        "Allgemeinverfügung Hochwasser.pdf",
        "application/pdf",
    )
    .await;
    assert_eq!(status, 201, "{media}");
    assert_eq!(media["kind"], "document");
    let (status, answer) = broadcast(
        &svc,
        json!({"topic": "news", "text": "Die Allgemeinverfügung im Wortlaut.", "media_id": media["id"]}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    svc.wait_done(answer["id"].as_i64().unwrap(), Duration::from_secs(30))
        .await;
    let tg = svc.sim.uploads(ChannelKind::Telegram);
    assert_eq!(tg.len(), 1);
    assert_eq!(
        tg[0].file_name.as_deref(),
        Some("Allgemeinverfügung Hochwasser.pdf")
    );
    assert_eq!(&*tg[0].bytes, pdf().as_slice(), "a document goes as it is");
    let wa = svc.sim.uploads(ChannelKind::Whatsapp);
    assert_eq!(wa.len(), 1);
    assert_eq!(wa[0].mime.as_deref(), Some("application/pdf"));
    assert_eq!(svc.sim.media_sends_by_id(ChannelKind::Telegram), 2);
    assert_eq!(svc.sim.media_sends_by_id(ChannelKind::Whatsapp), 2);
    // Outside the 24-hour window: the template, with the document as its header.
    let received = svc.sim.received();
    let whatsapp = on(&received, ChannelKind::Whatsapp);
    assert_eq!(whatsapp.len(), 2);
    for r in whatsapp {
        let template = r.markup.expect("a template");
        assert_eq!(template["name"], "stadt_dokument", "{template}");
        assert_eq!(
            template["components"][0]["parameters"][0]["type"], "document",
            "{template}"
        );
    }
}

/// Meta refuses a header a template was not approved with (the fake does too): outside the
/// 24-hour window a picture goes in the picture template, with the picture as its header; a
/// city without one still reaches everyone with the text alone in its kind's template.
async fn outside_the_window_a_picture_goes_in_its_own_template_or_the_text_alone(db: TestDb) {
    seed(&*db.store, 0, 2, &["news"]).await;
    for (picture_template, expected) in
        [("stadt_bild:de", "stadt_bild"), ("", "stadt_announcement")]
    {
        let mut svc = Service::start(
            &db,
            false,
            &[("AMTSBOTE_WHATSAPP_TEMPLATE_PICTURE", picture_template)],
        )
        .await;
        let (status, media) = upload(&svc, png(64, 48), "plan.png", "image/png").await;
        assert_eq!(status, 201, "{media}");
        let (status, answer) = broadcast(
            &svc,
            json!({"topic": "news", "text": "Umleitung ab Montag.", "media_id": media["id"], "alt": "Plan der Umleitung"}),
        )
        .await;
        assert_eq!(status, 201, "{answer}");
        let id = answer["id"].as_i64().unwrap();
        svc.wait_done(id, Duration::from_secs(30)).await;
        let received = on(&svc.sim.received(), ChannelKind::Whatsapp);
        assert_eq!(received.len(), 2, "{expected}: everyone reached");
        for r in received {
            let template = r.markup.expect("a template");
            assert_eq!(template["name"], expected, "{template}");
            let header = template["components"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["type"] == "header");
            assert_eq!(header, expected == "stadt_bild", "{template}");
            assert_eq!(&*r.text, "Umleitung ab Montag.");
        }
        let stats = db.store.broadcast_stats(id).await.unwrap();
        assert_eq!(
            stats.count(
                ChannelKind::Whatsapp,
                amtsbote::domain::DeliveryStatus::Failed
            ),
            0,
            "{expected}: nothing failed"
        );
        svc.stop().await;
    }
}

async fn a_caption_too_long_follows_the_picture_as_a_reply(db: TestDb) {
    seed(&*db.store, 3, 2, &["news"]).await;
    for i in 0..2u64 {
        let address = (4_915_100_000_000u64 + i).to_string();
        db.store
            .touch_inbound(ChannelKind::Whatsapp, &address, now_ms())
            .await
            .unwrap();
    }
    let svc = Service::start(&db, false, &[]).await;
    let (status, media) = upload(&svc, png(64, 48), "plan.png", "image/png").await;
    assert_eq!(status, 201, "{media}");
    let text = "Wegen des Hochwassers sind folgende Straßen gesperrt. ".repeat(30);
    assert!(text.chars().count() > 1024);
    let (status, answer) = broadcast(
        &svc,
        json!({"topic": "news", "text": text, "media_id": media["id"], "alt": "Plan der Sperrungen"}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    svc.wait_done(answer["id"].as_i64().unwrap(), Duration::from_secs(30))
        .await;
    let received = svc.sim.received();
    for channel in [ChannelKind::Telegram, ChannelKind::Whatsapp] {
        let got = on(&received, channel);
        assert_eq!(
            got.len(),
            2 * if channel == ChannelKind::Telegram {
                3
            } else {
                2
            }
        );
        for picture in got.iter().filter(|r| r.media.is_some()) {
            assert_eq!(
                &*picture.text, "",
                "{channel}: the picture goes without caption"
            );
            let reply = got
                .iter()
                .find(|r| r.address == picture.address && r.media.is_none())
                .expect("the text follows");
            assert_eq!(&*reply.text, text.trim_end());
            let expected = match channel {
                ChannelKind::Telegram => picture.message_id.to_string(),
                ChannelKind::Whatsapp => format!("wamid.SIM{:020}", picture.message_id),
            };
            assert_eq!(
                reply.reply_to.as_deref(),
                Some(expected.as_str()),
                "{channel}"
            );
            assert!(reply.at >= picture.at, "the text after the picture");
        }
    }
}

async fn bad_input_is_refused_and_the_service_keeps_serving(db: TestDb) {
    let svc = Service::start(&db, false, &[]).await;
    let full_png = png(300, 200);
    let mut bomb = png(1, 1);
    bomb[16..20].copy_from_slice(&20_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&20_000u32.to_be_bytes());
    let crc = crc32(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    // What, the bytes, their name and type as sent, the status and what the error says.
    type Case = (
        &'static str,
        Vec<u8>,
        &'static str,
        &'static str,
        u16,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        ("a PDF named .jpg", pdf(), "foto.jpg", "image/jpeg", 422, "PDF document"),
        ("zero bytes", Vec::new(), "leer.jpg", "image/jpeg", 422, "empty"),
        ("60 MB", vec![0x25; 60_000_000], "gross.pdf", "application/pdf", 413, "50.0 MB"),
        (
            "a truncated PNG",
            full_png[..full_png.len() / 2].to_vec(),
            "halb.png",
            "image/png",
            422,
            "cannot be read",
        ),
        (
            "an SVG",
            b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"></svg>".to_vec(),
            "karte.png",
            "image/svg+xml",
            415,
            "SVG",
        ),
        (
            "an HTML page",
            b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>".to_vec(),
            "seite.jpg",
            "text/html",
            415,
            "HTML",
        ),
        ("a 20,000 x 20,000 bomb", bomb, "bombe.png", "image/png", 422, "20000 × 20000"),
    ];
    for (what, bytes, name, mime, status, says) in cases {
        let (got, answer) = upload(&svc, bytes, name, mime).await;
        let error = answer["error"].as_str().unwrap_or_default();
        assert_eq!(got, status, "{what}: {answer}");
        assert!(
            error.contains(says),
            "{what}: '{error}' should say '{says}'"
        );
    }
    // Nothing was kept, and the service goes on: a good upload, and health.
    let (status, media) = upload(&svc, gps_photo(), "ok.jpg", "image/jpeg").await;
    assert_eq!(status, 201, "{media}");
    assert_eq!(
        media["id"].as_i64(),
        Some(1),
        "the refused uploads kept nothing"
    );
    let health = reqwest::get(format!("{}/healthz", svc.base)).await.unwrap();
    assert!(health.status().is_success());
    // No body at all, and a body that is not multipart.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/media", svc.admin))
        .bearer_auth(PRESS_TOKEN)
        .json(&json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

/// CRC-32 as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The store's claim on a medium's one upload: one holder at a time, the id once stored is
/// what everyone gets, a holder that died takes its own claim back, and WhatsApp's id is
/// uploaded again once it is older than 29 days.
async fn one_upload_is_claimed_once(db: TestDb) {
    let media = amtsbote::services::media::MediaService::new(db.store.clone());
    let info = media
        .accept(png(10, 10), None, Some("test".into()))
        .await
        .expect("kept");
    let store = &db.store;
    let (tg, now) = (ChannelKind::Telegram, now_ms());
    let claim = |holder: &'static str, at: i64, fresh: i64| {
        let store = store.clone();
        async move {
            store
                .claim_media_upload(info.id, tg, holder, at, at + 60_000, fresh)
                .await
                .unwrap()
        }
    };
    assert_eq!(claim("a", now, i64::MIN).await, UploadClaim::Claimed);
    assert_eq!(
        claim("b", now + 1, i64::MIN).await,
        UploadClaim::Busy {
            until: now + 60_000
        }
    );
    // "a" died and came back: its own claim is its again.
    assert_eq!(claim("a", now + 2, i64::MIN).await, UploadClaim::Claimed);
    store
        .media_uploaded(info.id, tg, "file-1", now + 3)
        .await
        .unwrap();
    assert_eq!(
        claim("b", now + 4, i64::MIN).await,
        UploadClaim::Ready {
            platform_ref: "file-1".into(),
            uploaded_at: now + 3
        }
    );
    // Too old for the platform: uploaded again, by one.
    assert_eq!(claim("b", now + 5, now + 4).await, UploadClaim::Claimed);
    // A released claim is free at once.
    store.release_media_upload(info.id, tg, "b").await.unwrap();
    assert_eq!(claim("c", now + 6, now + 4).await, UploadClaim::Claimed);
    let uploads = store.media_uploads(info.id).await.unwrap();
    assert_eq!(uploads.len(), 1);
    assert_eq!(
        uploads[0].uploads, 4,
        "every claim taken counts as an upload"
    );

    // Housekeeping: kept while a broadcast carries it, deleted after `keep_days`.
    assert_eq!(store.forget_media(info.created_at).await.unwrap(), 0);
    let mut new =
        crate::helpers::new_broadcast("news", amtsbote::domain::Priority::Normal, "with a picture");
    new.media_id = Some(info.id);
    new.alt = Some("a street".into());
    let carrier = store.create_broadcast(&new).await.unwrap().broadcast.id;
    let later = now_ms() + 3_600_000;
    assert_eq!(
        store.forget_media(later).await.unwrap(),
        0,
        "kept while open"
    );
    assert!(store.cancel_broadcast(carrier).await.unwrap());
    assert_eq!(store.forget_media(later).await.unwrap(), 1);
    assert!(store.media_info(info.id).await.unwrap().is_none());
    assert!(store.media_uploads(info.id).await.unwrap().is_empty());
}

/// The service killed with SIGKILL mid-broadcast and started again: the picture is not
/// uploaded a second time, because its platform ids were stored before the first send by id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_send_still_uploads_once() {
    const TELEGRAM: u64 = 600;
    const WHATSAPP: u64 = 400;
    let db = TestDb::sqlite().await;
    seed(&*db.store, TELEGRAM, WHATSAPP, &["news"]).await;
    let media = amtsbote::services::media::MediaService::new(db.store.clone());
    let info = media
        .accept(gps_photo(), Some("DSCN0010.jpg".into()), None)
        .await
        .expect("kept");
    let mut new = crate::helpers::new_broadcast(
        "news",
        amtsbote::domain::Priority::Normal,
        "Kill test with a picture",
    );
    new.media_id = Some(info.id);
    new.alt = Some("a street".into());
    let id = db.store.create_broadcast(&new).await.unwrap().broadcast.id;

    let shutdown = tokio_util::sync::CancellationToken::new();
    let sim = amtsbote::simulator::Simulator::start(shutdown.clone())
        .await
        .unwrap();
    let service = |rate: &str| {
        let mut cmd = amtsbote();
        cmd.env("AMTSBOTE_DATABASE_URL", &db.url)
            .env("AMTSBOTE_TELEGRAM_TOKEN", "42:kill-test")
            .env("AMTSBOTE_TELEGRAM_API_URL", &sim.telegram_url)
            .env("AMTSBOTE_TELEGRAM_RATE", rate)
            .env("AMTSBOTE_WHATSAPP_API_URL", &sim.whatsapp_url)
            .env("AMTSBOTE_WHATSAPP_PHONE_NUMBER_ID", "1234")
            .env("AMTSBOTE_WHATSAPP_ACCESS_TOKEN", "wa-token")
            .env(
                "AMTSBOTE_WHATSAPP_APP_SECRET",
                crate::helpers::WEBHOOK_SECRET,
            )
            .env(
                "AMTSBOTE_WHATSAPP_VERIFY_TOKEN",
                crate::helpers::VERIFY_TOKEN,
            )
            .env("AMTSBOTE_WHATSAPP_RATE", rate)
            .env(
                "AMTSBOTE_WHATSAPP_TEMPLATE_ANNOUNCEMENT",
                "stadt_announcement:de",
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd.args(["run"]).spawn().unwrap()
    };
    let mut first = service("200");
    let s = sim.clone();
    wait_until(Duration::from_secs(60), "sends from the first run", || {
        let s = s.clone();
        async move {
            s.received()
                .iter()
                .filter(|r| r.channel == ChannelKind::Whatsapp)
                .count()
                >= 50
                && s.received_count() >= 200
        }
    })
    .await;
    first.kill().await.unwrap(); // SIGKILL: no shutdown, no flush
    assert!(sim.received_count() < (TELEGRAM + WHATSAPP) as usize);

    let mut second = service("0");
    let store = db.store.clone();
    wait_until(Duration::from_secs(90), "done after the restart", || {
        let store = store.clone();
        async move {
            matches!(store.broadcast(id).await, Ok(Some(b)) if b.status == amtsbote::domain::BroadcastStatus::Done)
        }
    })
    .await;
    second.kill().await.unwrap();
    let recorded = db.store.media_uploads(info.id).await.unwrap();
    for channel in [ChannelKind::Telegram, ChannelKind::Whatsapp] {
        let uploads = sim.uploads(channel).len() as u64;
        let counted = recorded
            .iter()
            .find(|u| u.channel == channel)
            .map(|u| u.uploads);
        assert_eq!(uploads, 1, "{channel}: one upload across the restart");
        assert_eq!(counted, Some(uploads), "{channel}: the store counted it");
    }
    let stats = db.store.broadcast_stats(id).await.unwrap();
    assert_eq!(
        stats.total(amtsbote::domain::DeliveryStatus::Sent),
        TELEGRAM + WHATSAPP
    );
    shutdown.cancel();
}

/// `amtsbote broadcast --attach FILE --alt TEXT`: the picture is kept cleaned, the broadcast
/// carries it; without `--alt` a picture is refused (exit 2) and nothing is kept.
#[tokio::test]
async fn the_cli_attaches_a_picture() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 2, 0, &["news"]).await;
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("Sperrung Uferstraße.jpg");
    std::fs::write(&photo, gps_photo()).unwrap();
    let run = |alt: Option<&str>| {
        let mut cmd = amtsbote();
        cmd.env("AMTSBOTE_DATABASE_URL", &db.url).args([
            "broadcast",
            "--topic",
            "news",
            "--text",
            "Die Uferstraße ist gesperrt.",
            "--attach",
            photo.to_str().unwrap(),
            "--yes",
            "--json",
        ]);
        if let Some(alt) = alt {
            cmd.args(["--alt", alt]);
        }
        cmd.output()
    };
    let refused = run(None).await.unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("--alt") && said.contains("alternative text"),
        "{said}"
    );
    assert!(
        db.store.media_info(1).await.unwrap().is_none(),
        "nothing kept"
    );

    let out = run(Some("Die gesperrte Uferstraße")).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let media_id = answer["media_id"]
        .as_i64()
        .expect("the broadcast carries it");
    let kept = db.store.media_bytes(media_id).await.unwrap().unwrap();
    assert!(exif_gps(&kept).is_err(), "kept without EXIF");
    let b = db
        .store
        .broadcast(answer["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.alt.as_deref(), Some("Die gesperrte Uferstraße"));
}

async fn the_archive_shows_the_picture_with_its_alternative_text(db: TestDb) {
    seed(&*db.store, 1, 0, &["news"]).await;
    let svc = Service::start(
        &db,
        false,
        &[("AMTSBOTE_ARCHIVE_PUBLIC_URL", "https://stadt.example")],
    )
    .await;
    let (status, media) = upload(&svc, gps_photo(), "DSCN0010.jpg", "image/jpeg").await;
    assert_eq!(status, 201, "{media}");
    let alt = "Umleitungsplan: über die <Brückenstraße> & den Ring";
    let (status, answer) = broadcast(
        &svc,
        json!({"topic": "news", "text": "Die Umleitung ab Montag.", "media_id": media["id"], "alt": alt}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let id = answer["id"].as_i64().expect("an id");
    svc.wait_done(id, Duration::from_secs(30)).await;
    let code = db
        .store
        .broadcast(id)
        .await
        .expect("store")
        .and_then(|b| b.public_code)
        .expect("a code");

    // The page shows the picture with its alternative text (escaped), at its own address.
    let html = reqwest::get(format!("{}/m/{code}", svc.base))
        .await
        .expect("the archive answers")
        .text()
        .await
        .unwrap_or_default();
    let html = html.replace("&#x2f;", "/");
    assert!(
        html.contains(&format!(r#"<img src="/m/{code}/datei""#)),
        "{html}"
    );
    assert!(
        html.contains(r#"alt="Umleitungsplan: über die &lt;Brückenstraße&gt; &amp; den Ring""#),
        "{html}"
    );
    let file = reqwest::get(format!("{}/m/{code}/datei", svc.base))
        .await
        .expect("the archive answers");
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "image/jpeg");
    let bytes = file.bytes().await.expect("the picture");
    let kept = db
        .store
        .media_bytes(media["id"].as_i64().expect("id"))
        .await
        .expect("store")
        .expect("kept");
    assert_eq!(&bytes[..], &kept[..], "the cleaned picture, as kept");
    assert_eq!(exif_gps(&bytes).ok().flatten(), None, "no position in it");
    // A broadcast without a medium has no file; the feeds carry it as an enclosure.
    let none = reqwest::get(format!("{}/m/ZZZZZZZZ/datei", svc.base))
        .await
        .expect("the archive answers");
    assert_eq!(none.status(), 404);
    let atom = reqwest::get(format!("{}/feed/all.atom", svc.base))
        .await
        .expect("the archive answers")
        .bytes()
        .await
        .expect("a feed");
    let feed = feed_rs::parser::parse(&atom[..]).expect("it parses");
    let enclosure = feed.entries[0]
        .links
        .iter()
        .find(|l| l.rel.as_deref() == Some("enclosure"))
        .expect("an enclosure");
    assert_eq!(
        enclosure.href,
        format!("https://stadt.example/m/{code}/datei")
    );
    assert_eq!(enclosure.length, Some(kept.len() as u64));
}

/// A photo message to the bot (the real one in tests/fixtures) from `who`, its largest size
/// being the file `file_id`.
fn photo_update(who: i64, file_id: &str, caption: &str) -> Value {
    let raw = std::fs::read_to_string(format!(
        "{}/tests/fixtures/telegram/message_photo_with_caption.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("the fixture");
    let mut message: Value = serde_json::from_str(&raw).expect("JSON");
    message["from"]["id"] = json!(who);
    message["chat"]["id"] = json!(who);
    if let Some(sizes) = message["photo"].as_array_mut()
        && let Some(largest) = sizes.last_mut()
    {
        largest["file_id"] = json!(file_id);
    }
    message["caption"] = json!(caption);
    message["caption_entities"] = json!([]);
    json!({"message": message})
}

/// Waits until `n` citizens (not Paula, 900, who sees the preview's picture) have the picture
/// with the text starting with `text`.
async fn pictures_arrive(sim: &amtsbote::simulator::Simulator, text: &str, n: usize) {
    let (s, text) = (sim.clone(), text.to_string());
    wait_until(
        Duration::from_secs(30),
        "the picture reached everyone",
        move || {
            let (s, text) = (s.clone(), text.clone());
            async move {
                s.received()
                    .iter()
                    .filter(|r| {
                        r.text.starts_with(&text) && r.media.is_some() && &*r.address != "900"
                    })
                    .count()
                    == n
            }
        },
    )
    .await;
}

async fn staff_attach_a_picture_in_the_chat_with_the_command_as_its_caption(db: TestDb) {
    use amtsbote::domain::Role;
    seed(&*db.store, 2, 1, &["news"]).await;
    db.store
        .set_staff(ChannelKind::Telegram, "900", Role::Press, Some("Paula"))
        .await
        .expect("staff");
    db.store
        .set_staff(
            ChannelKind::Whatsapp,
            "4915199990000",
            Role::Press,
            Some("Willi"),
        )
        .await
        .expect("staff");
    let svc = Service::start(&db, false, &[]).await;

    // A citizen's photo, even with a command as caption, is neither fetched nor kept.
    let theirs = svc
        .sim
        .offer_file(ChannelKind::Telegram, gps_photo(), "image/jpeg");
    svc.sim
        .push_update(photo_update(1000, &theirs, "/meldung news Hallo"));
    crate::helpers::message_to(&svc.sim, "1000", "Bilder und Dateien").await;
    // Staff without an alternative text: told how, nothing fetched.
    let file = svc
        .sim
        .offer_file(ChannelKind::Telegram, gps_photo(), "image/jpeg");
    svc.sim.push_update(photo_update(
        900,
        &file,
        "/announce news Die Umleitung ab Montag.",
    ));
    crate::helpers::message_to(&svc.sim, "900", "alternative text").await;
    assert_eq!(svc.sim.file_fetches(), 0, "nothing fetched");

    // With it: fetched once, cleaned, previewed with the picture's facts, confirmed, sent.
    svc.sim.push_update(photo_update(
        900,
        &file,
        "/announce news Die Umleitung ab Montag.\nPicture: Plan der Umleitung über die Ringstraße",
    ));
    let preview = crate::helpers::message_to(&svc.sim, "900", "/confirm").await;
    assert!(
        preview.text.contains("Picture: 640 × 480 pixels")
            && preview
                .text
                .contains("Plan der Umleitung über die Ringstraße"),
        "{}",
        preview.text
    );
    assert!(
        !preview.text.contains("Picture: Plan"),
        "the alt line is not part of the text: {}",
        preview.text
    );
    assert_eq!(svc.sim.file_fetches(), 1);
    // The picture itself comes first, with the text as its caption, as citizens will see it.
    let to_paula: Vec<_> = svc
        .sim
        .received()
        .into_iter()
        .filter(|r| &*r.address == "900")
        .collect();
    let shown = to_paula
        .iter()
        .position(|r| r.media.is_some() && &*r.text == "Die Umleitung ab Montag.");
    let previewed = to_paula.iter().position(|r| r.text.contains("/confirm"));
    assert!(
        shown.is_some() && shown < previewed,
        "the picture, then the preview: {to_paula:?}"
    );
    let code = crate::helpers::confirm_code(&preview.text);
    svc.sim
        .push_update(crate::telegram::message(900, &format!("/confirm {code}")));
    pictures_arrive(&svc.sim, "Die Umleitung ab Montag.", 3).await;
    let uploads = svc.sim.uploads(ChannelKind::Telegram);
    assert_eq!(uploads.len(), 1);
    assert_eq!(
        exif_gps(&uploads[0].bytes).ok().flatten(),
        None,
        "no position in what was sent"
    );

    // On WhatsApp: an image with the command as caption (the real webhook's shape).
    let wa_file = svc
        .sim
        .offer_file(ChannelKind::Whatsapp, pdf(), "application/pdf");
    let raw = std::fs::read_to_string(format!(
        "{}/tests/fixtures/whatsapp/webhook_message_image.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("the fixture");
    let mut body: Value = serde_json::from_str(&raw).expect("JSON");
    let m = &mut body["entry"][0]["changes"][0]["value"]["messages"][0];
    m["from"] = json!("4915199990000");
    m["type"] = json!("document");
    m["document"] = json!({
        "id": wa_file, "mime_type": "application/pdf", "filename": "Allgemeinverfügung.pdf",
        "caption": "/meldung news Die Allgemeinverfügung im Wortlaut."
    });
    if let Some(o) = m.as_object_mut() {
        o.remove("image");
    }
    assert_eq!(svc.webhook(&body).await, reqwest::StatusCode::OK);
    let preview = crate::helpers::message_to(&svc.sim, "4915199990000", "Dokument").await;
    assert!(
        preview.text.contains("Allgemeinverfügung.pdf"),
        "{}",
        preview.text
    );
    assert_eq!(svc.sim.file_fetches(), 2);
}

/// A text drafted first, the picture after: a photo sent as a reply to the draft's preview
/// joins that draft (Telegram sends the preview's buttons with the reply). The old code stops
/// working; the new preview names the picture and sends it.
async fn staff_attach_a_picture_by_replying_to_a_drafts_preview(db: TestDb) {
    use amtsbote::domain::Role;
    seed(&*db.store, 2, 0, &["news"]).await;
    db.store
        .set_staff(ChannelKind::Telegram, "900", Role::Press, Some("Paula"))
        .await
        .expect("staff");
    let svc = Service::start(&db, false, &[]).await;
    const TEXT: &str = "Die Umleitung ab Montag führt über die Ringstraße.";
    svc.sim.push_update(crate::telegram::message(
        900,
        &format!("/announce news {TEXT}"),
    ));
    let draft = crate::helpers::message_to(&svc.sim, "900", "/confirm").await;
    let old_code = crate::helpers::confirm_code(&draft.text);
    let replying = |caption: &str, file: &str| {
        let mut update = photo_update(900, file, caption);
        update["message"]["reply_to_message"] = json!({
            "message_id": 7,
            "from": {"id": 42, "is_bot": true, "first_name": "Stadt"},
            "chat": {"id": 900, "type": "private", "first_name": "Paula"},
            "date": 1_700_000_000,
            "text": draft.text.to_string(),
            "reply_markup": draft.markup.as_deref().cloned().expect("the preview's buttons"),
        });
        update
    };
    let file = svc
        .sim
        .offer_file(ChannelKind::Telegram, gps_photo(), "image/jpeg");
    // Without its alternative text: told how, nothing fetched, the draft as it was.
    svc.sim.push_update(replying("", &file));
    crate::helpers::message_to(&svc.sim, "900", "alternative text").await;
    assert_eq!(svc.sim.file_fetches(), 0);

    svc.sim
        .push_update(replying("Picture: Plan der Umleitung", &file));
    let preview = crate::helpers::message_to(&svc.sim, "900", "640 × 480").await;
    assert!(
        preview.text.contains(TEXT) && preview.text.contains("Plan der Umleitung"),
        "{}",
        preview.text
    );
    let code = crate::helpers::confirm_code(&preview.text);
    assert_ne!(code, old_code, "a new draft, a new code");
    svc.sim.push_update(crate::telegram::message(
        900,
        &format!("/confirm {old_code}"),
    ));
    let answer = crate::helpers::message_to(&svc.sim, "900", "is unknown").await;
    assert!(answer.text.contains(&old_code), "{}", answer.text);
    svc.sim
        .push_update(crate::telegram::message(900, &format!("/confirm {code}")));
    pictures_arrive(&svc.sim, TEXT, 2).await;
    assert_eq!(svc.sim.uploads(ChannelKind::Telegram).len(), 1);
    assert_eq!(
        svc.sim
            .received()
            .iter()
            .filter(|r| r.text.starts_with(TEXT) && &*r.address != "900")
            .count(),
        2,
        "only the draft with the picture went out"
    );
}
