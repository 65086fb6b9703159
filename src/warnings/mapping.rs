//! From one official warning document to what the city's subscribers get: a pure function of
//! the document, the settings and the time, so every rule is tested on real payloads.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use fluent_bundle::FluentValue;

use super::nina::Document;
use crate::domain::Priority;
use crate::i18n::Texts;

/// An Amtliche Regionalschlüssel at district level: twelve digits, the last seven zeros (the
/// federal API answers per district).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ars(String);

impl Ars {
    pub fn parse(s: &str) -> Result<Ars, String> {
        let s = s.trim();
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) && s.ends_with("0000000") {
            Ok(Ars(s.to_string()))
        } else {
            Err(format!(
                "'{s}' is not a district's Regionalschlüssel: twelve digits ending in seven zeros, like 051110000000"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether the area key `key` (any level, zeros below it) covers district `ars`. The levels of
/// a key are Land (2 digits), Regierungsbezirk (3), Kreis (5), Verband (9), Gemeinde (12).
pub fn covers(key: &str, ars: &Ars) -> bool {
    let key = key.trim();
    if key.len() != 12 || !key.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let level = [2, 3, 5, 9, 12]
        .into_iter()
        .find(|l| key[*l..].bytes().all(|b| b == b'0'))
        .unwrap_or(12);
    // A key below district level (a Gemeinde) lies inside the district when their districts agree.
    let level = level.min(5);
    key[..level] == ars.0[..level]
}

/// CAP severity, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Unknown,
    Minor,
    Moderate,
    Severe,
    Extreme,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "Unknown",
            Severity::Minor => "Minor",
            Severity::Moderate => "Moderate",
            Severity::Severe => "Severe",
            Severity::Extreme => "Extreme",
        }
    }

    /// The queue priority a warning of this severity goes out with.
    pub fn priority(self) -> Priority {
        match self {
            Severity::Extreme | Severity::Severe => Priority::Alert,
            Severity::Moderate => Priority::Urgent,
            Severity::Minor | Severity::Unknown => Priority::Normal,
        }
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "minor" => Ok(Severity::Minor),
            "moderate" => Ok(Severity::Moderate),
            "severe" => Ok(Severity::Severe),
            "extreme" => Ok(Severity::Extreme),
            "unknown" => Ok(Severity::Unknown),
            other => Err(format!(
                "unknown severity '{other}', expected Minor, Moderate, Severe or Extreme"
            )),
        }
    }
}

/// Who published a warning in the federal system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Mowas,
    Dwd,
    Katwarn,
    Biwapp,
    Lhp,
    Police,
    /// A CAP 1.2 feed the city configured.
    Cap,
}

impl Provider {
    pub const FEDERAL: [Provider; 6] = [
        Provider::Mowas,
        Provider::Dwd,
        Provider::Katwarn,
        Provider::Biwapp,
        Provider::Lhp,
        Provider::Police,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Mowas => "mowas",
            Provider::Dwd => "dwd",
            Provider::Katwarn => "katwarn",
            Provider::Biwapp => "biwapp",
            Provider::Lhp => "lhp",
            Provider::Police => "police",
            Provider::Cap => "cap",
        }
    }

    /// How the source line names it.
    pub fn label(self) -> &'static str {
        match self {
            Provider::Mowas => "NINA / MoWaS",
            Provider::Dwd => "NINA / DWD",
            Provider::Katwarn => "NINA / KATWARN",
            Provider::Biwapp => "NINA / BIWAPP",
            Provider::Lhp => "NINA / LHP",
            Provider::Police => "NINA / Polizei",
            Provider::Cap => "CAP",
        }
    }

    /// The provider a NINA id names by its prefix (`mow.`, `dwd.`, `kat.`, `biw.`, `lhp.`,
    /// `pol.`), else the dashboard's `provider` field.
    pub fn of(identifier: &str, listed: Option<&str>) -> Option<Provider> {
        let prefix = identifier.split('.').next().unwrap_or_default();
        let by_prefix = match prefix.to_ascii_lowercase().as_str() {
            "mow" => Some(Provider::Mowas),
            "dwd" => Some(Provider::Dwd),
            "kat" => Some(Provider::Katwarn),
            "biw" => Some(Provider::Biwapp),
            "lhp" => Some(Provider::Lhp),
            "pol" => Some(Provider::Police),
            _ => None,
        };
        by_prefix.or_else(|| listed.and_then(|p| p.parse().ok()))
    }
}

