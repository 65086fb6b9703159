//! Areas: targets by district, circle and polygon reach exactly the citizens they should (by a
//! chosen district, by a kept place inside, or because they chose no area), on both stores;
//! bad targets are refused naming the field.

use std::collections::BTreeSet;
use std::time::Duration;

use amtsbote::domain::ChannelKind;
use amtsbote::domain::area::{Coordinates, Place};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{EMERGENCY_TOKEN, PRESS_TOKEN, Service, TestDb, seed};

crate::helpers::on_both_stores!(
    targets_reach_their_districts_the_places_inside_and_those_without_an_area,
    bad_targets_are_refused_naming_the_field,
    citizens_choose_districts_and_share_locations_in_the_chat,
    staff_name_districts_in_the_chat_and_the_preview_counts_each_group,
    emergency_staff_on_site_aim_an_alert_at_a_radius_around_their_location,
);

/// Regensburg's 18 Stadtbezirke, as the city publishes them (id `sbz`, name `name`).
pub fn regensburg_settings() -> [(&'static str, &'static str); 3] {
    [
        (
            "AMTSBOTE_AREAS_FILE",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/districts/regensburg_stadtbezirke.geojson"
            ),
        ),
        ("AMTSBOTE_AREAS_ID_PROPERTY", "sbz"),
        ("AMTSBOTE_AREAS_NAME_PROPERTY", "name"),
    ]
}

/// Near the cathedral, in the old town (district 01).
const DOM: (f64, f64) = (49.0195, 12.0975);
/// The university's campus, in Galgenberg (district 12).
const UNI: (f64, f64) = (48.9985, 12.0950);

async fn id(db: &TestDb, channel: ChannelKind, address: &str) -> i64 {
    db.store
        .subscriber(channel, address)
        .await
        .expect("store")
        .expect("subscriber")
        .id
}

/// Telegram 1000: districts 01 and 12. 1001: a kept place at the university, no district.
/// 1002: nothing chosen. 1003: district 15. 1004: a kept place by the cathedral.
/// WhatsApp …000: district 12; …001: nothing chosen.
async fn citizens(db: &TestDb) {
    seed(&*db.store, 5, 2, &["news"]).await;
    let tg = |a: &'static str| (ChannelKind::Telegram, a);
    for (who, area) in [(tg("1000"), "01"), (tg("1000"), "12"), (tg("1003"), "15")] {
        let s = id(db, who.0, who.1).await;
        db.store
            .set_subscriber_area(s, area, true)
            .await
            .expect("area");
    }
    let wa = id(db, ChannelKind::Whatsapp, "4915100000000").await;
    db.store
        .set_subscriber_area(wa, "12", true)
        .await
        .expect("area");
    for (address, (lat, lon)) in [("1001", UNI), ("1004", (49.0200, 12.0990))] {
        let s = id(db, ChannelKind::Telegram, address).await;
        let place = Place::rounded(Coordinates::new(lat, lon).expect("point"));
        db.store.keep_place(s, place, 0).await.expect("place");
    }
}

/// Who got `text`.
async fn reached(svc: &Service, text: &str, expected: usize) -> BTreeSet<String> {
    let (sim, needle) = (svc.sim.clone(), text.to_string());
    crate::helpers::wait_until(Duration::from_secs(20), text, move || {
        let (sim, needle) = (sim.clone(), needle.clone());
        async move { sim.received().iter().filter(|r| *r.text == *needle).count() >= expected }
    })
    .await;
    // Anything more would have come by now: the queue is empty once the broadcast is done.
    tokio::time::sleep(Duration::from_millis(300)).await;
    svc.sim
        .received()
        .iter()
        .filter(|r| *r.text == *text)
        .map(|r| r.address.to_string())
        .collect()
}

