//! Schedules with an injected clock: recurring ones across both daylight-saving changes, one-off
//! ones across a restart, a missed one reported instead of sent, and the chat commands.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use amtsbote::conversation::{Conversation, Reply};
use amtsbote::domain::{
    BroadcastKind, BroadcastStatus, BroadcastText, ChannelKind, Priority, Role,
};
use amtsbote::i18n::Texts;
use amtsbote::schedule::{Recurrence, Scheduler, StaffNotice, parse_time};
use amtsbote::store::{NewSchedule, Store};
use chrono_tz::Europe::Berlin;

use crate::helpers::{TestDb, confirm_code, new_broadcast, reply_text, says, topic};

fn at(s: &str) -> i64 {
    parse_time(s, Berlin).unwrap().timestamp_millis()
}

#[derive(Default)]
struct Told(Mutex<Vec<(ChannelKind, String, String, i64)>>);

#[async_trait::async_trait]
impl StaffNotice for Told {
    async fn tell(&self, channel: ChannelKind, address: &str, key: &str, id: i64) {
        self.0
            .lock()
            .unwrap()
            .push((channel, address.into(), key.into(), id));
    }
}

fn scheduler(store: Arc<dyn Store>, told: Arc<Told>) -> Scheduler {
    Scheduler {
        broadcasts: crate::helpers::broadcasts_on(store.clone(), None, false),
        store,
        tz: Berlin,
        grace: Duration::from_secs(30 * 60),
        notice: Some(told),
    }
}

