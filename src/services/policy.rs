//! Who may do what: the one place that decides. Every way in (chat on each channel, API, CLI,
//! schedules, later the warnings feed and the dashboard) asks here through the broadcast
//! service; nobody else looks at roles.

use crate::domain::{Actor, BroadcastKind, Desk, Priority, Role, is_alert_class};
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
    /// Take it back after it was sent: a notice to whoever received it. Like stopping, it
    /// needs no second person (the two-person rule guards sending, never stopping).
    Retract,
    /// Change the text or time of what awaits approval, before approving it: whoever may
    /// approve it may.
    Edit,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::Submit,
        Action::Send,
        Action::Approve,
        Action::Cancel,
        Action::Retract,
        Action::Edit,
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
    #[error(
        "a contributor writes drafts for the press office; only the press office sends, schedules, alerts, cancels or approves"
    )]
    DraftsOnly,
    #[error("this topic is not one of the topics your department may write drafts for")]
    TopicNotAllowed,
    #[error("only an administrator adds or removes staff")]
    AdminsOnly,
    #[error(
        "under the two-person rule an alert needs a person as its author, and this token is bound to nobody: the operator binds it to its holder (person in [[api.tokens]], AMTSBOTE_API_TOKEN_PERSON or AMTSBOTE_API_EMERGENCY_TOKEN_PERSON)"
    )]
    TokenWithoutPerson,
}

fn may_alert(role: Role) -> bool {
    matches!(role, Role::Emergency | Role::Admin)
}

/// May `actor` do `action` to `subject`, under `rules`?
pub fn decide(
    actor: &Actor,
    action: Action,
    subject: &Subject<'_>,
    rules: Approvals,
) -> Result<(), Refusal> {
    if let Actor::WarningsFeed = actor {
        // The feed carries official warnings onto the alerts topic, and nothing else; it may
        // withdraw what it submitted itself (an update or all-clear overtook it), but never
        // approve: that is for people.
        let own = subject.author == Some(actor.identity().as_str());
        return match action {
            Action::Submit if subject.alert => Ok(()),
            Action::Cancel if own => Ok(()),
            Action::Approve => Err(Refusal::NotAPerson),
            _ => Err(Refusal::NotStaff),
        };
    }
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
    if role == Role::Contributor {
        // A department proposes (see [`may_draft`]); everything else is the press office's.
        return Err(Refusal::DraftsOnly);
    }
    match action {
        Action::Retract => {
            if subject.alert && !may_alert(role) {
                Err(Refusal::NeedsEmergency)
            } else {
                Ok(())
            }
        }
        Action::Submit | Action::Send | Action::Cancel => {
            if subject.alert && !may_alert(role) {
                Err(Refusal::NeedsEmergency)
            } else if action != Action::Cancel
                && subject.alert
                && rules.second_person
                && matches!(actor, Actor::Token { person: None, .. })
            {
                // The rule compares people: a token nobody holds could be the approver's own.
                Err(Refusal::TokenWithoutPerson)
            } else {
                Ok(())
            }
        }
        Action::Approve | Action::Edit => {
            if !matches!(actor, Actor::Staff { .. }) {
                Err(Refusal::NotAPerson)
            } else if subject.alert && !may_alert(role) {
                // News awaits approval only as a department's draft: the press office's to
                // approve; an alert only the emergency staff approve.
                Err(Refusal::NeedsEmergency)
            } else if subject.author == Some(actor.identity().as_str()) {
                Err(Refusal::OwnApproval)
            } else {
                Ok(())
            }
        }
    }
}

/// May `actor` write a draft for the press office (`/entwurf`, `POST /api/v1/drafts`, the
/// dashboard, `amtsbote draft`) on `topic`? A contributor only for their department's topics
/// (`desk`) and never an alert; press, emergency staff and the operator may propose anything
/// they could send.
pub fn may_draft(
    actor: &Actor,
    desk: Option<&Desk>,
    subject: &Subject<'_>,
    topic: &str,
) -> Result<(), Refusal> {
    match actor.role() {
        Some(Role::Contributor) if subject.alert => Err(Refusal::DraftsOnly),
        Some(Role::Contributor) if desk.is_some_and(|d| d.covers(topic)) => Ok(()),
        Some(Role::Contributor) => Err(Refusal::TopicNotAllowed),
        Some(_) => decide(actor, Action::Submit, subject, Approvals::default()),
        None => Err(Refusal::NotStaff),
    }
}

