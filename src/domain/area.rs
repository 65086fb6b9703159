//! Areas: the city's districts (a GeoJSON catalogue), where a citizen is (a district, or a kept
//! place rounded to about 100 m), and where a broadcast goes (districts, a circle or a polygon).
//! Geometry is `geo`'s; no I/O here.

use geo::{
    Area as _, BooleanOps, BoundingRect, Contains, Destination, Distance, Haversine, Intersects,
    MultiPolygon, Point, Polygon, Rect, Validation,
};
use serde::{Deserialize, Serialize};

/// The largest circle a broadcast may target, in metres.
pub const MAX_RADIUS_M: f64 = 50_000.0;
/// Corners of the polygon that stands for a circle where geometry needs a polygon (which
/// districts it touches, the map): off by 0.12 % of the radius at most.
const CIRCLE_CORNERS: usize = 64;
/// A kept place is rounded to 1/1000 of a degree: 111 m north–south, about 70 m east–west here.
const PLACE_SCALE: f64 = 1000.0;
/// A target covering this share of every district's area is the whole city.
const WHOLE_CITY_SHARE: f64 = 0.99;

/// One district of the catalogue.
#[derive(Debug, Clone)]
pub struct Area {
    pub id: String,
    pub name: String,
    pub shape: MultiPolygon<f64>,
    bounds: Rect<f64>,
}

/// What is wrong with the catalogue file: which feature (by its index) and what.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct CatalogueError(pub String);

/// The city's districts, from `areas.file`.
#[derive(Debug, Clone)]
pub struct Catalogue {
    areas: Vec<Area>,
    /// Everything the districts cover, for "outside the city".
    bounds: Rect<f64>,
}