#[tokio::test]
async fn a_recurring_schedule_fires_at_the_right_minute_across_both_changes() {
    let db = TestDb::sqlite().await;
    let told = Arc::new(Told::default());
    let s = scheduler(db.store.clone(), told.clone());
    let daily = Recurrence::parse("0 30 2 * * *").unwrap();
    let first = daily
        .next_after(
            Berlin,
            chrono::DateTime::from_timestamp_millis(at("2026-03-28 12:00")).unwrap(),
        )
        .unwrap();
    let id = db
        .store
        .create_schedule(&NewSchedule {
            topic: topic("news"),
            kind: BroadcastKind::Announcement,
            priority: Priority::Normal,
            text: BroadcastText::parse("Guten Morgen").unwrap(),
            cron: daily.expr.clone(),
            next_at: first.timestamp_millis(),
            created_by: Some("telegram:900".into()),
            source: None,
        })
        .await
        .unwrap();
    // 02:30 does not exist on 2026-03-29: it fires at 03:00 CEST, not a minute before.
    assert_eq!(first.timestamp_millis(), at("2026-03-29 03:00"));
    s.tick(at("2026-03-29 03:00") - 60_000).await.unwrap();
    assert!(db.store.list_broadcasts(10).await.unwrap().is_empty());
    s.tick(at("2026-03-29 03:00")).await.unwrap();
    s.tick(at("2026-03-29 03:00") + 1_000).await.unwrap();
    assert_eq!(db.store.list_broadcasts(10).await.unwrap().len(), 1, "once");
    let next = db.store.schedules().await.unwrap()[0].next_at;
    assert_eq!(next, at("2026-03-30 02:30"));

    // In autumn 02:30 happens twice; it fires at the first and not at the second.
    let autumn = daily
        .next_after(
            Berlin,
            chrono::DateTime::from_timestamp_millis(at("2026-10-24 12:00")).unwrap(),
        )
        .unwrap();
    db.store
        .advance_schedule(id, Some(autumn.timestamp_millis()))
        .await
        .unwrap();
    let first_0230 = at("2026-10-25 02:30");
    assert_eq!(autumn.timestamp_millis(), first_0230);
    s.tick(first_0230).await.unwrap();
    s.tick(first_0230 + 3_600_000).await.unwrap(); // the second 02:30, in CET
    assert_eq!(db.store.list_broadcasts(10).await.unwrap().len(), 2);
    assert_eq!(
        db.store.schedules().await.unwrap()[0].next_at,
        at("2026-10-26 02:30")
    );
    assert!(told.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_planned_broadcast_survives_a_restart_and_a_late_one_is_reported_not_sent() {
    let db = TestDb::sqlite().await;
    let mut soon = new_broadcast("news", Priority::Normal, "Markt heute");
    soon.scheduled_at = Some(at("2026-12-01 08:00"));
    soon.created_by = Some("telegram:900".into());
    let soon = db.store.create_broadcast(&soon).await.unwrap().broadcast;
    assert_eq!(soon.status, BroadcastStatus::Scheduled);
    let mut late = new_broadcast("news", Priority::Normal, "Markt gestern");
    late.scheduled_at = Some(at("2026-12-01 06:00"));
    late.created_by = Some("whatsapp:4917012345678".into());
    let late = db.store.create_broadcast(&late).await.unwrap().broadcast;
    assert!(
        db.store.broadcasts_to_fan_out().await.unwrap().is_empty(),
        "nothing goes before its time"
    );

    // The service was down; it starts again at 08:10.
    let told = Arc::new(Told::default());
    let s = scheduler(db.reopen().await, told.clone());
    s.tick(at("2026-12-01 08:10")).await.unwrap();
    assert_eq!(
        db.store.broadcast(soon.id).await.unwrap().unwrap().status,
        BroadcastStatus::Released,
        "10 min late: within grace"
    );
    assert_eq!(
        db.store.broadcast(late.id).await.unwrap().unwrap().status,
        BroadcastStatus::Missed
    );
    let fan_out: Vec<i64> = db
        .store
        .broadcasts_to_fan_out()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(fan_out, vec![soon.id]);
    assert_eq!(
        told.0.lock().unwrap().clone(),
        vec![(
            ChannelKind::Whatsapp,
            "4917012345678".to_string(),
            "schedule-missed".to_string(),
            late.id
        )]
    );
}

fn text_of(replies: &[Reply]) -> String {
    reply_text(replies)
}

fn code_in(text: &str) -> String {
    confirm_code(text)
}

#[tokio::test]
async fn staff_plan_list_and_remove_schedules_in_the_chat() {
    let db = TestDb::sqlite().await;
    db.store
        .set_staff(ChannelKind::Telegram, "900", Role::Press, None)
        .await
        .unwrap();
    let talk = Conversation {
        store: db.store.clone(),
        subscriptions: std::sync::Arc::new(
            amtsbote::services::subscriptions::SubscriptionService::new(
                db.store.clone(),
                amtsbote::domain::default_topics(),
                None,
            ),
        ),
        texts: Arc::new(Texts::load().unwrap()),
        broadcasts: crate::helpers::broadcasts_on(db.store.clone(), None, false),
        sign_in: None,
        archive: None,
        files: Default::default(),
    };
    let preview = text_of(
        &talk
            .handle(&says(
                "900",
                "/schedule 2030-01-10 08:00 news Neujahrsempfang im Rathaus",
            ))
            .await,
    );
    assert!(
        preview.contains("Planned for 2030-01-10 08:00 CET"),
        "{preview}"
    );
    let done = text_of(
        &talk
            .handle(&says("900", &format!("/confirm {}", code_in(&preview))))
            .await,
    );
    assert!(
        done.contains("is planned for 2030-01-10 08:00 CET"),
        "{done}"
    );
    let id = db.store.scheduled_broadcasts().await.unwrap()[0].id;

    let preview = text_of(
        &talk
            .handle(&says(
                "900",
                "/schedule_cron 0 0 8 * * Thu news Wochenüberblick",
            ))
            .await,
    );
    assert!(preview.contains("Repeats (0 0 8 * * Thu)"), "{preview}");
    let done = text_of(
        &talk
            .handle(&says("900", &format!("/confirm {}", code_in(&preview))))
            .await,
    );
    assert!(done.contains("Schedule S1 is set"), "{done}");

    let planned = text_of(&talk.handle(&says("900", "/scheduled")).await);
    assert!(
        planned.contains(&format!(
            "#{id} on 2030-01-10 08:00 CET (news): Neujahrsempfang"
        )),
        "{planned}"
    );
    assert!(planned.contains("S1 0 0 8 * * Thu"), "{planned}");
    assert!(
        text_of(
            &talk
                .handle(&says("900", "/schedule 2001-01-01 08:00 news old"))
                .await
        )
        .contains("has passed")
    );
    assert!(
        text_of(
            &talk
                .handle(&says("900", "/schedule_cron 0 8 * * Thu news"))
                .await
        )
        .contains("Usage")
    );
    assert!(
        text_of(
            &talk
                .handle(&says("900", "/schedule_cron 0 0 25 * * * news x"))
                .await
        )
        .contains("does not work")
    );
    assert!(
        text_of(
            &talk
                .handle(&says("900", "/schedule_cron 0 0 8 * * Thu alerts x"))
                .await
        )
        .contains("only the emergency team")
    );

    assert!(
        text_of(
            &talk
                .handle(&says("900", &format!("/unschedule #{id}")))
                .await
        )
        .contains("removed")
    );
    assert!(text_of(&talk.handle(&says("900", "/unschedule S1")).await).contains("removed"));
    assert!(text_of(&talk.handle(&says("900", "/scheduled")).await).contains("Nothing is planned"));
    assert_eq!(
        db.store.broadcast(id).await.unwrap().unwrap().status,
        BroadcastStatus::Cancelled
    );
}
