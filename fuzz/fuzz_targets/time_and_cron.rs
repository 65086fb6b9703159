//! Times and schedules as staff type them, in the city's time zone (Europe/Berlin):
//! `domain::time::parse_time`, `Recurrence::parse` and `Recurrence::next_after`.
//! Input: three lines, a time, a cron expression, and "now" in seconds since 1970.
//! Properties: a time reads back from its RFC 3339 form; a wall-clock time means that wall-clock
//! time in Berlin, or the first valid instant after it in a daylight-saving gap; a parsed
//! schedule reads back from its own expression; the next firing is after "now", no firing lies
//! between "now" and it, the one after it is later still, and a schedule that fires again
//! (read by the cron crate itself) is never dropped.
#![no_main]

use std::str::FromStr;

use amtsbote::domain::time::{Recurrence, parse_time};
use chrono::{DateTime, Datelike, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use libfuzzer_sys::fuzz_target;

/// "now" stays between 1970 and 2200: the service runs now, not at the end of time.
const NOW_MAX_SECS: i64 = 7_258_118_400;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.splitn(3, '\n');
    let time = lines.next().unwrap_or_default();
    let expr = lines.next().unwrap_or_default();
    let now_secs = lines
        .next()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(1_764_100_000)
        .rem_euclid(NOW_MAX_SECS);
    let Some(now) = DateTime::from_timestamp(now_secs, 0) else {
        return;
    };

    check_time(time);
    check_schedule(expr, now);
});

fn check_time(input: &str) {
    let Ok(t) = parse_time(input, Berlin) else {
        return;
    };
    // RFC 3339 has four-digit years only.
    if (0..=9999).contains(&t.year()) {
        assert_eq!(parse_time(&t.to_rfc3339(), Berlin), Ok(t), "reads back");
    }
    if DateTime::parse_from_rfc3339(input.trim()).is_ok() {
        return;
    }
    // A wall-clock time in the city: that time, or just after a gap.
    let wall = [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(input.trim(), f).ok())
    .unwrap_or_else(|| panic!("{input:?} read as a time in no known form"));
    let local = t.with_timezone(&Berlin).naive_local();
    match Berlin.from_local_datetime(&wall) {
        chrono::LocalResult::Single(x) => assert_eq!(x.with_timezone(&Utc), t),
        chrono::LocalResult::Ambiguous(earlier, _) => {
            assert_eq!(earlier.with_timezone(&Utc), t, "the earlier of the two")
        }
        chrono::LocalResult::None => assert!(
            local > wall && local - wall <= Duration::hours(3),
            "{wall} is in a gap; {local} is not just after it"
        ),
    }
}

fn check_schedule(expr: &str, now: DateTime<Utc>) {
    let Ok(r) = Recurrence::parse(expr) else {
        return;
    };
    assert_eq!(r.expr.split(' ').count(), 6, "six fields");
    let again = Recurrence::parse(&r.expr).unwrap_or_else(|e| panic!("reads back: {e}"));
    assert_eq!(again.expr, r.expr);

    let next = r.next_after(Berlin, now);
    // The cron crate's own reading, in wall-clock time: if it fires again (before 2200), so must
    // the schedule.
    let wall_now = Utc.from_utc_datetime(&now.with_timezone(&Berlin).naive_local());
    let fires_again = cron::Schedule::from_str(&r.expr)
        .ok()
        .and_then(|s| s.after(&wall_now).next())
        .is_some_and(|w| w.timestamp() < NOW_MAX_SECS);
    let Some(next) = next else {
        assert!(
            !fires_again,
            "'{}' fires again after {now}, but no next firing",
            r.expr
        );
        return;
    };
    assert!(next > now, "the next firing {next} is after {now}");
    let just_before = next - Duration::seconds(1);
    if just_before >= now {
        assert_eq!(
            r.next_after(Berlin, just_before),
            Some(next),
            "nothing fires between {now} and {next}"
        );
    }
    if let Some(after_next) = r.next_after(Berlin, next) {
        assert!(after_next > next);
    }
}
