//! CAP documents (1.2, and 1.1 and 1.0, which differ only in namespace and a few optional
//! elements) read with `quick-xml` straight into the `Document` the NINA API gives as JSON, so
//! one mapping serves both; and the Atom feeds that list CAP documents.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use serde::Deserialize;

use super::nina::{Document, ValuePair};

/// The namespaces of CAP 1.2, 1.1 and 1.0: the elements `Document` reads are the same in all
/// three (1.0 writes a value pair as `name=value`, which `ValuePair` reads too).
const CAP_NAMESPACES: [&str; 3] = [
    "urn:oasis:names:tc:emergency:cap:1.2",
    "urn:oasis:names:tc:emergency:cap:1.1",
    "http://www.incident.com/cap/1.0",
];

/// Reads one CAP document (`<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">…`, with or
/// without a prefix); elements `Document` does not know are skipped.
pub fn parse(xml: &str) -> Result<Document, String> {
    let (namespace, name) = root(xml).map_err(|e| format!("not a CAP document: {e}"))?;
    if name != "alert" || !CAP_NAMESPACES.contains(&namespace.as_deref().unwrap_or_default()) {
        return Err(format!(
            "not a CAP document: the root element is <{name}> in {}, not a CAP 1.0, 1.1 or 1.2 \
             <alert>",
            namespace.as_deref().unwrap_or("no namespace")
        ));
    }
    let doc = quick_xml::de::from_str(xml).map_err(|e| format!("not a CAP document: {e}"))?;
    Ok(tidied(doc))
}

/// CAP's values without the indentation around them, and `web` written as a URL (as the NINA
/// API writes them, and as the values read before).
fn tidied(mut doc: Document) -> Document {
    fn trim(s: &mut String) {
        if s.trim().len() != s.len() {
            *s = s.trim().to_string();
        }
    }
    let pairs = |pairs: &mut Vec<ValuePair>| {
        for p in pairs {
            trim(&mut p.value_name);
            trim(&mut p.value);
        }
    };
    for s in [
        &mut doc.identifier,
        &mut doc.sent,
        &mut doc.status,
        &mut doc.msg_type,
    ] {
        trim(s);
    }
    for info in &mut doc.info {
        if let Some(web) = &mut info.web
            && let Ok(url) = url::Url::parse(web.trim())
        {
            *web = url.into();
        }
        for s in [
            &mut info.language,
            &mut info.event,
            &mut info.severity,
            &mut info.expires,
            &mut info.headline,
            &mut info.description,
            &mut info.instruction,
            &mut info.web,
        ] {
            s.as_mut().map(trim);
        }
        pairs(&mut info.parameter);
        for area in &mut info.area {
            area.area_desc.as_mut().map(trim);
            area.polygon
                .iter_mut()
                .chain(&mut area.circle)
                .for_each(trim);
            pairs(&mut area.geocode);
        }
    }
    for s in [&mut doc.sender, &mut doc.references] {
        s.as_mut().map(trim);
    }
    doc
}

/// The CAP documents an Atom feed lists (each entry's `link href` with `rel` absent,
/// `alternate` or `enclosure`, or its `content src`), as absolute URLs against `base`; `None`
/// when `xml` is not an Atom feed.
pub fn atom_entries(xml: &str, base: &url::Url) -> Option<Vec<String>> {
    let (_, name) = root(xml).ok()?;
    if name != "feed" {
        return None;
    }
    let feed: Feed = quick_xml::de::from_str(xml).ok()?;
    let mut links: Vec<String> = feed
        .entry
        .iter()
        .flat_map(|e| e.link.iter().chain(&e.content))
        .filter(|l| matches!(l.rel.as_deref(), None | Some("alternate" | "enclosure")))
        .filter_map(|l| l.href.as_deref().or(l.src.as_deref()))
        .filter_map(|target| base.join(target).ok())
        .map(String::from)
        .collect();
    links.dedup();
    Some(links)
}

/// An Atom feed, as far as it lists documents.
#[derive(Deserialize)]
struct Feed {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    link: Vec<Link>,
    #[serde(default)]
    content: Option<Link>,
}

/// A `<link href rel>` or a `<content src>`.
#[derive(Deserialize)]
struct Link {
    #[serde(rename = "@href")]
    href: Option<String>,
    #[serde(rename = "@src")]
    src: Option<String>,
    #[serde(rename = "@rel")]
    rel: Option<String>,
}

