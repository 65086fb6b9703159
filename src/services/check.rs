//! "Is this message really the city's?": a forwarded message, a pasted text or a code, compared
//! with what the city sent in the last 90 days. One check behind the chat, the check page and
//! the API; it stores no citizen text.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::archive::{self, CLOSE};
use crate::domain::now_ms;
use crate::store::{Broadcast, Store, StoreResult};

/// How far back a text is compared (a code finds any public broadcast).
pub const WINDOW_MS: i64 = 90 * 24 * 60 * 60 * 1000;
/// Checks per minute for one chat or one client address.
const PER_MINUTE: u32 = 20;
/// The index is built anew this often (broadcasts leave the 90 days).
const REBUILD_MS: i64 = 60 * 60 * 1000;

/// What the check found.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// The city's, as it stands.
    Genuine(Broadcast),
    /// The city's, but corrected since: `current` is what it says now.
    Corrected(Broadcast),
    /// The city's, but taken back.
    Retracted(Broadcast),
    /// Not the city's. `closest`: a broadcast of the city's that it resembles (one word
    /// changed), or the one whose link it carries with another text.
    NotOurs { closest: Option<Broadcast> },
}

impl Verdict {
    /// The verdict's name in the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Genuine(_) => "genuine",
            Verdict::Corrected(_) => "corrected",
            Verdict::Retracted(_) => "retracted",
            Verdict::NotOurs { .. } => "not_ours",
        }
    }

    /// The broadcast to show with it.
    pub fn broadcast(&self) -> Option<&Broadcast> {
        match self {
            Verdict::Genuine(b) | Verdict::Corrected(b) | Verdict::Retracted(b) => Some(b),
            Verdict::NotOurs { closest } => closest.as_ref(),
        }
    }
}

/// What is checked.
#[derive(Debug, Clone, Copy)]
pub enum Question<'a> {
    /// A text as pasted or forwarded.
    Text(&'a str),
    /// A message forwarded from the bot itself (Telegram's forward origin): certainly sent by
    /// the city; the check finds which broadcast it was.
    FromTheBot(&'a str),
}

/// One indexed text of a broadcast (German, or English): its words as numbers of the index's
/// vocabulary, and the same sorted (to count shared words without an edit distance).
struct Entry {
    id: i64,
    words: Vec<u32>,
    sorted: Vec<u32>,
}

#[derive(Default)]
struct Index {
    /// Every broadcast released at or after this is asked for again (ids already in are skipped).
    from: i64,
    /// Every text that became a broadcast's at or after this (a correction) is asked for again.
    versions_from: i64,
    /// `(broadcast, version)` of the texts already in.
    versions: HashSet<(i64, i32)>,
    built_at: i64,
    ids: HashSet<i64>,
    entries: Vec<Entry>,
    /// The words of each text, joined, to the broadcast's id.
    exact: HashMap<String, i64>,
    /// Every word seen, numbered: texts are compared as numbers, not strings.
    vocabulary: HashMap<String, u32>,
}

impl Index {
    /// `words` as numbers; a word the index has not seen gets a number no text has.
    fn numbered(&self, words: &[String]) -> Vec<u32> {
        words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                self.vocabulary
                    .get(w)
                    .copied()
                    .unwrap_or(u32::MAX - i as u32)
            })
            .collect()
    }

    fn add(&mut self, id: i64, words: &[String]) {
        self.exact.insert(words.join(" "), id);
        let numbered: Vec<u32> = words
            .iter()
            .map(|w| {
                let next = self.vocabulary.len() as u32;
                *self.vocabulary.entry(w.clone()).or_insert(next)
            })
            .collect();
        let mut sorted = numbered.clone();
        sorted.sort_unstable();
        self.entries.push(Entry {
            id,
            words: numbered,
            sorted,
        });
    }
}

