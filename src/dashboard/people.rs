//! How the dashboard names staff: people by name, with the channel they used as a small
//! badge, never a bare `telegram:123…`. The names come from the staff table, which the team
//! page (`/dashboard/team`, "Mitarbeitende") shows and changes through the team service.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use super::DashboardState;
use super::pages::{frame, store_error};
use super::session::{Staff, see_other};
use crate::domain::{ChannelKind, Desk, PersonName, Role};
use crate::services::policy;
use crate::services::staff::{self, NewStaff, StaffError, StaffTarget};

/// The staff table as the pages name people: each address (`telegram:702`) with its person.
#[derive(Default)]
pub(super) struct People(HashMap<String, String>);

impl People {
    /// Everyone on the staff table now; nobody (addresses shown as they are) when it cannot
    /// be read, for a page is still worth showing without the names.
    pub(super) async fn of(state: &DashboardState) -> People {
        match state.broadcasts.store().list_staff().await {
            Ok(staff) => People(
                staff
                    .into_iter()
                    .filter(|m| !m.is_own_person())
                    .map(|m| (m.address_label(), m.person))
                    .collect(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "dashboard: the staff could not be read; addresses shown");
                People::default()
            }
        }
    }

    /// `who` as a page shows it (`name`, and `channel` when known), whichever way it was kept:
    /// `Paula (telegram:702)` as the audit log has it, `telegram:702` as `created_by` has it,
    /// `person:Paula` as the two-person rule compares people, or a token or the CLI as it is.
    pub(super) fn who(&self, who: &str) -> Value {
        if let Some(name) = who.strip_prefix("person:") {
            return context! { name };
        }
        match self.0.get(who) {
            Some(person) => person_and_channel(&format!("{person} ({who})")),
            None => person_and_channel(who),
        }
    }

    /// [`People::who`] for what may be unknown (an empty name then).
    pub(super) fn who_opt(&self, who: Option<&str>) -> Value {
        who.map(|w| self.who(w))
            .unwrap_or_else(|| context! { name => "" })
    }
}

/// The channel of `channel:address` as a badge says it.
pub(super) fn channel_badge(c: ChannelKind) -> &'static str {
    match c {
        ChannelKind::Telegram => "Telegram",
        ChannelKind::Whatsapp => "WhatsApp",
    }
}

/// How the audit log names someone, for people: the person's name and the channel they used
/// as a small badge (`Paula (telegram:702)` → Paula, Telegram); tokens, the CLI and the
/// services as they are.
pub(super) fn person_and_channel(actor: &str) -> Value {
    let channel_of = |label: &str| {
        let (channel, _) = label.split_once(':')?;
        channel.parse::<ChannelKind>().ok().map(channel_badge)
    };
    let (name, label) = match actor.strip_suffix(')').and_then(|a| a.split_once(" (")) {
        Some((name, label)) => (name, label),
        None => (actor, actor),
    };
    match channel_of(label) {
        Some(channel) if name != label => context! { name, channel },
        // An address that is a person of its own is named by its address.
        Some(channel) => context! { name => label, channel },
        None => context! { name => actor },
    }
}

/// The team page's form to add an address, as typed; shown again with an error.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct AddForm {
    csrf: Option<String>,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    department: String,
    /// Topic ids, comma-separated as typed.
    #[serde(default)]
    topics: String,
}

impl AddForm {
    /// The form as the team service takes it; what cannot be read is said in `lang`.
    fn new_staff(&self, state: &DashboardState, lang: &str) -> Result<NewStaff, String> {
        let say = |key: &str| state.texts.get(lang, key, &[]);
        let channel = self
            .channel
            .parse::<ChannelKind>()
            .map_err(|_| say("dash-team-bad-channel"))?;
        let role = self
            .role
            .parse::<Role>()
            .map_err(|_| say("dash-team-bad-role"))?;
        let person = match self.person.trim() {
            "" => None,
            p => Some(PersonName::parse(p).map_err(|_| say("dash-team-bad-name"))?),
        };
        let topics: Vec<String> = self
            .topics
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        // Department and topics are a contributor's; for anyone else, blank fields are no desk.
        let desk =
            (role == Role::Contributor || !self.department.trim().is_empty() || !topics.is_empty())
                .then(|| Desk {
                    department: self.department.trim().to_string(),
                    topics,
                });
        Ok(NewStaff {
            channel,
            address: self.address.clone(),
            role,
            person,
            desk,
        })
    }
}

