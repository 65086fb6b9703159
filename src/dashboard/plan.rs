//! The editorial calendar ("Redaktionsplan", issue 25): a week or a month of what is
//! scheduled, the next firings of every recurring schedule, what awaits approval and what was
//! sent, per topic in colours; a scheduled item is moved from here (the broadcast service and
//! its policy decide), and the same items are an iCalendar feed behind a personal secret link.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use minijinja::{Value, context};
use rand::Rng;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::DashboardState;
use super::pages::{CsrfForm, frame, local_time, service_error, store_error};
use super::session::{Staff, see_other};
use crate::domain::time::{Recurrence, local_to_instant, parse_time};
use crate::domain::{Actor, BroadcastStatus};
use crate::store::Broadcast;

type Shared = State<Arc<DashboardState>>;

/// Firings of one schedule shown at most (a schedule every minute would fill a month).
const MAX_FIRINGS: usize = 200;
/// How far ahead the iCalendar feed shows recurring firings.
const FEED_WEEKS: i64 = 8;
/// Topic colours: `.topic-N` in the style sheet, white text on each passes WCAG AA.
const COLOURS: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scheduled,
    Recurring,
    Awaiting,
    Sent,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Scheduled => "scheduled",
            Kind::Recurring => "recurring",
            Kind::Awaiting => "awaiting",
            Kind::Sent => "sent",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Scheduled => "Geplant",
            Kind::Recurring => "Wiederkehrend",
            Kind::Awaiting => "Zur Freigabe",
            Kind::Sent => "Gesendet",
        }
    }
}

/// One entry of the plan.
struct Item {
    kind: Kind,
    /// The broadcast it links to (a recurring firing: the broadcast its schedule was made from).
    broadcast: Option<i64>,
    /// A recurring firing's schedule.
    schedule: Option<i64>,
    topic: String,
    text: String,
    at: i64,
}

impl Item {
    fn of(kind: Kind, b: &Broadcast, at: i64) -> Item {
        Item {
            kind,
            broadcast: Some(b.id),
            schedule: None,
            topic: b.topic.clone(),
            text: b.text.clone(),
            at,
        }
    }

    /// A key unique within the plan, for element ids and iCalendar UIDs.
    fn key(&self) -> String {
        match (self.schedule, self.broadcast) {
            (Some(s), _) => format!("s{s}-{}", self.at),
            (None, Some(b)) => format!("b{b}"),
            (None, None) => format!("x{}", self.at),
        }
    }

    fn href(&self) -> String {
        match self.broadcast {
            Some(id) => format!("/dashboard/broadcasts/{id}"),
            None => "/dashboard/schedules".to_string(),
        }
    }
}

/// What is planned, waits or was sent between `from` and `to` (ms); what awaits approval
/// without a time of its own stands at its creation.
async fn items(
    state: &DashboardState,
    from: i64,
    to: i64,
    firings_to: i64,
    sent: bool,
) -> Result<Vec<Item>, crate::store::StoreError> {
    let store = state.broadcasts.store();
    let (scheduled, schedules, awaiting, recurring) = tokio::try_join!(
        store.scheduled_broadcasts(),
        store.schedules(),
        store.list_broadcasts_page(Some(BroadcastStatus::AwaitingApproval), None, 200),
        store.list_broadcasts_page(Some(BroadcastStatus::Recurring), None, 200),
    )?;
    let inside = |at: i64| at >= from && at < to;
    let mut out = Vec::new();
    for b in &scheduled {
        if let Some(at) = b.scheduled_at.filter(|at| inside(*at)) {
            out.push(Item::of(Kind::Scheduled, b, at));
        }
    }
    for b in &awaiting {
        let at = b.scheduled_at.unwrap_or(b.created_at);
        if inside(at) {
            out.push(Item::of(Kind::Awaiting, b, at));
        }
    }
    let tz = state.broadcasts.tz();
    let now = state.broadcasts.clock().now();
    for s in &schedules {
        let Ok(r) = Recurrence::parse(&s.cron) else {
            continue;
        };
        // The broadcast the schedule was made from, when there is one (config schedules have none).
        let origin = recurring
            .iter()
            .find(|b| b.topic == s.topic && b.text == s.text && b.cron.as_deref() == Some(&s.cron))
            .map(|b| b.id);
        let start = DateTime::<Utc>::from_timestamp_millis(from)
            .unwrap_or(now)
            .max(now);
        let mut after = start - Duration::milliseconds(1);
        for _ in 0..MAX_FIRINGS {
            let Some(next) = r.next_after(tz, after) else {
                break;
            };
            let at = next.timestamp_millis();
            if at >= to.min(firings_to) {
                break;
            }
            if inside(at) {
                out.push(Item {
                    kind: Kind::Recurring,
                    broadcast: origin,
                    schedule: Some(s.id),
                    topic: s.topic.clone(),
                    text: s.text.clone(),
                    at,
                });
            }
            after = next;
        }
    }
    if sent {
        for b in store.list_broadcasts_page(None, None, 500).await? {
            let was_sent = matches!(
                b.status,
                BroadcastStatus::Released
                    | BroadcastStatus::Sending
                    | BroadcastStatus::Done
                    | BroadcastStatus::Retracted
            );
            if let Some(at) = b.released_at.filter(|at| was_sent && inside(*at)) {
                out.push(Item::of(Kind::Sent, &b, at));
            }
        }
    }
    out.sort_by_key(|i| (i.at, i.key()));
    Ok(out)
}

