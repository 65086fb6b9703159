//! The city's public Telegram channel: posted by the service's bot (an admin there) through the
//! same sending code and formatting as the messages to citizens, check link included;
//! corrections edit the post, a retraction edits it and replies under it.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Job, Outlet, OutletError, Remote};
use crate::channels::telegram::TelegramChannel;
use crate::channels::{Channel, Outgoing, SendOutcome};
use crate::domain::outlet::{OutletAction, OutletKind};
use crate::services::check::Footer;

pub struct TelegramChannelOutlet {
    name: String,
    channel: TelegramChannel,
    /// `@name` or the channel's numeric id.
    chat: String,
    footer: Option<Arc<Footer>>,
}

impl TelegramChannelOutlet {
    pub fn new(
        name: &str,
        channel: TelegramChannel,
        chat: &str,
        footer: Option<Arc<Footer>>,
    ) -> Self {
        TelegramChannelOutlet {
            name: name.to_string(),
            channel,
            chat: chat.to_string(),
            footer,
        }
    }

    /// Where people see message `id` of the channel.
    fn link(&self, id: &str) -> Option<String> {
        match self.chat.strip_prefix('@') {
            Some(name) => Some(format!("https://t.me/{name}/{id}")),
            // A private channel's link: its id without the -100.
            None => self
                .chat
                .strip_prefix("-100")
                .map(|c| format!("https://t.me/c/{c}/{id}")),
        }
    }

    fn text(&self, job: &Job) -> String {
        let line = match (&self.footer, &job.code) {
            (Some(footer), Some(code)) => Some(footer.line("de", code)),
            _ => None,
        };
        super::text::for_outlet(
            OutletKind::TelegramChannel,
            &job.text,
            None,
            line.as_deref(),
            0,
        )
    }

    async fn send(&self, message: Outgoing) -> Result<Remote, OutletError> {
        match self.channel.send(&message).await {
            SendOutcome::Sent { platform_id } => {
                let id = platform_id
                    .or_else(|| message.reply_to.clone())
                    .ok_or_else(|| OutletError::Permanent("Telegram named no message id".into()))?;
                Ok(Remote {
                    url: self.link(&id),
                    id,
                    reference: None,
                })
            }
            SendOutcome::LaneThrottled { after, .. }
            | SendOutcome::RecipientThrottled { after, .. } => Err(OutletError::RateLimited(after)),
            SendOutcome::Transient(e) => Err(OutletError::Transient(e)),
            SendOutcome::Permanent(e) | SendOutcome::RecipientGone(e) => {
                Err(OutletError::Permanent(e))
            }
            SendOutcome::Moved { .. } => Err(OutletError::Permanent(
                "the channel has a new id: set it as the outlet's chat".into(),
            )),
        }
    }
}

#[async_trait]
impl Outlet for TelegramChannelOutlet {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> OutletKind {
        OutletKind::TelegramChannel
    }

    async fn publish(&self, job: &Job) -> Result<Remote, OutletError> {
        let text = self.text(job);
        let plain = Outgoing::plain(&self.chat, &text, job.kind, job.priority);
        match (job.action, &job.post) {
            // A text longer than one message goes in parts, as to citizens; the first is the
            // post that corrections edit.
            (OutletAction::Post, _) => {
                let mut first = None;
                for part in self.channel.parts(&plain, crate::domain::now_ms()) {
                    let sent = self.send(part).await?;
                    first.get_or_insert(sent);
                }
                first.ok_or_else(|| OutletError::Permanent("nothing to send".into()))
            }
            (action, Some(post)) => {
                let edit = Outgoing {
                    edit: Some(text.clone()),
                    reply_to: Some(post.id.clone()),
                    notice: false,
                    ..plain.clone()
                };
                let edited = self.send(edit).await;
                if action == OutletAction::Correct {
                    return edited.map(|_| post.clone());
                }
                // A retraction is told under the post too, even where the edit failed.
                if let Err(e) = edited {
                    tracing::warn!(outlet = %self.name, error = %e, "could not edit the retracted post");
                }
                self.send(Outgoing {
                    reply_to: Some(post.id.clone()),
                    ..plain
                })
                .await
            }
            (_, None) => Err(OutletError::Permanent("no post to change".into())),
        }
    }

    async fn check(&self) -> Result<String, OutletError> {
        Ok(format!("posts to {} with the bot of [telegram]", self.chat))
    }
}
