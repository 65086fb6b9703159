//! The archive in the chat: a forwarded message, a pasted code or text checked against what the
//! city sent ("Echt?"), and `/latest` (`/neueste`), the last broadcasts on one's topics with
//! their links, so that someone who just came sees what happened before.

use super::{Conversation, Incoming, Reply};
use crate::domain::archive;
use crate::services::check::{Question, Verdict, verdict_key};
use crate::store::StoreError;

/// Broadcasts `/latest` shows.
const LATEST: usize = 5;
/// How many of the newest public broadcasts `/latest` looks through for one's topics.
const LATEST_SCAN: u32 = 100;

impl Conversation {
    /// Whether a text without a command is something to check: a code on its own, or a text
    /// with an archive link in it.
    pub(super) fn is_checkable(&self, text: &str) -> bool {
        self.archive.is_some()
            && (archive::parse_code(text).is_some() || archive::find_code(text).is_some())
    }

    /// "Is this message real?": the verdict, with the real text and link where there is one.
    pub(super) async fn check(
        &self,
        msg: &Incoming,
        text: &str,
        from_bot: bool,
    ) -> Result<Vec<Reply>, StoreError> {
        let lang = self.language_of(msg).await?;
        let say = |key: &str| vec![self.say(msg, &lang, key, vec![])];
        let Some(archive) = &self.archive else {
            return Ok(say("help-pointer"));
        };
        if !archive
            .check
            .allowed(&format!("{}:{}", msg.channel, msg.chat))
        {
            tracing::info!(channel = %msg.channel, "checks over the limit refused");
            return Ok(say("archive-check-too-many"));
        }
        let question = if from_bot {
            Question::FromTheBot(text)
        } else {
            Question::Text(text)
        };
        let verdict = archive.check.check(question).await?;
        tracing::info!(channel = %msg.channel, verdict = verdict.as_str(), "a message was checked");
        let time = verdict
            .broadcast()
            .map(|b| {
                self.broadcasts
                    .local_time(b.released_at.unwrap_or(b.created_at))
            })
            .unwrap_or_default();
        let mut answer = self
            .texts
            .get(&lang, verdict_key(&verdict), &[("time", time.into())]);
        // Not ours, or corrected since: the text as the city sent it (now).
        if let (Verdict::NotOurs { .. } | Verdict::Corrected(_), Some(b)) =
            (&verdict, verdict.broadcast())
        {
            answer.push_str("\n\n");
            answer.push_str(&b.text);
        }
        answer.push_str("\n\n");
        match verdict.broadcast().and_then(|b| b.public_code.as_deref()) {
            Some(code) => answer.push_str(&archive.link(code)),
            None => answer.push_str(&self.texts.get(
                &lang,
                "check-official",
                &[("link", archive.link_to("/archiv").into())],
            )),
        }
        Ok(vec![Reply::Send {
            to: msg.chat.clone(),
            text: answer,
            buttons: Vec::new(),
        }])
    }

    /// `/latest`: the last broadcasts on one's topics, with their links.
    pub(super) async fn latest(&self, msg: &Incoming) -> Result<Vec<Reply>, StoreError> {
        let s = self.subscriber(msg).await?;
        let say = |key: &str| vec![self.say(msg, &s.language, key, vec![])];
        let Some(archive) = &self.archive else {
            return Ok(say("latest-off"));
        };
        let page = self
            .store
            .archive_page(None, None, None, LATEST_SCAN)
            .await?;
        let lines: Vec<String> = page
            .iter()
            .filter(|b| s.topics.contains(&b.topic))
            .take(LATEST)
            .filter_map(|b| {
                let code = b.public_code.as_deref()?;
                let first = crate::domain::text::prefix_within(b.text.lines().next()?, 80);
                Some(format!(
                    "{} – {first}\n{}",
                    self.broadcasts
                        .local_time(b.released_at.unwrap_or(b.created_at)),
                    archive.link(code)
                ))
            })
            .collect();
        if lines.is_empty() {
            return Ok(say("latest-none"));
        }
        let head = self.texts.get(&s.language, "latest-head", &[]);
        Ok(vec![Reply::Send {
            to: msg.chat.clone(),
            text: format!("{head}\n\n{}", lines.join("\n\n")),
            buttons: Vec::new(),
        }])
    }
}
