//! Where a warning applies, as a broadcast [`Target`]: from a CAP document's `<polygon>`s and
//! `<circle>`s, or from the NINA API's `warnings/{id}.geojson`. Several shapes become their
//! union; nothing here decides who gets the warning (that is `Catalogue::resolve`'s).

use geo::orient::{Direction, Orient};
use geo::{MultiPolygon, Polygon};

use super::nina::Document;
use crate::domain::area::{self, Circle, Coordinates, MAX_RADIUS_M, Target};

/// The shapes a CAP document's areas give, across all its info blocks (each language repeats
/// them); `None` when it has none. A shape that cannot be read makes the whole geometry
/// unusable: leaving it out would narrow the warning to the shapes that remain.
pub fn of_cap(doc: &Document) -> Result<Option<Target>, String> {
    let mut shapes = Shapes::default();
    for area in doc.info.iter().flat_map(|i| &i.area) {
        for p in &area.polygon {
            shapes.add_polygon(cap_polygon(p)?);
        }
        for c in &area.circle {
            let (centre, radius_m) = cap_circle(c)?;
            // A circle of radius 0 marks a point (an epicentre), not an area.
            if radius_m > 0.0 {
                shapes.add_circle(centre, radius_m);
            }
        }
    }
    Ok(shapes.target())
}

/// The Polygons and MultiPolygons of a GeoJSON text (a FeatureCollection, a Feature or a
/// geometry; RFC 7946, longitude first); `None` when it holds none (an empty collection, or
/// features without geometry). Other geometry types cannot be targeted and are refused.
pub fn of_geojson(text: &str) -> Result<Option<Target>, String> {
    let geojson: geojson::GeoJson = text.parse().map_err(|e| format!("not GeoJSON: {e}"))?;
    let geometries: Vec<geojson::Geometry> = match geojson {
        geojson::GeoJson::Geometry(g) => vec![g],
        geojson::GeoJson::Feature(f) => f.geometry.into_iter().collect(),
        geojson::GeoJson::FeatureCollection(fc) => {
            fc.features.into_iter().filter_map(|f| f.geometry).collect()
        }
    };
    let mut shapes = Shapes::default();
    let mut pending = geometries;
    while let Some(g) = pending.pop() {
        match g.value {
            geojson::GeometryValue::GeometryCollection { geometries } => pending.extend(geometries),
            value => {
                for p in area::multi_polygon(&value)? {
                    shapes.add_polygon(p);
                }
            }
        }
    }
    Ok(shapes.target())
}

/// `lat,lon lat,lon …` (latitude first, the opposite of GeoJSON), the first pair repeated last.
fn cap_polygon(text: &str) -> Result<Polygon<f64>, String> {
    let ring = text
        .split_whitespace()
        .map(|pair| cap_point(pair).map(|c| geojson::Position::from([c.lon, c.lat])))
        .collect::<Result<Vec<_>, _>>()?;
    area::polygon(&[ring]).map_err(|e| format!("CAP polygon: {e}"))
}

/// `lat,lon radius` with the radius in kilometres; the centre and the radius in metres.
fn cap_circle(text: &str) -> Result<(Coordinates, f64), String> {
    let mut parts = text.split_whitespace();
    let (Some(centre), Some(radius), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("CAP circle '{text}' is not 'lat,lon radius_km'"));
    };
    let radius_km: f64 = radius
        .parse()
        .map_err(|_| format!("CAP circle '{text}': radius '{radius}' is not a number"))?;
    if !radius_km.is_finite() || radius_km < 0.0 {
        return Err(format!("CAP circle '{text}': radius {radius_km} km"));
    }
    Ok((cap_point(centre)?, radius_km * 1000.0))
}

fn cap_point(pair: &str) -> Result<Coordinates, String> {
    let number = |s: &str| s.trim().parse::<f64>().ok();
    let (lat, lon) = pair
        .split_once(',')
        .and_then(|(lat, lon)| Some((number(lat)?, number(lon)?)))
        .ok_or_else(|| format!("CAP point '{pair}' is not 'latitude,longitude'"))?;
    Coordinates::new(lat, lon).map_err(|e| format!("CAP point '{pair}': {e}"))
}

/// The shapes found so far, each once.
#[derive(Default)]
struct Shapes {
    polygons: Vec<Polygon<f64>>,
    circles: Vec<(Coordinates, f64)>,
}

impl Shapes {
    fn add_polygon(&mut self, p: Polygon<f64>) {
        if !self.polygons.contains(&p) {
            self.polygons.push(p);
        }
    }