impl Catalogue {
    /// Reads a GeoJSON FeatureCollection (RFC 7946: WGS 84, longitude first) of Polygon or
    /// MultiPolygon features; `id_property` and `name_property` name each one's id and name.
    pub fn from_geojson(
        text: &str,
        id_property: &str,
        name_property: &str,
    ) -> Result<Catalogue, CatalogueError> {
        let fc: geojson::FeatureCollection = text
            .parse()
            .map_err(|e| CatalogueError(format!("not a GeoJSON FeatureCollection: {e}")))?;
        let mut areas: Vec<Area> = Vec::with_capacity(fc.features.len());
        for (i, f) in fc.features.iter().enumerate() {
            let bad = |what: String| CatalogueError(format!("feature {i}: {what}"));
            let text_of = |key: &str| match f.property(key) {
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {
                    Some(s.trim().to_string())
                }
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            let id = text_of(id_property)
                .ok_or_else(|| bad(format!("no id in property '{id_property}'")))?;
            if areas.iter().any(|a| a.id == id) {
                return Err(bad(format!("the id '{id}' is used twice")));
            }
            let name = text_of(name_property)
                .ok_or_else(|| bad(format!("no name in property '{name_property}'")))?;
            let geometry = f
                .geometry
                .as_ref()
                .ok_or_else(|| bad("no geometry".into()))?;
            let shape = multi_polygon(&geometry.value).map_err(&bad)?;
            let bounds = shape
                .bounding_rect()
                .ok_or_else(|| bad("an empty geometry".into()))?;
            areas.push(Area {
                id,
                name,
                shape,
                bounds,
            });
        }
        let bounds = areas
            .iter()
            .map(|a| a.bounds)
            .reduce(|a, b| {
                Rect::new(
                    geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                    geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
                )
            })
            .ok_or_else(|| CatalogueError("the file has no districts".into()))?;
        Ok(Catalogue { areas, bounds })
    }

    pub fn areas(&self) -> &[Area] {
        &self.areas
    }

    /// The district with this id, or this name (ignoring case).
    pub fn find(&self, id_or_name: &str) -> Option<&Area> {
        let wanted = id_or_name.trim();
        self.areas.iter().find(|a| a.id == wanted).or_else(|| {
            self.areas
                .iter()
                .find(|a| a.name.to_lowercase() == wanted.to_lowercase())
        })
    }

    /// The district a point lies in.
    pub fn locate(&self, p: Coordinates) -> Option<&Area> {
        let point = p.point();
        self.areas
            .iter()
            .find(|a| a.bounds.contains(&point) && a.shape.contains(&point))
    }

    /// Where a target goes: the districts it touches, the shape a kept place must lie in, and
    /// whether it is the whole city after all. Refuses what names nothing of this city.
    pub fn resolve(&self, target: &Target) -> Result<Resolved, TargetError> {
        let shape = target.shape(Some(self))?;
        let touched: Vec<&Area> = match target {
            Target::Areas(_) => {
                let mut found = Vec::new();
                for wanted in target_ids(target) {
                    let a = self.find(wanted).ok_or_else(|| TargetError {
                        field: "target.areas",
                        message: format!(
                            "unknown district '{wanted}'; districts: {}",
                            self.areas
                                .iter()
                                .map(|a| format!("{} ({})", a.id, a.name))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })?;
                    if !found.iter().any(|f: &&Area| f.id == a.id) {
                        found.push(a);
                    }
                }
                found
            }
            _ => {
                let parts = shape.multi_polygon();
                let Some(outline) = parts.bounding_rect() else {
                    return Err(TargetError {
                        field: target.field(),
                        message: "an empty shape".into(),
                    });
                };
                self.areas
                    .iter()
                    .filter(|a| a.bounds.intersects(&outline) && a.shape.intersects(&parts))
                    .collect()
            }
        };
        if touched.is_empty() {
            return Err(TargetError {
                field: target.field(),
                message: "the target lies outside the city's districts".into(),
            });
        }
        let whole_city = touched.len() == self.areas.len()
            && match &shape {
                Shape::Districts(_) => true,
                _ => {
                    let parts = shape.multi_polygon();
                    self.areas.iter().all(|a| {
                        let inside = a.shape.intersection(&parts).unsigned_area();
                        inside >= WHOLE_CITY_SHARE * a.shape.unsigned_area()
                    })
                }
            };
        Ok(Resolved {
            areas: touched.iter().map(|a| a.id.clone()).collect(),
            names: touched.iter().map(|a| a.name.clone()).collect(),
            shape,
            whole_city,
        })
    }

    /// The box around every district (for the map).
    pub fn bounds(&self) -> Rect<f64> {
        self.bounds
    }
}

fn target_ids(t: &Target) -> Vec<&str> {
    match t {
        Target::Areas(ids) => ids.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A GeoJSON Polygon or MultiPolygon as `geo`'s, every ring checked (see [`polygon`]).
pub fn multi_polygon(value: &geojson::GeometryValue) -> Result<MultiPolygon<f64>, String> {
    match value {
        geojson::GeometryValue::Polygon { coordinates } => {
            Ok(MultiPolygon(vec![polygon(coordinates)?]))
        }
        geojson::GeometryValue::MultiPolygon { coordinates } => Ok(MultiPolygon(
            coordinates
                .iter()
                .map(|p| polygon(p))
                .collect::<Result<_, _>>()?,
        )),
        other => Err(format!(
            "a {} where a Polygon or MultiPolygon belongs",
            other.type_name()
        )),
    }
}

/// A GeoJSON polygon's rings as `geo`'s, each checked: closed, four positions or more,
/// longitude and latitude in range.
pub fn polygon(rings: &[Vec<geojson::Position>]) -> Result<Polygon<f64>, String> {
    let mut out = Vec::with_capacity(rings.len());
    for (r, ring) in rings.iter().enumerate() {
        if ring.len() < 4 {
            return Err(format!(
                "ring {r} has {} positions; a ring needs at least 4",
                ring.len()
            ));
        }
        let mut coords = Vec::with_capacity(ring.len());
        for p in ring {
            let (lon, lat) = match p.as_slice() {
                [lon, lat, ..] => (*lon, *lat),
                _ => return Err(format!("ring {r} has a position without two numbers")),
            };
            Coordinates::new(lat, lon).map_err(|e| format!("ring {r}: {e}"))?;
            coords.push(geo::coord! { x: lon, y: lat });
        }
        if coords.first() != coords.last() {
            return Err(format!(
                "ring {r} is not closed (its last position must repeat its first)"
            ));
        }
        out.push(geo::LineString(coords));
    }
    let mut rings = out.into_iter();
    let exterior = rings
        .next()
        .ok_or_else(|| "a polygon without rings".to_string())?;
    Ok(Polygon::new(exterior, rings.collect()))
}

/// A point on the earth: latitude and longitude in degrees, checked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Coordinates {
    pub lat: f64,
    pub lon: f64,
}

impl Coordinates {
    pub fn new(lat: f64, lon: f64) -> Result<Coordinates, String> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(format!("latitude {lat} is not between -90 and 90"));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(format!("longitude {lon} is not between -180 and 180"));
        }
        Ok(Coordinates { lat, lon })
    }

    fn point(self) -> Point<f64> {
        Point::new(self.lon, self.lat)
    }
}

/// A kept place: a point rounded to 1/1000 degree (about 100 m), stored as whole numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Place {
    pub lat_e3: i32,
    pub lon_e3: i32,
}