impl FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mowas" => Ok(Provider::Mowas),
            "dwd" => Ok(Provider::Dwd),
            "katwarn" => Ok(Provider::Katwarn),
            "biwapp" => Ok(Provider::Biwapp),
            "lhp" => Ok(Provider::Lhp),
            "police" | "polizei" => Ok(Provider::Police),
            "cap" => Ok(Provider::Cap),
            other => Err(format!(
                "unknown provider '{other}', expected mowas, dwd, katwarn, biwapp, lhp or police"
            )),
        }
    }
}

/// What the document says happened: a new warning, a change to one, or its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Alert,
    Update,
    Cancel,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Alert => "Alert",
            MessageType::Update => "Update",
            MessageType::Cancel => "Cancel",
        }
    }
}

/// The mapping's settings (from `warnings.*`).
#[derive(Debug, Clone)]
pub struct Rules {
    pub ars: Vec<Ars>,
    pub min_severity: Severity,
    pub providers: Vec<Provider>,
    pub tz: chrono_tz::Tz,
}

/// Why a warning is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// `expires` lies in the past.
    Expired,
    /// Below `warnings.min_severity`.
    TooMinor,
    /// Its area does not include any configured district.
    OutsideArea,
    /// From a provider the city did not choose.
    ProviderOff,
    /// Not a warning we can read (a required field missing, an unknown `msgType`).
    Unreadable(String),
}

impl Skip {
    /// The decision as the warnings table and the audit log name it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Skip::Expired => "expired",
            Skip::TooMinor => "too_minor",
            Skip::OutsideArea => "outside_area",
            Skip::ProviderOff => "provider_off",
            Skip::Unreadable(_) => "unreadable",
        }
    }
}

/// A warning ready to go out.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub msg_type: MessageType,
    pub severity: Severity,
    pub priority: Priority,
    /// Below `warnings.min_severity`: an update goes out only to follow what was sent.
    pub below_minimum: bool,
    /// `status` Exercise or Test: a drill, to the staff only, never to citizens.
    pub exercise: bool,
    pub text_de: String,
    pub text_en: Option<String>,
    /// The identifiers the document refers to (earlier warnings it updates or cancels).
    pub references: Vec<String>,
}

/// What the mapping made of one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub identifier: String,
    pub provider: Provider,
    pub msg_type: String,
    pub severity: Severity,
    pub headline: String,
    pub expires_at: Option<i64>,
    pub outcome: Result<Plan, Skip>,
}

/// Maps `doc`; `listed_for` is the district whose dashboard listed it (None for a CAP feed).
pub fn map(
    doc: &Document,
    provider: Provider,
    listed_for: Option<&Ars>,
    rules: &Rules,
    texts: &Texts,
    now: DateTime<Utc>,
) -> Mapped {
    let de = doc.info_in("de");
    let severity = de
        .and_then(|i| i.severity.as_deref())
        .and_then(|s| s.parse().ok())
        .unwrap_or(Severity::Unknown);
    let headline = de
        .and_then(|i| i.headline.clone())
        .or_else(|| de.and_then(|i| i.event.clone()))
        .unwrap_or_default();
    let expires_at = de
        .and_then(|i| i.expires.as_deref())
        .and_then(parse_time)
        .map(|t| t.timestamp_millis());
    let mut mapped = Mapped {
        identifier: doc.identifier.clone(),
        provider,
        msg_type: doc.msg_type.clone(),
        severity,
        headline: headline.clone(),
        expires_at,
        outcome: Err(Skip::Unreadable(String::new())),
    };
    mapped.outcome = decide(doc, provider, listed_for, rules, texts, now, &mapped);
    mapped
}