/// A refused staff change in the team's words.
fn staff_error_text(state: &DashboardState, lang: &str, e: &StaffError) -> String {
    let t = |key: &str, args: &[(&str, fluent_bundle::FluentValue<'_>)]| {
        state.texts.get(lang, key, args)
    };
    match e {
        StaffError::Refused(_) => t("dash-team-refused", &[]),
        StaffError::BadAddress { channel, typed } => t(
            "dash-team-bad-address",
            &[
                ("channel", channel_badge(*channel).into()),
                ("typed", typed.clone().into()),
            ],
        ),
        StaffError::NeedsPerson => t("dash-team-needs-person", &[]),
        StaffError::NeedsDesk => t("dash-team-needs-desk", &[]),
        StaffError::DeskForContributorsOnly => t("dash-team-desk-only", &[]),
        StaffError::UnknownTopic { topic, valid } => t(
            "dash-team-unknown-topic",
            &[
                ("topic", topic.clone().into()),
                ("valid", valid.join(", ").into()),
            ],
        ),
        StaffError::AddressTaken { address, owner } => t(
            "dash-team-address-taken",
            &[
                ("address", address.clone().into()),
                ("owner", owner.clone().into()),
            ],
        ),
        StaffError::OtherRole { person, role, .. } => t(
            "dash-team-other-role",
            &[
                ("person", person.clone().into()),
                (
                    "role",
                    t(&format!("dash-role-{}", role.as_str()), &[]).into(),
                ),
            ],
        ),
        StaffError::Conflict(why) => t("dash-team-conflict", &[("reason", why.clone().into())]),
        StaffError::NotStaff(who) => t("dash-team-not-staff", &[("person", who.clone().into())]),
        StaffError::Store(_) => t("dash-unavailable", &[]),
    }
}

/// `/dashboard/team`: the staff by person (role, department, topics, channels), with the forms
/// to add and remove for whom the policy allows it.
/// `?removed=WHO` after a removal: the page says who went.
pub async fn team(
    State(state): State<Arc<DashboardState>>,
    staff: Staff,
    Query(q): Query<Removed>,
) -> Response {
    team_page(
        &state,
        &staff,
        StatusCode::OK,
        AddForm::default(),
        None,
        q.removed,
    )
    .await
}

#[derive(Deserialize)]
pub struct Removed {
    removed: Option<String>,
}

async fn team_with(
    state: &DashboardState,
    staff: &Staff,
    status: StatusCode,
    form: AddForm,
    error: Option<String>,
) -> Response {
    team_page(state, staff, status, form, error, None).await
}

async fn team_page(
    state: &DashboardState,
    staff: &Staff,
    status: StatusCode,
    form: AddForm,
    error: Option<String>,
    removed: Option<String>,
) -> Response {
    let store = state.broadcasts.store();
    let (members, desks) = match tokio::try_join!(store.list_staff(), store.desks()) {
        Ok(both) => both,
        Err(e) => return store_error(state, staff.lang, e),
    };
    let desks: HashMap<String, Desk> = desks.into_iter().collect();
    // One row per person (the store lists them by person), their channels as badges.
    let mut people: Vec<(String, Role, Vec<&'static str>)> = Vec::new();
    for m in &members {
        let channel = channel_badge(m.channel);
        match people.last_mut() {
            Some((person, _, channels)) if *person == m.person => {
                if !channels.contains(&channel) {
                    channels.push(channel);
                }
            }
            _ => people.push((m.person.clone(), m.role, vec![channel])),
        }
    }
    let people: Vec<Value> = people
        .into_iter()
        .enumerate()
        .map(|(i, (person, role, channels))| {
            let desk = desks.get(&person);
            context! {
                row => i,
                person,
                role => role.as_str(),
                department => desk.map(|d| d.department.clone()),
                topics => desk.map(|d| d.topics.join(", ")),
                channels,
            }
        })
        .collect();
    let roles: Vec<&str> = [Role::Contributor, Role::Press, Role::Emergency, Role::Admin]
        .iter()
        .map(|r| r.as_str())
        .collect();
    let topics: Vec<&str> = state
        .broadcasts
        .topics()
        .iter()
        .map(|t| t.id.as_str())
        .collect();
    state.page(
        status,
        "team.html",
        context! {
            people,
            roles,
            topics => topics.join(", "),
            channels => ChannelKind::ALL.iter().map(|c| (c.as_str(), channel_badge(*c))).collect::<Vec<_>>(),
            may_change => policy::may_manage_staff(staff.actor()).is_ok(),
            form,
            error,
            removed,
            ..frame(staff, "team")
        },
    )
}

/// Adds a staff address from the team page's form (the team service and its policy decide).
pub async fn add(
    State(state): State<Arc<DashboardState>>,
    staff: Staff,
    Form(f): Form<AddForm>,
) -> Response {
    if let Some(refused) = staff.without_csrf(&state, f.csrf.as_deref()) {
        return refused;
    }
    let lang = staff.lang;
    let new = match f.new_staff(&state, lang) {
        Ok(n) => n,
        Err(error) => {
            return team_with(
                &state,
                &staff,
                StatusCode::UNPROCESSABLE_ENTITY,
                f,
                Some(error),
            )
            .await;
        }
    };
    match staff::add(
        &**state.broadcasts.store(),
        state.broadcasts.topics(),
        staff.actor(),
        new,
    )
    .await
    {
        Ok(_) => see_other("/dashboard/team"),
        Err(e) => refused(&state, &staff, f, e).await,
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    csrf: Option<String>,
    #[serde(default)]
    person: String,
}

/// Removes a person with every address they have (as the policy allows).
pub async fn remove(
    State(state): State<Arc<DashboardState>>,
    staff: Staff,
    Form(f): Form<RemoveForm>,
) -> Response {
    if let Some(refused) = staff.without_csrf(&state, f.csrf.as_deref()) {
        return refused;
    }
    let lang = staff.lang;
    // A person of their own is named by their address (`telegram:702`), which is no name.
    let own_address = f
        .person
        .split_once(':')
        .and_then(|(c, a)| Some((c.parse::<ChannelKind>().ok()?, a.to_string())));
    let target = match (PersonName::parse(&f.person), own_address) {
        (Ok(p), _) => StaffTarget::Person(p),
        (Err(_), Some((channel, address))) => StaffTarget::Address(channel, address),
        (Err(_), None) => {
            let error = staff_error_text(&state, lang, &StaffError::NotStaff(f.person.clone()));
            return team_with(
                &state,
                &staff,
                StatusCode::UNPROCESSABLE_ENTITY,
                AddForm::default(),
                Some(error),
            )
            .await;
        }
    };
    match staff::remove(&**state.broadcasts.store(), staff.actor(), target).await {
        Ok(removed) => {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("removed", &removed)
                .finish();
            see_other(&format!("/dashboard/team?{query}"))
        }
        Err(e) => refused(&state, &staff, AddForm::default(), e).await,
    }
}

/// The team page again with why a change was refused (the store's failure as its own page).
async fn refused(state: &DashboardState, staff: &Staff, form: AddForm, e: StaffError) -> Response {
    let status = match &e {
        StaffError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        StaffError::Refused(_) => StatusCode::FORBIDDEN,
        StaffError::AddressTaken { .. }
        | StaffError::OtherRole { .. }
        | StaffError::Conflict(_) => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    if let StaffError::Store(e) = e {
        return store_error(state, staff.lang, e);
    }
    let error = staff_error_text(state, staff.lang, &e);
    team_with(state, staff, status, form, Some(error)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(v: Value) -> (String, Option<String>) {
        (
            v.get_attr("name")
                .map(|n| n.to_string())
                .unwrap_or_default(),
            v.get_attr("channel")
                .ok()
                .filter(|c| !c.is_undefined())
                .map(|c| c.to_string()),
        )
    }

    #[test]
    fn the_audit_names_people_with_their_channel_as_a_badge() {
        let who = |a: &str| named(person_and_channel(a));
        assert_eq!(
            who("Paula (telegram:702)"),
            ("Paula".into(), Some("Telegram".into()))
        );
        assert_eq!(
            who("Anna (api:leitstelle)"),
            ("Anna (api:leitstelle)".into(), None)
        );
        assert_eq!(who("cli:root"), ("cli:root".into(), None));
        assert_eq!(who("housekeeping"), ("housekeeping".into(), None));
    }

    #[test]
    fn an_address_is_named_by_its_person_and_a_person_by_name() {
        let people = People(HashMap::from([(
            "whatsapp:4917012345".to_string(),
            "Paula".to_string(),
        )]));
        assert_eq!(
            named(people.who("whatsapp:4917012345")),
            ("Paula".into(), Some("WhatsApp".into()))
        );
        assert_eq!(named(people.who("person:Emil")), ("Emil".into(), None));
        assert_eq!(
            named(people.who("telegram:999")),
            ("telegram:999".into(), Some("Telegram".into()))
        );
        assert_eq!(named(people.who("api:cms")), ("api:cms".into(), None));
        assert_eq!(named(people.who_opt(None)), (String::new(), None));
    }
}