impl Place {
    pub fn rounded(c: Coordinates) -> Place {
        Place {
            lat_e3: (c.lat * PLACE_SCALE).round() as i32,
            lon_e3: (c.lon * PLACE_SCALE).round() as i32,
        }
    }

    pub fn coordinates(self) -> Coordinates {
        Coordinates {
            lat: f64::from(self.lat_e3) / PLACE_SCALE,
            lon: f64::from(self.lon_e3) / PLACE_SCALE,
        }
    }

    /// A short text for callback data and buttons: `lat_e3,lon_e3`.
    pub fn code(self) -> String {
        format!("{},{}", self.lat_e3, self.lon_e3)
    }

    /// Reads [`code`](Self::code) back, checking the range.
    pub fn parse_code(s: &str) -> Option<Place> {
        let (lat, lon) = s.split_once(',')?;
        let p = Place {
            lat_e3: lat.trim().parse().ok()?,
            lon_e3: lon.trim().parse().ok()?,
        };
        Coordinates::new(p.coordinates().lat, p.coordinates().lon).ok()?;
        Some(p)
    }
}

/// Where a broadcast goes, as staff give it (API JSON, stored with the broadcast).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Target {
    /// District ids (or names).
    Areas(Vec<String>),
    /// A circle around a point.
    Circle(Circle),
    /// A GeoJSON Polygon or MultiPolygon (longitude first); the parts of a MultiPolygon may
    /// not overlap.
    #[schema(value_type = Object)]
    Polygon(serde_json::Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Circle {
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
}

/// A target that cannot be used: which field, and why.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{field}: {message}")]
pub struct TargetError {
    pub field: &'static str,
    pub message: String,
}

impl Target {
    fn field(&self) -> &'static str {
        match self {
            Target::Areas(_) => "target.areas",
            Target::Circle(_) => "target.circle",
            Target::Polygon(_) => "target.polygon",
        }
    }

    /// The shape a kept place must lie in (districts need the catalogue; without it they are
    /// empty).
    pub fn shape(&self, catalogue: Option<&Catalogue>) -> Result<Shape, TargetError> {
        let invalid = |message: String| TargetError {
            field: self.field(),
            message,
        };
        match self {
            Target::Areas(ids) => {
                if ids.is_empty() {
                    return Err(invalid("name at least one district".into()));
                }
                let mut polygons = Vec::new();
                for id in ids {
                    if let Some(a) = catalogue.and_then(|c| c.find(id)) {
                        polygons.extend(a.shape.0.iter().cloned());
                    }
                }
                Ok(Shape::Districts(MultiPolygon(polygons)))
            }
            Target::Circle(c) => {
                let centre = Coordinates::new(c.lat, c.lon).map_err(invalid)?;
                if !c.radius_m.is_finite() || c.radius_m <= 0.0 || c.radius_m > MAX_RADIUS_M {
                    return Err(TargetError {
                        field: "target.circle.radius_m",
                        message: format!(
                            "{} is not a radius in metres above 0 and at most {MAX_RADIUS_M}",
                            c.radius_m
                        ),
                    });
                }
                Ok(Shape::Circle {
                    centre,
                    radius_m: c.radius_m,
                })
            }
            Target::Polygon(value) => {
                let geometry: geojson::Geometry = serde_json::from_value(value.clone())
                    .map_err(|e| invalid(format!("not a GeoJSON geometry: {e}")))?;
                let parts = multi_polygon(&geometry.value).map_err(invalid)?;
                if let Err(e) = parts.check_validation() {
                    return Err(invalid(format!("not a valid polygon: {e}")));
                }
                Ok(Shape::Polygon(parts))
            }
        }
    }
}