fn decide(
    doc: &Document,
    provider: Provider,
    listed_for: Option<&Ars>,
    rules: &Rules,
    texts: &Texts,
    now: DateTime<Utc>,
    m: &Mapped,
) -> Result<Plan, Skip> {
    let Some(de) = doc.info_in("de") else {
        return Err(Skip::Unreadable("the document has no info block".into()));
    };
    let msg_type = match doc.msg_type.trim().to_ascii_lowercase().as_str() {
        "alert" => MessageType::Alert,
        "update" => MessageType::Update,
        "cancel" => MessageType::Cancel,
        other => return Err(Skip::Unreadable(format!("msgType '{other}'"))),
    };
    let exercise = match doc.status.trim().to_ascii_lowercase().as_str() {
        "exercise" | "test" => true,
        "draft" => {
            return Err(Skip::Unreadable(
                "status Draft: not for distribution".into(),
            ));
        }
        _ => false,
    };
    if provider != Provider::Cap && !rules.providers.contains(&provider) {
        return Err(Skip::ProviderOff);
    }
    let codes = doc.area_codes();
    let inside = if codes.is_empty() {
        // No district keys in the document: the dashboard listed it for our district (or the
        // city chose the CAP feed for itself).
        listed_for.is_some() || provider == Provider::Cap
    } else {
        rules
            .ars
            .iter()
            .any(|ars| codes.iter().any(|c| covers(c, ars)))
    };
    if !inside {
        return Err(Skip::OutsideArea);
    }
    // An all-clear is worth sending even after the warning's own end.
    if msg_type != MessageType::Cancel && m.expires_at.is_some_and(|e| e <= now.timestamp_millis())
    {
        return Err(Skip::Expired);
    }
    let below_minimum = m.severity.max(Severity::Minor) < rules.min_severity;
    if below_minimum && msg_type == MessageType::Alert && !exercise {
        return Err(Skip::TooMinor);
    }
    let sent = parse_time(&doc.sent).unwrap_or(now);
    let text_de = compose(texts, "de", de, msg_type, provider, sent, rules.tz);
    let text_en = doc
        .info
        .iter()
        .find(|i| lang_is(i.language.as_deref(), "en"))
        .map(|en| compose(texts, "en", en, msg_type, provider, sent, rules.tz));
    Ok(Plan {
        msg_type,
        severity: m.severity,
        priority: m.severity.priority(),
        below_minimum,
        exercise,
        text_de,
        text_en,
        references: doc.referenced_identifiers(),
    })
}

fn lang_is(language: Option<&str>, want: &str) -> bool {
    language.is_some_and(|l| l.trim().to_ascii_lowercase().starts_with(want))
}

