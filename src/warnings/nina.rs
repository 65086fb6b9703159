//! The federal warning API (NINA, `…/api31`): the dashboard of a district and the warning
//! documents (CAP 1.2 as JSON), read into checked types; every failure is one `FetchError`.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::fetch::{self, AllowedHost};
use super::mapping::Ars;

/// One entry of `dashboard/{ARS}.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct DashboardEntry {
    pub id: String,
    pub payload: DashboardPayload,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DashboardPayload {
    pub version: i64,
    #[serde(default)]
    pub data: Option<DashboardData>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardData {
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub headline: Option<String>,
}

/// A warning document (`warnings/{id}.json`): CAP 1.2 fields as the API writes them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub identifier: String,
    #[serde(default)]
    pub sender: Option<String>,
    pub sent: String,
    pub status: String,
    pub msg_type: String,
    #[serde(default)]
    pub references: Option<String>,
    #[serde(default)]
    pub info: Vec<Info>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub headline: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub instruction: Option<String>,
    #[serde(default)]
    pub web: Option<String>,
    #[serde(default)]
    pub parameter: Vec<ValuePair>,
    #[serde(default)]
    pub area: Vec<Area>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Area {
    #[serde(default)]
    pub area_desc: Option<String>,
    /// CAP polygons: `lat,lon` pairs (latitude first) separated by spaces, first = last.
    #[serde(default)]
    pub polygon: Vec<String>,
    /// CAP circles: `lat,lon radius`, the radius in kilometres.
    #[serde(default)]
    pub circle: Vec<String>,
    #[serde(default)]
    pub geocode: Vec<ValuePair>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "ValuePairForm")]
pub struct ValuePair {
    pub value_name: String,
    pub value: String,
}

/// A value pair as JSON and CAP 1.1/1.2 write it (`valueName`, `value`), or as CAP 1.0 does
/// (`<parameter>valueName=value</parameter>`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ValuePairForm {
    value_name: Option<String>,
    value: Option<String>,
    #[serde(rename = "$text")]
    text: Option<String>,
}

impl TryFrom<ValuePairForm> for ValuePair {
    type Error = String;

    fn try_from(form: ValuePairForm) -> Result<Self, String> {
        match (form.value_name, form.value, form.text) {
            (Some(value_name), Some(value), _) => Ok(ValuePair { value_name, value }),
            (None, None, Some(text)) => match text.split_once('=') {
                Some((name, value)) => Ok(ValuePair {
                    value_name: name.trim().to_string(),
                    value: value.trim().to_string(),
                }),
                None => Err(format!("value pair '{text}' without '='")),
            },
            (None, _, _) => Err("value pair without valueName".into()),
            (Some(_), None, _) => Err("value pair without value".into()),
        }
    }
}

impl Document {
    /// A `warnings/{id}.json` document. CAP shapes (`polygon`, `circle`) are read as one text
    /// or a list of texts; a shape of another form is left out rather than the warning lost
    /// (the feed then asks for its `.geojson`).
    pub fn from_json(text: &str) -> Result<Document, String> {
        let mut doc: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let areas = doc
            .get_mut("info")
            .and_then(serde_json::Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(|i| i.get_mut("area").and_then(serde_json::Value::as_array_mut))
            .flatten()
            .filter_map(serde_json::Value::as_object_mut);
        for area in areas {
            for key in ["polygon", "circle"] {
                let texts = match area.remove(key) {
                    Some(text @ serde_json::Value::String(_)) => vec![text],
                    Some(serde_json::Value::Array(list)) => {
                        list.into_iter().filter(|v| v.is_string()).collect()
                    }
                    _ => continue,
                };
                area.insert(key.into(), serde_json::Value::Array(texts));
            }
        }
        serde_json::from_value(doc).map_err(|e| e.to_string())
    }

    /// The info block in `lang` (`de`, `DE`, `de-DE` …), else the first one.
    pub fn info_in(&self, lang: &str) -> Option<&Info> {
        self.info
            .iter()
            .find(|i| {
                i.language
                    .as_deref()
                    .is_some_and(|l| l.trim().to_ascii_lowercase().starts_with(lang))
            })
            .or_else(|| self.info.first())
    }

    /// The district keys the warning names: `warnVerwaltungsbereiche` and twelve-digit
    /// geocodes of its areas.
    pub fn area_codes(&self) -> Vec<String> {
        let mut codes = Vec::new();
        for info in &self.info {
            for p in &info.parameter {
                if p.value_name == "warnVerwaltungsbereiche" {
                    codes.extend(p.value.split(',').map(|c| c.trim().to_string()));
                }
            }
            for a in &info.area {
                for g in &a.geocode {
                    let v = g.value.trim();
                    if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
                        codes.push(v.to_string());
                    }
                }
            }
        }
        codes.retain(|c| !c.is_empty());
        codes
    }