/// A target's shape, for testing kept places and for the map.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Districts(MultiPolygon<f64>),
    Circle {
        centre: Coordinates,
        radius_m: f64,
    },
    /// One polygon, or several (a MultiPolygon).
    Polygon(MultiPolygon<f64>),
}

impl Shape {
    pub fn contains(&self, c: Coordinates) -> bool {
        let p = c.point();
        match self {
            Shape::Districts(m) => m.contains(&p),
            Shape::Circle { centre, radius_m } => {
                Haversine.distance(centre.point(), p) <= *radius_m
            }
            Shape::Polygon(poly) => poly.contains(&p),
        }
    }

    /// The shape as polygons (a circle as a 64-gon).
    pub fn multi_polygon(&self) -> MultiPolygon<f64> {
        match self {
            Shape::Districts(m) | Shape::Polygon(m) => m.clone(),
            Shape::Circle { centre, radius_m } => {
                MultiPolygon(vec![circle_polygon(*centre, *radius_m)])
            }
        }
    }

    /// The shape's parts as polygons (for the map).
    pub fn polygons(&self) -> Vec<Polygon<f64>> {
        self.multi_polygon().0
    }

    /// The kept places that may lie inside: a box of whole 1/1000 degrees around the shape.
    pub fn place_box(&self) -> (Place, Place) {
        let r = match self {
            Shape::Districts(m) | Shape::Polygon(m) => m.bounding_rect(),
            Shape::Circle { centre, radius_m } => {
                circle_polygon(*centre, *radius_m).bounding_rect()
            }
        }
        .unwrap_or_else(|| Rect::new((0.0, 0.0), (0.0, 0.0)));
        let lo = Place {
            lat_e3: (r.min().y * PLACE_SCALE).floor() as i32,
            lon_e3: (r.min().x * PLACE_SCALE).floor() as i32,
        };
        let hi = Place {
            lat_e3: (r.max().y * PLACE_SCALE).ceil() as i32,
            lon_e3: (r.max().x * PLACE_SCALE).ceil() as i32,
        };
        (lo, hi)
    }
}

/// A circle as a polygon of [`CIRCLE_CORNERS`] corners on its edge.
pub fn circle_polygon(centre: Coordinates, radius_m: f64) -> Polygon<f64> {
    let ring: Vec<_> = (0..=CIRCLE_CORNERS)
        .map(|i| {
            let bearing = 360.0 * (i % CIRCLE_CORNERS) as f64 / CIRCLE_CORNERS as f64;
            Haversine.destination(centre.point(), bearing, radius_m).0
        })
        .collect();
    Polygon::new(geo::LineString(ring), Vec::new())
}

