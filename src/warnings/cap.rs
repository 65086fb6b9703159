//! CAP 1.2 XML documents (and 1.0/1.1, brought up to 1.2) read with the `oasiscap` crate into
//! the same `Document` the NINA API gives as JSON, so one mapping serves both; Atom feeds that
//! list CAP documents, read with `xml-rs`.

use serde_json::{Map, Value};

use super::nina::Document;

/// Reads one CAP document (`<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">…`).
pub fn parse(xml: &str) -> Result<Document, String> {
    let alert: oasiscap::Alert = xml
        .parse()
        .map_err(|e| format!("not a CAP document: {e}"))?;
    // oasiscap writes its serde names with the XML namespace; the field names after it are
    // CAP's own, which are also the NINA JSON's.
    let value =
        serde_json::to_value(alert.into_latest()).map_err(|e| format!("CAP document: {e}"))?;
    serde_json::from_value(local_names(value)).map_err(|e| format!("CAP document: {e}"))
}

/// The CAP documents an Atom feed lists (each entry's `link href`, or its `content src`), as
/// absolute URLs against `base`; `None` when `xml` is not an Atom feed.
pub fn atom_entries(xml: &str, base: &url::Url) -> Option<Vec<String>> {
    use xml::reader::{EventReader, XmlEvent};
    let mut links = Vec::new();
    let (mut depth, mut in_entry, mut is_feed) = (0usize, false, false);
    for event in EventReader::new(xml.as_bytes()) {
        match event.ok()? {
            XmlEvent::StartElement {
                name, attributes, ..
            } => {
                depth += 1;
                match (depth, name.local_name.as_str()) {
                    (1, "feed") => is_feed = true,
                    (1, _) => return None,
                    (_, "entry") => in_entry = true,
                    (_, "link" | "content") if in_entry => {
                        let attr = |n: &str| {
                            attributes
                                .iter()
                                .find(|a| a.name.local_name == n)
                                .map(|a| a.value.as_str())
                        };
                        let target = attr("href").or_else(|| attr("src"));
                        let related = matches!(attr("rel"), None | Some("alternate" | "enclosure"));
                        if let (Some(t), true) = (target, related)
                            && let Ok(u) = base.join(t)
                        {
                            links.push(u.to_string());
                        }
                    }
                    _ => {}
                }
            }
            XmlEvent::EndElement { name } => {
                depth = depth.saturating_sub(1);
                if name.local_name == "entry" {
                    in_entry = false;
                }
            }
            _ => {}
        }
    }
    links.dedup();
    is_feed.then_some(links)
}

/// `{urn:…;}cap:identifier` → `identifier`, all the way down.
fn local_names(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let local = k.rsplit([':', '}']).next().unwrap_or(&k).to_string();
                    (local, local_names(v))
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(local_names).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atom_feed_lists_its_cap_documents() {
        let feed = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Warnungen</title>
  <link rel="self" href="https://example.org/cap/feed.xml"/>
  <entry><id>a</id><link href="a.xml"/></entry>
  <entry><id>b</id><link rel="alternate" type="application/cap+xml" href="https://other.example/b.xml"/></entry>
  <entry><id>c</id><content type="application/cap+xml" src="/c.xml"/></entry>
</feed>"#;
        let base = url::Url::parse("https://example.org/cap/feed.xml").expect("url");
        assert_eq!(
            atom_entries(feed, &base),
            Some(vec![
                "https://example.org/cap/a.xml".to_string(),
                "https://other.example/b.xml".into(),
                "https://example.org/c.xml".into(),
            ])
        );
        assert_eq!(atom_entries("<feed", &base), None);
    }

    #[test]
    fn the_oasis_examples_read_as_documents() {
        let storm = parse(include_str!(
            "../../tests/fixtures/nina/cap12_oasis_example_a2_severe_thunderstorm.xml"
        ))
        .expect("CAP");
        assert_eq!(storm.identifier, "KSTO1055887203");
        assert_eq!(storm.msg_type, "Alert");
        assert_eq!(storm.status, "Actual");
        let info = storm.info_in("en").expect("info");
        assert_eq!(info.severity.as_deref(), Some("Severe"));
        assert_eq!(
            info.headline.as_deref(),
            Some("SEVERE THUNDERSTORM WARNING")
        );
        assert!(info.expires.is_some());

        let quake = parse(include_str!(
            "../../tests/fixtures/nina/cap12_oasis_example_a3_earthquake_update.xml"
        ))
        .expect("CAP");
        assert_eq!(quake.msg_type, "Update");
        assert_eq!(
            quake.referenced_identifiers(),
            [
                "trinet@caltech.edu",
                "TRI13970876.1",
                "2003-06-11T20:30:00-07:00"
            ]
        );
        assert_eq!(
            quake.info[0].web.as_deref(),
            Some("http://www.trinet.org/scsn/scsn.html")
        );
        assert!(parse("<alert>not CAP</alert>").is_err());
        let base = url::Url::parse("https://example.org/cap/feed.xml").expect("url");
        assert_eq!(
            atom_entries(
                include_str!(
                    "../../tests/fixtures/nina/cap12_oasis_example_a2_severe_thunderstorm.xml"
                ),
                &base
            ),
            None
        );
        assert!(parse("{\"identifier\": 1}").is_err());
    }
}
