//! The city's districts as a map drawn on the server (no tiles, no script): the outlines are
//! projected to SVG coordinates here, and `map.html` writes them out, escaping every text.
//! Equirectangular, longitude scaled by the cosine of the city's middle latitude: for a city a
//! few kilometres across, nobody sees the difference to a proper map projection.

use geo::{Area as _, Coord, InteriorPoint, LineString, Polygon, Rect, Simplify};
use serde::Serialize;

use crate::domain::area::{Catalogue, Resolved, Shape};

/// The map's width in SVG units; its height follows from the city's shape.
const WIDTH: f64 = 640.0;
const MARGIN: f64 = 12.0;
/// Outline points that change the line by less than this (SVG units) are left out: the
/// Regensburg districts shrink from 6,000 points to 1,434, and look the same.
const SIMPLIFY: f64 = 0.4;

/// A map for `map.html`.
#[derive(Debug, Serialize)]
pub struct DistrictMap {
    width: String,
    height: String,
    /// Names the map for screen readers.
    title: String,
    /// Says what is targeted, for screen readers (the picture shows it).
    description: String,
    districts: Vec<MapDistrict>,
    /// A circle (as its polygon) or a polygon drawn over the districts.
    outline: Option<String>,
}

#[derive(Debug, Serialize)]
struct MapDistrict {
    id: String,
    name: String,
    /// SVG path data, rings closed, holes by the even-odd rule.
    path: String,
    label_x: String,
    label_y: String,
    targeted: bool,
}

impl DistrictMap {
    /// What the map shows, in words.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The districts of `catalogue`, those `target` touches filled; with no target (the whole
    /// city) every one is.
    pub fn new(
        catalogue: &Catalogue,
        target: Option<&Resolved>,
        title: String,
        description: String,
    ) -> DistrictMap {
        let projection = Projection::new(catalogue.bounds());
        let districts = catalogue
            .areas()
            .iter()
            .map(|a| {
                let label = a
                    .shape
                    .0
                    .iter()
                    .max_by(|p, q| p.unsigned_area().total_cmp(&q.unsigned_area()))
                    .and_then(|p| p.interior_point())
                    .map(|p| projection.point(p.0))
                    .unwrap_or((0.0, 0.0));
                MapDistrict {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    path: a
                        .shape
                        .0
                        .iter()
                        .map(|p| projection.path(p))
                        .collect::<Vec<_>>()
                        .join(" "),
                    label_x: format!("{:.1}", label.0),
                    label_y: format!("{:.1}", label.1),
                    targeted: target.is_none_or(|t| t.areas.contains(&a.id)),
                }
            })
            .collect();
        let outline = target.and_then(|t| match &t.shape {
            Shape::Districts(_) => None,
            other => Some(
                other
                    .polygons()
                    .iter()
                    .map(|p| projection.path(p))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        });
        DistrictMap {
            width: format!("{WIDTH:.0}"),
            height: format!("{:.0}", projection.height),
            title,
            description,
            districts,
            outline,
        }
    }
}

/// How many pixels a map's SVG unit becomes in its PNG: 640 units make a picture 1,280 pixels
/// wide, sharp on a phone.
const PNG_SCALE: f32 = 2.0;

/// The fonts the PNG's district numbers are set in, read once from the system. Without any
/// (a bare container), the picture has no numbers; the alternative text still names the areas.
fn fonts() -> std::sync::Arc<resvg::usvg::fontdb::Database> {
    static FONTS: std::sync::OnceLock<std::sync::Arc<resvg::usvg::fontdb::Database>> =
        std::sync::OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = resvg::usvg::fontdb::Database::new();
            db.load_system_fonts();
            if db.is_empty() {
                tracing::warn!("no system fonts: maps are rendered without district numbers");
            }
            std::sync::Arc::new(db)
        })
        .clone()
}

/// The map `map.html` drew, as a PNG for messengers (which cannot show SVG). Takes a while:
/// call it off the async threads.
pub fn png(svg: &str) -> Result<Vec<u8>, String> {
    let options = resvg::usvg::Options {
        fontdb: fonts(),
        ..resvg::usvg::Options::default()
    };
    let tree = resvg::usvg::Tree::from_str(svg, &options).map_err(|e| format!("the map: {e}"))?;
    let size = tree.size();
    let (width, height) = (
        (size.width() * PNG_SCALE).ceil() as u32,
        (size.height() * PNG_SCALE).ceil() as u32,
    );
    let mut pixmap = resvg::tiny_skia::Pixmap::new(width, height)
        .ok_or_else(|| format!("the map has no size ({width} x {height})"))?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(PNG_SCALE, PNG_SCALE),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| format!("the map as PNG: {e}"))
}

/// Degrees to SVG units: north up, the city's box inside the margins.
struct Projection {
    west: f64,
    north: f64,
    /// Longitude shrinks with the cosine of the latitude.
    squeeze: f64,
    /// SVG units per degree of latitude.
    scale: f64,
    height: f64,
}

impl Projection {
    fn new(bounds: Rect<f64>) -> Projection {
        let middle = (bounds.min().y + bounds.max().y) / 2.0;
        let squeeze = middle.to_radians().cos();
        let wide = (bounds.width() * squeeze).max(f64::EPSILON);
        let scale = (WIDTH - 2.0 * MARGIN) / wide;
        Projection {
            west: bounds.min().x,
            north: bounds.max().y,
            squeeze,
            scale,
            height: bounds.height() * scale + 2.0 * MARGIN,
        }
    }