/// A target resolved against the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The districts it touches (ids).
    pub areas: Vec<String>,
    /// Their names, for previews.
    pub names: Vec<String>,
    pub shape: Shape,
    /// It covers every district: the whole city.
    pub whole_city: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGENSBURG: &str =
        include_str!("../../tests/fixtures/districts/regensburg_stadtbezirke.geojson");

    fn regensburg() -> Catalogue {
        Catalogue::from_geojson(REGENSBURG, "sbz", "name").expect("catalogue")
    }

    #[test]
    fn regensburg_has_eighteen_districts_and_the_cathedral_is_in_the_old_town() {
        let c = regensburg();
        assert_eq!(c.areas().len(), 18);
        // Regensburger Dom.
        let dom = Coordinates::new(49.0195, 12.0975).expect("point");
        assert_eq!(c.locate(dom).map(|a| a.id.as_str()), Some("01"));
        // The university's campus, in Galgenberg.
        let uni = Coordinates::new(48.9985, 12.0950).expect("point");
        assert_eq!(c.locate(uni).map(|a| a.id.as_str()), Some("12"));
        // Munich is not in Regensburg.
        let munich = Coordinates::new(48.137, 11.575).expect("point");
        assert!(c.locate(munich).is_none());
        assert_eq!(c.find("innenstadt").map(|a| a.id.as_str()), Some("01"));
    }

    #[test]
    fn a_bad_catalogue_names_the_feature_and_what_is_wrong() {
        let feature = |id: &str, ring: &str| {
            format!(
                r#"{{"type":"Feature","properties":{{"id":"{id}","name":"N{id}"}},"geometry":{{"type":"Polygon","coordinates":[{ring}]}}}}"#
            )
        };
        let fc = |features: Vec<String>| {
            format!(
                r#"{{"type":"FeatureCollection","features":[{}]}}"#,
                features.join(",")
            )
        };
        let good = "[[12,49],[12.1,49],[12.1,49.1],[12,49]]";
        let cases = [
            (
                fc(vec![
                    feature("a", good),
                    feature("b", "[[12,49],[12.1,49],[12.1,49.1],[12.2,49]]"),
                ]),
                "feature 1: ring 0 is not closed",
            ),
            (
                fc(vec![feature("a", "[[12,49],[12.1,49],[12,49]]")]),
                "feature 0: ring 0 has 3 positions",
            ),
            (
                fc(vec![feature(
                    "a",
                    "[[12,95],[12.1,49],[12.1,49.1],[12,95]]",
                )]),
                "feature 0: ring 0: latitude 95",
            ),
            (
                fc(vec![feature("a", good), feature("a", good)]),
                "feature 1: the id 'a' is used twice",
            ),
            (
                fc(vec![feature("", good)]),
                "feature 0: no id in property 'id'",
            ),
            ("{\"type\":\"Point\"".to_string(), "not a GeoJSON"),
        ];
        for (text, expected) in cases {
            let err = Catalogue::from_geojson(&text, "id", "name").expect_err(expected);
            assert!(err.0.contains(expected), "{err} should contain {expected}");
        }
    }

    #[test]
    fn targets_resolve_to_the_districts_they_touch() {
        let c = regensburg();
        let one = c
            .resolve(&Target::Areas(vec!["Innenstadt".into()]))
            .expect("district");
        assert_eq!(one.areas, vec!["01"]);
        assert!(!one.whole_city);
        // 300 m around the cathedral: the old town only.
        let small = c
            .resolve(&Target::Circle(Circle {
                lat: 49.0195,
                lon: 12.0975,
                radius_m: 300.0,
            }))
            .expect("circle");
        assert_eq!(small.areas, vec!["01"]);
        assert!(
            small
                .shape
                .contains(Coordinates::new(49.0200, 12.0990).expect("p"))
        );
        assert!(
            !small
                .shape
                .contains(Coordinates::new(49.0300, 12.0975).expect("p"))
        );
        // 50 km covers all of it.
        let all = c
            .resolve(&Target::Circle(Circle {
                lat: 49.0195,
                lon: 12.0975,
                radius_m: 50_000.0,
            }))
            .expect("circle");
        assert!(all.whole_city);
        assert_eq!(all.areas.len(), 18);
        for (target, field) in [
            (Target::Areas(vec!["99".into()]), "target.areas"),
            (
                Target::Circle(Circle {
                    lat: 48.137,
                    lon: 11.575,
                    radius_m: 1000.0,
                }),
                "target.circle",
            ),
            (
                Target::Circle(Circle {
                    lat: 49.0,
                    lon: 12.1,
                    radius_m: 0.0,
                }),
                "target.circle.radius_m",
            ),
            (
                Target::Circle(Circle {
                    lat: 49.0,
                    lon: 12.1,
                    radius_m: 50_001.0,
                }),
                "target.circle.radius_m",
            ),
            (
                // A bow tie crosses itself.
                Target::Polygon(serde_json::json!({"type": "Polygon", "coordinates":
                    [[[12.08, 49.01], [12.11, 49.03], [12.11, 49.01], [12.08, 49.03], [12.08, 49.01]]]})),
                "target.polygon",
            ),
            (
                Target::Polygon(serde_json::json!({"type": "Point", "coordinates": [12.1, 49.0]})),
                "target.polygon",
            ),
        ] {
            let err = c.resolve(&target).expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
    }

    /// South of the old town: parts of Kumpfmühl (13), Galgenberg (12) and Kasernenviertel (11).
    const SOUTH: [[f64; 2]; 5] = [
        [12.085, 48.997],
        [12.115, 48.997],
        [12.115, 49.005],
        [12.085, 49.005],
        [12.085, 48.997],
    ];

    #[test]
    fn a_polygon_or_multipolygon_resolves_to_the_districts_it_touches() {
        let c = regensburg();
        let south = c
            .resolve(&Target::Polygon(
                serde_json::json!({"type": "Polygon", "coordinates": [SOUTH]}),
            ))
            .expect("polygon");
        assert_eq!(south.areas, ["11", "12", "13"]);
        assert!(!south.whole_city);
        // The same box and 100 m around the cathedral, as two parts of one MultiPolygon.
        let dom = circle_polygon(Coordinates::new(49.0195, 12.0975).expect("p"), 100.0);
        let ring: Vec<[f64; 2]> = dom.exterior().0.iter().map(|c| [c.x, c.y]).collect();
        let both = c
            .resolve(&Target::Polygon(serde_json::json!({
                "type": "MultiPolygon", "coordinates": [[SOUTH], [ring]]
            })))
            .expect("multipolygon");
        assert_eq!(both.areas, ["01", "11", "12", "13"]);
        let inside = |lat, lon| both.shape.contains(Coordinates { lat, lon });
        assert!(inside(49.0195, 12.0975) && inside(48.9985, 12.0950));
        assert!(!inside(49.0300, 12.0975));
        // Parts that overlap are refused, as a self-crossing polygon is.
        let err = c
            .resolve(&Target::Polygon(serde_json::json!({
                "type": "MultiPolygon", "coordinates": [[SOUTH], [SOUTH]]
            })))
            .expect_err("overlap");
        assert_eq!(err.field, "target.polygon", "{err}");
    }

    #[test]
    fn a_place_is_rounded_to_about_100_m_and_its_code_reads_back() {
        let p = Place::rounded(Coordinates::new(49.019_54, 12.097_46).expect("p"));
        assert_eq!((p.lat_e3, p.lon_e3), (49_020, 12_097));
        assert_eq!(Place::parse_code(&p.code()), Some(p));
        assert_eq!(Place::parse_code("91000,0"), None);
        assert_eq!(Place::parse_code("x,1"), None);
        assert!(Coordinates::new(f64::NAN, 1.0).is_err());
        assert!(Coordinates::new(91.0, 1.0).is_err());
    }
}
