//! The conversation: what citizens and staff say to the bot and what it answers, written once
//! for every channel. Adapters turn a platform's update into an `Incoming` and render the
//! `Reply`s; commands, roles and confirmations live here.

mod archive;
pub mod command;
mod staff;

use std::sync::Arc;

use fluent_bundle::FluentValue;

use crate::domain::{ChannelKind, TopicConfig};
use crate::i18n::{DEFAULT_LANGUAGE, Texts};
use crate::services::BroadcastService;
use crate::services::subscriptions::{AREAS_PER_PAGE, Citizen, Located, SubscriptionService};
use crate::store::{Store, StoreError, Subscriber};
use command::{ButtonData, Word};

pub use crate::domain::ALERTS_TOPIC;
pub use command::parse_command;

/// One message or button press from a person, as every adapter delivers it.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub channel: ChannelKind,
    /// Where answers go (the private chat).
    pub chat: String,
    /// Who it is: staff roles are looked up by this, never by a group's chat.
    pub sender: String,
    pub private: bool,
    /// The language the platform reports for the person (`de`, `en-US`, …).
    pub language_hint: Option<String>,
    pub input: Input,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Text(String),
    /// A message forwarded from elsewhere (both platforms flag it): checked against what the
    /// city sent. `from_bot`: Telegram names this bot as its origin (certainly ours).
    Forwarded {
        text: String,
        from_bot: bool,
    },
    /// A button press: its data, and the message it sits under (to update it in place).
    Button {
        data: String,
        callback_id: Option<String>,
        message_id: Option<String>,
    },
    /// A shared location (Telegram's location or venue, WhatsApp's location message), as the
    /// platform sent it: checked by the conversation.
    Location {
        lat: f64,
        lon: f64,
    },
    /// A picture or document with its caption: staff attach one to a broadcast with the
    /// command as the caption; a citizen's is not fetched.
    Attachment {
        caption: String,
        file: crate::domain::media::ChatFile,
        /// The buttons' data under the message this one answers (Telegram sends them with a
        /// reply; WhatsApp only the message's id): a reply to a draft's preview names it.
        replied_buttons: Vec<String>,
    },
    /// The person blocked the bot.
    Blocked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    pub data: String,
}

/// What the bot says back, channel-independent. Texts are plain; adapters escape them.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Send {
        to: String,
        text: String,
        buttons: Vec<Vec<Button>>,
    },
    Edit {
        to: String,
        message_id: String,
        text: String,
        buttons: Vec<Vec<Button>>,
    },
    AnswerButton {
        callback_id: String,
        text: Option<String>,
    },
    /// The picture or document a staff member just sent, shown back with the broadcast's
    /// text as its caption (when it fits one), as citizens will see it; by the platform's id of
    /// the file they sent (Telegram; WhatsApp cannot send an incoming medium back).
    Picture {
        to: String,
        file_id: String,
        document: bool,
        caption: Option<String>,
    },
    /// Asks for the person's location: Telegram's keyboard button that sends it, WhatsApp's
    /// location request message.
    AskLocation {
        to: String,
        text: String,
        button: String,
    },
}

/// What the conversation needs from the rest of the service.
pub struct Conversation {
    pub store: Arc<dyn Store>,
    pub texts: Arc<Texts>,
    /// Everything staff do to broadcasts goes through here.
    pub broadcasts: Arc<BroadcastService>,
    /// Login links for `/login`; `None` when the dashboard is off.
    pub sign_in: Option<Arc<crate::services::SignIn>>,
    /// Everything citizens do to their own subscription goes through here.
    pub subscriptions: Arc<SubscriptionService>,
    /// The public archive and the check, when `archive.public_url` is set.
    pub archive: Option<Arc<crate::services::check::PublicArchive>>,
    /// Where staff's pictures and documents sent in the chat are fetched from, per platform.
    pub files: std::collections::HashMap<ChannelKind, Arc<dyn crate::services::media::FetchFile>>,
}

type Args<'a> = Vec<(&'a str, FluentValue<'a>)>;

