//! `amtsbote demo --areas`: Regensburg's 18 districts, the subscribers spread over them (70 %
//! with one chosen district, 20 % with a kept place inside the city and its district, 10 % with
//! no area), and the fan-out of the same broadcast to everyone, to three districts and to a
//! 1 km circle, each timed in the same run before the service starts.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::domain::area::{Catalogue, Circle, Coordinates, Place, Target};
use crate::domain::{BroadcastKind, BroadcastText, Priority, Topic};
use crate::store::{NewBroadcast, Store};

/// Regensburg's Stadtbezirke as the city publishes them (id `sbz`, name `name`).
pub const REGENSBURG: &str =
    include_str!("../../tests/fixtures/districts/regensburg_stadtbezirke.geojson");

/// The catalogue the demo uses.
pub fn regensburg() -> anyhow::Result<Catalogue> {
    Catalogue::from_geojson(REGENSBURG, "sbz", "name").map_err(|e| anyhow::anyhow!("{e}"))
}

/// What the areas benchmark measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AreasReport {
    pub areas_fanout_all_ms: f64,
    pub areas_fanout_all_deliveries: u64,
    pub areas_fanout_districts_ms: f64,
    pub areas_fanout_districts_deliveries: u64,
    pub areas_fanout_circle_ms: f64,
    pub areas_fanout_circle_deliveries: u64,
    /// Three districts ÷ everyone.
    pub areas_districts_ratio: f64,
    /// A 1 km circle ÷ everyone.
    pub areas_circle_ratio: f64,
}

/// Spreads the subscribers over the districts: 70 % one district, 20 % a kept place (and its
/// district), 10 % nothing. Seeded randomness, so runs compare.
pub async fn spread(store: &dyn Store, catalogue: &Catalogue) -> anyhow::Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let areas = catalogue.areas();
    let bounds = catalogue.bounds();
    for (i, id) in store.subscriber_ids().await?.into_iter().enumerate() {
        match i % 10 {
            0 => {}
            1 | 2 => loop {
                let point = Coordinates::new(
                    rng.random_range(bounds.min().y..bounds.max().y),
                    rng.random_range(bounds.min().x..bounds.max().x),
                )
                .map_err(anyhow::Error::msg)?;
                if let Some(area) = catalogue.locate(point) {
                    store.set_subscriber_area(id, &area.id, true).await?;
                    store.keep_place(id, Place::rounded(point), 0).await?;
                    break;
                }
            },
            _ => {
                let area = &areas[rng.random_range(0..areas.len())];
                store.set_subscriber_area(id, &area.id, true).await?;
            }
        }
    }
    Ok(())
}

/// Times the fan-out of one broadcast on `topic` to `target` (everyone without), as the
/// engine does it (the kept places inside first, then chunks), then cancels it so that nothing
/// is sent. Returns the milliseconds and the deliveries written.
async fn timed(
    store: &Arc<dyn Store>,
    catalogue: &Catalogue,
    topic: &Topic,
    target: Option<Target>,
    chunk: u32,
) -> anyhow::Result<(f64, u64)> {
    let resolved = target
        .as_ref()
        .map(|t| catalogue.resolve(t))
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let new = NewBroadcast {
        target: target
            .clone()
            .zip(resolved.as_ref().map(|r| r.areas.clone())),
        ..NewBroadcast::released(
            topic.clone(),
            BroadcastKind::Announcement,
            Priority::Normal,
            BroadcastText::parse("Areas benchmark").map_err(anyhow::Error::msg)?,
        )
    };
    let id = store.create_broadcast(&new).await?.broadcast.id;
    let started = Instant::now();
    if let Some(r) = &resolved {
        store.prepare_target_cells(id, &r.shape).await?;
    }
    let mut inserted = 0;
    loop {
        let step = store.fan_out_chunk(id, chunk).await?;
        inserted += step.inserted;
        if step.done {
            break;
        }
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    store.cancel_broadcast(id).await?;
    Ok((ms, inserted))
}

/// The three fan-outs, everyone first.
pub async fn measure(
    store: &Arc<dyn Store>,
    catalogue: &Catalogue,
    topic: &Topic,
    chunk: u32,
) -> anyhow::Result<AreasReport> {
    let (all_ms, all) = timed(store, catalogue, topic, None, chunk)
        .await
        .context("the fan-out to everyone")?;
    let districts = Target::Areas(vec!["01".into(), "02".into(), "03".into()]);
    let (districts_ms, in_districts) = timed(store, catalogue, topic, Some(districts), chunk)
        .await
        .context("the fan-out to three districts")?;
    // 1 km around the cathedral.
    let circle = Target::Circle(Circle {
        lat: 49.0195,
        lon: 12.0975,
        radius_m: 1000.0,
    });
    let (circle_ms, in_circle) = timed(store, catalogue, topic, Some(circle), chunk)
        .await
        .context("the fan-out to a circle")?;
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    Ok(AreasReport {
        areas_fanout_all_ms: round(all_ms),
        areas_fanout_all_deliveries: all,
        areas_fanout_districts_ms: round(districts_ms),
        areas_fanout_districts_deliveries: in_districts,
        areas_fanout_circle_ms: round(circle_ms),
        areas_fanout_circle_deliveries: in_circle,
        areas_districts_ratio: round(districts_ms / all_ms.max(0.001)),
        areas_circle_ratio: round(circle_ms / all_ms.max(0.001)),
    })
}
