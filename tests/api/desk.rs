//! The desk (issue 25): a department drafts, the press office edits and approves, the author
//! is told; whatever else a department tries is refused through every way in (chat, API, CLI,
//! dashboard) with nothing created. On the whole service as `run` starts it, fake Telegram.

use std::time::Duration;

use amtsbote::domain::{BroadcastStatus, ChannelKind, Desk, Role};
use amtsbote::store::Broadcast;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    EMERGENCY_TOKEN, PRESS_TOKEN, Service, TestDb, amtsbote, broadcasts_on, button, message_to,
    run_sql, seed, wait_until,
};
use crate::telegram::{message, press};

crate::helpers::on_both_stores!(
    a_departments_draft_is_edited_by_one_press_member_approved_by_another_and_its_author_told,
    a_rejected_draft_tells_its_author_why_and_an_old_one_is_dropped_with_a_note,
    a_template_is_kept_in_versions_and_filled_in_the_chat_and_on_the_dashboard_never_half,
    the_team_changes_through_the_api_for_an_admin_token_only,
    a_whatsapp_approver_finds_the_dashboards_link_in_the_text,
);

const TINA_TOKEN: &str = "tiefbauamt-token-0123456789";
const IT_TOKEN: &str = "stadt-it-token-0123456789abc";
const DASHBOARD: &str = "http://dashboard.example";
const DRAFT: &str = "Vollsperrung Hauptstraße ab Montag.";
const EDITED: &str = "Vollsperrung der Hauptstraße ab Montag, 8 Uhr. Umleitung ist ausgeschildert.";

/// Tina (701) of the Tiefbauamt, who drafts on traffic, as the policy sees her.
async fn tina_of_the_tiefbauamt(db: &TestDb) -> amtsbote::domain::Actor {
    db.store
        .set_staff(
            ChannelKind::Telegram,
            "701",
            Role::Contributor,
            Some("Tina"),
        )
        .await
        .expect("staff");
    let desk = Desk {
        department: "Tiefbauamt".into(),
        topics: vec!["traffic".into()],
    };
    db.store.set_desk("Tina", &desk).await.expect("desk");
    amtsbote::domain::Actor::Staff {
        person: "Tina".into(),
        role: Role::Contributor,
        channel: ChannelKind::Telegram,
        address: "701".into(),
    }
}

/// Tina (701) of the Tiefbauamt drafts on traffic; Paula (702) and Pia (703) are the press
/// office. Tina's API token is hers.
async fn desk_service(db: &TestDb) -> Service {
    tina_of_the_tiefbauamt(db).await;
    for (address, person) in [("702", "Paula"), ("703", "Pia")] {
        db.store
            .set_staff(ChannelKind::Telegram, address, Role::Press, Some(person))
            .await
            .expect("staff");
    }
    let file = format!(
        "[[api.tokens]]\nname = \"tiefbauamt\"\ntoken = \"{TINA_TOKEN}\"\nrole = \"contributor\"\nperson = \"Tina\"\n\
         [[api.tokens]]\nname = \"stadt-it\"\ntoken = \"{IT_TOKEN}\"\nrole = \"admin\"\n"
    );
    Service::start_with_file(
        db,
        false,
        &[("AMTSBOTE_DASHBOARD_PUBLIC_URL", DASHBOARD)],
        Some(&file),
    )
    .await
}

/// Every broadcast there is, newest first.
async fn all(db: &TestDb) -> Vec<Broadcast> {
    db.store.list_broadcasts(100).await.expect("broadcasts")
}

/// Waits until `to` got a message containing every one of `needles`.
async fn told(svc: &Service, to: &str, needles: &[&str]) {
    let (sim, to) = (svc.sim.clone(), to.to_string());
    let needles: Vec<String> = needles.iter().map(|n| n.to_string()).collect();
    wait_until(
        Duration::from_secs(20),
        &format!("a message to {to} with {needles:?}"),
        move || {
            let (sim, to, needles) = (sim.clone(), to.clone(), needles.clone());
            async move {
                sim.received()
                    .iter()
                    .any(|r| *r.address == to && needles.iter().all(|n| r.text.contains(n)))
            }
        },
    )
    .await;
}

