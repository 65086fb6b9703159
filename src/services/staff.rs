//! The team: adding a staff person's address (with a department's desk for a contributor) and
//! removing a person or one address. The CLI (`amtsbote staff add`/`remove`), the
//! dashboard's team page and the API (`/api/v1/staff`) call these; the policy says who may,
//! and the audit log keeps it.

use crate::domain::{Actor, ChannelKind, Desk, PersonName, Role, TopicConfig};
use crate::services::policy::{self, Refusal};
use crate::store::{StaffMember, Store, StoreError};

/// A staff address to add, as typed.
#[derive(Debug, Clone)]
pub struct NewStaff {
    pub channel: ChannelKind,
    pub address: String,
    pub role: Role,
    /// The person it belongs to; `None`: the address is a person of its own.
    pub person: Option<PersonName>,
    /// A contributor's department and topics (contributors only).
    pub desk: Option<Desk>,
}

/// What a staff change was refused for; nothing changed then. The texts are the CLI's; the
/// dashboard says each in its own words.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(
        "--address: expected a Telegram user id (a number) or a WhatsApp number in digits without +, got '{typed}'"
    )]
    BadAddress { channel: ChannelKind, typed: String },
    #[error("--role contributor needs --person: a department's drafts are a person's")]
    NeedsPerson,
    #[error("--role contributor needs --department NAME and --topics TOPIC,TOPIC")]
    NeedsDesk,
    #[error("--department and --topics are for --role contributor only")]
    DeskForContributorsOnly,
    #[error("--topics: unknown topic '{topic}'; valid topics: {}", valid.join(", "))]
    UnknownTopic { topic: String, valid: Vec<String> },
    /// The address belongs to another person.
    #[error("{address} belongs to {owner} (remove it from {owner} first)")]
    AddressTaken { address: String, owner: String },
    /// The person has another role: a person has one.
    #[error(
        "{person} is {}, so an address of theirs cannot be {}: a person has one role (to change it, remove {person} and add their addresses again)",
        role.as_str(), wanted.as_str()
    )]
    OtherRole {
        person: String,
        role: Role,
        wanted: Role,
    },
    /// The store refused it (someone changed the team at the same moment).
    #[error("{0}")]
    Conflict(String),
    #[error("{0} is not staff")]
    NotStaff(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for StaffError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::StaffConflict(why) => StaffError::Conflict(why),
            other => StaffError::Store(other),
        }
    }
}

/// Checks a staff address: Telegram user ids are integers, WhatsApp numbers digits without `+`.
pub fn parse_address(channel: ChannelKind, typed: &str) -> Result<String, StaffError> {
    let a = typed.trim();
    let ok = match channel {
        ChannelKind::Telegram => a.parse::<i64>().is_ok(),
        ChannelKind::Whatsapp => {
            !a.is_empty() && a.len() <= 15 && a.bytes().all(|b| b.is_ascii_digit())
        }
    };
    if ok {
        Ok(a.to_string())
    } else {
        Err(StaffError::BadAddress {
            channel,
            typed: a.to_string(),
        })
    }
}

/// `Anna: telegram:901`, or `telegram:901` for an address that is a person of its own.
pub fn person_and_address(m: &StaffMember) -> String {
    if m.is_own_person() {
        m.address_label()
    } else {
        format!("{}: {}", m.person, m.address_label())
    }
}

