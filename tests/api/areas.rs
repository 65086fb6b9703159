//! Areas: targets by district, circle and polygon reach exactly the citizens they should (by a
//! chosen district, by a kept place inside, or because they chose no area), on both stores;
//! bad targets are refused naming the field.

use std::collections::BTreeSet;
use std::time::Duration;

use amtsbote::domain::ChannelKind;
use amtsbote::domain::area::{Coordinates, Place};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PRESS_TOKEN, Service, TestDb, seed};

crate::helpers::on_both_stores!(
    targets_reach_their_districts_the_places_inside_and_those_without_an_area,
    bad_targets_are_refused_naming_the_field,
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