impl Conversation {
    /// Handles one incoming message; errors become a short apology, never a trace.
    pub async fn handle(&self, msg: &Incoming) -> Vec<Reply> {
        if !msg.private {
            // In groups the bot stays silent.
            return Vec::new();
        }
        match self.dispatch(msg).await {
            Ok(replies) => replies,
            Err(e) => {
                tracing::error!(channel = %msg.channel, error = %e, "could not handle a message");
                let lang = self.hint_language(msg);
                vec![self.say(msg, &lang, "error-try-again", vec![])]
            }
        }
    }

    async fn dispatch(&self, msg: &Incoming) -> Result<Vec<Reply>, StoreError> {
        match &msg.input {
            Input::Blocked => {
                if self.store.mark_gone(msg.channel, &msg.chat).await? {
                    tracing::info!(channel = %msg.channel, "a subscriber blocked the bot; marked gone");
                }
                Ok(Vec::new())
            }
            Input::Button {
                data,
                callback_id,
                message_id,
            } => {
                self.button(msg, data, callback_id.as_deref(), message_id.as_deref())
                    .await
            }
            Input::Text(text) => self.text(msg, text).await,
            Input::Forwarded { text, from_bot } => self.check(msg, text, *from_bot).await,
            Input::Location { lat, lon } => self.location(msg, *lat, *lon).await,
            Input::Attachment {
                caption,
                file,
                replied_buttons,
            } => self.attachment(msg, caption, file, replied_buttons).await,
        }
    }

    async fn text(&self, msg: &Incoming, text: &str) -> Result<Vec<Reply>, StoreError> {
        let command = command::parse(text, msg.channel);
        let lang = self.language_of(msg).await?;
        let Some(command) = command else {
            // A code or a text with the archive's link: checked.
            if self.is_checkable(text) {
                return self.check(msg, text, false).await;
            }
            // On WhatsApp anyone may write first: a stranger learns how to subscribe.
            let stranger = msg.channel == ChannelKind::Whatsapp
                && self
                    .store
                    .subscriber(msg.channel, &msg.chat)
                    .await?
                    .is_none();
            let key = if stranger {
                "welcome-whatsapp"
            } else {
                "help-pointer"
            };
            let mut replies = vec![self.say(msg, &lang, key, vec![])];
            if self.archive.is_some() {
                replies.push(self.say(msg, &lang, "check-pointer", vec![]));
            }
            return Ok(replies);
        };
        let rest = command.rest;
        match command.word {
            Word::Start => self.start(msg).await,
            Word::Topics => {
                let s = self.subscriber(msg).await?;
                Ok(vec![self.topic_keyboard(msg, &s, None)])
            }
            Word::Areas => {
                let c = self.citizen(msg).await?;
                Ok(vec![self.area_keyboard(msg, &c, 0, None)])
            }
            Word::Subscribe => self.subscribe_by_text(msg, rest, true).await,
            Word::Unsubscribe => self.subscribe_by_text(msg, rest, false).await,
            Word::Language => self.set_language(msg, rest).await,
            Word::Help => {
                let mut replies = vec![self.say(msg, &lang, "help-citizen", vec![])];
                if self
                    .store
                    .staff_role(msg.channel, &msg.sender)
                    .await?
                    .is_some()
                {
                    replies.push(self.say(msg, &lang, "help-staff", vec![]));
                }
                Ok(replies)
            }
            Word::Stop => {
                self.subscriptions.stop(msg.channel, &msg.chat).await?;
                Ok(vec![self.say(msg, &lang, "stopped", vec![])])
            }
            Word::Delete => self.delete(msg, &lang, rest).await,
            Word::Latest => self.latest(msg).await,
            staff => self.staff(msg, &lang, staff, rest).await,
        }
    }

