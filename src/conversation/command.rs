//! What people type and press, parsed once into typed values: the command words (with their
//! German aliases), their arguments, and button data. The Telegram command menu is generated
//! from the same table.

use crate::domain::{BroadcastKind, ChannelKind};

/// A command word, whatever language it was typed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    Start,
    Topics,
    Subscribe,
    Unsubscribe,
    Language,
    Help,
    Stop,
    Delete,
    Announce,
    Alert,
    Drill,
    Update,
    Allclear,
    Confirm,
    Cancel,
    Status,
    Schedule,
    ScheduleCron,
    Scheduled,
    Unschedule,
    StopBroadcast,
    /// A one-time link to the dashboard.
    Login,
    /// Choose districts, share a location, forget a kept place.
    Areas,
    /// Correct a sent broadcast.
    Correct,
    /// Take a sent broadcast back.
    Retract,
    /// The radius of an alert around the place its author shared on site.
    Radius,
    /// The last broadcasts on one's topics, with their archive links.
    Latest,
    /// A department's draft for the press office.
    Draft,
    /// The press office changes a draft's text before approving it.
    Edit,
    /// The press office turns a draft down, with a reason.
    Reject,
    /// A text template filled in: `/vorlage NAME feld=wert …`.
    Template,
}

impl Word {
    /// Whether it drafts a broadcast (what a file's caption may say).
    pub fn drafts_broadcast(self) -> bool {
        matches!(
            self,
            Word::Announce
                | Word::Alert
                | Word::Drill
                | Word::Update
                | Word::Allclear
                | Word::Schedule
                | Word::ScheduleCron
        )
    }
}

/// Every word, its spellings, and the menu text key for those in the menu.
const WORDS: [(Word, &[&str], Option<&str>); 31] = [
    (Word::Start, &["start", "anmelden"], Some("cmd-start")),
    (Word::Topics, &["topics", "themen"], Some("cmd-topics")),
    (Word::Areas, &["areas", "bezirke"], Some("cmd-areas")),
    (Word::Latest, &["latest", "neueste"], Some("cmd-latest")),
    (Word::Subscribe, &["subscribe", "abonnieren"], None),
    (Word::Unsubscribe, &["unsubscribe", "abbestellen"], None),
    (
        Word::Language,
        &["language", "sprache"],
        Some("cmd-language"),
    ),
    (Word::Help, &["help", "hilfe"], Some("cmd-help")),
    (Word::Stop, &["stop"], Some("cmd-stop")),
    (
        Word::Delete,
        &["delete", "loeschen", "löschen"],
        Some("cmd-delete"),
    ),
    (Word::Announce, &["announce", "meldung"], None),
    (Word::Alert, &["alert", "warnung"], None),
    (Word::Drill, &["drill", "uebung", "übung"], None),
    (Word::Update, &["update", "aktualisierung"], None),
    (Word::Allclear, &["allclear", "entwarnung"], None),
    (Word::Confirm, &["confirm", "bestaetigen"], None),
    (Word::Cancel, &["cancel", "abbrechen"], None),
    (Word::Status, &["status"], Some("cmd-status")),
    (Word::Schedule, &["schedule"], None),
    (Word::ScheduleCron, &["schedule_cron"], None),
    (Word::Scheduled, &["scheduled"], None),
    (Word::Unschedule, &["unschedule"], None),
    (
        Word::StopBroadcast,
        &["stop_broadcast", "meldung_stoppen"],
        None,
    ),
    (Word::Login, &["login", "dashboard", "anmeldelink"], None),
    (Word::Correct, &["correct", "korrektur"], None),
    (Word::Retract, &["retract", "widerruf"], None),
    (Word::Radius, &["radius", "umkreis"], None),
    (Word::Draft, &["draft", "entwurf"], None),
    (Word::Edit, &["edit", "bearbeiten"], None),
    (Word::Reject, &["reject", "ablehnen"], None),
    (Word::Template, &["template", "vorlage"], None),
];