    fn add_circle(&mut self, centre: Coordinates, radius_m: f64) {
        if !self.circles.contains(&(centre, radius_m)) {
            self.circles.push((centre, radius_m));
        }
    }

    /// One circle stays a circle (exact, up to the broadcast limit); anything else is the union
    /// of the polygons and the circles as 64-gons: a Polygon, or a MultiPolygon of parts that
    /// do not overlap.
    fn target(self) -> Option<Target> {
        match (self.polygons.as_slice(), self.circles.as_slice()) {
            ([], []) => return None,
            ([], [(centre, radius_m)]) if *radius_m <= MAX_RADIUS_M => {
                return Some(Target::Circle(Circle {
                    lat: centre.lat,
                    lon: centre.lon,
                    radius_m: *radius_m,
                }));
            }
            _ => {}
        }
        if let ([_], []) = (self.polygons.as_slice(), self.circles.as_slice()) {
            let value = geojson::GeometryValue::from(&self.polygons[0]);
            return polygon_target(value);
        }
        let mut parts = self.polygons;
        parts.extend(
            self.circles
                .iter()
                .map(|(centre, radius_m)| area::circle_polygon(*centre, *radius_m)),
        );
        // The union reads a ring's winding as filled or hole: one orientation for all (the
        // feeds write either, and a circle's ring goes clockwise).
        let parts: Vec<Polygon<f64>> = parts.iter().map(|p| p.orient(Direction::Default)).collect();
        let union: MultiPolygon<f64> = geo::unary_union(&parts);
        let value = match union.0.as_slice() {
            [one] => geojson::GeometryValue::from(one),
            _ => geojson::GeometryValue::from(&union),
        };
        polygon_target(value)
    }
}

fn polygon_target(value: geojson::GeometryValue) -> Option<Target> {
    serde_json::to_value(geojson::Geometry::new(value))
        .ok()
        .map(Target::Polygon)
}

#[cfg(test)]
mod tests {
    use geo::Contains;

    use super::*;
    use crate::warnings::cap;

    const DWD: &str = include_str!(
        "../../tests/fixtures/nina/cap12_dwd_starkregen_update_polygon_warncellid.xml"
    );
    const STORM: &str =
        include_str!("../../tests/fixtures/nina/cap12_oasis_example_a2_severe_thunderstorm.xml");
    const QUAKE: &str =
        include_str!("../../tests/fixtures/nina/cap12_oasis_example_a3_earthquake_update.xml");

    /// The target's polygons, as `geo` reads them back.
    fn parts(target: &Target) -> MultiPolygon<f64> {
        let Target::Polygon(value) = target else {
            panic!("a polygon target, not {target:?}");
        };
        let g: geojson::Geometry = serde_json::from_value(value.clone()).expect("GeoJSON");
        area::multi_polygon(&g.value).expect("polygons")
    }

    fn point(lat: f64, lon: f64) -> geo::Point<f64> {
        geo::Point::new(lon, lat)
    }

    #[test]
    fn the_dwd_polygon_is_read_latitude_first_once_for_all_eight_languages() {
        let doc = cap::parse(DWD).expect("CAP");
        assert_eq!(doc.info.len(), 8);
        let target = of_cap(&doc).expect("geometry").expect("a polygon");
        // The ring ends with its first pair twice; a broadcast may still take it.
        assert!(target.shape(None).is_ok(), "{:?}", target.shape(None));
        let parts = parts(&target);
        assert_eq!(parts.0.len(), 1, "the same polygon in 8 languages is one");
        let ring = &parts.0[0].exterior().0;
        assert_eq!(ring.len(), 72);
        // The document's first pair, `52.625569,12.172358`, is latitude then longitude.
        assert!(ring.contains(&geo::coord! { x: 12.172358, y: 52.625569 }));
        // Near Brandenburg an der Havel, not in the Indian Ocean (where lat and lon swapped
        // would put it).
        let bounds = geo::BoundingRect::bounding_rect(&parts).expect("bounds");
        assert!((52.3..52.8).contains(&bounds.min().y), "{bounds:?}");
        assert!((12.0..12.8).contains(&bounds.min().x), "{bounds:?}");
        assert!(parts.contains(&point(52.55, 12.2)));
        assert!(!parts.contains(&point(52.55, 12.3)));
    }