    /// The identifiers in `references` (CAP: `sender,identifier,sent` triples separated by
    /// spaces; MoWaS writes lists inside the triple, so every token is taken).
    pub fn referenced_identifiers(&self) -> Vec<String> {
        let Some(refs) = &self.references else {
            return Vec::new();
        };
        let mut ids: Vec<String> = refs
            .split([' ', ','])
            .map(str::trim)
            .filter(|t| !t.is_empty() && *t != self.identifier)
            .map(str::to_string)
            .collect();
        ids.dedup();
        ids
    }
}

/// Why a request to the warning API gave nothing usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("HTTP {0}")]
    Status(u16),
    #[error("unreadable answer: {0}")]
    Invalid(String),
    #[error("network: {0}")]
    Network(String),
    #[error("larger than {0} bytes (warnings.max_document_bytes): cut, not read")]
    TooLarge(u64),
    #[error("not fetched: {0}")]
    Refused(String),
}

impl FetchError {
    /// The `outcome` label of `amtsbote_warnings_polls_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            FetchError::Timeout(_) => "timeout",
            FetchError::Status(_) => "http_error",
            FetchError::Invalid(_) => "invalid",
            FetchError::Network(_) => "network",
            FetchError::TooLarge(_) => "too_large",
            FetchError::Refused(_) => "refused",
        }
    }
}

/// A client of the warning API at `base` (e.g. `https://warnung.bund.de/api31`), of the CAP
/// feeds the city configured, and of the documents those feeds list.
#[derive(Clone)]
pub struct NinaClient {
    /// For the addresses the city configured.
    http: reqwest::Client,
    /// For the entries of CAP feeds: only public addresses, unless listed.
    entries: reqwest::Client,
    base: String,
    timeout: Duration,
    max_document_bytes: u64,
    cap_allowed_hosts: Vec<AllowedHost>,
}