/// `strasse=Hauptstraße von=Montag 8 Uhr bis=Freitag`: each `name=` starts a field, whose value
/// runs to the next one (spaces inside kept as one).
pub fn template_fields(rest: &str) -> std::collections::BTreeMap<String, String> {
    let mut fields = std::collections::BTreeMap::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    for word in rest.split_whitespace() {
        let starts = word
            .split_once('=')
            .filter(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_'));
        match starts {
            Some((key, value)) => {
                if let Some((k, v)) = current.take() {
                    fields.insert(k, v.join(" "));
                }
                let first = if value.is_empty() {
                    vec![]
                } else {
                    vec![value]
                };
                current = Some((key.to_lowercase(), first));
            }
            None => {
                if let Some((_, v)) = current.as_mut() {
                    v.push(word);
                }
            }
        }
    }
    if let Some((k, v)) = current {
        fields.insert(k, v.join(" "));
    }
    fields
}

impl Word {
    pub fn parse(word: &str) -> Option<Word> {
        WORDS
            .iter()
            .find(|(_, spellings, _)| spellings.contains(&word))
            .map(|(w, _, _)| *w)
    }

    /// Commands only staff may use.
    pub fn is_staff(self) -> bool {
        !matches!(
            self,
            Word::Start
                | Word::Topics
                | Word::Subscribe
                | Word::Unsubscribe
                | Word::Language
                | Word::Help
                | Word::Stop
                | Word::Delete
                | Word::Latest
                | Word::Areas
        )
    }
}

/// The command menu: each command's first spelling and the key of its description.
pub fn menu() -> Vec<(&'static str, &'static str)> {
    WORDS
        .iter()
        .filter_map(|(_, spellings, key)| Some((spellings[0], (*key)?)))
        .collect()
}

/// A command with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    pub word: Word,
    /// What follows the command word, trimmed.
    pub rest: &'a str,
}

/// Splits `/command@bot rest` into a known command and the rest. On WhatsApp commands also work
/// without the slash. `None`: not a command we know.
pub fn parse(text: &str, channel: ChannelKind) -> Option<Command<'_>> {
    let (word, rest) = parse_command(text, channel);
    Some(Command {
        word: Word::parse(&word?)?,
        rest: rest.trim(),
    })
}

/// Splits `/command@bot rest` into the command (lower case, without slash) and the rest.
pub fn parse_command(text: &str, channel: ChannelKind) -> (Option<String>, &str) {
    let text = text.trim();
    let (first, rest) = match text.split_once(char::is_whitespace) {
        Some((f, r)) => (f, r),
        None => (text, ""),
    };
    let word = match first.strip_prefix('/') {
        Some(w) => w,
        None if channel == ChannelKind::Whatsapp => first,
        None => return (None, text),
    };
    let word = word.split('@').next().unwrap_or(word).to_lowercase();
    if word.is_empty() {
        (None, text)
    } else {
        (Some(word), rest)
    }
}

/// A follow-up's kind for its command word.
pub fn follow_up_kind(word: Word) -> Option<BroadcastKind> {
    match word {
        Word::Update => Some(BroadcastKind::Update),
        Word::Allclear => Some(BroadcastKind::Allclear),
        _ => None,
    }
}

/// A broadcast id as staff type it: `42` or `#42`.
pub fn broadcast_id(s: &str) -> Option<i64> {
    s.trim().trim_start_matches('#').parse().ok()
}

/// What a button carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonData {
    /// Toggle a topic.
    Topic(String),
    /// Erase my data (the code of the request).
    Erase(String),
    /// Send a draft or approve a broadcast (its code).
    Confirm(String),
    /// Drop a draft or a request for approval (its code).
    Drop(String),
    /// Toggle a district (its id).
    Area(String),
    /// Show page N of the district keyboard.
    AreaPage(usize),
    /// The whole city: no district, no kept place.
    WholeCity,
    /// Ask for the location (Telegram's location button, WhatsApp's location request).
    ShareLocation,
    /// Keep this place (rounded, `lat_e3,lon_e3`) for warnings nearby: the citizen's consent.
    KeepPlace(String),
    /// Do not keep the place: only the district stays.
    NoPlace,
    /// Forget the kept place.
    ForgetPlace,
    /// Aim the alert draft with this code at a circle around a place shared on site; radius 0:
    /// the author types another radius (`/radius`).
    Radius(OnSite),
    /// Open a page (a link, not a press the bot hears of): Telegram shows it as a URL button;
    /// WhatsApp's buttons carry no links, so there the link stands in the text instead.
    Open(String),
}

/// An alert draft's code, a radius in metres and the place (`lat,lon`, five decimals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnSite {
    pub code: String,
    pub radius_m: u32,
    pub place: String,
}

impl OnSite {
    /// The place as latitude and longitude, when it reads as numbers.
    pub fn point(&self) -> Option<(f64, f64)> {
        let (lat, lon) = self.place.split_once(',')?;
        Some((lat.parse().ok()?, lon.parse().ok()?))
    }
}