    async fn start(&self, msg: &Incoming) -> Result<Vec<Reply>, StoreError> {
        let lang = self.hint_language(msg);
        let s = self
            .subscriptions
            .start(msg.channel, &msg.chat, &lang)
            .await?;
        let welcome = if self.subscriptions.catalogue().is_some() {
            "welcome-with-areas"
        } else {
            "welcome"
        };
        Ok(vec![
            self.say(msg, &s.language, welcome, vec![]),
            self.topic_keyboard(msg, &s, None),
        ])
    }

    /// A shared location: its district is added; the point is offered to be kept.
    async fn location(&self, msg: &Incoming, lat: f64, lon: f64) -> Result<Vec<Reply>, StoreError> {
        // Emergency staff drafting an alert on site: the place is for the alert.
        if let Some(replies) = self.on_site(msg, lat, lon).await? {
            return Ok(replies);
        }
        let c = self.citizen(msg).await?;
        let lang = c.subscriber.language.clone();
        Ok(match self.subscriptions.locate(&c, lat, lon).await? {
            Located::InDistrict { name, place, .. } => {
                tracing::info!(channel = %msg.channel, "a location was shared; its district added");
                vec![
                    self.say(
                        msg,
                        &lang,
                        "location-in-district",
                        vec![("area", name.into())],
                    ),
                    Reply::Send {
                        to: msg.chat.clone(),
                        text: self.texts.get(&lang, "location-keep-offer", &[]),
                        buttons: vec![
                            vec![Button {
                                label: self.texts.get(&lang, "button-keep-place", &[]),
                                data: ButtonData::KeepPlace(place.code()).encode(),
                            }],
                            vec![Button {
                                label: self.texts.get(&lang, "button-no-place", &[]),
                                data: ButtonData::NoPlace.encode(),
                            }],
                        ],
                    },
                ]
            }
            Located::Outside => vec![self.say(msg, &lang, "location-outside", vec![])],
            Located::NoAreas => vec![self.say(msg, &lang, "location-no-areas", vec![])],
            Located::Invalid(why) => {
                tracing::info!(channel = %msg.channel, reason = %why, "a location that is no point on the earth; nothing changed");
                vec![self.say(msg, &lang, "location-invalid", vec![("reason", why.into())])]
            }
        })
    }

    /// The subscriber behind a message with their areas.
    async fn citizen(&self, msg: &Incoming) -> Result<Citizen, StoreError> {
        self.subscriptions
            .citizen(msg.channel, &msg.chat, &self.hint_language(msg))
            .await
    }

    /// The districts as buttons, a page at a time, with "whole city", "share location" and
    /// (when one is kept) "forget my place".
    fn area_keyboard(
        &self,
        msg: &Incoming,
        c: &Citizen,
        page: usize,
        message_id: Option<&str>,
    ) -> Reply {
        let lang = &c.subscriber.language;
        let Some(catalogue) = self.subscriptions.catalogue() else {
            return self.say(msg, lang, "location-no-areas", vec![]);
        };
        let all = catalogue.areas();
        let pages = all.len().div_ceil(AREAS_PER_PAGE).max(1);
        let page = page.min(pages - 1);
        let mut buttons: Vec<Vec<Button>> = all
            .iter()
            .skip(page * AREAS_PER_PAGE)
            .take(AREAS_PER_PAGE)
            .map(|a| {
                let on = c.areas.areas.contains(&a.id);
                vec![Button {
                    label: format!("{} {}", if on { "✅" } else { "⬜" }, a.name),
                    data: ButtonData::Area(a.id.clone()).encode(),
                }]
            })
            .collect();
        let mut nav = Vec::new();
        if page > 0 {
            nav.push(Button {
                label: self.texts.get(lang, "button-back", &[]),
                data: ButtonData::AreaPage(page - 1).encode(),
            });
        }
        if page + 1 < pages {
            nav.push(Button {
                label: self.texts.get(lang, "button-more", &[]),
                data: ButtonData::AreaPage(page + 1).encode(),
            });
        }
        if !nav.is_empty() {
            buttons.push(nav);
        }
        buttons.push(vec![Button {
            label: self.texts.get(lang, "button-whole-city", &[]),
            data: ButtonData::WholeCity.encode(),
        }]);
        buttons.push(vec![Button {
            label: self.texts.get(lang, "button-share-location", &[]),
            data: ButtonData::ShareLocation.encode(),
        }]);
        if c.areas.place.is_some() {
            buttons.push(vec![Button {
                label: self.texts.get(lang, "button-forget-place", &[]),
                data: ButtonData::ForgetPlace.encode(),
            }]);
        }
        let chosen = self.subscriptions.chosen_names(c);
        let chosen = if chosen.is_empty() {
            self.texts.get(lang, "areas-whole-city", &[])
        } else {
            chosen.join(", ")
        };
        let place = if c.areas.place.is_some() { "yes" } else { "no" };
        let text = self.texts.get(
            lang,
            "areas-header",
            &[("chosen", chosen.into()), ("place", place.into())],
        );
        keyboard_reply(msg, message_id, text, buttons)
    }