/// The namespace and local name of the root element.
fn root(xml: &str) -> Result<(Option<String>, String), String> {
    let mut reader = NsReader::from_str(xml);
    loop {
        match reader.read_resolved_event().map_err(|e| e.to_string())? {
            (namespace, Event::Start(e) | Event::Empty(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let namespace = match namespace {
                    ResolveResult::Bound(ns) => {
                        Some(String::from_utf8_lossy(ns.as_ref()).into_owned())
                    }
                    _ => None,
                };
                return Ok((namespace, name));
            }
            (_, Event::Eof) => return Err("no element".into()),
            _ => {}
        }
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

    #[test]
    fn a_prefixed_cap_document_with_unknown_elements_reads_the_same() {
        let storm = include_str!(
            "../../tests/fixtures/nina/cap12_oasis_example_a2_severe_thunderstorm.xml"
        );
        let prefixed = storm
            .replace(
                r#"<alert xmlns = "urn:oasis:names:tc:emergency:cap:1.2">"#,
                r#"<cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2" xmlns:x="urn:x">"#,
            )
            .replace("</alert>", "</cap:alert>")
            .replace("<info>", "<info><foo>bar<x:baz/></foo>")
            .replace("<area>", "<area><x:extra a=\"1\">text</x:extra>");
        let prefixed = with_cap_prefix(&prefixed);
        assert!(prefixed.contains("<cap:headline>"), "{prefixed}");
        assert_eq!(parse(&prefixed), parse(storm));
        assert!(parse(storm).is_ok());
    }

    /// Puts `cap:` before every CAP element of the storm example.
    fn with_cap_prefix(xml: &str) -> String {
        let mut out = xml.to_string();
        for name in [
            "identifier",
            "sender",
            "sent",
            "status",
            "msgType",
            "scope",
            "info",
            "category",
            "event",
            "responseType",
            "urgency",
            "severity",
            "certainty",
            "eventCode",
            "valueName",
            "value",
            "expires",
            "senderName",
            "headline",
            "description",
            "instruction",
            "contact",
            "areaDesc",
            "area",
            "polygon",
            "geocode",
        ] {
            out = out
                .replace(&format!("<{name}>"), &format!("<cap:{name}>"))
                .replace(&format!("</{name}>"), &format!("</cap:{name}>"));
        }
        out
    }

    #[test]
    fn text_keeps_its_entities_and_cdata() {
        let doc = parse(
            r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>a</identifier>
            <sent>2024-01-01T00:00:00+01:00</sent><status>Actual</status><msgType>Alert</msgType>
            <info><headline> Sturm &amp; Regen &lt;heute&gt; </headline>
            <description><![CDATA[Fenster <schließen>]]></description></info></alert>"#,
        )
        .expect("CAP");
        assert_eq!(
            doc.info[0].headline.as_deref(),
            Some("Sturm & Regen <heute>")
        );
        assert_eq!(
            doc.info[0].description.as_deref(),
            Some("Fenster <schließen>")
        );
    }

    #[test]
    fn what_is_not_cap_is_refused_with_a_reason() {
        let no_namespace = parse("<alert>not CAP</alert>").expect_err("not CAP");
        assert!(
            no_namespace.contains("not a CAP document"),
            "{no_namespace}"
        );
        assert!(no_namespace.contains("<alert>"), "{no_namespace}");
        let atom = parse(r#"<feed xmlns="http://www.w3.org/2005/Atom"/>"#).expect_err("Atom");
        assert!(atom.contains("<feed>"), "{atom}");
        let cut =
            parse(r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</ident"#)
                .expect_err("cut");
        assert!(cut.starts_with("not a CAP document: "), "{cut}");
        let missing = parse(
            r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>"#,
        )
        .expect_err("no sent");
        assert!(missing.contains("sent"), "{missing}");
        assert!(parse("").is_err());
        assert!(parse("{\"identifier\": 1}").is_err());
    }

    #[test]
    fn a_prefixed_atom_feed_with_unknown_elements_lists_its_entries() {
        let feed = r#"<?xml version="1.0" encoding="UTF-8"?>
<atom:feed xmlns:atom="http://www.w3.org/2005/Atom" xmlns:x="urn:x">
  <atom:title>Warnungen</atom:title>
  <x:note>not Atom</x:note>
  <atom:link rel="self" href="https://example.org/cap/feed.xml"/>
  <atom:entry>
    <atom:id>a</atom:id><atom:link href="a.xml"/><x:foo><atom:link href="no.xml"/></x:foo>
    <atom:link rel="related" href="related.xml"/><atom:updated>2024</atom:updated>
    <atom:link rel="enclosure" href="a2.xml"/>
  </atom:entry>
  <x:between/>
  <atom:entry><atom:id>c</atom:id><atom:content type="application/cap+xml" src="/c.xml"/></atom:entry>
</atom:feed>"#;
        let base = url::Url::parse("https://example.org/cap/feed.xml").expect("url");
        assert_eq!(
            atom_entries(feed, &base),
            Some(vec![
                "https://example.org/cap/a.xml".to_string(),
                "https://example.org/cap/a2.xml".into(),
                "https://example.org/c.xml".into(),
            ])
        );
        assert_eq!(atom_entries("<rss><channel/></rss>", &base), None);
        assert_eq!(atom_entries("", &base), None);
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