/// `2021-11-02T20:07:16+01:00` and the like.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The message: what kind, headline, description, instruction, link, then the source and the
/// time it was issued, in `lang`.
fn compose(
    texts: &Texts,
    lang: &str,
    info: &super::nina::Info,
    msg_type: MessageType,
    provider: Provider,
    sent: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> String {
    let kind_key = match msg_type {
        MessageType::Alert => "warning-kind-alert",
        MessageType::Update => "warning-kind-update",
        MessageType::Cancel => "warning-kind-cancel",
    };
    let headline = info
        .headline
        .as_deref()
        .or(info.event.as_deref())
        .map(plain)
        .unwrap_or_default();
    let mut parts = vec![format!(
        "{}: {}",
        texts.get(lang, kind_key, &[]),
        headline.trim()
    )];
    for field in [&info.description, &info.instruction, &info.web] {
        if let Some(v) = field.as_deref().map(plain) {
            let v = v.trim();
            if !v.is_empty() {
                parts.push(v.to_string());
            }
        }
    }
    let time = sent.with_timezone(&tz).format("%d.%m.%Y %H:%M").to_string();
    parts.push(texts.get(
        lang,
        "warning-source",
        &[
            ("provider", FluentValue::from(provider.label())),
            ("time", FluentValue::from(time)),
        ],
    ));
    parts.join("\n\n")
}

/// The warning's own markup as plain text: line breaks become new lines; anything else stays
/// as written and is escaped where a channel renders HTML, never passed through.
fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail.find('>').map(|e| e + 1).unwrap_or(0);
        let tag: String = tail[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if matches!(tag.as_str(), "<br>" | "<br/>") {
            out.push('\n');
            rest = &tail[end..];
        } else {
            out.push('<');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warnings::nina::Document;

    const MOWAS: &str = include_str!("../../tests/fixtures/nina/warning_mowas.json");
    const DWD: &str = include_str!("../../tests/fixtures/nina/warning_dwd_profile_ha_edited.json");
    const NOW: &str = "2021-11-02T21:00:00+01:00";

    fn doc(text: &str) -> Document {
        serde_json::from_str(text).expect("fixture parses")
    }

    fn rules(ars: &str, min: Severity) -> Rules {
        Rules {
            ars: vec![Ars::parse(ars).expect("ars")],
            min_severity: min,
            providers: Provider::FEDERAL.to_vec(),
            tz: chrono_tz::Europe::Berlin,
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        parse_time(s).expect("time")
    }

    /// Maps `d` for `r` at `now`, as listed on Düsseldorf's dashboard or not.
    fn map_for(d: &Document, provider: Provider, listed: bool, r: &Rules, now: &str) -> Mapped {
        let dus = Ars::parse("051110000000").expect("ars");
        map(d, provider, listed.then_some(&dus), r, &texts(), at(now))
    }

    fn texts() -> Texts {
        Texts::load().expect("texts")
    }

    #[test]
    fn a_district_key_is_twelve_digits_ending_in_seven_zeros() {
        assert!(Ars::parse("051110000000").is_ok());
        assert!(Ars::parse(" 091620000000 ").is_ok());
        assert!(Ars::parse("051110000001").is_err());
        assert!(Ars::parse("05111000000").is_err());
        assert!(Ars::parse("05111000000x").is_err());
        assert!(Ars::parse("").is_err());
    }

    #[test]
    fn area_keys_cover_the_districts_below_them_only() {
        let dus = Ars::parse("051110000000").expect("ars");
        assert!(covers("050000000000", &dus), "Land NRW");
        assert!(covers("051000000000", &dus), "Regierungsbezirk Düsseldorf");
        assert!(covers("051110000000", &dus), "the district itself");
        assert!(covers("051110000123", &dus), "a Gemeinde in it");
        assert!(!covers("051120000000", &dus), "Duisburg");
        assert!(
            !covers("100000000000", &dus),
            "Saarland, not every key starting with 1"
        );
        assert!(!covers("0", &dus));
        let saar = Ars::parse("100410000000").expect("ars");
        assert!(covers("100000000000", &saar));
        assert!(!covers("110000000000", &saar), "Berlin");
    }

    #[test]
    fn the_mowas_update_maps_to_an_update_for_every_land_it_names() {
        let d = doc(MOWAS);
        let m = map_for(
            &d,
            Provider::Mowas,
            false,
            &rules("051110000000", Severity::Minor),
            NOW,
        );
        assert_eq!(m.identifier, "mow.DE-BW-S-SE018-20211102-18-001");
        assert_eq!(m.severity, Severity::Minor);
        let plan = m.outcome.expect("sent");
        assert_eq!(plan.msg_type, MessageType::Update);
        assert_eq!(plan.priority, Priority::Normal);
        assert!(
            plan.text_de
                .starts_with("Aktualisierung: Corona-Verordnung des Landes")
        );
        assert!(
            plan.text_de
                .contains("Quelle: NINA / MoWaS, 02.11.2021 20:07"),
            "{}",
            plan.text_de
        );
        // The document's <br/> became line breaks, nothing of it is left.
        assert!(!plan.text_de.contains("<br"));
        assert!(plan.text_de.contains("Hände.\n- Beachten Sie"));
        assert_eq!(plan.text_en, None);
        assert!(
            plan.references
                .contains(&"mow.DE-NW-BN-SE030-20200506-30-001".to_string())
        );
    }

    #[test]
    fn below_the_minimum_an_alert_is_skipped_and_an_update_only_flagged() {
        let d = doc(MOWAS);
        let m = map_for(
            &d,
            Provider::Mowas,
            false,
            &rules("051110000000", Severity::Moderate),
            NOW,
        );
        assert!(m.outcome.expect("an update").below_minimum);
        let mut alert = d.clone();
        alert.msg_type = "Alert".into();
        let m = map_for(
            &alert,
            Provider::Mowas,
            false,
            &rules("051110000000", Severity::Moderate),
            NOW,
        );
        assert_eq!(m.outcome, Err(Skip::TooMinor));
    }

    #[test]
    fn the_dwd_warning_is_moderate_urgent_with_its_link_and_source() {
        let d = doc(DWD);
        let m = map_for(
            &d,
            Provider::Dwd,
            true,
            &rules("051110000000", Severity::Moderate),
            "2021-11-01T06:00:00+01:00",
        );
        let plan = m.outcome.expect("sent");
        assert_eq!(plan.msg_type, MessageType::Alert);
        assert_eq!(plan.priority, Priority::Urgent);
        assert!(
            plan.text_de
                .starts_with("Amtliche Warnung: Ausfall Notruf 112")
        );
        assert!(plan.text_de.contains("https://www.wettergefahren.de"));
        assert!(plan.text_de.contains("Quelle: NINA / DWD"));
        assert_eq!(
            m.expires_at,
            Some(at("3021-11-22T05:19:00+01:00").timestamp_millis())
        );
    }

    #[test]
    fn expired_foreign_exercise_and_unchosen_warnings_are_not_sent() {
        let dus = rules("051110000000", Severity::Minor);
        let mut expired = doc(DWD);
        expired.info[0].expires = Some("2021-11-02T20:00:00+01:00".into());
        let m = map_for(&expired, Provider::Dwd, true, &dus, NOW);
        assert_eq!(m.outcome, Err(Skip::Expired));
        // A cancel is still carried after the end: people wait for the all-clear.
        expired.msg_type = "Cancel".into();
        let m = map_for(&expired, Provider::Dwd, true, &dus, NOW);
        assert_eq!(m.outcome.map(|p| p.msg_type), Ok(MessageType::Cancel));

        // The MoWaS document names the Länder; Düsseldorf lies in NRW (05), Bremen (04)
        // too, so take a document for Bavaria (09) only.
        let mut foreign = doc(MOWAS);
        for p in &mut foreign.info[0].parameter {
            if p.value_name == "warnVerwaltungsbereiche" {
                p.value = "090000000000".into();
            }
        }
        let m = map_for(&foreign, Provider::Mowas, false, &dus, NOW);
        assert_eq!(m.outcome, Err(Skip::OutsideArea));
        let munich = rules("091620000000", Severity::Minor);
        let m = map_for(&foreign, Provider::Mowas, false, &munich, NOW);
        assert!(m.outcome.is_ok());

        let mut exercise = doc(MOWAS);
        exercise.status = "Exercise".into();
        let m = map_for(&exercise, Provider::Mowas, false, &dus, NOW);
        assert!(m.outcome.expect("a drill").exercise);

        let only_dwd = Rules {
            providers: vec![Provider::Dwd],
            ..dus.clone()
        };
        let m = map_for(&doc(MOWAS), Provider::Mowas, false, &only_dwd, NOW);
        assert_eq!(m.outcome, Err(Skip::ProviderOff));
    }

    #[test]
    fn an_english_info_block_gives_the_english_text() {
        let mut d = doc(DWD);
        let mut en = d.info[0].clone();
        en.language = Some("en-GB".into());
        en.headline = Some("Official WARNING of GALE-FORCE GUSTS".into());
        d.info.push(en);
        let m = map_for(
            &d,
            Provider::Dwd,
            true,
            &rules("051110000000", Severity::Moderate),
            "2021-11-01T06:00:00+01:00",
        );
        let plan = m.outcome.expect("sent");
        let en = plan.text_en.expect("english");
        assert!(
            en.starts_with("Official warning: Official WARNING of GALE-FORCE GUSTS"),
            "{en}"
        );
        assert!(en.contains("Source: NINA / DWD"));
        assert!(
            plan.text_de
                .starts_with("Amtliche Warnung: Ausfall Notruf 112")
        );
    }

    #[test]
    fn markup_other_than_line_breaks_is_kept_as_text() {
        assert_eq!(plain("a<br/>b<BR>c<br />d"), "a\nb\nc\nd");
        assert_eq!(plain("<b>x</b> < 3"), "<b>x</b> < 3");
        assert_eq!(plain("no tags"), "no tags");
        assert_eq!(plain("open <"), "open <");
    }
}