/// May `actor` add or remove staff (`amtsbote staff`, the dashboard's team page, the API)?
/// The administration only: the operator at the command line, admin people and admin tokens;
/// so a press member cannot make anyone press or emergency staff, nor a department itself.
pub fn may_manage_staff(actor: &Actor) -> Result<(), Refusal> {
    match actor.role() {
        Some(Role::Admin) => Ok(()),
        Some(_) => Err(Refusal::AdminsOnly),
        None => Err(Refusal::NotStaff),
    }
}

/// How alerts wait for people: the two-person rule, and the warnings feed's mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Approvals {
    /// `alerts.require_second_approval`.
    pub second_person: bool,
    /// `warnings.mode = approve`: what the feed submits waits for the emergency staff.
    pub feed: bool,
}

/// With `alerts.require_second_approval`, an alert-class broadcast waits for a second person,
/// whoever submits it; what the scheduler fires was approved when it was planned. What the
/// warnings feed submits waits for a person in `approve` mode (any emergency person then
/// approves it: the feed is the author), and goes at once in `auto` mode.
pub fn needs_second_approval(actor: &Actor, subject: &Subject<'_>, rules: Approvals) -> bool {
    match actor {
        Actor::Scheduler { .. } => false,
        Actor::WarningsFeed => rules.feed,
        _ => rules.second_person && subject.alert,
    }
}