/// How many words two sorted lists share (with repeats).
fn shared(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

pub struct CheckService {
    store: Arc<dyn Store>,
    index: tokio::sync::Mutex<Index>,
    limiter: DefaultKeyedRateLimiter<String>,
}

impl CheckService {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(PER_MINUTE).unwrap_or(NonZeroU32::MIN));
        CheckService {
            store,
            index: tokio::sync::Mutex::new(Index::default()),
            limiter: RateLimiter::keyed(quota),
        }
    }

    /// Whether `who` (a chat, a client address) may check once more now.
    pub fn allowed(&self, who: &str) -> bool {
        let allowed = self.limiter.check_key(&who.to_string()).is_ok();
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        allowed
    }

    /// The verdict on `question`.
    pub async fn check(&self, question: Question<'_>) -> StoreResult<Verdict> {
        let (text, certain) = match question {
            Question::Text(t) => (t, false),
            Question::FromTheBot(t) => (t, true),
        };
        // A code on its own: that broadcast.
        if let Some(code) = archive::parse_code(text) {
            return Ok(match self.store.archived(&code).await? {
                Some(b) => standing(b, None),
                None => Verdict::NotOurs { closest: None },
            });
        }
        let words = archive::words(text);
        // A link to one of ours: the text must be that broadcast's, as it is or as it was.
        if let Some(code) = archive::find_code(text) {
            if let Some(b) = self.store.archived(&code).await? {
                if words.is_empty() || certain || says(&b, &words) {
                    return Ok(standing(b, Some(&words)));
                }
                let was = b.version > 1
                    && self
                        .store
                        .text_versions(b.id)
                        .await?
                        .iter()
                        .any(|v| archive::words(&v.text) == words);
                return Ok(if was {
                    standing(b, Some(&words))
                } else {
                    Verdict::NotOurs { closest: Some(b) }
                });
            }
            if !certain {
                return Ok(Verdict::NotOurs { closest: None });
            }
        }
        if words.is_empty() {
            return Ok(Verdict::NotOurs { closest: None });
        }
        let (exact, closest) = self.lookup(&words).await?;
        let found = match exact.or(certain.then_some(closest).flatten()) {
            Some(id) => self
                .store
                .broadcast(id)
                .await?
                .map(|b| standing(b, Some(&words))),
            None => None,
        };
        if let Some(verdict) = found {
            return Ok(verdict);
        }
        let closest = match closest {
            Some(id) => self.store.broadcast(id).await?,
            None => None,
        };
        Ok(Verdict::NotOurs { closest })
    }

    /// The broadcast whose text has exactly these words, and the one most alike (at least
    /// `CLOSE`), from the index brought up to date first.
    async fn lookup(&self, words: &[String]) -> StoreResult<(Option<i64>, Option<i64>)> {
        let mut index = self.index.lock().await;
        let now = now_ms();
        if now - index.built_at > REBUILD_MS {
            *index = Index {
                built_at: now,
                ..Index::default()
            };
        }
        let fresh = self
            .store
            .archived_texts(index.from, now - WINDOW_MS)
            .await?;
        for (id, released_at, text, text_en) in fresh {
            index.from = index.from.max(released_at);
            if !index.ids.insert(id) {
                continue;
            }
            for t in std::iter::once(text).chain(text_en) {
                index.add(id, &archive::words(&t));
            }
        }
        // Corrections: the new text and the old ones all lead to the broadcast; which it says
        // now is asked of the broadcast itself.
        let versions = self
            .store
            .archived_versions(index.versions_from, now - WINDOW_MS)
            .await?;
        for (id, version, changed_at, text) in versions {
            index.versions_from = index.versions_from.max(changed_at);
            if index.versions.insert((id, version)) {
                index.add(id, &archive::words(&text));
            }
        }
        let exact = index.exact.get(&words.join(" ")).copied();
        if exact.is_some() {
            return Ok((exact, exact));
        }
        // Close texts (one word changed): an edit distance needs at least as many edits as
        // the longer text has words the other lacks, so shared words bound how alike two texts
        // can be. The edit distance is computed in the order of that bound, best first, and
        // no further once the bound cannot beat the best found (texts from one template share
        // most words: without the order each would be compared in full). The newest of
        // equally close ones wins.
        let asked = index.numbered(words);
        let mut asked_sorted = asked.clone();
        asked_sorted.sort_unstable();
        let mut candidates: Vec<(f64, usize)> = index
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, entry)| {
                let longest = asked.len().max(entry.words.len()) as f64;
                let bound = shared(&asked_sorted, &entry.sorted) as f64 / longest;
                (bound >= CLOSE).then_some((bound, i))
            })
            .collect();
        // Highest bound first; of equal bounds the newest (the later entry) first.
        candidates.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        let mut best: Option<(f64, usize)> = None;
        for (bound, i) in candidates {
            if best.is_some_and(|(b, _)| bound < b) {
                break;
            }
            let entry = &index.entries[i];
            let longest = asked.len().max(entry.words.len()) as f64;
            let alike = 1.0 - strsim::generic_levenshtein(&asked, &entry.words) as f64 / longest;
            if alike >= CLOSE && best.is_none_or(|(b, bi)| alike > b || (alike == b && i > bi)) {
                best = Some((alike, i));
            }
        }
        Ok((None, best.map(|(_, i)| index.entries[i].id)))
    }
}

