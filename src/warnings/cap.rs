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

    /// The file that records what every CAP and Atom fixture reads as; written again with
    /// `AMTSBOTE_WRITE_SNAPSHOT=1` only when a change of values is intended.
    const SNAPSHOT: &str = "tests/fixtures/nina/cap_documents.snapshot";

    /// Every XML fixture, and CAP 1.1 and 1.0 forms of the OASIS examples, with what they read
    /// as: the comparison that holds the parser's values still when its insides change.
    #[test]
    fn every_cap_fixture_reads_as_recorded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let ours = root.join("tests/fixtures/nina");
        let mut cases: Vec<(String, String)> = std::fs::read_dir(&ours)
            .expect("fixtures")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .map(|p| {
                let name = p.file_name().expect("name").to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).expect("fixture"))
            })
            .collect();
        cases.sort();
        // The shared fixtures are read from their copies here, so the test needs nothing
        // outside the repository; a shared one without a copy fails until it is copied in.
        if let Ok(shared) = std::fs::read_dir(root.join("../shared/fixtures/nina")) {
            for path in shared.map(|e| e.expect("entry").path()) {
                if path.extension().is_some_and(|x| x == "xml") {
                    let name = path
                        .file_name()
                        .expect("name")
                        .to_string_lossy()
                        .into_owned();
                    let text = std::fs::read_to_string(&path).expect("fixture");
                    assert!(
                        cases.iter().any(|(n, t)| *n == name && *t == text),
                        "copy {name} into tests/fixtures/nina and record it"
                    );
                }
            }
        }
        let quake =
            include_str!("../../tests/fixtures/nina/cap12_oasis_example_a3_earthquake_update.xml");
        let storm = include_str!(
            "../../tests/fixtures/nina/cap12_oasis_example_a2_severe_thunderstorm.xml"
        );
        // oasiscap refuses this real DWD alert for its decimal `altitude`/`ceiling`; with whole
        // numbers it reads, and those elements are not in `Document`.
        let dwd = include_str!(
            "../../tests/fixtures/nina/cap12_dwd_starkregen_update_polygon_warncellid.xml"
        );
        cases.push((
            "DWD alert with whole-number altitude and ceiling".into(),
            dwd.replace("<altitude>0.0</altitude>", "<altitude>0</altitude>")
                .replace("<ceiling>9842.5197</ceiling>", "<ceiling>9842</ceiling>"),
        ));
        let cap11 = |xml: &str| xml.replace("emergency:cap:1.2", "emergency:cap:1.1");
        cases.push(("storm as CAP 1.1".into(), cap11(storm)));
        cases.push(("quake as CAP 1.1".into(), cap11(quake)));
        // CAP 1.0 writes a parameter as `valueName=value` and knows no `Observed`.
        let mut quake10 = quake
            .replace(
                "urn:oasis:names:tc:emergency:cap:1.2",
                "http://www.incident.com/cap/1.0",
            )
            .replace("Observed", "Likely");
        for (name, value) in [
            ("EventID", "13970876"),
            ("Version", "1"),
            ("Magnitude", "3.4 Ml"),
            ("Depth", "11.8 mi."),
            ("Quality", "Excellent"),
        ] {
            quake10 = quake10.replace(
                &format!("<valueName>{name}</valueName>\n            <value>{value}</value>"),
                &format!("{name}={value}"),
            );
        }
        cases.push(("quake as CAP 1.0".into(), quake10));
        cases.push((
            "an Atom feed".into(),
            r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Warnungen</title>
  <link rel="self" href="https://example.org/cap/feed.xml"/>
  <entry><id>a</id><link href="a.xml"/><link rel="related" href="no.xml"/></entry>
  <entry><id>b</id><link rel="enclosure" href="https://other.example/b.xml"/></entry>
  <entry><id>c</id><content type="application/cap+xml" src="/c.xml"/></entry>
  <entry><id>d</id><summary>none</summary></entry>
</feed>"#
                .into(),
        ));

        let base = url::Url::parse("https://example.org/cap/feed.xml").expect("url");
        let mut read = String::new();
        for (name, xml) in &cases {
            let parsed = match parse(xml) {
                Ok(doc) => format!("Ok({doc:#?})"),
                Err(_) => "Err".to_string(),
            };
            read.push_str(&format!(
                "== {name} ==\natom_entries: {:?}\nparse: {parsed}\n\n",
                atom_entries(xml, &base)
            ));
        }
        let path = root.join(SNAPSHOT);
        if std::env::var_os("AMTSBOTE_WRITE_SNAPSHOT").is_some() {
            std::fs::write(&path, &read).expect("snapshot written");
        }
        let recorded = std::fs::read_to_string(&path).expect("snapshot");
        assert!(
            recorded == read,
            "{SNAPSHOT} differs from what the fixtures read as:\n{read}"
        );
    }
}
