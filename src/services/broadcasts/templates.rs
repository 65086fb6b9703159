//! Text templates (Textbausteine): the press office and the emergency staff keep named texts
//! with placeholders, every version stored and audited; anyone who may write on the topic
//! fills one in (a department too, for its draft). A field left empty refuses to render.

use std::collections::BTreeMap;

use super::{BroadcastService, ServiceResult, invalid};
use crate::domain::template::TemplateText;
use crate::domain::{Actor, BroadcastKind};
use crate::services::policy::{self, Action, Subject};
use crate::store::TextTemplate;

/// A template's name: a word people can type after `/vorlage`.
fn checked_name(name: &str) -> ServiceResult<String> {
    let name = name.trim().to_lowercase();
    let ok = !name.is_empty()
        && name.chars().count() <= 40
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(name)
    } else {
        Err(invalid(
            "name",
            "a template's name is one word of letters, digits, - or _ (at most 40), like vollsperrung",
        ))
    }
}

impl BroadcastService {
    /// Saves a new version of template `name` for `topic`. Whoever may send on the topic may
    /// keep its templates: an alert template is the emergency staff's. An alert template
    /// saved without a text gets the control room's fields ([`TemplateText::alert_default`]).
    pub async fn save_template(
        &self,
        actor: &Actor,
        name: &str,
        topic: &str,
        text: &str,
    ) -> ServiceResult<TextTemplate> {
        let name = checked_name(name)?;
        let topic = self
            .target(topic.trim())
            .ok_or_else(|| invalid("topic", format!("unknown topic '{}'", topic.trim())))?;
        let text = if text.trim().is_empty() && topic.default_kind() == BroadcastKind::Alert {
            TemplateText::alert_default()
        } else {
            TemplateText::parse(text).map_err(|e| invalid("text", e))?
        };
        let subject = Subject::new(
            topic.default_kind(),
            topic.priority,
            topic.id.as_str(),
            None,
        );
        if let Err(refusal) = policy::decide(actor, Action::Submit, &subject, Default::default()) {
            tracing::info!(actor = %actor.audit_name(), template = %name, "template refused: {refusal}");
            return Err(refusal.into());
        }
        let saved = self
            .store
            .save_template(&name, topic.id.as_str(), text.as_str(), &actor.audit_name())
            .await?;
        self.audit(
            actor,
            "template",
            &format!(
                "template {} version {} on {}: {}",
                saved.name, saved.version, saved.topic, saved.text
            ),
        )
        .await?;
        Ok(saved)
    }

    /// The newest version of every template.
    pub async fn templates(&self) -> ServiceResult<Vec<TextTemplate>> {
        Ok(self.store.templates().await?)
    }

    /// Template `name` and its fields.
    pub async fn template(&self, name: &str) -> ServiceResult<(TextTemplate, Vec<String>)> {
        let name = checked_name(name)?;
        let Some(t) = self.store.template(&name).await? else {
            return Err(invalid(
                "template",
                format!("there is no template '{name}'"),
            ));
        };
        let fields = TemplateText::parse(&t.text)
            .map_err(|e| invalid("template", e))?
            .fields();
        Ok((t, fields))
    }

    /// Template `name` filled in with `values`: its topic, kind and text. Refused, naming
    /// them, when fields are left empty.
    pub async fn fill_template(
        &self,
        name: &str,
        values: &BTreeMap<String, String>,
    ) -> ServiceResult<(TextTemplate, BroadcastKind, String)> {
        let (t, _) = self.template(name).await?;
        let text = TemplateText::parse(&t.text).map_err(|e| invalid("template", e))?;
        let filled = text.render(values).map_err(|missing| {
            invalid(
                "fields",
                format!(
                    "fill in every field of '{}': {}",
                    t.name,
                    missing.join(", ")
                ),
            )
        })?;
        let kind = self
            .target(&t.topic)
            .map_or(BroadcastKind::Announcement, |topic| topic.default_kind());
        Ok((t, kind, filled))
    }
}
