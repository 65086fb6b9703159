//! Who may do what: the one place that decides. Every way in (chat on each channel, API, CLI,
//! schedules, later the warnings feed and the dashboard) asks here through the broadcast
//! service; nobody else looks at roles.

use crate::domain::{Actor, BroadcastKind, Priority, Role, is_alert_class};
use crate::store::Broadcast;

/// What an actor wants to do to a broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Compose one: a draft, or one released (or scheduled) at once.
    Submit,
    /// Confirm a draft: release it, or pass it on for approval.
    Send,
    /// The second person's approval under the two-person rule.
    Approve,
    /// Cancel, stop, unschedule or drop it.
    Cancel,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::Submit,
        Action::Send,
        Action::Approve,
        Action::Cancel,
    ];
}

/// What the policy needs to know of a broadcast.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// An alert, update or all-clear, alert priority, or the alerts topic.
    pub alert: bool,
    /// Who composed it ([`Actor::identity`]).
    pub author: Option<&'a str>,
}

impl<'a> Subject<'a> {
    pub fn new(
        kind: BroadcastKind,
        priority: Priority,
        topic: &str,
        author: Option<&'a str>,
    ) -> Self {
        Subject {
            alert: is_alert_class(kind, priority, topic),
            author,
        }
    }

    pub fn of(b: &'a Broadcast) -> Self {
        Subject::new(b.kind, b.priority, &b.topic, b.author.as_deref())
    }
}

/// Why the policy said no. The text is for the API and logs; the chat has its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("only the emergency staff may do this to an alert, update or all-clear")]
    NeedsEmergency,
    #[error("only city staff may do this")]
    NotStaff,
    #[error("the author cannot approve their own alert: another member of the emergency team must")]
    OwnApproval,
    #[error("an approval must come from a person of the emergency team, in the chat")]
    NotAPerson,
}

fn may_alert(role: Role) -> bool {
    matches!(role, Role::Emergency | Role::Admin)
}

/// May `actor` do `action` to `subject`?
pub fn decide(actor: &Actor, action: Action, subject: &Subject<'_>) -> Result<(), Refusal> {
    if let Actor::Scheduler { .. } = actor {
        // The scheduler only fires what someone was allowed to plan.
        return match action {
            Action::Submit => Ok(()),
            _ => Err(Refusal::NotStaff),
        };
    }
    let Some(role) = actor.role() else {
        return Err(Refusal::NotStaff);
    };
    match action {
        Action::Submit | Action::Send | Action::Cancel => {
            if subject.alert && !may_alert(role) {
                Err(Refusal::NeedsEmergency)
            } else {
                Ok(())
            }
        }
        Action::Approve => {
            if !matches!(actor, Actor::Staff { .. }) {
                Err(Refusal::NotAPerson)
            } else if !may_alert(role) {
                Err(Refusal::NeedsEmergency)
            } else if subject.author == Some(actor.identity().as_str()) {
                Err(Refusal::OwnApproval)
            } else {
                Ok(())
            }
        }
    }
}