/// May `actor` release `subject`, which waits for approval, because nobody acted in time
/// (`warnings.auto_release_minutes`)? Only the feed, only what it submitted itself; whether
/// the warning is grave enough and the time is up the feed decides from the warning.
pub fn may_release_unattended(actor: &Actor, subject: &Subject<'_>) -> Result<(), Refusal> {
    match actor {
        Actor::WarningsFeed if subject.author == Some(actor.identity().as_str()) => Ok(()),
        Actor::WarningsFeed => Err(Refusal::NotStaff),
        _ => Err(Refusal::NotAPerson),
    }
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
    /// Submit, Send, Approve, Cancel, Retract; `ok`, `emergency` (NeedsEmergency), `own`, `person`, `staff`.
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
                    person: None,
                },
            ),
            (
                "emergency token",
                Actor::Token {
                    name: "leitstelle".into(),
                    role: Role::Emergency,
                    person: None,
                },
            ),
            (
                "operator",
                Actor::Operator {
                    user: "root".into(),
                },
            ),
            ("scheduler", Actor::Scheduler { planned_by: None }),
            ("warnings feed", Actor::WarningsFeed),
        ];
        #[rustfmt::skip]
        let expected: [[[&str; 2]; 5]; 9] = [
            //  Submit             Send               Approve            Cancel             Retract
            //  news   alert       news   alert       news   alert       news   alert
            [["ok", "emergency"], ["ok", "emergency"], ["ok", "emergency"],        ["ok", "emergency"], ["ok", "emergency"]], // press
            [["ok", "ok"],        ["ok", "ok"],        ["ok", "ok"],               ["ok", "ok"],        ["ok", "ok"]],        // emergency
            [["ok", "ok"],        ["ok", "ok"],        ["ok", "ok"],               ["ok", "ok"],        ["ok", "ok"]],        // admin
            [["ok", "ok"],        ["ok", "ok"],        ["own", "own"],             ["ok", "ok"],        ["ok", "ok"]],        // author
            [["ok", "emergency"], ["ok", "emergency"], ["person", "person"],       ["ok", "emergency"], ["ok", "emergency"]], // press token
            [["ok", "ok"],        ["ok", "ok"],        ["person", "person"],       ["ok", "ok"],        ["ok", "ok"]],        // emergency token
            [["ok", "ok"],        ["ok", "ok"],        ["person", "person"],       ["ok", "ok"],        ["ok", "ok"]],        // operator
            [["ok", "ok"],        ["staff", "staff"],  ["staff", "staff"],         ["staff", "staff"],  ["staff", "staff"]],  // scheduler
            [["staff", "ok"],     ["staff", "staff"],  ["person", "person"],       ["staff", "staff"],  ["staff", "staff"]],  // warnings feed
        ];
        let kinds = [
            (BroadcastKind::Announcement, Priority::Normal, "news"),
            (BroadcastKind::Alert, Priority::Alert, "alerts"),
        ];
        for ((who, actor), row) in actors.iter().zip(expected) {
            for (action, cells) in Action::ALL.iter().zip(row) {
                for ((kind, priority, topic), want) in kinds.iter().zip(cells) {
                    let subject = Subject::new(*kind, *priority, topic, Some(author));
                    let got = match decide(actor, *action, &subject, Approvals::default()) {
                        Ok(()) => "ok",
                        Err(Refusal::NeedsEmergency) => "emergency",
                        Err(Refusal::OwnApproval) => "own",
                        Err(Refusal::NotAPerson) => "person",
                        Err(Refusal::NotStaff) => "staff",
                        Err(Refusal::TokenWithoutPerson) => "nobody",
                        Err(Refusal::DraftsOnly) => "drafts",
                        Err(Refusal::TopicNotAllowed) => "topic",
                        Err(Refusal::AdminsOnly) => "admins",
                    };
                    assert_eq!(got, want, "{who} {action:?} {kind:?}");
                }
            }
        }
    }

    #[test]
    fn a_contributor_drafts_for_their_departments_topics_and_does_nothing_else() {
        let road = person("Tina", Role::Contributor);
        let desk = Desk {
            department: "Tiefbauamt".into(),
            topics: vec!["traffic".into()],
        };
        let news = |topic| Subject::new(BroadcastKind::Announcement, Priority::Normal, topic, None);
        let alert = Subject::new(BroadcastKind::Alert, Priority::Alert, "alerts", None);
        assert_eq!(
            may_draft(&road, Some(&desk), &news("traffic"), "traffic"),
            Ok(())
        );
        assert_eq!(
            may_draft(&road, Some(&desk), &news("culture"), "culture"),
            Err(Refusal::TopicNotAllowed)
        );
        assert_eq!(
            may_draft(&road, None, &news("traffic"), "traffic"),
            Err(Refusal::TopicNotAllowed)
        );
        assert_eq!(
            may_draft(&road, Some(&desk), &alert, "alerts"),
            Err(Refusal::DraftsOnly)
        );
        for action in Action::ALL {
            for subject in [news("traffic"), alert] {
                assert_eq!(
                    decide(&road, action, &subject, Approvals::default()),
                    Err(Refusal::DraftsOnly),
                    "{action:?}"
                );
            }
        }
        // The press office approves and edits a department's news, never an alert.
        let press = person("Paul", Role::Press);
        let hers = Subject::new(
            BroadcastKind::Announcement,
            Priority::Normal,
            "traffic",
            Some("person:Tina"),
        );
        for action in [Action::Approve, Action::Edit] {
            assert_eq!(decide(&press, action, &hers, Approvals::default()), Ok(()));
            assert_eq!(
                decide(&press, action, &alert, Approvals::default()),
                Err(Refusal::NeedsEmergency)
            );
        }
        assert_eq!(
            may_draft(&press, None, &news("culture"), "culture"),
            Ok(()),
            "the press office may propose anything it may send"
        );
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
                    decide(&press, action, &subject, Approvals::default()),
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
            person: None,
        };
        let operator = Actor::Operator {
            user: "root".into(),
        };
        let scheduler = Actor::Scheduler { planned_by: None };
        let on = Approvals {
            second_person: true,
            feed: false,
        };
        let off = Approvals::default();
        assert!(needs_second_approval(&token, &alert, on));
        assert!(needs_second_approval(&operator, &alert, on));
        assert!(needs_second_approval(
            &person("Emil", Role::Emergency),
            &alert,
            on
        ));
        assert!(!needs_second_approval(&token, &alert, off));
        assert!(!needs_second_approval(&token, &news, on));
        assert!(!needs_second_approval(&scheduler, &alert, on));
    }

    #[test]
    fn under_the_two_person_rule_a_token_is_its_persons_key_and_one_bound_to_nobody_may_not_alert()
    {
        let on = Approvals {
            second_person: true,
            feed: false,
        };
        let alert = Subject::new(BroadcastKind::Alert, Priority::Alert, "alerts", None);
        let news = Subject::new(BroadcastKind::Announcement, Priority::Normal, "news", None);
        let nobodys = Actor::Token {
            name: "leitstelle".into(),
            role: Role::Emergency,
            person: None,
        };
        for action in [Action::Submit, Action::Send] {
            assert_eq!(
                decide(&nobodys, action, &alert, on),
                Err(Refusal::TokenWithoutPerson)
            );
            assert_eq!(decide(&nobodys, action, &news, on), Ok(()));
            assert_eq!(
                decide(&nobodys, action, &alert, Approvals::default()),
                Ok(())
            );
        }
        assert_eq!(decide(&nobodys, Action::Cancel, &alert, on), Ok(()));

        let annas = Actor::Token {
            name: "leitstelle".into(),
            role: Role::Emergency,
            person: Some(crate::domain::PersonName::parse("Anna").expect("name")),
        };
        assert_eq!(decide(&annas, Action::Submit, &alert, on), Ok(()));
        let identity = annas.identity();
        assert_eq!(identity, person("Anna", Role::Emergency).identity());
        let hers = Subject::new(
            BroadcastKind::Alert,
            Priority::Alert,
            "alerts",
            Some(&identity),
        );
        assert_eq!(
            decide(&person("Anna", Role::Emergency), Action::Approve, &hers, on),
            Err(Refusal::OwnApproval)
        );
        assert_eq!(
            decide(
                &person("Erika", Role::Emergency),
                Action::Approve,
                &hers,
                on
            ),
            Ok(())
        );
        assert_eq!(
            decide(&annas, Action::Approve, &alert, on),
            Err(Refusal::NotAPerson),
            "a token never approves"
        );
        assert_eq!(annas.audit_name(), "Anna (api:leitstelle)");
    }

    #[test]
    fn the_feed_waits_for_people_in_approve_mode_only_and_withdraws_only_its_own() {
        let feed = Actor::WarningsFeed;
        let own = Subject::new(
            BroadcastKind::Alert,
            Priority::Alert,
            "alerts",
            Some("feed:warnings"),
        );
        let theirs = Subject::new(
            BroadcastKind::Alert,
            Priority::Alert,
            "alerts",
            Some("person:Anna"),
        );
        let approve = Approvals {
            second_person: false,
            feed: true,
        };
        let auto = Approvals {
            second_person: true,
            feed: false,
        };
        assert!(needs_second_approval(&feed, &own, approve));
        assert!(!needs_second_approval(&feed, &own, auto));
        assert_eq!(decide(&feed, Action::Cancel, &own, approve), Ok(()));
        assert_eq!(
            decide(&feed, Action::Cancel, &theirs, approve),
            Err(Refusal::NotStaff)
        );
        assert_eq!(may_release_unattended(&feed, &own), Ok(()));
        assert!(may_release_unattended(&feed, &theirs).is_err());
        assert!(may_release_unattended(&person("Emil", Role::Emergency), &own).is_err());
    }

    #[test]
    fn only_an_administrator_changes_the_team() {
        let operator = Actor::Operator { user: "ops".into() };
        assert_eq!(may_manage_staff(&operator), Ok(()));
        assert_eq!(may_manage_staff(&person("Anna", Role::Admin)), Ok(()));
        for role in [Role::Press, Role::Emergency, Role::Contributor] {
            assert_eq!(
                may_manage_staff(&person("Paula", role)),
                Err(Refusal::AdminsOnly),
                "{role:?}"
            );
        }
        let token = |role| Actor::Token {
            name: "it".into(),
            role,
            person: None,
        };
        assert_eq!(
            may_manage_staff(&token(Role::Press)),
            Err(Refusal::AdminsOnly)
        );
        assert_eq!(may_manage_staff(&token(Role::Admin)), Ok(()));
        assert_eq!(
            may_manage_staff(&Actor::WarningsFeed),
            Err(Refusal::NotStaff)
        );
    }
}