#[derive(Deserialize, Default)]
pub struct PlanQuery {
    view: Option<String>,
    /// An ISO week: `2026-W50`.
    week: Option<String>,
    /// A day in the week or month: `2026-12-24` or `24.12.2026`.
    from: Option<String>,
    /// A broadcast just moved: the page says so.
    moved: Option<i64>,
}

fn parse_day(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%d.%m.%Y"))
        .ok()
}

fn parse_week(s: &str) -> Option<NaiveDate> {
    let (year, week) = s.trim().split_once("-W")?;
    NaiveDate::from_isoywd_opt(year.parse().ok()?, week.parse().ok()?, chrono::Weekday::Mon)
}

fn week_param(day: NaiveDate) -> String {
    let w = day.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

const WEEKDAYS: [&str; 7] = ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"];
const MONTHS: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];

fn monday_of(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

fn next_month(first: NaiveDate) -> NaiveDate {
    first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first + Duration::days(31))
}

fn prev_month(first: NaiveDate) -> NaiveDate {
    first
        .checked_sub_months(chrono::Months::new(1))
        .unwrap_or(first - Duration::days(28))
}

/// The plan page's context for `q`, with `calendar_link` shown once after it was made.
async fn plan_context(
    state: &DashboardState,
    staff: &Staff,
    q: &PlanQuery,
    calendar_link: Option<String>,
) -> Result<Value, Response> {
    let tz = state.broadcasts.tz();
    let now = state.broadcasts.clock().now();
    let today = now.with_timezone(&tz).date_naive();
    let month = q.view.as_deref() == Some("month");
    let anchor = q
        .week
        .as_deref()
        .and_then(parse_week)
        .or_else(|| q.from.as_deref().and_then(parse_day))
        .unwrap_or(today);
    let (start, end, title, prev, next, inside_month) = if month {
        let first = first_of_month(anchor);
        let following = next_month(first);
        let start = monday_of(first);
        let end = monday_of(following - Duration::days(1)) + Duration::days(7);
        let title = format!("{} {}", MONTHS[first.month0() as usize % 12], first.year());
        (
            start,
            end,
            title,
            format!("/dashboard/plan?view=month&from={}", prev_month(first)),
            format!("/dashboard/plan?view=month&from={following}"),
            Some(first.month()),
        )
    } else {
        let start = monday_of(anchor);
        let end = start + Duration::days(7);
        let title = format!(
            "KW {} · {}–{}",
            start.iso_week().week(),
            start.format("%d.%m."),
            (end - Duration::days(1)).format("%d.%m.%Y")
        );
        (
            start,
            end,
            title,
            format!(
                "/dashboard/plan?week={}",
                week_param(start - Duration::days(7))
            ),
            format!("/dashboard/plan?week={}", week_param(end)),
            None,
        )
    };
    let ms = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map(|t| local_to_instant(tz, t).timestamp_millis())
            .unwrap_or_default()
    };
    let list = items(state, ms(start), ms(end), ms(end), true)
        .await
        .map_err(|e| store_error(state, staff.lang, e))?;
    let topics = state.broadcasts.topics();
    let colour = |topic: &str| {
        topics
            .iter()
            .position(|t| t.id.as_str() == topic)
            .map(|i| format!("topic-{}", i % COLOURS))
            .unwrap_or_else(|| "topic-other".to_string())
    };
    let label = |topic: &str| {
        state
            .broadcasts
            .topic(topic)
            .map(|t| t.label("de").to_string())
            .unwrap_or_else(|| topic.to_string())
    };
    let mut days = Vec::new();
    let mut day = start;
    while day < end {
        let (from, to) = (ms(day), ms(day + Duration::days(1)));
        let day_items: Vec<Value> = list
            .iter()
            .filter(|i| i.at >= from && i.at < to)
            .map(|i| {
                let short: String = i.text.chars().take(90).collect();
                let short = if i.text.chars().count() > 90 {
                    format!("{short} …")
                } else {
                    short
                };
                context! {
                    key => i.key(),
                    kind => i.kind.as_str(),
                    kind_label => i.kind.label(),
                    id => i.broadcast,
                    href => i.href(),
                    topic => label(&i.topic),
                    class => colour(&i.topic),
                    time => local_time(state, i.at).get(11..).unwrap_or_default().to_string(),
                    when => local_time(state, i.at),
                    short,
                    movable => i.kind == Kind::Scheduled,
                }
            })
            .collect();
        let weekday = WEEKDAYS[day.weekday().num_days_from_monday() as usize % 7];
        days.push(context! {
            iso => day.to_string(),
            label => format!("{weekday} {}", day.format("%d.%m.")),
            today => day == today,
            inside => inside_month.is_none_or(|m| m == day.month()),
            items => day_items,
        });
        day += Duration::days(1);
    }
    let legend: Vec<Value> = topics
        .iter()
        .map(|t| context! { label => t.label("de"), class => colour(t.id.as_str()) })
        .collect();
    let moved_at = match q.moved {
        Some(id) => state
            .broadcasts
            .store()
            .broadcast(id)
            .await
            .ok()
            .flatten()
            .and_then(|b| b.scheduled_at)
            .map(|at| local_time(state, at)),
        None => None,
    };
    let view = if month { "month" } else { "week" };
    Ok(context! {
        title,
        view,
        days,
        legend,
        prev,
        next,
        today_href => format!("/dashboard/plan{}", if month { "?view=month" } else { "" }),
        week_href => format!("/dashboard/plan?week={}", week_param(anchor)),
        month_href => format!("/dashboard/plan?view=month&from={anchor}"),
        moved => q.moved,
        moved_at,
        calendar_link,
        ..frame(staff, "plan")
    })
}