    #[test]
    fn the_oasis_storm_polygon_is_read_latitude_first() {
        let doc = cap::parse(STORM).expect("CAP");
        let target = of_cap(&doc).expect("geometry").expect("a polygon");
        assert_eq!(
            target,
            Target::Polygon(serde_json::json!({"type": "Polygon", "coordinates": [[
                [-120.14, 38.47], [-119.95, 38.34], [-119.74, 38.52], [-119.89, 38.62],
                [-120.14, 38.47]
            ]]}))
        );
        // Inside, in California.
        assert!(parts(&target).contains(&point(38.48, -119.93)));
    }

    #[test]
    fn a_circle_has_its_radius_in_kilometres_and_a_radius_of_zero_is_a_point_not_an_area() {
        // The OASIS earthquake: `32.9525,-115.5527 0`, the epicentre only.
        let quake = cap::parse(QUAKE).expect("CAP");
        assert_eq!(of_cap(&quake), Ok(None));
        let near_dom = QUAKE.replace("32.9525,-115.5527 0", "49.0195,12.0975 1.5");
        let doc = cap::parse(&near_dom).expect("CAP");
        assert_eq!(
            of_cap(&doc),
            Ok(Some(Target::Circle(Circle {
                lat: 49.0195,
                lon: 12.0975,
                radius_m: 1500.0
            })))
        );
        // Beyond the broadcast limit it is a polygon of the same size.
        let wide = QUAKE.replace("32.9525,-115.5527 0", "49.0195,12.0975 80");
        let parts = parts(
            &of_cap(&cap::parse(&wide).expect("CAP"))
                .expect("ok")
                .expect("some"),
        );
        assert!(parts.contains(&point(49.0195 + 0.7, 12.0975)));
        assert!(!parts.contains(&point(49.0195 + 0.75, 12.0975)));
    }

    #[test]
    fn several_polygons_and_circles_are_their_union() {
        let doc = STORM.replace(
            "</polygon>",
            "</polygon>\n<circle>38.5,-119.9 1</circle><circle>40,-100 2</circle>",
        );
        let parts = parts(
            &of_cap(&cap::parse(&doc).expect("CAP"))
                .expect("ok")
                .expect("some"),
        );
        // The small circle lies inside the polygon; the far one is a part of its own.
        assert_eq!(parts.0.len(), 2, "{parts:?}");
        assert!(parts.contains(&point(40.0, -100.0)));
        assert!(parts.contains(&point(38.48, -119.93)));
    }

    #[test]
    fn an_unreadable_shape_makes_the_geometry_unusable() {
        for (from, to) in [
            ("38.47,-120.14 38.34", "-120.14,38.47 38.34"),
            ("38.62,-119.89 38.47,-120.14", "38.62,-119.89"),
            ("38.34,-119.95", "38.34;-119.95"),
        ] {
            let doc = cap::parse(&STORM.replace(from, to)).expect("CAP");
            assert!(of_cap(&doc).is_err(), "{to}");
        }
        let circle = |c: &str| QUAKE.replace("32.9525,-115.5527 0", c);
        for bad in ["32.9,-115.5", "32.9,-115.5 -1", "32.9,-115.5 x", "95,1 1"] {
            let doc = cap::parse(&circle(bad)).expect("CAP");
            assert!(of_cap(&doc).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_nina_geojson_answer_gives_its_polygons_and_multipolygons() {
        let square = |x: f64, y: f64| {
            serde_json::json!([[
                [x, y],
                [x + 0.01, y],
                [x + 0.01, y + 0.01],
                [x, y + 0.01],
                [x, y]
            ]])
        };
        let fc = serde_json::json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": square(12.09, 49.0)}},
            {"type": "Feature", "properties": {}, "geometry": {"type": "MultiPolygon", "coordinates": [square(12.12, 49.0), square(12.09, 49.0)]}},
            {"type": "Feature", "properties": {}, "geometry": null}
        ]});
        let parts = parts(&of_geojson(&fc.to_string()).expect("ok").expect("some"));
        assert_eq!(parts.0.len(), 2, "{parts:?}");
        assert!(parts.contains(&point(49.005, 12.125)));
        let feature = serde_json::json!({"type": "Feature", "properties": {},
            "geometry": {"type": "Polygon", "coordinates": square(12.09, 49.0)}});
        assert!(of_geojson(&feature.to_string()).expect("ok").is_some());
        let empty = r#"{"type": "FeatureCollection", "features": []}"#;
        assert_eq!(of_geojson(empty), Ok(None));
        let point_only = r#"{"type": "Point", "coordinates": [12.1, 49.0]}"#;
        assert!(of_geojson(point_only).is_err());
        assert!(of_geojson("<html>").is_err());
    }
}