/// Whether `words` are what `b` says now (a corrected broadcast has no English text of its
/// own: the correction's text goes to everyone).
fn says(b: &Broadcast, words: &[String]) -> bool {
    archive::words(&b.text) == words
}

/// What a broadcast of ours stands as now, asked about with `words` (`None`: by its code).
/// Text a corrected broadcast no longer says is the corrected verdict with what it says now.
fn standing(b: Broadcast, words: Option<&[String]>) -> Verdict {
    if b.status.as_str() == "retracted" {
        Verdict::Retracted(b)
    } else if b.version > 1 && words.is_some_and(|w| !w.is_empty() && !says(&b, w)) {
        Verdict::Corrected(b)
    } else {
        Verdict::Genuine(b)
    }
}

/// The check link under every message to citizens: "Echt? stadt.de/m/CODE" in the
/// subscriber's language (`archive-footer`).
pub struct Footer {
    texts: Arc<crate::i18n::Texts>,
    /// The archive's address without its scheme (`stadt.de`, `stadt.de/amtsbote`).
    base: String,
}

impl std::fmt::Debug for Footer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Footer").field("base", &self.base).finish()
    }
}

impl Footer {
    pub fn new(texts: Arc<crate::i18n::Texts>, public_url: &url::Url) -> Footer {
        let host = public_url.host_str().unwrap_or_default();
        let port = public_url
            .port()
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        let path = public_url.path().trim_end_matches('/');
        Footer {
            texts,
            base: format!("{host}{port}{path}"),
        }
    }

    /// The line for `code` in `lang`.
    pub fn line(&self, lang: &str, code: &str) -> String {
        let link = format!("{}/m/{code}", self.base);
        self.texts
            .get(lang, "archive-footer", &[("link", link.into())])
    }

    /// `text` with the line under it, after an empty line.
    pub fn under(&self, text: &str, lang: &str, code: &str) -> String {
        format!("{text}\n\n{}", self.line(lang, code))
    }

    /// The most characters the line and its empty line add, in any language: the length
    /// limit and the preview count them.
    pub fn max_chars(&self) -> usize {
        ["de", "en"]
            .iter()
            .map(|l| self.line(l, "XXXXXXXX").chars().count() + 2)
            .max()
            .unwrap_or(0)
    }
}

/// The archive as the chat knows it: the check, and where the pages are.
pub struct PublicArchive {
    pub check: Arc<CheckService>,
    pub public_url: url::Url,
}

impl PublicArchive {
    /// The full address of broadcast `code`'s page.
    pub fn link(&self, code: &str) -> String {
        self.link_to(&format!("/m/{code}"))
    }

    /// The full address of `path` under the archive.
    pub fn link_to(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.as_str().trim_end_matches('/'))
    }
}

/// The text key of a verdict's answer (its argument: `time`, when the broadcast went out).
pub fn verdict_key(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Genuine(_) => "check-genuine",
        Verdict::Corrected(_) => "check-corrected",
        Verdict::Retracted(_) => "check-retracted",
        Verdict::NotOurs { closest: Some(_) } => "check-not-ours-close",
        Verdict::NotOurs { closest: None } => "check-not-ours",
    }
}