/// `/dashboard/plan`: the week (default, `?week=2026-W50`, `?from=DATE`) or the month
/// (`?view=month`).
pub async fn plan(State(state): Shared, staff: Staff, Query(q): Query<PlanQuery>) -> Response {
    match plan_context(&state, &staff, &q, None).await {
        Ok(ctx) => state.page(StatusCode::OK, "plan.html", ctx),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct MoveForm {
    csrf: Option<String>,
    #[serde(default)]
    at: String,
    #[serde(default)]
    view: String,
}

/// Moves a scheduled broadcast to the time typed (`24.12.2026 18:00`, city time), as the
/// broadcast service's policy allows; back to the plan at its new day.
pub async fn move_item(
    State(state): Shared,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<MoveForm>,
) -> Response {
    if let Some(refused) = staff.without_csrf(&state, f.csrf.as_deref()) {
        return refused;
    }
    let tz = state.broadcasts.tz();
    let at = match parse_time(&f.at, tz) {
        Ok(at) => at,
        Err(reason) => {
            return state.message(
                StatusCode::UNPROCESSABLE_ENTITY,
                staff.lang,
                "dash-invalid",
                &[("field", "at".into()), ("reason", reason.into())],
            );
        }
    };
    match state
        .broadcasts
        .reschedule(staff.actor(), id, at.timestamp_millis())
        .await
    {
        Ok(_) => {
            let day = at.with_timezone(&tz).date_naive();
            let view = if f.view == "month" { "&view=month" } else { "" };
            see_other(&format!("/dashboard/plan?from={day}&moved={id}{view}"))
        }
        Err(e) => service_error(&state, staff.lang, e),
    }
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Makes the signed-in person a new calendar link (the old one stops working) and shows it
/// once on the plan page.
pub async fn new_calendar_link(
    State(state): Shared,
    staff: Staff,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = staff.without_csrf(&state, f.csrf.as_deref()) {
        return refused;
    }
    let Actor::Staff { person, .. } = staff.actor() else {
        return state.message(StatusCode::FORBIDDEN, staff.lang, "staff-refused", &[]);
    };
    let secret = hex::encode(rand::rng().random::<[u8; 32]>());
    let now = state.broadcasts.clock().now().timestamp_millis();
    if let Err(e) = state
        .broadcasts
        .store()
        .set_calendar_link(person, &hash(&secret), now)
        .await
    {
        return store_error(&state, staff.lang, e);
    }
    if let Err(e) = state
        .broadcasts
        .note(staff.actor(), "calendar-link", "a new calendar link")
        .await
    {
        return service_error(&state, staff.lang, e);
    }
    let link = format!(
        "{}calendar.ics?token={secret}",
        state.sign_in.dashboard_url()
    );
    match plan_context(&state, &staff, &PlanQuery::default(), Some(link)).await {
        Ok(ctx) => state.page(StatusCode::OK, "plan.html", ctx),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct FeedQuery {
    token: Option<String>,
}

/// `/dashboard/calendar.ics?token=SECRET`: the plan as iCalendar (RFC 5545) for the person
/// whose link it is: what is scheduled, the next firings for eight weeks, what awaits approval
/// (tentative). No session; a wrong or replaced secret, or a person no longer staff: 404.
pub async fn calendar_feed(State(state): Shared, Query(q): Query<FeedQuery>) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "not found").into_response();
    let Some(secret) = q.token.filter(|t| !t.is_empty() && t.len() <= 128) else {
        return not_found();
    };
    let store = state.broadcasts.store();
    let person = match store.calendar_link_person(&hash(&secret)).await {
        Ok(Some(p)) => p,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "calendar feed: the store failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response();
        }
    };
    match store.list_staff().await {
        Ok(staff) if staff.iter().any(|s| s.person == person) => {}
        Ok(_) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "calendar feed: the store failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response();
        }
    }
    let now = state.broadcasts.clock().now();
    // Scheduled and awaiting approval whenever; recurring firings for eight weeks.
    let firings_to = (now + Duration::weeks(FEED_WEEKS)).timestamp_millis();
    let list = match items(&state, 0, i64::MAX, firings_to, false).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "calendar feed: the store failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response();
        }
    };
    let base = state.sign_in.dashboard_url();
    let body = ics(&list, now, base.trim_end_matches('/'), |t| {
        state
            .broadcasts
            .topic(t)
            .map(|c| c.label("de").to_string())
            .unwrap_or_else(|| t.to_string())
    });
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/calendar; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// RFC 5545 TEXT: backslash, semicolon, comma and line breaks escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// One content line, folded at 75 octets (never inside a character), ended by CRLF.
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