    fn point(&self, c: Coord<f64>) -> (f64, f64) {
        (
            MARGIN + (c.x - self.west) * self.squeeze * self.scale,
            MARGIN + (self.north - c.y) * self.scale,
        )
    }

    /// A polygon's rings as SVG path data.
    fn path(&self, polygon: &Polygon<f64>) -> String {
        std::iter::once(polygon.exterior())
            .chain(polygon.interiors())
            .filter_map(|ring| {
                let projected = LineString::from(
                    ring.coords()
                        .map(|c| self.point(*c))
                        .map(|(x, y)| geo::coord! { x: x, y: y })
                        .collect::<Vec<_>>(),
                )
                .simplify(SIMPLIFY);
                let mut points = projected.coords().map(|c| format!("{:.1},{:.1}", c.x, c.y));
                let first = points.next()?;
                let rest: Vec<String> = points.collect();
                Some(format!("M{first}L{}Z", rest.join(" ")))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::area::{Circle, Target};

    const REGENSBURG: &str =
        include_str!("../../tests/fixtures/districts/regensburg_stadtbezirke.geojson");

    /// Regensburg's districts, and a circle of `radius_m` around the cathedral.
    fn circle_in_the_old_town(radius_m: f64) -> (Catalogue, Resolved) {
        let c = Catalogue::from_geojson(REGENSBURG, "sbz", "name").expect("catalogue");
        let circle = c
            .resolve(&Target::Circle(Circle {
                lat: 49.0195,
                lon: 12.0975,
                radius_m,
            }))
            .expect("circle");
        (c, circle)
    }

    fn render(map: &DistrictMap) -> String {
        let mut env = minijinja::Environment::new();
        env.add_template("map.html", include_str!("templates/map.html"))
            .expect("the map's template");
        env.get_template("map.html")
            .and_then(|t| t.render(minijinja::context! { map }))
            .expect("rendered")
    }

    #[test]
    fn a_map_fills_the_targeted_districts_draws_a_circle_and_escapes_its_texts() {
        let (c, circle) = circle_in_the_old_town(300.0);
        let map = DistrictMap::new(
            &c,
            Some(&circle),
            "Karte <der> \"Bezirke\"".into(),
            "Ziel: Innenstadt & <script>".into(),
        );
        let svg = render(&map);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(
            svg.contains("<title id=\"map-title\">Karte &lt;der&gt; &quot;Bezirke&quot;</title>"),
            "{svg}"
        );
        assert!(svg.contains("Ziel: Innenstadt &amp; &lt;script&gt;"));
        assert!(!svg.contains("<script>"));
        assert_eq!(svg.matches("class=\"district targeted\"").count(), 1);
        assert_eq!(svg.matches("class=\"district\"").count(), 17);
        assert_eq!(svg.matches("class=\"outline\"").count(), 1);
        assert_eq!(svg.matches("<text ").count(), 18);
        // About as high as wide, as Regensburg is; everything inside the picture.
        let height: f64 = map.height.parse().expect("a number");
        assert!(height > 0.8 * WIDTH && height < 1.2 * WIDTH, "{height}");
        for d in &map.districts {
            for point in d.path.split(['M', 'L', 'Z', ' ']).filter(|p| !p.is_empty()) {
                let (x, y) = point.split_once(',').expect("x,y");
                let (x, y): (f64, f64) = (x.parse().expect("x"), y.parse().expect("y"));
                assert!((0.0..=WIDTH).contains(&x), "{} has x {x}", d.id);
                assert!((0.0..=height).contains(&y), "{} has y {y}", d.id);
            }
        }
        // Simplified, but every district keeps its shape.
        let points: usize = map
            .districts
            .iter()
            .map(|d| d.path.matches(',').count())
            .sum();
        assert!(points > 300 && points < 3000, "{points} points");

        // No target: the whole city, every district filled, nothing drawn over it.
        let all = render(&DistrictMap::new(&c, None, "t".into(), "d".into()));
        assert_eq!(all.matches("class=\"district targeted\"").count(), 18);
        assert!(!all.contains("class=\"outline\""));
    }

    #[test]
    fn a_map_becomes_a_png_for_the_messengers_with_the_target_filled() {
        let (c, circle) = circle_in_the_old_town(800.0);
        let map = DistrictMap::new(&c, Some(&circle), "Karte".into(), "Ziel".into());
        let png = png(&render(&map)).expect("rendered");
        let picture = image::load_from_memory(&png).expect("decodes").to_rgb8();
        assert_eq!(picture.width(), 2 * WIDTH as u32);
        let height: f64 = map.height.parse().expect("a number");
        assert_eq!(picture.height(), (2.0 * height).ceil() as u32);
        let count = |rgb: [u8; 3]| picture.pixels().filter(|p| p.0 == rgb).count();
        assert!(
            count([0x9c, 0xc3, 0xea]) > 1000,
            "targeted districts filled"
        );
        assert!(count([0xff, 0xff, 0xff]) > 1000, "the others white");
        if std::env::var_os("AMTSBOTE_WRITE_DOCS").is_some() {
            std::fs::write(
                concat!(env!("CARGO_MANIFEST_DIR"), "/docs/images/alert-map.png"),
                &png,
            )
            .expect("written");
        }
    }
}