async fn targets_reach_their_districts_the_places_inside_and_those_without_an_area(db: TestDb) {
    citizens(&db).await;
    let mut svc = Service::start(&db, false, &regensburg_settings()).await;
    let nobody_chose = ["1002", "4915100000001"];
    let cases = [
        (
            "Innenstadt gesperrt",
            json!({"areas": ["Innenstadt"]}),
            // 1000 chose 01; 1004 keeps a place in it.
            vec!["1000", "1004"],
        ),
        (
            "Fliegerbombe am Dom",
            json!({"circle": {"lat": DOM.0, "lon": DOM.1, "radius_m": 300}}),
            vec!["1000", "1004"],
        ),
        (
            "Wasserrohrbruch an der Universität",
            json!({"polygon": {"type": "Polygon", "coordinates": [[
                [12.093, 48.997], [12.097, 48.997], [12.097, 49.000], [12.093, 49.000], [12.093, 48.997]
            ]]}}),
            // 1000 and WhatsApp …000 chose 12; 1001 keeps a place inside.
            vec!["1000", "1001", "4915100000000"],
        ),
        (
            "Zwei Baustellen",
            json!({"polygon": {"type": "MultiPolygon", "coordinates": [
                [[[12.093, 48.997], [12.097, 48.997], [12.097, 49.000], [12.093, 49.000], [12.093, 48.997]]],
                [[[12.098, 49.019], [12.100, 49.019], [12.100, 49.021], [12.098, 49.021], [12.098, 49.019]]]
            ]}}),
            // Both parts: 12 and 01 (1000, …000), the places at the university and the cathedral.
            vec!["1000", "1001", "1004", "4915100000000"],
        ),
    ];
    for (text, target, chosen) in cases {
        let (status, created) = svc
            .api(
                Method::POST,
                "/api/v1/broadcasts",
                PRESS_TOKEN,
                Some(json!({"topic": "news", "text": text, "target": target})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let expected: BTreeSet<String> = chosen
            .iter()
            .chain(nobody_chose.iter())
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            created["recipients"]["total"].as_u64(),
            Some(expected.len() as u64),
            "{text}: {created}"
        );
        assert_eq!(
            created["target"]["without_area"]["total"].as_u64(),
            Some(2),
            "{created}"
        );
        assert_eq!(
            reached(&svc, text, expected.len()).await,
            expected,
            "{text}"
        );
    }
    // Without a target: everyone.
    let (status, created) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            PRESS_TOKEN,
            Some(json!({"topic": "news", "text": "Stadtfest"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(reached(&svc, "Stadtfest", 7).await.len(), 7);

    let (status, areas) = svc
        .api(Method::GET, "/api/v1/areas", PRESS_TOKEN, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let list = areas["areas"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 18);
    let subscribers = |id: &str| {
        list.iter()
            .find(|a| a["id"] == id)
            .and_then(|a| a["subscribers"].as_u64())
    };
    assert_eq!(subscribers("12"), Some(2));
    assert_eq!(subscribers("01"), Some(1));
    assert_eq!(subscribers("02"), Some(0));
    svc.stop().await;
}

async fn bad_targets_are_refused_naming_the_field(db: TestDb) {
    seed(&*db.store, 1, 0, &["news"]).await;
    let mut svc = Service::start(&db, false, &regensburg_settings()).await;
    for (target, field) in [
        (json!({"areas": ["99"]}), "target.areas"),
        (json!({"areas": []}), "target.areas"),
        (
            json!({"circle": {"lat": DOM.0, "lon": DOM.1, "radius_m": 0}}),
            "target.circle.radius_m",
        ),
        (
            json!({"circle": {"lat": DOM.0, "lon": DOM.1, "radius_m": 50001}}),
            "target.circle.radius_m",
        ),
        (
            json!({"circle": {"lat": 48.137, "lon": 11.575, "radius_m": 1000}}),
            "target.circle",
        ),
        (
            json!({"circle": {"lat": 91, "lon": 12.1, "radius_m": 100}}),
            "target.circle",
        ),
        (
            json!({"polygon": {"type": "Polygon", "coordinates": [[
                [12.08, 49.01], [12.11, 49.03], [12.11, 49.01], [12.08, 49.03], [12.08, 49.01]
            ]]}}),
            "target.polygon",
        ),
        (
            // Parts of a MultiPolygon may not overlap.
            json!({"polygon": {"type": "MultiPolygon", "coordinates": [
                [[[12.093, 48.997], [12.097, 48.997], [12.097, 49.0], [12.093, 48.997]]],
                [[[12.093, 48.997], [12.097, 48.997], [12.097, 49.0], [12.093, 48.997]]]
            ]}}),
            "target.polygon",
        ),
        (json!({"square": 1}), "target"),
        (
            json!({"circle": {"lat": "x", "lon": 1, "radius_m": 1}}),
            "target",
        ),
    ] {
        let (status, answer) = svc
            .api(
                Method::POST,
                "/api/v1/broadcasts",
                PRESS_TOKEN,
                Some(json!({"topic": "news", "text": "x", "target": target})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{target}: {answer}"
        );
        assert_eq!(answer["field"], field, "{target}: {answer}");
    }
    assert!(db.store.list_broadcasts(10).await.expect("list").is_empty());
    svc.stop().await;
}

fn fixture(path: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("JSON")
}

/// A Telegram message from `user` sharing a location: the recorded `location` object (or, with
/// `venue`, the recorded venue with its location) at `(lat, lon)`.
fn telegram_location(
    user: i64,
    lat: serde_json::Value,
    lon: serde_json::Value,
    venue: bool,
) -> serde_json::Value {
    let mut u = crate::telegram::message(user, "");
    let m = u["message"].as_object_mut().expect("message");
    m.remove("text");
    m.remove("entities");
    let name = if venue {
        "sendVenue_response_ok.json"
    } else {
        "sendLocation_response_ok.json"
    };
    let recorded = fixture(&format!("telegram/{name}"))["result"].clone();
    let mut location = recorded["location"].clone();
    location["latitude"] = lat;
    location["longitude"] = lon;
    m.insert("location".into(), location.clone());
    if venue {
        let mut v = recorded["venue"].clone();
        v["location"] = location;
        m.insert("venue".into(), v);
    }
    u
}

/// A WhatsApp location message from `from` (the recorded one, or the answer to a location
/// request) at `(lat, lon)`.
fn whatsapp_location(
    from: &str,
    lat: serde_json::Value,
    lon: serde_json::Value,
    answer: bool,
) -> serde_json::Value {
    let name = if answer {
        "webhook_message_location_reply_to_request.json"
    } else {
        "webhook_message_location.json"
    };
    let mut v = fixture(&format!("whatsapp/{name}"));
    let m = &mut v["entry"][0]["changes"][0]["value"]["messages"][0];
    m["from"] = json!(from);
    m["id"] = json!(format!("wamid.test{}", rand::random::<u64>()));
    m["timestamp"] = json!((amtsbote::domain::now_ms() / 1000).to_string());
    m["location"]["latitude"] = lat;
    m["location"]["longitude"] = lon;
    v
}

/// The data of the first button sent to `to` whose data starts with `prefix`, after `needle`.
async fn button_data(svc: &Service, to: &str, needle: &str, prefix: &str) -> String {
    let r = crate::helpers::message_to(&svc.sim, to, needle).await;
    let markup = r.markup.clone().map(|m| m.to_string()).unwrap_or_default();
    let at = markup
        .find(&format!("\"{prefix}"))
        .unwrap_or_else(|| panic!("a {prefix} button in {markup}"));
    markup[at + 1..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Waits until a Telegram message in chat `chat` was edited to a text containing `needle` (the
/// keyboard under it changes in place).
async fn edited(svc: &Service, chat: &str, needle: &str) {
    let (sim, chat, needle) = (svc.sim.clone(), chat.to_string(), needle.to_string());
    crate::helpers::wait_until(Duration::from_secs(20), &needle.clone(), move || {
        let (sim, chat, needle) = (sim.clone(), chat.clone(), needle.clone());
        async move {
            sim.calls().iter().any(|c| {
                c.method == "editmessagetext"
                    && c.body["chat_id"].to_string().trim_matches('"') == chat
                    && c.body["text"].as_str().is_some_and(|t| t.contains(&needle))
            })
        }
    })
    .await;
}

async fn citizens_choose_districts_and_share_locations_in_the_chat(db: TestDb) {
    use crate::telegram::{message, press};
    use crate::whatsapp::{chooses, says};
    let mut svc = Service::start(&db, false, &regensburg_settings()).await;
    // 5001 picks two districts by keyboard, one of them on the third page.
    svc.sim.push_update(message(5001, "/start"));
    crate::helpers::message_to(&svc.sim, "5001", "/areas").await;
    svc.sim.push_update(message(5001, "/bezirke"));
    crate::helpers::message_to(&svc.sim, "5001", "Your districts: whole city").await;
    svc.sim.push_update(press(5001, "a:01"));
    edited(&svc, "5001", "Your districts: Innenstadt.").await;
    svc.sim.push_update(press(5001, "ap:2"));
    svc.sim.push_update(press(5001, "a:15"));
    edited(&svc, "5001", "Your districts: Innenstadt, Westenviertel.").await;
    // The share button asks for the location with Telegram's location button.
    svc.sim.push_update(press(5001, "al:"));
    let ask = crate::helpers::message_to(&svc.sim, "5001", "Send location").await;
    let keyboard = ask
        .markup
        .clone()
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(keyboard.contains("request_location"), "{keyboard}");

    // 5002 shares a location (a venue) by the cathedral and keeps the point.
    svc.sim.push_update(message(5002, "/start"));
    svc.sim.push_update(telegram_location(
        5002,
        json!(49.0200),
        json!(12.0990),
        true,
    ));
    crate::helpers::message_to(&svc.sim, "5002", "is in Innenstadt").await;
    let keep = button_data(&svc, "5002", "near me", "ak:").await;
    svc.sim.push_update(press(5002, &keep));
    crate::helpers::message_to(&svc.sim, "5002", "is kept").await;
    // 5003 chooses nothing.
    svc.sim.push_update(message(5003, "/start"));
    crate::helpers::message_to(&svc.sim, "5003", "/areas").await;

    // A WhatsApp citizen answers the location request from the university and keeps it;
    // another shares a location (the recorded message) and declines.
    let wa = "4917600000001";
    assert_eq!(svc.webhook(&says(wa, "START")).await, StatusCode::OK);
    crate::helpers::message_to(&svc.sim, wa, "Willkommen").await;
    assert_eq!(svc.webhook(&says(wa, "BEZIRKE")).await, StatusCode::OK);
    crate::helpers::message_to(&svc.sim, wa, "Ihre Bezirke").await;
    assert_eq!(svc.webhook(&chooses(wa, "al:", true)).await, StatusCode::OK);
    let request = crate::helpers::message_to(&svc.sim, wa, "Standort senden").await;
    let sent = request
        .markup
        .clone()
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(sent.contains("send_location"), "{sent}");
    assert_eq!(
        svc.webhook(&whatsapp_location(wa, json!(UNI.0), json!(UNI.1), true))
            .await,
        StatusCode::OK
    );
    crate::helpers::message_to(&svc.sim, wa, "im Bezirk Galgenberg").await;
    let keep = button_data(&svc, wa, "in meiner Nähe merken", "ak:").await;
    assert_eq!(
        svc.webhook(&chooses(wa, &keep, false)).await,
        StatusCode::OK
    );
    crate::helpers::message_to(&svc.sim, wa, "ist gemerkt").await;
    let wa2 = "4917600000002";
    assert_eq!(svc.webhook(&says(wa2, "START")).await, StatusCode::OK);
    assert_eq!(
        svc.webhook(&whatsapp_location(
            wa2,
            json!(49.0125),
            json!(12.0700),
            false
        ))
        .await,
        StatusCode::OK
    );
    crate::helpers::message_to(&svc.sim, wa2, "im Bezirk").await;
    assert_eq!(
        svc.webhook(&chooses(wa2, "an:", false)).await,
        StatusCode::OK
    );
    crate::helpers::message_to(&svc.sim, wa2, "nur der Bezirk").await;

    // Bad locations get an answer and change nothing.
    svc.sim
        .push_update(telegram_location(5003, json!(91.0), json!(12.1), false));
    crate::helpers::message_to(&svc.sim, "5003", "not a valid location").await;
    assert_eq!(
        svc.webhook(&whatsapp_location(wa2, json!("abc"), json!(12.1), false))
            .await,
        StatusCode::OK
    );
    crate::helpers::message_to(&svc.sim, wa2, "kein gültiger Standort").await;
    // Munich is not in Regensburg.
    svc.sim
        .push_update(telegram_location(5003, json!(48.137), json!(11.575), false));
    crate::helpers::message_to(&svc.sim, "5003", "outside the city").await;

    let areas_of = |channel, address: &'static str| {
        let db = &db;
        async move {
            let s = id(db, channel, address).await;
            db.store.subscriber_areas(s).await.expect("areas")
        }
    };
    let first = areas_of(ChannelKind::Telegram, "5001").await;
    assert_eq!(first.areas, vec!["01", "15"]);
    assert_eq!(first.place, None);
    let second = areas_of(ChannelKind::Telegram, "5002").await;
    assert_eq!(second.areas, vec!["01"]);
    assert_eq!(
        second.place,
        Some(Place {
            lat_e3: 49_020,
            lon_e3: 12_099
        })
    );
    assert_eq!(
        areas_of(ChannelKind::Telegram, "5003").await,
        Default::default()
    );
    let wa_areas = areas_of(ChannelKind::Whatsapp, wa).await;
    assert_eq!(wa_areas.areas, vec!["12"]);
    assert!(wa_areas.place.is_some());
    let wa2_areas = areas_of(ChannelKind::Whatsapp, wa2).await;
    assert_eq!(wa2_areas.areas.len(), 1);
    assert_eq!(wa2_areas.place, None);

    // Announcements to one district, a 300 m circle and a polygon reach exactly those chats.
    for (text, target, expected) in [
        (
            "Nur Innenstadt",
            json!({"areas": ["01"]}),
            vec!["5001", "5002", "5003"],
        ),
        (
            "300 m um den Dom",
            json!({"circle": {"lat": DOM.0, "lon": DOM.1, "radius_m": 300}}),
            vec!["5001", "5002", "5003"],
        ),
        (
            "Campus",
            json!({"polygon": {"type": "Polygon", "coordinates": [[
                [12.093, 48.997], [12.097, 48.997], [12.097, 49.000], [12.093, 49.000], [12.093, 48.997]
            ]]}}),
            vec!["5003", wa],
        ),
    ] {
        let (status, created) = svc
            .api(
                Method::POST,
                "/api/v1/broadcasts",
                EMERGENCY_TOKEN,
                Some(json!({"topic": "alerts", "text": text, "target": target})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            reached(&svc, text, expected.len()).await,
            expected,
            "{text}"
        );
    }

    // /delete leaves no district and no coordinate.
    let second_id = id(&db, ChannelKind::Telegram, "5002").await;
    svc.sim.push_update(message(5002, "/delete"));
    let code = button_data(&svc, "5002", "This erases everything", "d:").await;
    svc.sim.push_update(press(5002, &code));
    crate::helpers::message_to(&svc.sim, "5002", "All your data is erased").await;
    assert_eq!(
        db.store.subscriber_areas(second_id).await.expect("areas"),
        Default::default()
    );
    svc.stop().await;
}

async fn staff_name_districts_in_the_chat_and_the_preview_counts_each_group(db: TestDb) {
    use crate::telegram::{message, press};
    // 1000: district 01; 1001: a place by the cathedral; 1002 and WhatsApp: nothing chosen.
    staff_and_citizens(&db, 3, &[]).await;
    let mut svc = Service::start(&db, false, &regensburg_settings()).await;
    svc.sim
        .push_update(message(900, "/alert @99 Wasser abgestellt"));
    crate::helpers::message_to(&svc.sim, "900", "unknown district '99'").await;
    svc.sim
        .push_update(message(900, "/alert @Innenstadt,12 Wasser abgestellt"));
    let preview =
        crate::helpers::message_to(&svc.sim, "900", "Only for: Innenstadt, Galgenberg").await;
    assert!(
        preview.text.contains("by their district 1 (Telegram 1, WhatsApp 0), by a kept place 1 (Telegram 1, WhatsApp 0), without a district 2 (Telegram 1, WhatsApp 1)"),
        "{}",
        preview.text
    );
    let send = button_data(&svc, "900", "Only for", "c:").await;
    svc.sim.push_update(press(900, &send));
    let expected: BTreeSet<String> = ["1000", "1001", "1002", "4915100000000"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let text = "🚨 Wasser abgestellt";
    let got = reached_containing(&svc, "Wasser abgestellt", expected.len()).await;
    assert_eq!(got, expected, "{text}");
    svc.stop().await;
}

/// Emergency member 900 on Telegram; `telegram` citizens there and one on WhatsApp, on alerts:
/// 1000 in district 01, 1001 with a place by the cathedral, the rest with nothing chosen, unless
/// `places` keeps a place for them.
async fn staff_and_citizens(db: &TestDb, telegram: u64, places: &[(&str, (f64, f64))]) {
    seed(&*db.store, telegram, 1, &["alerts"]).await;
    let first = id(db, ChannelKind::Telegram, "1000").await;
    db.store
        .set_subscriber_area(first, "01", true)
        .await
        .expect("area");
    for (address, (lat, lon)) in [("1001", (49.0200, 12.0990))].iter().chain(places) {
        let s = id(db, ChannelKind::Telegram, address).await;
        let place = Place::rounded(Coordinates::new(*lat, *lon).expect("point"));
        db.store.keep_place(s, place, 0).await.expect("place");
    }
    db.store
        .set_staff(
            ChannelKind::Telegram,
            "900",
            amtsbote::domain::Role::Emergency,
            None,
        )
        .await
        .expect("staff");
}

/// Who got a message containing `needle` (an alert carries its marker around the text).
async fn reached_containing(svc: &Service, needle: &str, expected: usize) -> BTreeSet<String> {
    let (sim, n) = (svc.sim.clone(), needle.to_string());
    crate::helpers::wait_until(Duration::from_secs(20), needle, move || {
        let (sim, n) = (sim.clone(), n.clone());
        async move {
            sim.received()
                .iter()
                .filter(|r| r.text.contains(&n) && !r.text.contains("Only for"))
                .count()
                >= expected
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    svc.sim
        .received()
        .iter()
        .filter(|r| r.text.contains(needle) && !r.text.contains("Only for") && *r.address != *"900")
        .map(|r| r.address.to_string())
        .collect()
}

/// On site: `/alert TEXT`, then the location, then a radius button (or `/radius METRES`): a
/// new preview for the circle replaces the first, and the alert reaches the kept places inside,
/// the districts the circle touches and those without an area.
async fn emergency_staff_on_site_aim_an_alert_at_a_radius_around_their_location(db: TestDb) {
    use crate::telegram::{message, press};
    // 1000: district 01; 1001: a place by the cathedral; 1002 and WhatsApp: nothing chosen;
    // 1003: a place at the university (2.3 km south of the cathedral).
    staff_and_citizens(&db, 4, &[("1003", UNI)]).await;
    let mut svc = Service::start(&db, false, &regensburg_settings()).await;
    let to_all = |v: &[&str]| {
        v.iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<String>>()
    };

    // 300 m around the cathedral, by button.
    svc.sim
        .push_update(message(900, "/alert Bombenfund am Dom"));
    let first_send = button_data(&svc, "900", "Bombenfund am Dom", "c:").await;
    svc.sim
        .push_update(telegram_location(900, json!(DOM.0), json!(DOM.1), false));
    let radius = button_data(&svc, "900", "only around this place", "ar:").await;
    assert!(radius.contains(":300:49.01950,12.09750"), "{radius}");
    svc.sim.push_update(press(900, &radius));
    let preview = crate::helpers::message_to(&svc.sim, "900", "Only for: Innenstadt").await;
    assert!(
        preview.text.contains("by their district 1 (Telegram 1, WhatsApp 0), by a kept place 1 (Telegram 1, WhatsApp 0), without a district 2 (Telegram 1, WhatsApp 1)"),
        "{}",
        preview.text
    );
    // The first preview's Send no longer sends anything: it was replaced.
    svc.sim.push_update(press(900, &first_send));
    crate::helpers::message_to(&svc.sim, "900", "is unknown, expired or already used").await;
    let send = button_data(&svc, "900", "Only for: Innenstadt", "c:").await;
    svc.sim.push_update(press(900, &send));
    let got = reached_containing(&svc, "Bombenfund am Dom", 4).await;
    assert_eq!(got, to_all(&["1000", "1001", "1002", "4915100000000"]));

    // Another radius, typed: 50 km and more is refused, 3 km reaches the university too.
    svc.sim.push_update(message(900, "/alert Gasgeruch"));
    button_data(&svc, "900", "Gasgeruch", "c:").await;
    svc.sim
        .push_update(telegram_location(900, json!(DOM.0), json!(DOM.1), false));
    crate::helpers::message_to(&svc.sim, "900", "Alert “Gasgeruch” only around").await;
    let other = button_data(&svc, "900", "Alert “Gasgeruch” only around", "ar:").await;
    let other = other.replacen(":300:", ":0:", 1);
    svc.sim.push_update(press(900, &other));
    crate::helpers::message_to(&svc.sim, "900", "Write the radius in metres").await;
    svc.sim.push_update(message(900, "/radius 60000"));
    crate::helpers::message_to(&svc.sim, "900", "That target does not work").await;
    svc.sim.push_update(message(900, "/radius 3000"));
    let preview = crate::helpers::message_to(&svc.sim, "900", "by a kept place 2").await;
    assert!(preview.text.contains("Gasgeruch"), "{}", preview.text);
    let send = button_data(&svc, "900", "by a kept place 2", "c:").await;
    svc.sim.push_update(press(900, &send));
    let got = reached_containing(&svc, "Gasgeruch", 5).await;
    assert_eq!(
        got,
        to_all(&["1000", "1001", "1002", "1003", "4915100000000"])
    );

    // With no alert draft open, the same location is a citizen's: its district is added.
    svc.sim
        .push_update(telegram_location(900, json!(DOM.0), json!(DOM.1), false));
    crate::helpers::message_to(&svc.sim, "900", "Your location is in Innenstadt").await;
    svc.stop().await;
}

/// `amtsbote demo --areas` as a newcomer runs it (SQLite, simulated platforms): the alert goes
/// to the 1 km circle chosen on site and reaches exactly its recipients, and everyone who signed
/// up during the run gets both answers to the location they share. (Its timings are benchmark
/// figures of the release build, not checked here.)
#[tokio::test]
async fn the_areas_demo_aims_its_alert_on_site_and_answers_every_location() {
    let args = ["--areas", "--subscribers", "2000", "--signups", "100"];
    let report = crate::helpers::demo_report(&args).await;
    let figure = |name: &str| {
        report[name]
            .as_f64()
            .unwrap_or_else(|| panic!("no {name} in {report}"))
    };
    assert_eq!(figure("lost"), 0.0, "{report}");
    assert_eq!(figure("duplicates"), 0.0, "{report}");
    let (expected, delivered) = (figure("alert_expected"), figure("alert_delivered"));
    assert_eq!(delivered, expected, "{report}");
    // The circle: more than those without an area (a tenth), fewer than everyone on alerts.
    assert!(
        expected > 2000.0 * 0.1 && expected < 2000.0,
        "the alert went to {expected} of 2,000: {report}"
    );
    assert_eq!(figure("locations_answered"), 100.0, "{report}");
    assert_eq!(figure("signups_answered"), 100.0, "{report}");
}