fn stamp(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_default()
}

fn ics(items: &[Item], now: DateTime<Utc>, base: &str, label: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    for l in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Amtsbote//Redaktionsplan//DE",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Redaktionsplan",
    ] {
        line(&mut out, l);
    }
    let dtstamp = stamp(now.timestamp_millis());
    for i in items {
        let topic = label(&i.topic);
        let first_line = i.text.lines().next().unwrap_or_default();
        line(&mut out, "BEGIN:VEVENT");
        line(&mut out, &format!("UID:{}@amtsbote", i.key()));
        line(&mut out, &format!("DTSTAMP:{dtstamp}"));
        line(&mut out, &format!("DTSTART:{}", stamp(i.at)));
        line(&mut out, "DURATION:PT15M");
        line(
            &mut out,
            &format!(
                "SUMMARY:{}",
                escape(&format!("{} · {topic}: {first_line}", i.kind.label()))
            ),
        );
        line(&mut out, &format!("DESCRIPTION:{}", escape(&i.text)));
        line(&mut out, &format!("CATEGORIES:{}", escape(&topic)));
        let status = if i.kind == Kind::Awaiting {
            "TENTATIVE"
        } else {
            "CONFIRMED"
        };
        line(&mut out, &format!("STATUS:{status}"));
        line(
            &mut out,
            &format!("URL:{base}{}", i.href().trim_start_matches("/dashboard")),
        );
        line(&mut out, "END:VEVENT");
    }
    line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fold_at_75_octets_between_characters() {
        let mut out = String::new();
        let text = format!("SUMMARY:{}", "ä".repeat(100));
        line(&mut out, &text);
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{l}");
        }
        let unfolded = out.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, text);
        assert_eq!(escape("a;b,c\\d\ne"), "a\\;b\\,c\\\\d\\ne");
    }

    #[test]
    fn weeks_and_days_parse() {
        assert_eq!(parse_week("2026-W50"), NaiveDate::from_ymd_opt(2026, 12, 7));
        assert_eq!(
            parse_day("24.12.2026"),
            NaiveDate::from_ymd_opt(2026, 12, 24)
        );
        assert_eq!(parse_week("2026-W99"), None);
        assert_eq!(
            week_param(NaiveDate::from_ymd_opt(2026, 12, 24).unwrap_or_default()),
            "2026-W52"
        );
    }
}