/// With `alerts.require_second_approval`, an alert-class broadcast waits for a second person,
/// whoever submits it; what the scheduler fires was approved when it was planned.
pub fn needs_second_approval(actor: &Actor, subject: &Subject<'_>, rule_on: bool) -> bool {
    rule_on && subject.alert && !matches!(actor, Actor::Scheduler { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ChannelKind;

    fn person(name: &str, role: Role) -> Actor {
        Actor::Staff {
            person: name.into(),
            role,
            channel: ChannelKind::Telegram,
            address: "901".into(),
        }
    }

    /// One row per actor: the expected answer for (action, announcement or alert), in the order
    /// Submit, Send, Approve, Cancel; `ok`, `emergency` (NeedsEmergency), `own`, `person`, `staff`.
    #[test]
    fn every_role_action_and_kind() {
        let author = "person:Anna";
        let actors: Vec<(&str, Actor)> = vec![
            ("press", person("Paul", Role::Press)),
            ("emergency", person("Emil", Role::Emergency)),
            ("admin", person("Ada", Role::Admin)),
            ("author (emergency)", person("Anna", Role::Emergency)),
            (
                "press token",
                Actor::Token {
                    name: "cms".into(),
                    role: Role::Press,
                },
            ),
            (
                "emergency token",
                Actor::Token {
                    name: "leitstelle".into(),
                    role: Role::Emergency,
                },
            ),
            (
                "operator",
                Actor::Operator {
                    user: "root".into(),
                },
            ),
            ("scheduler", Actor::Scheduler { planned_by: None }),
        ];
        #[rustfmt::skip]
        let expected: [[[&str; 2]; 4]; 8] = [
            //  Submit             Send               Approve            Cancel
            //  news   alert       news   alert       news   alert       news   alert
            [["ok", "emergency"], ["ok", "emergency"], ["emergency", "emergency"], ["ok", "emergency"]], // press
            [["ok", "ok"],        ["ok", "ok"],        ["ok", "ok"],               ["ok", "ok"]],        // emergency
            [["ok", "ok"],        ["ok", "ok"],        ["ok", "ok"],               ["ok", "ok"]],        // admin
            [["ok", "ok"],        ["ok", "ok"],        ["own", "own"],             ["ok", "ok"]],        // author
            [["ok", "emergency"], ["ok", "emergency"], ["person", "person"],       ["ok", "emergency"]], // press token
            [["ok", "ok"],        ["ok", "ok"],        ["person", "person"],       ["ok", "ok"]],        // emergency token
            [["ok", "ok"],        ["ok", "ok"],        ["person", "person"],       ["ok", "ok"]],        // operator
            [["ok", "ok"],        ["staff", "staff"],  ["staff", "staff"],         ["staff", "staff"]],  // scheduler
        ];
        let kinds = [
            (BroadcastKind::Announcement, Priority::Normal, "news"),
            (BroadcastKind::Alert, Priority::Alert, "alerts"),
        ];
        for ((who, actor), row) in actors.iter().zip(expected) {
            for (action, cells) in Action::ALL.iter().zip(row) {
                for ((kind, priority, topic), want) in kinds.iter().zip(cells) {
                    let subject = Subject::new(*kind, *priority, topic, Some(author));
                    let got = match decide(actor, *action, &subject) {
                        Ok(()) => "ok",
                        Err(Refusal::NeedsEmergency) => "emergency",
                        Err(Refusal::OwnApproval) => "own",
                        Err(Refusal::NotAPerson) => "person",
                        Err(Refusal::NotStaff) => "staff",
                    };
                    assert_eq!(got, want, "{who} {action:?} {kind:?}");
                }
            }
        }
    }

    #[test]
    fn updates_all_clears_and_alert_priority_count_as_alerts() {
        let press = person("Paul", Role::Press);
        for (kind, priority, topic) in [
            (BroadcastKind::Update, Priority::Normal, "news"),
            (BroadcastKind::Allclear, Priority::Normal, "news"),
            (BroadcastKind::Announcement, Priority::Alert, "news"),
            (BroadcastKind::Announcement, Priority::Normal, "alerts"),
        ] {
            let subject = Subject::new(kind, priority, topic, None);
            for action in [Action::Submit, Action::Send, Action::Cancel] {
                assert_eq!(
                    decide(&press, action, &subject),
                    Err(Refusal::NeedsEmergency),
                    "{kind:?} {priority:?} {topic}"
                );
            }
        }
    }

    #[test]
    fn the_second_approval_is_for_alerts_from_any_way_in_but_the_scheduler() {
        let alert = Subject::new(BroadcastKind::Alert, Priority::Alert, "alerts", None);
        let news = Subject::new(BroadcastKind::Announcement, Priority::Normal, "news", None);
        let token = Actor::Token {
            name: "leitstelle".into(),
            role: Role::Emergency,
        };
        let operator = Actor::Operator {
            user: "root".into(),
        };
        let scheduler = Actor::Scheduler { planned_by: None };
        assert!(needs_second_approval(&token, &alert, true));
        assert!(needs_second_approval(&operator, &alert, true));
        assert!(needs_second_approval(
            &person("Emil", Role::Emergency),
            &alert,
            true
        ));
        assert!(!needs_second_approval(&token, &alert, false));
        assert!(!needs_second_approval(&token, &news, true));
        assert!(!needs_second_approval(&scheduler, &alert, true));
    }
}
