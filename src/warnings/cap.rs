//! CAP 1.2 XML documents (and 1.0/1.1, brought up to 1.2) read with the `oasiscap` crate into
//! the same `Document` the NINA API gives as JSON, so one mapping serves both.

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
        assert!(parse("{\"identifier\": 1}").is_err());
    }
}