/// Waits until `to` got `n` messages containing one of `needles` (the same text in German or
/// English: a staff member's replies follow their language).
async fn told_times(svc: &Service, to: &str, needles: &[&str], n: usize) {
    let (sim, to) = (svc.sim.clone(), to.to_string());
    let needles: Vec<String> = needles.iter().map(|n| n.to_string()).collect();
    wait_until(Duration::from_secs(20), "the refusals", move || {
        let (sim, to, needles) = (sim.clone(), to.clone(), needles.clone());
        async move {
            sim.received()
                .iter()
                .filter(|r| *r.address == to && needles.iter().any(|n| r.text.contains(n)))
                .count()
                >= n
        }
    })
    .await;
}

/// Signs the Telegram staff address in to the dashboard: the session cookie and a CSRF token.
pub(crate) async fn dashboard_session(
    db: &TestDb,
    svc: &Service,
    address: &str,
) -> (String, String) {
    let sign_in = amtsbote::services::SignIn::new(
        db.store.clone(),
        &url::Url::parse(DASHBOARD).expect("url"),
        std::sync::Arc::new(amtsbote::domain::time::SystemClock),
    );
    let link = sign_in
        .login_link(ChannelKind::Telegram, address)
        .await
        .expect("link")
        .expect("staff");
    let token = link.rsplit('=').next().unwrap_or_default().to_string();
    let client = no_redirects();
    let answer = client
        .post(format!("{}/dashboard/login", svc.admin))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("sign-in");
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let cookie = answer.headers()["set-cookie"]
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let page = client
        .get(format!("{}/dashboard/compose", svc.admin))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("compose page")
        .text()
        .await
        .unwrap_or_default();
    let at = page.find("name=\"csrf\" value=\"").expect("a form") + 19;
    let csrf = page[at..].split('"').next().unwrap_or_default().to_string();
    (cookie, csrf)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Posts a dashboard form as the signed-in person: the status and the page.
pub(crate) async fn dashboard_post(
    svc: &Service,
    session: &(String, String),
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut form: Vec<(&str, &str)> = vec![("csrf", session.1.as_str())];
    form.extend_from_slice(fields);
    let answer = no_redirects()
        .post(format!("{}{path}", svc.admin))
        .header("cookie", &session.0)
        .form(&form)
        .send()
        .await
        .expect("dashboard answers");
    let status = answer.status();
    (status, answer.text().await.unwrap_or_default())
}

/// Runs the CLI against the test's database: its exit code and what it wrote to stderr.
async fn cli(db: &TestDb, args: &[&str]) -> (Option<i32>, String) {
    let out = amtsbote()
        .env("AMTSBOTE_DATABASE_URL", &db.url)
        .args(args)
        .output()
        .await
        .expect("the CLI runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Everything a department may not do, through every way in, while its draft `id` waits with
/// the approval `code`: each is refused with words that say why, and nothing is created or
/// changed.
async fn a_department_is_refused_everything_but_drafting(
    db: &TestDb,
    svc: &Service,
    id: i64,
    code: &str,
) {
    let before = all(db).await;

    // The chat: send, alert, stop, approve with the press office's code, another topic.
    for text in [
        "/meldung traffic Baustelle fertig".to_string(),
        "/warnung Wasserrohrbruch".to_string(),
        format!("/stop_broadcast {id}"),
        format!("/confirm {code}"),
    ] {
        svc.sim.push_update(message(701, &text));
    }
    let drafts_only = ["only the press office sends", "darf nur die Pressestelle"];
    told_times(svc, "701", &drafts_only, 4).await;
    svc.sim
        .push_update(message(701, "/entwurf news Stadtfest am Sonntag"));
    told_times(
        svc,
        "701",
        &["may not write drafts on this topic", "keine Entwürfe"],
        1,
    )
    .await;

    // The API, with Tina's own token.
    for (path, body) in [
        (
            "/api/v1/broadcasts".to_string(),
            Some(json!({"topic": "traffic", "text": "Baustelle fertig"})),
        ),
        (
            "/api/v1/broadcasts".to_string(),
            Some(json!({"topic": "alerts", "text": "Wasserrohrbruch"})),
        ),
        (format!("/api/v1/broadcasts/{id}/cancel"), None),
        (format!("/api/v1/broadcasts/{id}/approve"), None),
        (
            "/api/v1/drafts".to_string(),
            Some(json!({"topic": "news", "text": "Stadtfest"})),
        ),
    ] {
        let (status, answer) = svc.api(Method::POST, &path, TINA_TOKEN, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("contributor") || error.contains("department"),
            "{path}: {error}"
        );
    }

    // The CLI, as Tina.
    for args in [
        vec![
            "--as",
            "Tina",
            "broadcast",
            "--topic",
            "traffic",
            "--text",
            "Baustelle",
            "--yes",
        ],
        vec!["--as", "Tina", "cancel", &id.to_string()],
        vec![
            "--as",
            "Tina",
            "draft",
            "--topic",
            "news",
            "--text",
            "Stadtfest",
        ],
    ]
    .iter()
    .map(|a| a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stderr) = cli(db, &args).await;
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("contributor") || stderr.contains("department"),
            "{args:?}: {stderr}"
        );
    }

    // The dashboard, signed in as Tina.
    let tina = dashboard_session(db, svc, "701").await;
    let id_path = |action: &str| format!("/dashboard/broadcasts/{id}/{action}");
    for (path, fields) in [
        (
            "/dashboard/compose".to_string(),
            vec![
                ("topic", "traffic"),
                ("text", "Baustelle fertig"),
                ("when", "now"),
                ("action", "send"),
            ],
        ),
        (
            "/dashboard/compose".to_string(),
            vec![
                ("topic", "news"),
                ("text", "Stadtfest"),
                ("when", "now"),
                ("action", "propose"),
            ],
        ),
        (id_path("approve"), vec![]),
        (id_path("cancel"), vec![]),
        (id_path("reject"), vec![("reason", "nein")]),
    ] {
        let (status, page) = dashboard_post(svc, &tina, &path, &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} {fields:?}: {page}");
        assert!(
            page.contains("Fachabteilung") || page.contains("Abteilung"),
            "{path}: {page}"
        );
    }

    let after = all(db).await;
    assert_eq!(after.len(), before.len(), "nothing was created");
    let draft = db.store.broadcast(id).await.unwrap().expect("the draft");
    assert_eq!(draft.status, BroadcastStatus::AwaitingApproval);
    assert_eq!(draft.text, DRAFT, "and nothing changed");
}

/// What must show: a department drafts a traffic notice in the chat; both press members get
/// it; one edits, the other approves; it goes out with the edited text; the author is told of
/// the change and the release; the audit log shows three people.
async fn a_departments_draft_is_edited_by_one_press_member_approved_by_another_and_its_author_told(
    db: TestDb,
) {
    seed(&*db.store, 2, 1, &["traffic"]).await;
    let svc = desk_service(&db).await;

    svc.sim
        .push_update(message(701, &format!("/entwurf traffic {DRAFT}")));
    let paula = message_to(&svc.sim, "702", DRAFT).await;
    let pia = message_to(&svc.sim, "703", DRAFT).await;
    assert!(paula.text.contains("Tiefbauamt"), "{}", paula.text);
    let drafts: Vec<Broadcast> = all(&db)
        .await
        .into_iter()
        .filter(|b| b.status == BroadcastStatus::AwaitingApproval)
        .collect();
    assert_eq!(drafts.len(), 1);
    let id = drafts[0].id;
    told(&svc, "701", &[&format!("#{id}")]).await;
    let approve = button(&pia.markup, "c:");
    let code = approve.trim_start_matches("c:").to_string();
    // Beside Approve and Drop, Open: a link button to the draft on the dashboard.
    let open: Vec<(String, String)> = pia
        .markup
        .as_ref()
        .and_then(|m| m["inline_keyboard"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .filter_map(|b| {
            Some((
                b["text"].as_str()?.to_string(),
                b["url"].as_str()?.to_string(),
            ))
        })
        .collect();
    assert_eq!(
        open,
        [(
            "Öffnen".to_string(),
            format!("{DASHBOARD}/dashboard/approvals#approval-{id}")
        )],
        "{:?}",
        pia.markup
    );

    a_department_is_refused_everything_but_drafting(&db, &svc, id, &code).await;

    // Paula edits; Tina hears what changed.
    svc.sim
        .push_update(message(702, &format!("/bearbeiten {id} {EDITED}")));
    told(&svc, "702", &[&format!("#{id}")]).await;
    told(&svc, "701", &[EDITED, DRAFT]).await;

    // Pia approves with the button of her request: it goes out as edited.
    svc.sim.push_update(press(703, &approve));
    svc.wait_done(id, Duration::from_secs(20)).await;
    assert_eq!(
        svc.sim.count_text(EDITED),
        [(ChannelKind::Telegram, 2), (ChannelKind::Whatsapp, 1)].into(),
        "{:?}",
        svc.sim.received()
    );
    let sent = db.store.broadcast(id).await.unwrap().expect("sent");
    assert_eq!(sent.text, EDITED);
    assert_eq!(sent.approved_by.as_deref(), Some("person:Pia"));
    let (sim, to) = (svc.sim.clone(), "701".to_string());
    let needle = format!("#{id}");
    wait_until(
        Duration::from_secs(20),
        "Tina told of the release",
        move || {
            let (sim, to, needle) = (sim.clone(), to.clone(), needle.clone());
            async move {
                sim.received().iter().any(|r| {
                    *r.address == to
                        && r.text.contains(&needle)
                        && (r.text.contains("freigegeben") || r.text.contains("approved"))
                })
            }
        },
    )
    .await;

    // Who wrote, who changed, who released.
    let audit = db.store.audit_log(100).await.unwrap();
    let by = |action: &str| {
        audit
            .iter()
            .find(|e| e.action == action && e.detail.contains(&format!("broadcast {id}")))
            .map(|e| e.actor.clone())
            .unwrap_or_default()
    };
    assert!(by("submit").starts_with("Tina"), "{audit:?}");
    assert!(by("edit").starts_with("Paula"), "{audit:?}");
    assert!(by("approve").starts_with("Pia"), "{audit:?}");
}

/// A press member rejects with a reason the author is told; a draft older than
/// `drafts.expire_days` is dropped by housekeeping with a note to its author.
async fn a_rejected_draft_tells_its_author_why_and_an_old_one_is_dropped_with_a_note(db: TestDb) {
    seed(&*db.store, 1, 0, &["traffic"]).await;
    // An old draft, written before the service starts (its housekeeping looks at once).
    let tina = tina_of_the_tiefbauamt(&db).await;
    let old = broadcasts_on(db.store.clone(), None, false)
        .propose(&tina, "traffic", "Gehweg Lindenallee gesperrt.")
        .await
        .expect("a draft")
        .broadcast
        .id;
    run_sql(
        &db,
        &format!(
            "UPDATE broadcasts SET created_at = created_at - {} WHERE id = {old}",
            15 * 86_400_000_i64
        ),
    )
    .await;
    let svc = desk_service(&db).await;
    told(&svc, "701", &[&format!("#{old}"), "14"]).await;
    assert_eq!(
        db.store.broadcast(old).await.unwrap().expect("kept").status,
        BroadcastStatus::Cancelled
    );

    // A new one through the API, with Tina's token; Paula turns it down on the dashboard.
    let (status, created) = svc
        .api(
            Method::POST,
            "/api/v1/drafts",
            TINA_TOKEN,
            Some(json!({"topic": "traffic", "text": "Baustelle Ringstraße"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "awaiting_approval");
    let id = created["id"].as_i64().expect("an id");
    message_to(&svc.sim, "702", "Baustelle Ringstraße").await;
    let paula = dashboard_session(&db, &svc, "702").await;
    let (status, page) = dashboard_post(
        &svc,
        &paula,
        &format!("/dashboard/broadcasts/{id}/reject"),
        &[("reason", "Bitte mit Dauer der Sperrung")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    told(
        &svc,
        "701",
        &[&format!("#{id}"), "Bitte mit Dauer der Sperrung"],
    )
    .await;
    assert_eq!(
        db.store.broadcast(id).await.unwrap().expect("kept").status,
        BroadcastStatus::Cancelled
    );
    let stats = db.store.broadcast_stats(id).await.unwrap();
    assert_eq!(
        amtsbote::domain::DeliveryStatus::ALL
            .iter()
            .map(|s| stats.total(*s))
            .sum::<u64>(),
        0,
        "no citizen got it"
    );
}

/// Text templates: saved in versions by those who may send on the topic (an alert template by
/// the emergency staff), filled in with `/vorlage` and on the compose page; a field left empty
/// refuses and creates nothing.
async fn a_template_is_kept_in_versions_and_filled_in_the_chat_and_on_the_dashboard_never_half(
    db: TestDb,
) {
    seed(&*db.store, 1, 0, &["traffic"]).await;
    let svc = desk_service(&db).await;
    let save =
        |token: &'static str, name: &'static str, topic: &'static str, text: &'static str| {
            svc.api(
                Method::POST,
                "/api/v1/templates",
                token,
                Some(json!({"name": name, "topic": topic, "text": text})),
            )
        };
    let (status, v1) = save(
        PRESS_TOKEN,
        "vollsperrung",
        "traffic",
        "Vollsperrung {strasse}.",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v1}");
    assert_eq!(v1["version"], 1);
    let (status, v2) = save(
        PRESS_TOKEN,
        "vollsperrung",
        "traffic",
        "Vollsperrung {strasse} von {von} bis {bis}, Umleitung ist ausgeschildert.",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v2}");
    assert_eq!(
        (v2["version"].clone(), v2["fields"].clone()),
        (json!(2), json!(["strasse", "von", "bis"]))
    );
    let fire = "Brand in {ort}: Fenster und Türen geschlossen halten. {hinweis}";
    let (status, refused) = save(PRESS_TOKEN, "brand", "alerts", fire).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, _) = save(EMERGENCY_TOKEN, "brand", "alerts", fire).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = save(TINA_TOKEN, "baustelle", "traffic", "Baustelle {ort}.").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a department keeps no templates"
    );
    let (status, broken) = save(PRESS_TOKEN, "kaputt", "traffic", "Sperrung {strasse").await;
    assert_eq!(
        (status, broken["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("text"))
    );
    let (_, list) = svc
        .api(Method::GET, "/api/v1/templates", PRESS_TOKEN, None)
        .await;
    let names: Vec<(String, i64)> = list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_string(),
                t["version"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [("brand".to_string(), 1), ("vollsperrung".to_string(), 2)]
    );

    // The chat: a missing field refuses, naming it, and creates nothing.
    svc.sim.push_update(message(
        702,
        "/vorlage vollsperrung strasse=Hauptstraße von=Montag",
    ));
    told(&svc, "702", &["bis"]).await;
    assert!(all(&db).await.is_empty(), "nothing was created");
    svc.sim.push_update(message(
        702,
        "/vorlage vollsperrung strasse=Hauptstraße von=Montag 8 Uhr bis=Freitag",
    ));
    let filled =
        "Vollsperrung Hauptstraße von Montag 8 Uhr bis Freitag, Umleitung ist ausgeschildert.";
    message_to(&svc.sim, "702", filled).await;
    let drafts = all(&db).await;
    assert_eq!(drafts.len(), 1);
    assert_eq!(
        (drafts[0].status, drafts[0].text.as_str()),
        (BroadcastStatus::Draft, filled)
    );
    // A department's filled-in template is its draft for the press office.
    svc.sim.push_update(message(
        701,
        "/vorlage vollsperrung strasse=Ring von=Mo bis=Di",
    ));
    message_to(&svc.sim, "703", "Vollsperrung Ring von Mo bis Di").await;

    // The dashboard: a field per placeholder; empty refuses, full fills the compose form.
    let paula = dashboard_session(&db, &svc, "702").await;
    let page = |query: &'static str| {
        let cookie = paula.0.clone();
        let url = format!("{}/dashboard/compose?{query}", svc.admin);
        async move {
            let answer = no_redirects()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .expect("compose page");
            let status = answer.status();
            (status, answer.text().await.unwrap_or_default())
        }
    };
    let (status, form) = page("vorlage=vollsperrung").await;
    assert_eq!(status, StatusCode::OK);
    for field in ["f_strasse", "f_von", "f_bis"] {
        assert!(form.contains(&format!("name=\"{field}\"")), "{form}");
    }
    let (status, half) = page("vorlage=vollsperrung&fill=1&f_strasse=Ring&f_von=Mo&f_bis=").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        half.contains("template-error") && half.contains("bis"),
        "{half}"
    );
    let (status, full) = page("vorlage=vollsperrung&fill=1&f_strasse=Ring&f_von=Mo&f_bis=Di").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        full.contains("Vollsperrung Ring von Mo bis Di, Umleitung ist ausgeschildert."),
        "{full}"
    );
    // An alert template saved without a text has the control room's fields, each with its
    // German label on the compose page.
    let (status, alert) = save(EMERGENCY_TOKEN, "leitstelle", "alerts", "").await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    assert_eq!(
        alert["fields"],
        json!([
            "event",
            "areaDesc",
            "description",
            "instruction",
            "senderName"
        ])
    );
    let (status, form) = page("vorlage=leitstelle").await;
    assert_eq!(status, StatusCode::OK);
    for (field, label) in [
        ("event", "Ereignis"),
        ("areaDesc", "Ort"),
        ("description", "Gefahr"),
        ("instruction", "Handlungsempfehlung"),
        ("senderName", "Quelle"),
    ] {
        assert!(
            form.contains(&format!("<label for=\"f-{field}\">{label}")),
            "{field}: {form}"
        );
    }
    let (status, filled) = page("vorlage=leitstelle&fill=1&f_event=Gro%C3%9Fbrand&f_areaDesc=Weststadt&f_description=Rauch&f_instruction=Fenster%20schlie%C3%9Fen&f_senderName=Feuerwehr").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        filled.contains("Großbrand – Weststadt\nRauch\nFenster schließen\nFeuerwehr"),
        "{filled}"
    );
    let (status, _) = dashboard_post(
        &svc,
        &paula,
        "/dashboard/textbausteine",
        &[
            ("name", "vollsperrung"),
            ("topic", "traffic"),
            ("text", "Vollsperrung {strasse} bis {bis}."),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let newest = db
        .store
        .template("vollsperrung")
        .await
        .unwrap()
        .expect("kept");
    assert_eq!(
        (newest.version, newest.saved_by.as_str()),
        (3, "Paula (telegram:702)")
    );
    let audit = db.store.audit_log(100).await.unwrap();
    assert_eq!(
        audit.iter().filter(|e| e.action == "template").count(),
        5,
        "{audit:?}"
    );
}

/// The team through the API: only an admin token adds or removes anyone (the same team
/// service and policy as the CLI and the dashboard); bad input names its field, an address of
/// someone else is a conflict, and a refusal creates nothing.
async fn the_team_changes_through_the_api_for_an_admin_token_only(db: TestDb) {
    seed(&*db.store, 1, 0, &["traffic"]).await;
    let svc = desk_service(&db).await;
    let theo = json!({
        "channel": "telegram", "address": "930", "role": "contributor", "person": "Theo",
        "department": "Stadtbibliothek", "topics": ["traffic"],
    });
    let add = |token: &'static str, body: serde_json::Value| {
        svc.api(Method::POST, "/api/v1/staff", token, Some(body))
    };
    for token in [PRESS_TOKEN, EMERGENCY_TOKEN, TINA_TOKEN] {
        let (status, refused) = add(token, theo.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    }
    assert!(
        db.store
            .staff_member(ChannelKind::Telegram, "930")
            .await
            .unwrap()
            .is_none(),
        "a refusal creates nothing"
    );
    for (field, value) in [
        ("address", json!("+49 170")),
        ("topics", json!(["gibtsnicht"])),
        ("role", json!("chef")),
        ("person", json!("telegram:1")),
    ] {
        let mut bad = theo.clone();
        bad[field] = value;
        let (status, refused) = add(IT_TOKEN, bad).await;
        assert_eq!(
            (status, refused["field"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!(field)),
            "{refused}"
        );
    }
    let mut taken = theo.clone();
    taken["address"] = json!("702");
    let (status, conflict) = add(IT_TOKEN, taken).await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert!(
        conflict["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Paula")
    );

    let (status, added) = add(IT_TOKEN, theo.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(
        added,
        json!({"person": "Theo", "channel": "telegram", "address": "930", "role": "contributor"})
    );
    assert_eq!(
        db.store.desk("Theo").await.unwrap().map(|d| d.department),
        Some("Stadtbibliothek".into())
    );
    let remove = |token: &'static str| svc.api(Method::DELETE, "/api/v1/staff/Theo", token, None);
    assert_eq!(remove(PRESS_TOKEN).await.0, StatusCode::FORBIDDEN);
    assert_eq!(remove(IT_TOKEN).await.0, StatusCode::NO_CONTENT);
    assert_eq!(remove(IT_TOKEN).await.0, StatusCode::NOT_FOUND);
    let audit = db.store.audit_log(20).await.unwrap();
    for action in ["staff-add", "staff-remove"] {
        assert!(
            audit
                .iter()
                .any(|e| e.action == action && e.actor == "api:stadt-it"),
            "{action}: {audit:?}"
        );
    }
}

/// WhatsApp's buttons carry no links: an approver there is asked with Approve and Drop as
/// buttons and the link to the dashboard in the text.
async fn a_whatsapp_approver_finds_the_dashboards_link_in_the_text(db: TestDb) {
    db.store
        .set_staff(
            ChannelKind::Whatsapp,
            "4917000915",
            Role::Emergency,
            Some("Lea"),
        )
        .await
        .expect("staff");
    let svc = Service::start(
        &db,
        true,
        &[
            ("AMTSBOTE_DASHBOARD_PUBLIC_URL", DASHBOARD),
            ("AMTSBOTE_API_EMERGENCY_TOKEN_PERSON", "Emil"),
        ],
    )
    .await;
    let (status, alert) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            EMERGENCY_TOKEN,
            Some(json!({"topic": "alerts", "text": "Gasaustritt Lindenallee"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    let id = alert["id"].as_i64().unwrap_or_default();
    let asked = message_to(&svc.sim, "4917000915", "Gasaustritt Lindenallee").await;
    assert!(
        asked
            .text
            .contains(&format!("{DASHBOARD}/dashboard/approvals#approval-{id}")),
        "{}",
        asked.text
    );
    let markup = asked
        .markup
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(
        markup.contains("\"reply\"") && !markup.contains("\"url\"") && !markup.contains("o:http"),
        "reply buttons only: {markup}"
    );
}