/// Adds `new` for `actor` (as the policy allows): the address with its person and role, and a
/// contributor's desk; audited as `staff-add`.
pub async fn add(
    store: &dyn Store,
    topics: &[TopicConfig],
    actor: &Actor,
    new: NewStaff,
) -> Result<StaffMember, StaffError> {
    policy::may_manage_staff(actor)?;
    let address = parse_address(new.channel, &new.address)?;
    let desk = match (new.role, new.desk) {
        (Role::Contributor, Some(desk)) => {
            let Some(person) = &new.person else {
                return Err(StaffError::NeedsPerson);
            };
            let desk = Desk {
                department: desk.department.trim().to_string(),
                topics: desk.topics,
            };
            if desk.department.is_empty() || desk.topics.is_empty() {
                return Err(StaffError::NeedsDesk);
            }
            if let Some(t) = desk
                .topics
                .iter()
                .find(|t| !topics.iter().any(|c| c.id.as_str() == t.as_str()))
            {
                return Err(StaffError::UnknownTopic {
                    topic: t.clone(),
                    valid: topics.iter().map(|c| c.id.as_str().to_string()).collect(),
                });
            }
            Some((person.as_str().to_string(), desk))
        }
        (Role::Contributor, None) => return Err(StaffError::NeedsDesk),
        (_, Some(_)) => return Err(StaffError::DeskForContributorsOnly),
        (_, None) => None,
    };
    // Said in the team's words before the store's own check (which stays the guard).
    let person = new
        .person
        .as_ref()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| StaffMember::own_person(new.channel, &address));
    // A person has one role; the address itself may change its (the store allows that for a
    // person of one address).
    let label = StaffMember::own_person(new.channel, &address);
    let staff = store.list_staff().await?;
    if let Some(owner) = staff
        .iter()
        .find(|m| m.channel == new.channel && m.address == address && m.person != person)
    {
        return Err(StaffError::AddressTaken {
            address: owner.address_label(),
            owner: owner.person.clone(),
        });
    }
    if let Some(other) = staff
        .iter()
        .find(|m| m.person == person && m.role != new.role && m.address_label() != label)
    {
        return Err(StaffError::OtherRole {
            person,
            role: other.role,
            wanted: new.role,
        });
    }
    let member = store
        .set_staff(
            new.channel,
            &address,
            new.role,
            new.person.as_ref().map(PersonName::as_str),
        )
        .await?;
    let mut detail = format!(
        "{} as {}",
        person_and_address(&member),
        member.role.as_str()
    );
    if let Some((person, desk)) = &desk {
        store.set_desk(person, desk).await?;
        detail.push_str(&format!(
            " of {} for {}",
            desk.department,
            desk.topics.join(", ")
        ));
    }
    store
        .audit(&actor.audit_name(), "staff-add", &detail)
        .await?;
    Ok(member)
}

/// What [`remove`] removes.
#[derive(Debug, Clone)]
pub enum StaffTarget {
    /// A person with every address they have.
    Person(PersonName),
    /// One address; its person keeps their other addresses.
    Address(ChannelKind, String),
}

/// Removes `target` for `actor` (as the policy allows), audited as `staff-remove`; says who
/// went (`Anna (2 addresses)`, `Anna: telegram:901`).
pub async fn remove(
    store: &dyn Store,
    actor: &Actor,
    target: StaffTarget,
) -> Result<String, StaffError> {
    policy::may_manage_staff(actor)?;
    let (removed, detail) = match target {
        StaffTarget::Address(channel, address) => {
            let address = parse_address(channel, &address)?;
            // Read first only to name the person in the audit log.
            let who = match store.staff_member(channel, &address).await? {
                Some(m) => person_and_address(&m),
                None => StaffMember::own_person(channel, &address),
            };
            if !store.remove_staff(channel, &address).await? {
                return Err(StaffError::NotStaff(who));
            }
            (who.clone(), who)
        }
        StaffTarget::Person(person) => {
            let addresses: Vec<String> = store
                .list_staff()
                .await?
                .iter()
                .filter(|m| m.person == person.as_str())
                .map(StaffMember::address_label)
                .collect();
            let n = store.remove_person(person.as_str()).await?;
            if n == 0 {
                return Err(StaffError::NotStaff(person.to_string()));
            }
            let plural = if n == 1 { "" } else { "es" };
            (
                format!("{person} ({n} address{plural})"),
                format!("{person}: {}", addresses.join(", ")),
            )
        }
    };
    store
        .audit(&actor.audit_name(), "staff-remove", &detail)
        .await?;
    Ok(removed)
}
