//! Time in the city's words: wall-clock times placed in the city's time zone, quiet hours, and
//! recurring schedules from cron expressions. Times that do not exist (spring forward) fire at
//! the first valid instant after them; times that occur twice (fall back) fire once. No I/O.

use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// Where "now" comes from: the system's clock in the service, a test's in tests. Injected into
/// the broadcast service and the scheduler.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until moved: for tests.
#[derive(Debug, Default)]
pub struct FixedClock(std::sync::atomic::AtomicI64);

impl FixedClock {
    pub fn at(t: DateTime<Utc>) -> Self {
        FixedClock(std::sync::atomic::AtomicI64::new(t.timestamp_millis()))
    }

    pub fn set(&self, t: DateTime<Utc>) {
        self.0
            .store(t.timestamp_millis(), std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0.load(std::sync::atomic::Ordering::SeqCst))
            .unwrap_or_default()
    }
}

/// The instant a local wall-clock time means in `tz`: in a gap, the first valid instant after
/// it; when it occurs twice, the earlier.
pub fn local_to_instant(tz: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = wall;
    loop {
        match tz.from_local_datetime(&probe) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(earlier, _) => return earlier.with_timezone(&Utc),
            // Gaps are at most a few hours; step a minute at a time to the first valid one.
            LocalResult::None => probe += chrono::Duration::minutes(1),
        }
    }
}

/// Quiet hours in the city's time zone: news goes silently or waits; alerts always sound.
#[derive(Debug, Clone)]
pub struct QuietHours {
    pub start: chrono::NaiveTime,
    pub end: chrono::NaiveTime,
    pub tz: Tz,
    /// Topics held until the window ends; the others go out without sound.
    pub hold: std::collections::HashSet<String>,
}

impl QuietHours {
    pub fn is_quiet(&self, now: DateTime<Utc>) -> bool {
        let t = now.with_timezone(&self.tz).time();
        if self.start <= self.end {
            t >= self.start && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    pub fn holds(&self, topic: &str) -> bool {
        self.hold.contains(topic)
    }

    /// The first end of the window after `now`.
    pub fn ends_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let local = now.with_timezone(&self.tz);
        let today = local_to_instant(self.tz, local.date_naive().and_time(self.end));
        if today > now {
            today
        } else {
            let tomorrow = local.date_naive() + chrono::Duration::days(1);
            local_to_instant(self.tz, tomorrow.and_time(self.end))
        }
    }
}

/// Parses `2026-12-01 08:00` (city time) or an RFC 3339 time with offset.
pub fn parse_time(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    // chrono reads a 60th second as a leap second, an instant that has no millisecond of its
    // own: nobody schedules for one, so it is no time.
    let no_leap = |t: DateTime<Utc>| (t.nanosecond() < 1_000_000_000).then_some(t);
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        if let Some(t) = no_leap(t.with_timezone(&Utc)) {
            return Ok(t);
        }
    } else {
        for format in [
            // As the press office writes it: 24.12.2026 18:00.
            "%d.%m.%Y %H:%M",
            "%d.%m.%Y, %H:%M",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%dT%H:%M:%S",
        ] {
            if let Some(t) = NaiveDateTime::parse_from_str(s, format)
                .ok()
                .and_then(|naive| no_leap(local_to_instant(tz, naive)))
            {
                return Ok(t);
            }
        }
    }
    Err(format!(
        "'{s}' is not a time; use DD.MM.YYYY HH:MM like 24.12.2026 18:00 (city time), YYYY-MM-DD HH:MM or RFC 3339"
    ))
}