impl NinaClient {
    pub fn new(
        base: &str,
        timeout: Duration,
        max_document_bytes: u64,
        cap_allowed_hosts: Vec<AllowedHost>,
    ) -> Result<NinaClient, String> {
        url::Url::parse(base).map_err(|e| format!("'{base}' is not a URL: {e}"))?;
        let builder = || {
            reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(5)))
                .pool_max_idle_per_host(2)
                .tcp_nodelay(true)
                .redirect(fetch::same_host_redirects())
        };
        let http = builder()
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        let entries = builder()
            .dns_resolver(Arc::new(fetch::GuardedResolver::new(
                cap_allowed_hosts.clone(),
            )))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(NinaClient {
            http,
            entries,
            base: base.trim_end_matches('/').to_string(),
            timeout,
            max_document_bytes,
            cap_allowed_hosts,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn dashboard(&self, ars: &Ars) -> Result<Vec<DashboardEntry>, FetchError> {
        self.get_json(&format!("{}/dashboard/{ars}.json", self.base))
            .await
    }

    pub async fn warning(&self, id: &str) -> Result<Document, FetchError> {
        let text = self.get_text(&self.warning_url(id, "json")?).await?;
        Document::from_json(&text).map_err(FetchError::Invalid)
    }

    /// The warning's geometry (`warnings/{id}.geojson`, GeoJSON as RFC 7946 writes it); `None`
    /// when the API has none for it (404).
    pub async fn geometry(&self, id: &str) -> Result<Option<String>, FetchError> {
        match self.get_text(&self.warning_url(id, "geojson")?).await {
            Ok(text) => Ok(Some(text)),
            Err(FetchError::Status(404)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn warning_url(&self, id: &str, extension: &str) -> Result<String, FetchError> {
        // An id is the API's; keep it from reaching outside the warnings path.
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(FetchError::Invalid(format!("unusable warning id '{id}'")));
        }
        Ok(format!("{}/warnings/{id}.{extension}", self.base))
    }

    /// The body of `url`, an address the city configured (a CAP feed's XML).
    pub async fn get_text(&self, url: &str) -> Result<String, FetchError> {
        self.fetch(&self.http, url).await
    }

    /// The document `entry` that the CAP feed at `feed` lists, when the rules let it be fetched
    /// (see [`fetch`]); a refusal is logged and counted.
    pub async fn cap_entry(&self, entry: &str, feed: &url::Url) -> Result<String, FetchError> {
        let checked = url::Url::parse(entry)
            .map_err(|e| e.to_string())
            .and_then(|u| fetch::entry_allowed(&u, feed, &self.cap_allowed_hosts));
        let outcome = match checked {
            Ok(()) => self.fetch(&self.entries, entry).await,
            Err(why) => Err(FetchError::Refused(why)),
        };
        if let Err(FetchError::Refused(why)) = &outcome {
            tracing::warn!(
                feed = %fetch::shown(feed.as_str()),
                entry = %fetch::shown(entry),
                "a CAP feed lists a document the feed may not fetch: {why}"
            );
            metrics::counter!("amtsbote_warnings_documents_refused_total").increment(1);
        }
        outcome
    }

    async fn fetch(&self, client: &reqwest::Client, url: &str) -> Result<String, FetchError> {
        let response = client.get(url).send().await.map_err(|e| self.error(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        fetch::read_limited(response, url, self.max_document_bytes, |e| self.error(e)).await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, FetchError> {
        let body = self.get_text(url).await?;
        serde_json::from_str(&body).map_err(|e| FetchError::Invalid(e.to_string()))
    }

    fn error(&self, e: reqwest::Error) -> FetchError {
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            if let Some(fetch::Refused(why)) = c.downcast_ref::<fetch::Refused>() {
                return FetchError::Refused(why.clone());
            }
            cause = c.source();
        }
        if e.is_timeout() {
            FetchError::Timeout(self.timeout)
        } else if e.is_decode() || e.is_body() {
            FetchError::Invalid(crate::channels::describe_reqwest_error(e))
        } else {
            FetchError::Network(crate::channels::describe_reqwest_error(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_fixture_reads_with_ids_and_versions() {
        let entries: Vec<DashboardEntry> =
            serde_json::from_str(include_str!("../../tests/fixtures/nina/dashboard_ars.json"))
                .expect("dashboard parses");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].id, "mow.DE-BW-S-SE018-20211102-18-001");
        assert_eq!(entries[0].payload.version, 1);
        assert_eq!(
            entries[1]
                .payload
                .data
                .as_ref()
                .and_then(|d| d.provider.as_deref()),
            Some("MOWAS")
        );
    }

    #[test]
    fn cap_shapes_in_json_are_read_as_one_text_or_a_list_and_other_forms_are_left_out() {
        let mut doc: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/nina/warning_mowas.json"))
                .expect("fixture");
        let storm = "38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14";
        doc["info"][0]["area"] = serde_json::json!([
            {"areaDesc": "a", "polygon": storm, "circle": ["49,12 1", 7]},
            {"areaDesc": "b", "polygon": {"type": "Polygon"}, "circle": null},
        ]);
        let read = Document::from_json(&doc.to_string()).expect("document");
        let areas = &read.info[0].area;
        assert_eq!(areas[0].polygon, [storm]);
        assert_eq!(areas[0].circle, ["49,12 1"]);
        assert!(areas[1].polygon.is_empty() && areas[1].circle.is_empty());
        assert!(Document::from_json("[").is_err());
    }

    #[test]
    fn the_mowas_document_names_its_areas_and_references() {
        let d: Document =
            serde_json::from_str(include_str!("../../tests/fixtures/nina/warning_mowas.json"))
                .expect("document parses");
        let codes = d.area_codes();
        assert_eq!(codes.len(), 16);
        assert!(codes.contains(&"050000000000".to_string()));
        let refs = d.referenced_identifiers();
        assert!(refs.contains(&"mow.DE-NW-BN-SE030-20200403-30-000".to_string()));
        assert!(!refs.contains(&d.identifier));
        assert_eq!(
            d.info_in("de").and_then(|i| i.language.as_deref()),
            Some("DE")
        );
    }
}