    /// The area buttons: toggle, page, whole city, share, keep, forget.
    async fn area_button(
        &self,
        msg: &Incoming,
        data: ButtonData,
        message_id: Option<&str>,
    ) -> Result<Vec<Reply>, StoreError> {
        let c = self.citizen(msg).await?;
        let lang = c.subscriber.language.clone();
        let page_of = |id: &str| {
            self.subscriptions
                .catalogue()
                .and_then(|cat| cat.areas().iter().position(|a| a.id == id))
                .map(|i| i / AREAS_PER_PAGE)
                .unwrap_or(0)
        };
        Ok(match data {
            ButtonData::Area(id) => {
                let c = self.subscriptions.toggle_area(&c, &id).await?;
                vec![self.area_keyboard(msg, &c, page_of(&id), message_id)]
            }
            ButtonData::AreaPage(n) => vec![self.area_keyboard(msg, &c, n, message_id)],
            ButtonData::WholeCity => {
                let c = self.subscriptions.whole_city(&c).await?;
                vec![self.area_keyboard(msg, &c, 0, message_id)]
            }
            ButtonData::ShareLocation => vec![Reply::AskLocation {
                to: msg.chat.clone(),
                text: self.texts.get(&lang, "location-ask", &[]),
                button: self.texts.get(&lang, "button-send-location", &[]),
            }],
            ButtonData::KeepPlace(code) => {
                let kept = match crate::domain::area::Place::parse_code(&code) {
                    Some(place) => self.subscriptions.keep_place(&c, place).await?,
                    None => false,
                };
                let key = if kept {
                    "location-kept"
                } else {
                    "location-outside"
                };
                vec![self.say(msg, &lang, key, vec![])]
            }
            ButtonData::NoPlace => vec![self.say(msg, &lang, "location-not-kept", vec![])],
            ButtonData::ForgetPlace => {
                self.subscriptions.forget_place(&c).await?;
                let c = self.citizen(msg).await?;
                vec![
                    self.say(msg, &lang, "place-forgotten", vec![]),
                    self.area_keyboard(msg, &c, 0, None),
                ]
            }
            _ => vec![self.say(msg, &lang, "help-pointer", vec![])],
        })
    }

    async fn subscribe_by_text(
        &self,
        msg: &Incoming,
        name: &str,
        on: bool,
    ) -> Result<Vec<Reply>, StoreError> {
        let s = self.subscriber(msg).await?;
        let Some(topic) = self.find_topic(name) else {
            let valid = self.topic_list(&s.language);
            return Ok(vec![self.say(
                msg,
                &s.language,
                "unknown-topic",
                vec![("topic", name.to_string().into()), ("valid", valid.into())],
            )]);
        };
        self.subscriptions.set_topic(&s, &topic.id, on).await?;
        let label = self.label(topic, &s.language);
        let key = match (on, topic.id.as_str() == ALERTS_TOPIC) {
            (true, _) => "subscribed",
            (false, true) => "unsubscribed-alerts",
            (false, false) => "unsubscribed",
        };
        Ok(vec![self.say(
            msg,
            &s.language,
            key,
            vec![("topic", label.into())],
        )])
    }