impl ButtonData {
    pub fn parse(data: &str) -> Option<ButtonData> {
        let (kind, value) = data.split_once(':')?;
        let value = value.to_string();
        Some(match kind {
            "t" => ButtonData::Topic(value),
            "d" => ButtonData::Erase(value),
            "c" => ButtonData::Confirm(value),
            "x" => ButtonData::Drop(value),
            "a" => ButtonData::Area(value),
            "ap" => ButtonData::AreaPage(value.parse().ok()?),
            "aw" => ButtonData::WholeCity,
            "al" => ButtonData::ShareLocation,
            "ak" => ButtonData::KeepPlace(value),
            "an" => ButtonData::NoPlace,
            "af" => ButtonData::ForgetPlace,
            "o" => ButtonData::Open(value),
            "ar" => {
                let mut parts = value.splitn(3, ':');
                let (code, radius, place) = (parts.next()?, parts.next()?, parts.next()?);
                ButtonData::Radius(OnSite {
                    code: code.to_string(),
                    radius_m: radius.parse().ok()?,
                    place: place.to_string(),
                })
            }
            _ => return None,
        })
    }

    /// As the platforms carry it (Telegram allows 64 bytes).
    pub fn encode(&self) -> String {
        match self {
            ButtonData::Topic(v) => format!("t:{v}"),
            ButtonData::Erase(v) => format!("d:{v}"),
            ButtonData::Confirm(v) => format!("c:{v}"),
            ButtonData::Drop(v) => format!("x:{v}"),
            ButtonData::Area(v) => format!("a:{v}"),
            ButtonData::AreaPage(n) => format!("ap:{n}"),
            ButtonData::WholeCity => "aw:".into(),
            ButtonData::ShareLocation => "al:".into(),
            ButtonData::KeepPlace(v) => format!("ak:{v}"),
            ButtonData::NoPlace => "an:".into(),
            ButtonData::ForgetPlace => "af:".into(),
            ButtonData::Radius(o) => format!("ar:{}:{}:{}", o.code, o.radius_m, o.place),
            ButtonData::Open(url) => format!("o:{url}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_lose_their_slash_bot_name_and_case() {
        assert_eq!(
            parse_command("/Start", ChannelKind::Telegram),
            (Some("start".into()), "")
        );
        assert_eq!(
            parse(
                "/announce@amtsbote_bot news Straße gesperrt",
                ChannelKind::Telegram
            ),
            Some(Command {
                word: Word::Announce,
                rest: "news Straße gesperrt"
            })
        );
        assert_eq!(parse("hallo", ChannelKind::Telegram), None);
        assert_eq!(parse("/hallo", ChannelKind::Telegram), None);
        assert_eq!(
            parse("STOP", ChannelKind::Whatsapp).map(|c| c.word),
            Some(Word::Stop)
        );
        assert_eq!(
            parse("/Entwarnung 4 vorbei", ChannelKind::Telegram).map(|c| c.word),
            Some(Word::Allclear)
        );
    }

    #[test]
    fn template_fields_run_to_the_next_name() {
        let f = template_fields("strasse=Hauptstraße von=Montag, 8 Uhr bis=Freitag");
        assert_eq!(f["strasse"], "Hauptstraße");
        assert_eq!(f["von"], "Montag, 8 Uhr");
        assert_eq!(f["bis"], "Freitag");
        assert!(template_fields("").is_empty());
    }

    #[test]
    fn buttons_read_back_what_they_wrote() {
        for b in [
            ButtonData::Topic("news".into()),
            ButtonData::Erase("ABC234".into()),
            ButtonData::Confirm("ABC234".into()),
            ButtonData::Drop("ABC234".into()),
            ButtonData::Area("01".into()),
            ButtonData::AreaPage(2),
            ButtonData::WholeCity,
            ButtonData::ShareLocation,
            ButtonData::KeepPlace("49020,12097".into()),
            ButtonData::NoPlace,
            ButtonData::ForgetPlace,
            ButtonData::Radius(OnSite {
                code: "ABC234".into(),
                radius_m: 1000,
                place: "49.01234,12.09876".into(),
            }),
        ] {
            let data = b.encode();
            assert!(data.len() <= 64, "Telegram carries 64 bytes: {data}");
            assert_eq!(ButtonData::parse(&data), Some(b));
        }
        assert_eq!(ButtonData::parse("ar:ABC234:far:49,12"), None);
        assert_eq!(ButtonData::parse("z:1"), None);
        assert_eq!(ButtonData::parse("nonsense"), None);
    }

    #[test]
    fn the_menu_holds_citizen_commands_and_status() {
        let words: Vec<&str> = menu().iter().map(|(w, _)| *w).collect();
        assert_eq!(
            words,
            [
                "start", "topics", "areas", "latest", "language", "help", "stop", "delete",
                "status"
            ]
        );
    }
}