/// How the press office says when something recurs; [`Repeat::cron`] builds the expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Jeden Tag.
    Daily,
    /// Jeden Werktag (Monday to Friday).
    Weekdays,
    /// Jede Woche am … (a weekday: `Mon` … `Sun`).
    Weekly(&'static str),
    /// Jeden ersten … im Monat.
    FirstOfMonth(&'static str),
}

/// The weekdays as cron writes them, Monday first.
pub const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl Repeat {
    /// Reads the choice (`daily`, `weekdays`, `weekly`, `first`) with its weekday.
    pub fn parse(choice: &str, weekday: &str) -> Result<Repeat, String> {
        let day = || {
            WEEKDAYS
                .iter()
                .find(|d| d.eq_ignore_ascii_case(weekday.trim()))
                .copied()
                .ok_or_else(|| format!("'{weekday}' is no weekday (Mon … Sun)"))
        };
        match choice {
            "daily" => Ok(Repeat::Daily),
            "weekdays" => Ok(Repeat::Weekdays),
            "weekly" => Ok(Repeat::Weekly(day()?)),
            "first" => Ok(Repeat::FirstOfMonth(day()?)),
            other => Err(format!("'{other}' is no choice of when to repeat")),
        }
    }

    /// The six-field cron expression for this choice at `time` (`HH:MM`, city time).
    pub fn cron(self, time: &str) -> Result<String, String> {
        let (h, m) = time
            .trim()
            .split_once(':')
            .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
            .filter(|(h, m)| *h < 24 && *m < 60)
            .ok_or_else(|| format!("'{time}' is no time of day; write it as 18:00"))?;
        Ok(match self {
            Repeat::Daily => format!("0 {m} {h} * * *"),
            Repeat::Weekdays => format!("0 {m} {h} * * Mon-Fri"),
            Repeat::Weekly(day) => format!("0 {m} {h} * * {day}"),
            // The first such weekday lies in the month's first seven days.
            Repeat::FirstOfMonth(day) => format!("0 {m} {h} 1-7 * {day}"),
        })
    }
}

/// A recurring schedule: the first six cron fields (sec min hour day month weekday).
#[derive(Debug, Clone)]
pub struct Recurrence {
    schedule: cron::Schedule,
    pub expr: String,
}

impl Recurrence {
    pub fn parse(expr: &str) -> Result<Recurrence, String> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(format!(
                "'{expr}' needs six fields: second minute hour day month weekday, e.g. 0 0 8 * * Thu"
            ));
        }
        let expr = fields.join(" ");
        let schedule = cron::Schedule::from_str(&expr).map_err(|e| format!("'{expr}': {e}"))?;
        Ok(Recurrence { schedule, expr })
    }

    /// The next firing strictly after `after`. The expression is read in wall-clock time, then
    /// each wall-clock time is placed in `tz` (see [`local_to_instant`]), so a daylight-saving
    /// change neither skips nor doubles a firing.
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let wall_after = after.with_timezone(&tz).naive_local();
        // Start a little before, so a wall time moved forward by a gap is not passed over.
        let start = Utc.from_utc_datetime(&(wall_after - chrono::Duration::hours(3)));
        // No cap on the firings passed over: three hours of a schedule every second are 10,800,
        // and a cap smaller than that dropped schedules that fire every few seconds.
        self.schedule
            .after(&start)
            .map(|wall| local_to_instant(tz, wall.naive_utc()))
            .find(|t| *t > after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_become_cron_and_the_first_monday_is_the_first_monday() {
        let tz = chrono_tz::Europe::Berlin;
        let cron = |choice, day, time| Repeat::parse(choice, day).and_then(|r| r.cron(time));
        assert_eq!(cron("daily", "", "07:30"), Ok("0 30 7 * * *".into()));
        assert_eq!(
            cron("weekdays", "", "18:00"),
            Ok("0 0 18 * * Mon-Fri".into())
        );
        assert_eq!(cron("weekly", "sat", "8:00"), Ok("0 0 8 * * Sat".into()));
        assert!(cron("weekly", "Sonntag", "8:00").is_err());
        assert!(cron("daily", "", "25:00").is_err());
        let first = Recurrence::parse(&cron("first", "Mon", "09:00").expect("cron")).expect("ok");
        let mut at = parse_time("2026-12-07 12:00", tz).expect("a time");
        for want in ["2027-01-04", "2027-02-01", "2027-03-01", "2027-04-05"] {
            at = first.next_after(tz, at).expect("fires");
            let local = at.with_timezone(&tz);
            assert_eq!(
                local.format("%Y-%m-%d %H:%M").to_string(),
                format!("{want} 09:00")
            );
        }
    }

    #[test]
    fn the_press_offices_date_format_is_read_in_city_time() {
        let tz = chrono_tz::Europe::Berlin;
        let german = parse_time("24.12.2026 18:00", tz).expect("a time");
        assert_eq!(german, parse_time("2026-12-24 18:00", tz).expect("a time"));
        assert_eq!(german.to_rfc3339(), "2026-12-24T17:00:00+00:00");
        let refused = parse_time("12/24/2026 6:00 PM", tz).unwrap_err();
        assert!(refused.contains("24.12.2026 18:00"), "{refused}");
    }

    fn berlin(s: &str) -> DateTime<Utc> {
        parse_time(s, chrono_tz::Europe::Berlin).expect("a time")
    }

    #[test]
    fn local_times_in_gaps_and_overlaps() {
        // 2026-03-29 02:30 does not exist in Berlin: the first valid instant after is 03:00 CEST.
        assert_eq!(
            berlin("2026-03-29 02:30").to_rfc3339(),
            "2026-03-29T01:00:00+00:00"
        );
        // 2026-10-25 02:30 happens twice: the first one (CEST) counts.
        assert_eq!(
            berlin("2026-10-25 02:30").to_rfc3339(),
            "2026-10-25T00:30:00+00:00"
        );
        assert_eq!(
            berlin("2026-12-01 08:00").to_rfc3339(),
            "2026-12-01T07:00:00+00:00"
        );
        assert_eq!(
            berlin("2026-12-01T08:00:00+02:00").to_rfc3339(),
            "2026-12-01T06:00:00+00:00"
        );
        assert!(parse_time("tomorrow", chrono_tz::Europe::Berlin).is_err());
    }

    #[test]
    fn a_daily_schedule_fires_once_a_day_across_both_changes() {
        let at_0230 = Recurrence::parse("0 30 2 * * *").expect("valid");
        assert_eq!(
            firings(&at_0230, "2026-03-27 12:00", 4),
            [
                "03-28 02:30 CET",
                "03-29 03:00 CEST",
                "03-30 02:30 CEST",
                "03-31 02:30 CEST"
            ]
        );
        assert_eq!(
            firings(&at_0230, "2026-10-23 12:00", 4),
            [
                "10-24 02:30 CEST",
                "10-25 02:30 CEST",
                "10-26 02:30 CET",
                "10-27 02:30 CET"
            ]
        );
    }

    /// The next `n` firings after a Berlin time, as Berlin reads them.
    fn firings(r: &Recurrence, from: &str, n: usize) -> Vec<String> {
        let tz = chrono_tz::Europe::Berlin;
        let mut t = berlin(from);
        (0..n)
            .map(|_| {
                t = r.next_after(tz, t).expect("next");
                t.with_timezone(&tz).format("%m-%d %H:%M %Z").to_string()
            })
            .collect()
    }

    #[test]
    fn quiet_hours_wrap_around_midnight() {
        let q = QuietHours {
            start: chrono::NaiveTime::from_hms_opt(22, 0, 0).unwrap_or_default(),
            end: chrono::NaiveTime::from_hms_opt(7, 0, 0).unwrap_or_default(),
            tz: chrono_tz::Europe::Berlin,
            hold: Default::default(),
        };
        assert!(q.is_quiet(berlin("2026-12-01 23:30")));
        assert!(q.is_quiet(berlin("2026-12-02 06:59")));
        assert!(!q.is_quiet(berlin("2026-12-02 07:00")));
        assert!(!q.is_quiet(berlin("2026-12-01 21:59")));
        assert_eq!(
            q.ends_after(berlin("2026-12-01 23:30")),
            berlin("2026-12-02 07:00")
        );
        assert_eq!(
            q.ends_after(berlin("2026-12-02 03:00")),
            berlin("2026-12-02 07:00")
        );
    }

    /// Found by the `time_and_cron` fuzz target: `:60` read as a leap second, an instant that
    /// does not read back from its own RFC 3339 form.
    #[test]
    fn a_sixtieth_second_is_no_time() {
        let tz = chrono_tz::Europe::Berlin;
        assert!(parse_time("2026-12-01 08:00:60", tz).is_err());
        assert!(parse_time("226-10-25 02:0:60", tz).is_err());
        assert!(parse_time("2026-12-01T08:00:60+01:00", tz).is_err());
    }

    /// A schedule firing every few seconds was dropped: the search began three hours back and
    /// gave up after 1000 firings, all before "now".
    #[test]
    fn a_schedule_every_five_seconds_has_a_next_firing() {
        let tz = chrono_tz::Europe::Berlin;
        let every_5s = Recurrence::parse("*/5 * * * * *").expect("valid");
        assert_eq!(
            every_5s.next_after(tz, berlin("2026-12-01 08:00:02")),
            Some(berlin("2026-12-01 08:00:05"))
        );
    }

    #[test]
    fn a_thursday_digest_at_eight() {
        let tz = chrono_tz::Europe::Berlin;
        let digest = Recurrence::parse("0 0 8 * * Thu").expect("valid");
        let next = digest
            .next_after(tz, berlin("2026-11-25 12:00"))
            .expect("next");
        assert_eq!(
            next.with_timezone(&tz).to_rfc3339(),
            "2026-11-26T08:00:00+01:00"
        );
        assert!(Recurrence::parse("0 8 * * Thu").is_err(), "five fields");
        assert!(Recurrence::parse("0 0 25 * * *").is_err());
    }
}