    async fn set_language(&self, msg: &Incoming, wanted: &str) -> Result<Vec<Reply>, StoreError> {
        let s = self.subscriber(msg).await?;
        let wanted = wanted.to_ascii_lowercase();
        if !self.texts.languages().contains(&wanted.as_str()) {
            return Ok(vec![self.say(
                msg,
                &s.language,
                "language-unknown",
                vec![("valid", self.texts.languages().join(", ").into())],
            )]);
        }
        self.subscriptions.set_language(&s, &wanted).await?;
        Ok(vec![self.say(msg, &wanted, "language-set", vec![])])
    }

    async fn delete(
        &self,
        msg: &Incoming,
        lang: &str,
        code: &str,
    ) -> Result<Vec<Reply>, StoreError> {
        if code.is_empty() {
            let code = crate::services::broadcasts::new_code();
            let now = crate::domain::now_ms();
            self.store
                .put_confirmation(&crate::store::Confirmation {
                    code: code.clone(),
                    action: "erase".into(),
                    payload: "{}".into(),
                    author_channel: msg.channel,
                    author_address: msg.chat.clone(),
                    created_at: now,
                    expires_at: now + 15 * 60 * 1000,
                    broadcast_id: None,
                })
                .await?;
            let button = Button {
                label: self.texts.get(lang, "button-delete", &[]),
                data: ButtonData::Erase(code.clone()).encode(),
            };
            let text = self
                .texts
                .get(lang, "delete-ask", &[("code", code.as_str().into())]);
            return Ok(vec![Reply::Send {
                to: msg.chat.clone(),
                text,
                buttons: vec![vec![button]],
            }]);
        }
        self.erase(msg, lang, code).await
    }

    async fn erase(
        &self,
        msg: &Incoming,
        lang: &str,
        code: &str,
    ) -> Result<Vec<Reply>, StoreError> {
        let pending = self.store.confirmation(&code.to_ascii_uppercase()).await?;
        let valid = pending.is_some_and(|c| {
            c.action == "erase" && c.author_channel == msg.channel && c.author_address == msg.chat
        });
        if !valid {
            return Ok(vec![self.say(msg, lang, "delete-bad-code", vec![])]);
        }
        self.subscriptions.erase(msg.channel, &msg.chat).await?;
        tracing::info!(channel = %msg.channel, "a subscriber erased their data");
        Ok(vec![self.say(msg, lang, "delete-done", vec![])])
    }

    async fn button(
        &self,
        msg: &Incoming,
        data: &str,
        callback_id: Option<&str>,
        message_id: Option<&str>,
    ) -> Result<Vec<Reply>, StoreError> {
        let lang = self.language_of(msg).await?;
        let mut replies = match ButtonData::parse(data) {
            Some(ButtonData::Topic(topic)) => {
                let s = self.subscriber(msg).await?;
                match self.topic(&topic) {
                    Some(t) => {
                        let on = !s.topics.iter().any(|x| x == t.id.as_str());
                        let s = self.subscriptions.set_topic(&s, &t.id, on).await?;
                        let mut replies = vec![self.topic_keyboard(msg, &s, message_id)];
                        if !on && t.id.as_str() == ALERTS_TOPIC {
                            let label = self.label(t, &s.language);
                            replies.push(self.say(
                                msg,
                                &s.language,
                                "unsubscribed-alerts",
                                vec![("topic", label.into())],
                            ));
                        }
                        replies
                    }
                    None => vec![self.say(msg, &lang, "help-pointer", vec![])],
                }
            }
            Some(ButtonData::Erase(code)) => self.erase(msg, &lang, &code).await?,
            Some(ButtonData::Confirm(code)) => self.staff(msg, &lang, Word::Confirm, &code).await?,
            Some(ButtonData::Drop(code)) => self.staff(msg, &lang, Word::Cancel, &code).await?,
            Some(ButtonData::Radius(on_site)) => self.radius_chosen(msg, &lang, on_site).await?,
            Some(
                area @ (ButtonData::Area(_)
                | ButtonData::AreaPage(_)
                | ButtonData::WholeCity
                | ButtonData::ShareLocation
                | ButtonData::KeepPlace(_)
                | ButtonData::NoPlace
                | ButtonData::ForgetPlace),
            ) => self.area_button(msg, area, message_id).await?,
            // A link opens its page and is never pressed back to us.
            Some(ButtonData::Open(_)) | None => vec![self.say(msg, &lang, "help-pointer", vec![])],
        };
        if let Some(id) = callback_id {
            replies.insert(
                0,
                Reply::AnswerButton {
                    callback_id: id.to_string(),
                    text: None,
                },
            );
        }
        Ok(replies)
    }

    /// The subscriber behind a message, added (without topics) if new.
    async fn subscriber(&self, msg: &Incoming) -> Result<Subscriber, StoreError> {
        self.subscriptions
            .subscriber(msg.channel, &msg.chat, &self.hint_language(msg))
            .await
    }

    async fn language_of(&self, msg: &Incoming) -> Result<String, StoreError> {
        Ok(match self.store.subscriber(msg.channel, &msg.chat).await? {
            Some(s) => s.language,
            None => self.hint_language(msg),
        })
    }

    fn hint_language(&self, msg: &Incoming) -> String {
        let hint = msg.language_hint.as_deref().unwrap_or(DEFAULT_LANGUAGE);
        let short = hint
            .split(['-', '_'])
            .next()
            .unwrap_or(DEFAULT_LANGUAGE)
            .to_ascii_lowercase();
        if self.texts.languages().contains(&short.as_str()) {
            short
        } else {
            DEFAULT_LANGUAGE.to_string()
        }
    }

    fn topics(&self) -> &[TopicConfig] {
        self.broadcasts.topics()
    }

    fn topic(&self, id: &str) -> Option<&TopicConfig> {
        self.broadcasts.topic(id)
    }

    /// A topic by its id or its German or English label, in any case.
    fn find_topic(&self, name: &str) -> Option<&TopicConfig> {
        let name = name.trim().to_lowercase();
        if name.is_empty() {
            return None;
        }
        self.topics().iter().find(|t| {
            t.id.as_str() == name
                || t.label_de.to_lowercase() == name
                || t.label_en.to_lowercase() == name
        })
    }

    fn label(&self, t: &TopicConfig, lang: &str) -> String {
        t.label(lang).to_string()
    }

    fn topic_list(&self, lang: &str) -> String {
        self.topics()
            .iter()
            .map(|t| format!("{} ({})", self.label(t, lang), t.id))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn topic_keyboard(&self, msg: &Incoming, s: &Subscriber, message_id: Option<&str>) -> Reply {
        let buttons = self
            .topics()
            .iter()
            .map(|t| {
                let on = s.topics.iter().any(|x| x == t.id.as_str());
                vec![Button {
                    label: format!(
                        "{} {}",
                        if on { "✅" } else { "⬜" },
                        self.label(t, &s.language)
                    ),
                    data: ButtonData::Topic(t.id.to_string()).encode(),
                }]
            })
            .collect();
        let text = self.texts.get(&s.language, "topics-header", &[]);
        keyboard_reply(msg, message_id, text, buttons)
    }

    fn say(&self, msg: &Incoming, lang: &str, key: &str, args: Args<'_>) -> Reply {
        Reply::Send {
            to: msg.chat.clone(),
            text: self.texts.get(lang, key, &args),
            buttons: Vec::new(),
        }
    }
}

/// A keyboard as a new message, or in place of the message its button sat under.
fn keyboard_reply(
    msg: &Incoming,
    message_id: Option<&str>,
    text: String,
    buttons: Vec<Vec<Button>>,
) -> Reply {
    match message_id {
        Some(id) => Reply::Edit {
            to: msg.chat.clone(),
            message_id: id.to_string(),
            text,
            buttons,
        },
        None => Reply::Send {
            to: msg.chat.clone(),
            text,
            buttons,
        },
    }
}
