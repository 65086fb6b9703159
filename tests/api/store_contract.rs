//! One contract, two stores: every case runs against SQLite and against Postgres.

use std::collections::HashSet;
use std::sync::Arc;

use amtsbote::domain::{
    BroadcastStatus, ChannelKind, DeliveryStatus, LateFailure, PlatformStatus, Priority, Role,
    now_ms,
};
use amtsbote::store::{Ack, AckOutcome, StatusApplied, Store, StoreError};

use crate::helpers::{TestDb, new_broadcast, seed};

crate::helpers::on_both_stores!(
    fan_out_writes_one_delivery_per_active_subscriber_in_resumable_chunks,
    fan_out_never_writes_a_delivery_twice,
    a_draft_is_not_fanned_out_until_released,
    an_idempotency_key_returns_the_first_broadcast_and_refuses_another_request,
    claims_hand_out_alerts_before_news_and_never_the_same_delivery_twice,
    acknowledgements_need_the_current_lease,
    expired_leases_return_to_the_queue,
    retries_wait_until_due_and_failures_keep_their_reason,
    a_gone_recipient_is_skipped_from_then_on,
    cancelling_stops_everything_not_yet_sent,
    a_broadcast_is_done_when_no_delivery_is_open,
    lane_pauses_are_recorded,
    the_conversation_state_round_trips,
    an_alerts_follow_up_goes_to_its_recipients,
    a_follow_up_skips_those_whose_alert_was_cancelled_before_it_reached_them,
    drafts_wait_for_approval_and_are_released_once,
    the_fan_out_ceiling_inserts_every_active_subscriber_and_leaves_nothing,
    a_moved_chat_takes_its_subscriber_along,
    platform_statuses_move_forward_and_a_refused_message_goes_again_once,
    a_status_that_comes_before_its_send_is_recorded_is_applied_with_it,
    a_lease_is_extended_only_on_what_it_still_holds,
    a_cancel_while_fan_out_writes_leaves_nothing_pending,
    a_delivery_whose_subscriber_was_erased_meanwhile_is_closed,
    addresses_given_the_same_person_are_one_person,
    a_second_role_for_a_person_is_refused_and_changes_nothing,
    staff_from_before_people_are_people_of_their_own,
    removing_a_person_removes_every_address_they_have,
    a_page_of_broadcasts_comes_newest_first_from_a_cursor,
    the_counts_of_several_broadcasts_come_in_one_answer,
    the_parts_of_a_long_text_sent_are_remembered_under_the_lease,
    a_login_link_is_used_once_and_only_before_it_expires,
    a_session_ends_when_idle_at_its_absolute_end_or_on_sign_out,
    whatsapp_recipients_outside_their_window_are_counted,
    messages_sent_are_counted_per_second,
    daily_subscriber_counts_are_kept_once_a_day,
    a_warning_version_is_recorded_once_and_names_its_latest_broadcast,
    an_english_text_goes_to_english_subscribers_only,
    a_release_announced_by_another_process_is_heard_by_the_running_service,
);

/// Creates a broadcast; returns its id.
async fn create(store: &dyn Store, new: amtsbote::store::NewBroadcast) -> i64 {
    store
        .create_broadcast(&new)
        .await
        .expect("create broadcast")
        .broadcast
        .id
}

async fn fan_out_all(store: &dyn Store, id: i64, chunk: u32) -> (u64, u32) {
    let (mut written, mut steps) = (0, 0);
    loop {
        let step = store.fan_out_chunk(id, chunk).await.expect("fan-out chunk");
        written += step.inserted;
        steps += 1;
        if step.done {
            return (written, steps);
        }
    }
}

async fn claim_all(
    store: &dyn Store,
    channel: ChannelKind,
    lease: &str,
) -> Vec<amtsbote::store::ClaimedDelivery> {
    let now = now_ms();
    store
        .claim(channel, lease, 10_000, now, now + 60_000)
        .await
        .expect("claim")
}

async fn fan_out_writes_one_delivery_per_active_subscriber_in_resumable_chunks(db: TestDb) {
    seed(&*db.store, 13, 12, &["news"]).await;
    seed(&*db.store, 0, 0, &[]).await;
    let id = create(&*db.store, new_broadcast("news", Priority::Normal, "hello")).await;

    // One chunk, then a "crash": a fresh connection resumes from the stored cursor.
    let first = db.store.fan_out_chunk(id, 10).await.unwrap();
    assert_eq!((first.inserted, first.done), (10, false));
    let restarted = db.reopen().await;
    let (rest, steps) = fan_out_all(&*restarted, id, 10).await;
    assert_eq!(rest, 15);
    assert_eq!(steps, 2);

    let stats = db.store.broadcast_stats(id).await.unwrap();
    assert_eq!(
        stats.count(ChannelKind::Telegram, DeliveryStatus::Pending),
        13
    );
    assert_eq!(
        stats.count(ChannelKind::Whatsapp, DeliveryStatus::Pending),
        12
    );
    let b = db.store.broadcast(id).await.unwrap().unwrap();
    assert_eq!(b.status, BroadcastStatus::Sending);
    assert!(b.fanout_done_at.is_some());
}

async fn fan_out_never_writes_a_delivery_twice(db: TestDb) {
    seed(&*db.store, 30, 0, &["news"]).await;
    let id = create(&*db.store, new_broadcast("news", Priority::Normal, "hello")).await;
    // Two workers (two instances) race over the same broadcast.
    let (a, b) = tokio::join!(
        fan_out_all(&*db.store, id, 7),
        fan_out_all(&*db.store, id, 7)
    );
    assert_eq!(a.0 + b.0, 30);
    assert_eq!(db.store.fan_out_chunk(id, 7).await.unwrap().inserted, 0);
    assert_eq!(
        db.store
            .broadcast_stats(id)
            .await
            .unwrap()
            .total(DeliveryStatus::Pending),
        30
    );
}

async fn a_draft_is_not_fanned_out_until_released(db: TestDb) {
    seed(&*db.store, 3, 3, &["news"]).await;
    let mut draft = new_broadcast("news", Priority::Normal, "later");
    draft.start = amtsbote::store::Start::Draft;
    let id = db
        .store
        .create_broadcast(&draft)
        .await
        .unwrap()
        .broadcast
        .id;
    assert!(db.store.broadcasts_to_fan_out().await.unwrap().is_empty());
    assert_eq!(db.store.fan_out_chunk(id, 100).await.unwrap().inserted, 0);

    let released = db.store.release_broadcast(id).await.unwrap();
    assert_eq!(released.status, BroadcastStatus::Released);
    assert_eq!(db.store.broadcasts_to_fan_out().await.unwrap().len(), 1);
    assert_eq!(fan_out_all(&*db.store, id, 100).await.0, 6);
    // A draft with a time waits for it once confirmed.
    let mut later = new_broadcast("news", Priority::Normal, "later, planned");
    later.start = amtsbote::store::Start::Draft;
    later.scheduled_at = Some(now_ms() + 3_600_000);
    let later = create(&*db.store, later).await;
    let confirmed = db.store.release_broadcast(later).await.unwrap();
    assert_eq!(confirmed.status, BroadcastStatus::Scheduled);
    assert_eq!(confirmed.released_at, None);
    assert!(matches!(
        db.store.release_broadcast(999).await,
        Err(StoreError::UnknownBroadcast(999))
    ));
}

async fn an_idempotency_key_returns_the_first_broadcast_and_refuses_another_request(db: TestDb) {
    let mut req = new_broadcast("news", Priority::Normal, "road closed");
    req.idempotency_key = Some("cms-4711".into());
    let first = db.store.create_broadcast(&req).await.unwrap();
    let again = db.store.create_broadcast(&req).await.unwrap();
    assert!(first.created && !again.created);
    assert_eq!(first.broadcast.id, again.broadcast.id);
    assert_eq!(db.store.list_broadcasts(10).await.unwrap().len(), 1);

    let mut other = req.clone();
    other.text = amtsbote::domain::BroadcastText::parse("road open").unwrap();
    assert!(matches!(
        db.store.create_broadcast(&other).await,
        Err(StoreError::IdempotencyConflict)
    ));
}

async fn claims_hand_out_alerts_before_news_and_never_the_same_delivery_twice(db: TestDb) {
    seed(&*db.store, 40, 0, &["news", "alerts"]).await;
    let news = create(&*db.store, new_broadcast("news", Priority::Normal, "news")).await;
    fan_out_all(&*db.store, news, 1000).await;
    let alert = create(
        &*db.store,
        new_broadcast("alerts", Priority::Alert, "alert"),
    )
    .await;
    fan_out_all(&*db.store, alert, 1000).await;

    let now = now_ms();
    let first = db
        .store
        .claim(ChannelKind::Telegram, "a", 30, now, now + 60_000)
        .await
        .unwrap();
    assert_eq!(first.len(), 30);
    assert!(
        first
            .iter()
            .all(|d| d.broadcast_id == alert && d.priority == Priority::Alert)
    );
    assert!(
        first.windows(2).all(|w| w[0].id < w[1].id),
        "claims come back in queue order"
    );
    assert!(
        first
            .iter()
            .all(|d| d.text == "alert" && !d.address.is_empty())
    );

    // Four claimers race for the rest: every delivery is handed out exactly once.
    let store: Arc<dyn Store> = db.store.clone();
    let racers = (0..4).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let now = now_ms();
                let batch = store
                    .claim(
                        ChannelKind::Telegram,
                        &format!("r{i}"),
                        3,
                        now,
                        now + 60_000,
                    )
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|d| d.id));
            }
        })
    });
    let mut seen: HashSet<i64> = first.iter().map(|d| d.id).collect();
    for racer in racers {
        for id in racer.await.unwrap() {
            assert!(seen.insert(id), "delivery {id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 80);
    assert!(
        claim_all(&*db.store, ChannelKind::Whatsapp, "w")
            .await
            .is_empty()
    );
}

async fn acknowledgements_need_the_current_lease(db: TestDb) {
    seed(&*db.store, 2, 0, &["news"]).await;
    let id = create(&*db.store, new_broadcast("news", Priority::Normal, "n")).await;
    fan_out_all(&*db.store, id, 10).await;
    let claimed = claim_all(&*db.store, ChannelKind::Telegram, "mine").await;
    let sent = |lease: &str, d: i64| Ack {
        delivery_id: d,
        lease: lease.into(),
        outcome: AckOutcome::Sent {
            at: now_ms(),
            platform_id: Some("m1".into()),
        },
    };
    assert_eq!(
        db.store
            .acknowledge(&[sent("not-mine", claimed[0].id)])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        db.store
            .acknowledge(&[sent("mine", claimed[0].id), sent("mine", claimed[1].id)])
            .await
            .unwrap(),
        2
    );
    // A second acknowledgement of the same send changes nothing.
    let released = Ack {
        delivery_id: claimed[0].id,
        lease: "mine".into(),
        outcome: AckOutcome::Release,
    };
    assert_eq!(db.store.acknowledge(&[released]).await.unwrap(), 0);
    assert_eq!(
        db.store
            .broadcast_stats(id)
            .await
            .unwrap()
            .total(DeliveryStatus::Sent),
        2
    );
}

async fn expired_leases_return_to_the_queue(db: TestDb) {
    seed(&*db.store, 3, 0, &["news"]).await;
    let id = create(&*db.store, new_broadcast("news", Priority::Normal, "n")).await;
    fan_out_all(&*db.store, id, 10).await;
    let now = now_ms();
    let claimed = db
        .store
        .claim(ChannelKind::Telegram, "old", 10, now, now + 1_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    assert_eq!(db.store.reclaim_expired(now + 500).await.unwrap(), 0);
    assert_eq!(db.store.reclaim_expired(now + 1_001).await.unwrap(), 3);

    let again = claim_all(&*db.store, ChannelKind::Telegram, "new").await;
    assert_eq!(again.len(), 3);
    // The old owner's late acknowledgement is refused: the new lease owns the rows.
    let late = Ack {
        delivery_id: claimed[0].id,
        lease: "old".into(),
        outcome: AckOutcome::Sent {
            at: now,
            platform_id: None,
        },
    };
    assert_eq!(db.store.acknowledge(&[late]).await.unwrap(), 0);
    // A new holder of the lane returns every lease of its channel.
    assert_eq!(
        db.store
            .take_over_lane(ChannelKind::Telegram, None)
            .await
            .unwrap(),
        3
    );
    assert_eq!(db.store.open_deliveries().await.unwrap(), 3);
}

async fn retries_wait_until_due_and_failures_keep_their_reason(db: TestDb) {
    seed(&*db.store, 2, 0, &["news"]).await;
    let id = create(&*db.store, new_broadcast("news", Priority::Normal, "n")).await;
    fan_out_all(&*db.store, id, 10).await;
    let claimed = claim_all(&*db.store, ChannelKind::Telegram, "l").await;
    let due = now_ms() + 60_000;
    db.store
        .acknowledge(&[
            Ack {
                delivery_id: claimed[0].id,
                lease: "l".into(),
                outcome: AckOutcome::Retry {
                    due_at: due,
                    attempts: 1,
                    error: "HTTP 502".into(),
                },
            },
            Ack {
                delivery_id: claimed[1].id,
                lease: "l".into(),
                outcome: AckOutcome::Failed {
                    attempts: 1,
                    error: "400: text is empty".into(),
                },
            },
        ])
        .await
        .unwrap();
    assert!(
        claim_all(&*db.store, ChannelKind::Telegram, "l2")
            .await
            .is_empty(),
        "not due yet"
    );
    assert_eq!(
        db.store.next_due(ChannelKind::Telegram).await.unwrap(),
        Some(due)
    );
    let later = db
        .store
        .claim(ChannelKind::Telegram, "l3", 10, due, due + 1000)
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].attempts, 1);
    let stats = db.store.broadcast_stats(id).await.unwrap();
    assert_eq!(stats.total(DeliveryStatus::Failed), 1);
}

async fn a_gone_recipient_is_skipped_from_then_on(db: TestDb) {
    seed(&*db.store, 2, 0, &["news"]).await;
    let a = create(&*db.store, new_broadcast("news", Priority::Normal, "one")).await;
    let b = create(&*db.store, new_broadcast("news", Priority::Normal, "two")).await;
    fan_out_all(&*db.store, a, 10).await;
    fan_out_all(&*db.store, b, 10).await;
    let now = now_ms();
    let first = db
        .store
        .claim(ChannelKind::Telegram, "l", 1, now, now + 60_000)
        .await
        .unwrap();
    let gone = Ack {
        delivery_id: first[0].id,
        lease: "l".into(),
        outcome: AckOutcome::Gone {
            error: "403: blocked".into(),
        },
    };
    assert_eq!(db.store.acknowledge(&[gone]).await.unwrap(), 1);

    // Their delivery of the other broadcast is closed too, and the next broadcast skips them.
    let rest = claim_all(&*db.store, ChannelKind::Telegram, "l2").await;
    assert_eq!(rest.len(), 2);
    assert!(
        rest.iter()
            .all(|d| d.subscriber_id != first[0].subscriber_id)
    );
    assert_eq!(
        db.store
            .recipient_count(&crate::helpers::topic("news"))
            .await
            .unwrap()
            .telegram,
        1
    );
    let c = create(&*db.store, new_broadcast("news", Priority::Normal, "three")).await;
    assert_eq!(fan_out_all(&*db.store, c, 10).await.0, 1);
}

async fn cancelling_stops_everything_not_yet_sent(db: TestDb) {
    seed(&*db.store, 5, 5, &["news"]).await;
    let id = create(&*db.store, new_broadcast("news", Priority::Normal, "n")).await;
    fan_out_all(&*db.store, id, 100).await;
    let now = now_ms();
    let in_flight = db
        .store
        .claim(ChannelKind::Telegram, "l", 2, now, now + 60_000)
        .await
        .unwrap();
    assert!(db.store.cancel_broadcast(id).await.unwrap());
    assert!(
        claim_all(&*db.store, ChannelKind::Telegram, "l2")
            .await
            .is_empty()
    );
    assert!(
        claim_all(&*db.store, ChannelKind::Whatsapp, "l3")
            .await
            .is_empty()
    );
    // A send already under way when the cancel came is still recorded as sent.
    let ack = Ack {
        delivery_id: in_flight[0].id,
        lease: "l".into(),
        outcome: AckOutcome::Sent {
            at: now,
            platform_id: None,
        },
    };
    assert_eq!(db.store.acknowledge(&[ack]).await.unwrap(), 1);
    let stats = db.store.broadcast_stats(id).await.unwrap();
    assert_eq!(stats.total(DeliveryStatus::Sent), 1);
    assert_eq!(stats.total(DeliveryStatus::Cancelled), 9);
    assert!(
        !db.store.cancel_broadcast(id).await.unwrap(),
        "already ended"
    );
    assert!(db.store.finish_broadcasts().await.unwrap().is_empty());
    assert_eq!(
        db.store.broadcast(id).await.unwrap().unwrap().status,
        BroadcastStatus::Cancelled
    );
    assert!(matches!(
        db.store.cancel_broadcast(12345).await,
        Err(StoreError::UnknownBroadcast(_))
    ));
}

async fn a_broadcast_is_done_when_no_delivery_is_open(db: TestDb) {
    seed(&*db.store, 2, 1, &["news"]).await;
    let id = create(&*db.store, new_broadcast("news", Priority::Normal, "n")).await;
    fan_out_all(&*db.store, id, 100).await;
    let tg = claim_all(&*db.store, ChannelKind::Telegram, "t").await;
    let acks: Vec<Ack> = tg
        .iter()
        .map(|d| Ack {
            delivery_id: d.id,
            lease: "t".into(),
            outcome: AckOutcome::Sent {
                at: now_ms(),
                platform_id: None,
            },
        })
        .collect();
    db.store.acknowledge(&acks).await.unwrap();
    assert!(
        db.store.finish_broadcasts().await.unwrap().is_empty(),
        "WhatsApp still pending"
    );
    let wa = claim_all(&*db.store, ChannelKind::Whatsapp, "w").await;
    let ack = Ack {
        delivery_id: wa[0].id,
        lease: "w".into(),
        outcome: AckOutcome::Sent {
            at: now_ms(),
            platform_id: None,
        },
    };
    db.store.acknowledge(&[ack]).await.unwrap();
    assert_eq!(db.store.finish_broadcasts().await.unwrap(), vec![id]);
    let b = db.store.broadcast(id).await.unwrap().unwrap();
    assert_eq!(b.status, BroadcastStatus::Done);
    assert!(b.finished_at.is_some());
}

async fn lane_pauses_are_recorded(db: TestDb) {
    let until = now_ms() + 5_000;
    db.store
        .set_lane_pause(ChannelKind::Telegram, until, "429: retry after 5")
        .await
        .unwrap();
    db.store
        .set_lane_pause(ChannelKind::Telegram, until + 1, "429: retry after 6")
        .await
        .unwrap();
    let lanes = db.store.lane_states().await.unwrap();
    assert_eq!(lanes.len(), 1);
    assert_eq!(lanes[0].paused_until, Some(until + 1));
    assert_eq!(lanes[0].pause_reason.as_deref(), Some("429: retry after 6"));
}

async fn the_conversation_state_round_trips(db: TestDb) {
    use amtsbote::domain::SubscriberStatus;
    use amtsbote::store::Confirmation;
    let news = crate::helpers::topic("news");
    let s = db
        .store
        .ensure_subscriber(ChannelKind::Telegram, "77", "en")
        .await
        .unwrap();
    assert_eq!(
        db.store
            .ensure_subscriber(ChannelKind::Telegram, "77", "de")
            .await
            .unwrap()
            .id,
        s.id
    );
    db.store.set_subscription(s.id, &news, true).await.unwrap();
    db.store.set_language(s.id, "de").await.unwrap();
    let s = db
        .store
        .subscriber(ChannelKind::Telegram, "77")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (s.language.as_str(), s.topics.clone()),
        ("de", vec!["news".to_string()])
    );
    db.store
        .set_subscriber_status(s.id, SubscriberStatus::Stopped)
        .await
        .unwrap();
    assert_eq!(db.store.recipient_count(&news).await.unwrap().total(), 0);

    db.store
        .set_staff(ChannelKind::Whatsapp, "4917012345", Role::Press, None)
        .await
        .unwrap();
    db.store
        .set_staff(ChannelKind::Whatsapp, "4917012345", Role::Admin, None)
        .await
        .unwrap();
    assert_eq!(
        db.store
            .staff_role(ChannelKind::Whatsapp, "4917012345")
            .await
            .unwrap(),
        Some(Role::Admin)
    );
    assert_eq!(db.store.list_staff().await.unwrap().len(), 1);
    assert!(
        db.store
            .remove_staff(ChannelKind::Whatsapp, "4917012345")
            .await
            .unwrap()
    );
    assert_eq!(
        db.store
            .staff_role(ChannelKind::Whatsapp, "4917012345")
            .await
            .unwrap(),
        None
    );

    db.store.audit("cli:ops", "staff-add", "x").await.unwrap();
    assert_eq!(db.store.audit_log(5).await.unwrap()[0].action, "staff-add");

    let now = now_ms();
    let c = Confirmation {
        code: "ABC234".into(),
        action: "erase".into(),
        payload: "{}".into(),
        author_channel: ChannelKind::Telegram,
        author_address: "77".into(),
        created_at: now,
        expires_at: now + 60_000,
        broadcast_id: Some(7),
    };
    db.store.put_confirmation(&c).await.unwrap();
    assert_eq!(
        db.store.confirmation("ABC234").await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        db.store.take_confirmation("ABC234").await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        db.store.take_confirmation("ABC234").await.unwrap(),
        None,
        "taken once"
    );
    let old = Confirmation {
        code: "OLD234".into(),
        expires_at: now - 1,
        ..c
    };
    db.store.put_confirmation(&old).await.unwrap();
    assert_eq!(
        db.store.confirmation("OLD234").await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(db.store.expire_confirmations(now).await.unwrap(), 1);

    db.store
        .set_channel_state("telegram.offset", "41")
        .await
        .unwrap();
    db.store
        .set_channel_state("telegram.offset", "42")
        .await
        .unwrap();
    assert_eq!(
        db.store
            .channel_state("telegram.offset")
            .await
            .unwrap()
            .as_deref(),
        Some("42")
    );

    assert!(
        db.store
            .erase_subscriber(ChannelKind::Telegram, "77")
            .await
            .unwrap()
    );
    assert!(
        db.store
            .subscriber(ChannelKind::Telegram, "77")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !db.store
            .erase_subscriber(ChannelKind::Telegram, "77")
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .mark_gone(ChannelKind::Telegram, "77")
            .await
            .unwrap()
    );
}

async fn an_alerts_follow_up_goes_to_its_recipients(db: TestDb) {
    seed(&*db.store, 4, 2, &["alerts"]).await;
    let alert = create(&*db.store, new_broadcast("alerts", Priority::Alert, "a")).await;
    fan_out_all(&*db.store, alert, 100).await;
    // Someone new after the alert does not get its all-clear; someone gone neither.
    seed(&*db.store, 0, 0, &[]).await;
    db.store
        .ensure_subscriber(ChannelKind::Telegram, "new", "de")
        .await
        .unwrap();
    db.store
        .mark_gone(ChannelKind::Telegram, "1000")
        .await
        .unwrap();
    assert_eq!(
        db.store
            .follow_up_recipient_count(alert)
            .await
            .unwrap()
            .total(),
        5
    );
    let mut follow_up = new_broadcast("alerts", Priority::Alert, "all clear");
    follow_up.kind = amtsbote::domain::BroadcastKind::Allclear;
    follow_up.parent_id = Some(alert);
    let id = db
        .store
        .create_broadcast(&follow_up)
        .await
        .unwrap()
        .broadcast
        .id;
    assert_eq!(fan_out_all(&*db.store, id, 2).await.0, 5);
}

async fn a_follow_up_skips_those_whose_alert_was_cancelled_before_it_reached_them(db: TestDb) {
    seed(&*db.store, 2, 3, &["alerts"]).await;
    let alert = create(
        &*db.store,
        new_broadcast("alerts", Priority::Alert, "Evakuierung"),
    )
    .await;
    fan_out_all(&*db.store, alert, 10).await;
    // The two Telegram deliveries are sent; then the alert is cancelled before WhatsApp's went.
    let sent: Vec<Ack> = claim_all(&*db.store, ChannelKind::Telegram, "l")
        .await
        .iter()
        .map(|d| Ack {
            delivery_id: d.id,
            lease: "l".into(),
            outcome: AckOutcome::Sent {
                at: now_ms(),
                platform_id: None,
            },
        })
        .collect();
    assert_eq!(db.store.acknowledge(&sent).await.unwrap(), 2);
    assert!(db.store.cancel_broadcast(alert).await.unwrap());
    let due = db.store.follow_up_recipient_count(alert).await.unwrap();
    assert_eq!((due.telegram, due.whatsapp), (2, 0));
    let mut update = new_broadcast("alerts", Priority::Alert, "Entwarnung");
    update.kind = amtsbote::domain::BroadcastKind::Allclear;
    update.parent_id = Some(alert);
    let id = create(&*db.store, update).await;
    assert_eq!(fan_out_all(&*db.store, id, 1).await.0, 2);
    assert_eq!(
        db.store
            .broadcast_stats(id)
            .await
            .unwrap()
            .count(ChannelKind::Whatsapp, DeliveryStatus::Pending),
        0,
        "no one whose alert was cancelled"
    );
}

async fn drafts_wait_for_approval_and_are_released_once(db: TestDb) {
    seed(&*db.store, 1, 0, &["alerts"]).await;
    let mut draft = new_broadcast("alerts", Priority::Alert, "Sturm");
    draft.start = amtsbote::store::Start::Draft;
    let id = create(&*db.store, draft).await;
    let waiting = db.store.await_approval(id).await.unwrap().expect("a draft");
    assert_eq!(waiting.status, BroadcastStatus::AwaitingApproval);
    assert!(db.store.await_approval(id).await.unwrap().is_none(), "once");
    assert_eq!(db.store.approvals_to_request().await.unwrap().len(), 1);
    assert!(db.store.approval_requested(id, now_ms()).await.unwrap());
    assert!(
        !db.store.approval_requested(id, now_ms()).await.unwrap(),
        "asked once"
    );
    assert!(db.store.approvals_to_request().await.unwrap().is_empty());
    assert!(
        db.store
            .release_from(id, BroadcastStatus::Draft, None)
            .await
            .unwrap()
            .is_none(),
        "no longer a draft"
    );
    let released = db
        .store
        .release_from(id, BroadcastStatus::AwaitingApproval, Some("person:Bert"))
        .await
        .unwrap()
        .expect("released");
    assert_eq!(released.status, BroadcastStatus::Released);
    assert_eq!(released.approved_by.as_deref(), Some("person:Bert"));
    assert!(
        db.store
            .release_from(id, BroadcastStatus::AwaitingApproval, Some("person:Cem"))
            .await
            .unwrap()
            .is_none(),
        "a second approval does nothing"
    );

    // A recurring draft becomes its schedule in one step.
    let mut weekly = new_broadcast("alerts", Priority::Alert, "Probealarm");
    weekly.start = amtsbote::store::Start::Draft;
    weekly.cron = Some("0 0 12 * * Sat".into());
    let weekly = create(&*db.store, weekly).await;
    let schedule = db
        .store
        .make_recurring(weekly, BroadcastStatus::Draft, now_ms() + 60_000, None)
        .await
        .unwrap()
        .expect("a schedule");
    assert_eq!(
        db.store.schedule(schedule).await.unwrap().unwrap().text,
        "Probealarm"
    );
    assert_eq!(
        db.store.broadcast(weekly).await.unwrap().unwrap().status,
        BroadcastStatus::Recurring
    );
}

async fn a_moved_chat_takes_its_subscriber_along(db: TestDb) {
    seed(&*db.store, 2, 0, &["news"]).await;
    let id = create(&*db.store, new_broadcast("news", Priority::Normal, "n")).await;
    fan_out_all(&*db.store, id, 10).await;
    let claimed = claim_all(&*db.store, ChannelKind::Telegram, "l").await;
    let moved = |d: i64, to: &str| Ack {
        delivery_id: d,
        lease: "l".into(),
        outcome: AckOutcome::Moved { address: to.into() },
    };
    // The first moves to a new id and goes again; the second would collide with the first's old
    // id... which is free now, so it may; a collision with a taken id fails with the reason.
    assert_eq!(
        db.store
            .acknowledge(&[moved(claimed[0].id, "-1001")])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        db.store
            .acknowledge(&[moved(claimed[1].id, "-1001")])
            .await
            .unwrap(),
        1
    );
    assert!(
        db.store
            .subscriber(ChannelKind::Telegram, "-1001")
            .await
            .unwrap()
            .is_some()
    );
    let again = claim_all(&*db.store, ChannelKind::Telegram, "l2").await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].address, "-1001");
    assert_eq!(
        db.store.failure_reasons(id).await.unwrap()[0].0,
        "chat moved to -1001, which is subscribed already"
    );
}

/// A WhatsApp send of broadcast `b` to its one recipient, recorded as sent as `wamid`.
async fn sent_as(store: &dyn Store, b: i64, lease: &str, wamid: &str) -> i64 {
    fan_out_all(store, b, 10).await;
    let claimed = claim_all(store, ChannelKind::Whatsapp, lease).await;
    assert_eq!(claimed.len(), 1);
    let sent = Ack {
        delivery_id: claimed[0].id,
        lease: lease.into(),
        outcome: AckOutcome::Sent {
            at: now_ms(),
            platform_id: Some(wamid.into()),
        },
    };
    assert_eq!(store.acknowledge(&[sent]).await.unwrap(), 1);
    claimed[0].id
}

fn failed(failure: LateFailure, error: &str) -> PlatformStatus {
    PlatformStatus::Failed {
        failure,
        error: error.into(),
    }
}

async fn platform_statuses_move_forward_and_a_refused_message_goes_again_once(db: TestDb) {
    let wa = ChannelKind::Whatsapp;
    let claim = |at: i64| {
        let store = db.store.clone();
        async move {
            store
                .claim_inbound(wa, "4915100000000", "wamid.A", at)
                .await
                .unwrap()
        }
    };
    assert!(claim(now_ms()).await);
    assert!(!claim(now_ms()).await, "a retried webhook");
    seed(&*db.store, 0, 1, &["news"]).await;
    let (addr, t0) = ("4915100000000", now_ms());
    db.store
        .touch_inbound(ChannelKind::Whatsapp, addr, t0)
        .await
        .unwrap();
    db.store
        .touch_inbound(ChannelKind::Whatsapp, addr, t0 - 1000)
        .await
        .unwrap();
    let id = create(&*db.store, new_broadcast("news", Priority::Normal, "n")).await;
    fan_out_all(&*db.store, id, 10).await;
    let claimed = claim_all(&*db.store, ChannelKind::Whatsapp, "w").await;
    assert_eq!(
        claimed[0].last_inbound_at,
        Some(t0),
        "the window only moves forward"
    );
    assert!(!claimed[0].force_template);
    let sent = Ack {
        delivery_id: claimed[0].id,
        lease: "w".into(),
        outcome: AckOutcome::Sent {
            at: now_ms(),
            platform_id: Some("wamid.X".into()),
        },
    };
    db.store.acknowledge(&[sent]).await.unwrap();

    let record = |s: PlatformStatus| {
        let store = db.store.clone();
        async move { store.record_platform_status("wamid.X", &s).await.unwrap() }
    };
    let applied = |a: StatusApplied| matches!(a, StatusApplied::Applied { .. });
    assert!(applied(record(PlatformStatus::Delivered).await));
    assert_eq!(
        record(PlatformStatus::Sent).await,
        StatusApplied::Unchanged,
        "no step back"
    );
    assert_eq!(
        record(PlatformStatus::Delivered).await,
        StatusApplied::Unchanged,
        "a duplicate changes nothing"
    );
    assert_eq!(
        record(failed(
            LateFailure::OutsideWindow,
            "131047: Re-engagement message"
        ))
        .await,
        StatusApplied::Unchanged,
        "failed replaces only sent"
    );
    assert!(applied(record(PlatformStatus::Read).await));

    // Another send, refused later: it goes again as template, once.
    let b = create(&*db.store, new_broadcast("news", Priority::Normal, "m")).await;
    let delivery = sent_as(&*db.store, b, "w2", "wamid.Y").await;
    let outside = failed(LateFailure::OutsideWindow, "131047: x");
    assert_eq!(
        db.store
            .record_platform_status("wamid.Y", &outside)
            .await
            .unwrap(),
        StatusApplied::Applied {
            delivery_id: delivery,
            resent: true
        }
    );
    assert!(
        !matches!(
            db.store
                .record_platform_status("wamid.Y", &outside)
                .await
                .unwrap(),
            StatusApplied::Applied { resent: true, .. }
        ),
        "once"
    );
    let again = claim_all(&*db.store, ChannelKind::Whatsapp, "w3").await;
    assert!(again[0].force_template);
    let sent = Ack {
        delivery_id: again[0].id,
        lease: "w3".into(),
        outcome: AckOutcome::Sent {
            at: now_ms(),
            platform_id: Some("wamid.Z".into()),
        },
    };
    db.store.acknowledge(&[sent]).await.unwrap();
    // The template's own statuses count from the start again.
    assert!(applied(
        db.store
            .record_platform_status("wamid.Z", &PlatformStatus::Sent)
            .await
            .unwrap()
    ));
    assert_eq!(
        db.store
            .record_platform_status("wamid.Z", &outside)
            .await
            .unwrap(),
        StatusApplied::Applied {
            delivery_id: delivery,
            resent: false
        },
        "a template refused ends failed"
    );
    assert_eq!(
        db.store
            .broadcast_stats(b)
            .await
            .unwrap()
            .total(DeliveryStatus::Failed),
        1
    );

    // A refused message of a cancelled broadcast does not go again.
    let c = create(&*db.store, new_broadcast("news", Priority::Normal, "c")).await;
    sent_as(&*db.store, c, "w4", "wamid.C").await;
    assert!(db.store.cancel_broadcast(c).await.unwrap());
    db.store
        .record_platform_status("wamid.C", &outside)
        .await
        .unwrap();
    let stats = db.store.broadcast_stats(c).await.unwrap();
    assert_eq!(stats.total(DeliveryStatus::Failed), 1);
    assert_eq!(db.store.open_deliveries().await.unwrap(), 0);

    // Undeliverable: the recipient is gone.
    let d = create(&*db.store, new_broadcast("news", Priority::Normal, "d")).await;
    sent_as(&*db.store, d, "w5", "wamid.D").await;
    db.store
        .record_platform_status(
            "wamid.D",
            &failed(LateFailure::RecipientGone, "131026: Message undeliverable"),
        )
        .await
        .unwrap();
    assert_eq!(
        db.store
            .broadcast_stats(d)
            .await
            .unwrap()
            .total(DeliveryStatus::Failed),
        1
    );
    assert_eq!(
        db.store
            .recipient_count(&crate::helpers::topic("news"))
            .await
            .unwrap()
            .total(),
        0
    );
}

/// The send's outcome and the platform's report on it race: the lane writes the outcome
/// (with the message id) a moment after the platform accepted the message, and the status
/// webhook may come first. Whichever comes first, the status is applied.
async fn a_status_that_comes_before_its_send_is_recorded_is_applied_with_it(db: TestDb) {
    const PEOPLE: usize = 40;
    seed(&*db.store, 0, PEOPLE as u64, &["news"]).await;
    let id = create(&*db.store, new_broadcast("news", Priority::Normal, "früh")).await;
    fan_out_all(&*db.store, id, 100).await;
    let claimed = claim_all(&*db.store, ChannelKind::Whatsapp, "w").await;
    assert_eq!(claimed.len(), PEOPLE);
    let outside = failed(LateFailure::OutsideWindow, "131047: Re-engagement message");
    let sent = |delivery_id: i64, wamid: &str| Ack {
        delivery_id,
        lease: "w".into(),
        outcome: AckOutcome::Sent {
            at: now_ms(),
            platform_id: Some(wamid.into()),
        },
    };

    // The status first: kept, then applied when the outcome is written.
    assert_eq!(
        db.store
            .record_platform_status("wamid.E0", &outside)
            .await
            .unwrap(),
        StatusApplied::Kept
    );
    assert_eq!(
        db.store
            .acknowledge(&[sent(claimed[0].id, "wamid.E0")])
            .await
            .unwrap(),
        1
    );
    // The rest at the same time, in either order.
    let mut both = tokio::task::JoinSet::new();
    for (i, d) in claimed.iter().enumerate().skip(1) {
        let (store, wamid) = (db.store.clone(), format!("wamid.E{i}"));
        let (ack, outside) = (sent(d.id, &wamid), outside.clone());
        both.spawn(async move {
            let status = async {
                store
                    .record_platform_status(&wamid, &outside)
                    .await
                    .unwrap()
            };
            let outcome = async { store.acknowledge(&[ack]).await.unwrap() };
            if i % 2 == 0 {
                tokio::join!(status, outcome);
            } else {
                tokio::join!(outcome, status);
            }
        });
    }
    while let Some(done) = both.join_next().await {
        done.unwrap();
    }

    let again = claim_all(&*db.store, ChannelKind::Whatsapp, "w2").await;
    assert_eq!(again.len(), PEOPLE, "every refused message goes again");
    assert!(again.iter().all(|d| d.force_template), "as a template");
}

async fn a_lease_is_extended_only_on_what_it_still_holds(db: TestDb) {
    seed(&*db.store, 4, 0, &["news"]).await;
    let id = create(&*db.store, new_broadcast("news", Priority::Normal, "n")).await;
    fan_out_all(&*db.store, id, 10).await;
    let now = now_ms();
    let claimed = db
        .store
        .claim(ChannelKind::Telegram, "a", 10, now, now + 1_000)
        .await
        .unwrap();
    let ids: Vec<i64> = claimed.iter().map(|d| d.id).collect();
    let sent = Ack {
        delivery_id: ids[0],
        lease: "a".into(),
        outcome: AckOutcome::Sent {
            at: now,
            platform_id: None,
        },
    };
    db.store.acknowledge(&[sent]).await.unwrap();

    let mut held = db
        .store
        .extend_lease("a", &ids, now + 60_000)
        .await
        .unwrap();
    held.sort_unstable();
    assert_eq!(held, ids[1..], "not what was acknowledged");
    assert_eq!(
        db.store.reclaim_expired(now + 2_000).await.unwrap(),
        0,
        "extended past the claim's end"
    );
    assert!(
        db.store
            .extend_lease("b", &ids, now + 60_000)
            .await
            .unwrap()
            .is_empty(),
        "not another lease's"
    );

    // Expired and handed to another claim: the old lease holds nothing any more.
    assert_eq!(db.store.reclaim_expired(now + 61_000).await.unwrap(), 3);
    let again = claim_all(&*db.store, ChannelKind::Telegram, "c").await;
    assert_eq!(again.len(), 3);
    assert!(
        db.store
            .extend_lease("a", &ids, now + 120_000)
            .await
            .unwrap()
            .is_empty()
    );
    // Cancelled: nothing to hold for either.
    assert!(db.store.cancel_broadcast(id).await.unwrap());
    assert!(
        db.store
            .extend_lease("c", &ids, now + 120_000)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Two fan-out workers and a cancel at once, again and again: after each round nothing of
/// the cancelled broadcast is left to send.
async fn a_cancel_while_fan_out_writes_leaves_nothing_pending(db: TestDb) {
    seed(&*db.store, 3000, 0, &["news"]).await;
    for round in 0..20u64 {
        let id = create(&*db.store, new_broadcast("news", Priority::Normal, "n")).await;
        let store = &*db.store;
        let cancel = async {
            tokio::time::sleep(std::time::Duration::from_millis(round % 10 * 3)).await;
            store.cancel_broadcast(id).await.expect("cancel")
        };
        let (_, _, cancelled) = tokio::join!(
            fan_out_all(store, id, 200),
            fan_out_all(store, id, 200),
            cancel
        );
        assert!(cancelled);
        let stats = store.broadcast_stats(id).await.unwrap();
        assert_eq!(
            stats.total(DeliveryStatus::Pending),
            0,
            "round {round}: {stats:?}"
        );
        assert_eq!(
            store.broadcast(id).await.unwrap().unwrap().status,
            BroadcastStatus::Cancelled
        );
    }
}

/// Runs one statement on the test's database, outside the store.
async fn execute(db: &TestDb, statement: &'static str) {
    if db.url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query(statement).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query(statement).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

async fn a_delivery_whose_subscriber_was_erased_meanwhile_is_closed(db: TestDb) {
    seed(&*db.store, 2, 0, &["news"]).await;
    let id = create(&*db.store, new_broadcast("news", Priority::Normal, "n")).await;
    fan_out_all(&*db.store, id, 10).await;
    // What an erasure racing a fan-out chunk leaves on Postgres: the chunk read the
    // subscriber before the erasure deleted them, and wrote the delivery after the erasure
    // had deleted their deliveries.
    execute(&db, "DELETE FROM subscribers WHERE address = '1000'").await;

    let claimed = claim_all(&*db.store, ChannelKind::Telegram, "l").await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].address, "1001");
    assert_eq!(
        db.store.open_deliveries().await.unwrap(),
        1,
        "closed, not leased again and again"
    );
    assert_eq!(
        db.store
            .broadcast_stats(id)
            .await
            .unwrap()
            .count(ChannelKind::Telegram, DeliveryStatus::Gone),
        1
    );
    let sent = Ack {
        delivery_id: claimed[0].id,
        lease: "l".into(),
        outcome: AckOutcome::Sent {
            at: now_ms(),
            platform_id: None,
        },
    };
    db.store.acknowledge(&[sent]).await.unwrap();
    assert_eq!(db.store.finish_broadcasts().await.unwrap(), vec![id]);
}

/// (person, channel:address, role) of every staff address, as listed.
async fn staff_rows(store: &dyn Store) -> Vec<(String, String, Role)> {
    store
        .list_staff()
        .await
        .expect("list staff")
        .iter()
        .map(|m| (m.person.clone(), m.address_label(), m.role))
        .collect()
}

fn row(person: &str, address: &str, role: Role) -> (String, String, Role) {
    (person.to_string(), address.to_string(), role)
}

/// Anna, emergency, on Telegram 901 and WhatsApp 4917012345; her Telegram address as added.
async fn add_anna_on_both_channels(store: &dyn Store) -> amtsbote::store::StaffMember {
    let anna = store
        .set_staff(ChannelKind::Telegram, "901", Role::Emergency, Some("Anna"))
        .await
        .unwrap();
    store
        .set_staff(
            ChannelKind::Whatsapp,
            "4917012345",
            Role::Emergency,
            Some("Anna"),
        )
        .await
        .unwrap();
    anna
}

async fn addresses_given_the_same_person_are_one_person(db: TestDb) {
    let store = &*db.store;
    let anna = add_anna_on_both_channels(store).await;
    assert_eq!((anna.person.as_str(), anna.role), ("Anna", Role::Emergency));
    let own = store
        .set_staff(ChannelKind::Telegram, "902", Role::Press, None)
        .await
        .unwrap();
    assert_eq!(
        own.person, "telegram:902",
        "without a person, an address is its own"
    );

    let on_whatsapp = store
        .staff_member(ChannelKind::Whatsapp, "4917012345")
        .await
        .unwrap()
        .expect("Anna's WhatsApp address is staff");
    assert_eq!(on_whatsapp.person, "Anna");
    assert_eq!(
        store
            .staff_role(ChannelKind::Whatsapp, "4917012345")
            .await
            .unwrap(),
        Some(Role::Emergency)
    );
    assert_eq!(
        staff_rows(store).await,
        [
            row("Anna", "telegram:901", Role::Emergency),
            row("Anna", "whatsapp:4917012345", Role::Emergency),
            row("telegram:902", "telegram:902", Role::Press),
        ]
    );

    // Adding an address again as it is changes nothing; a person with one address may change role.
    let again = store
        .set_staff(ChannelKind::Telegram, "901", Role::Emergency, Some("Anna"))
        .await
        .unwrap();
    assert_eq!(again.added_at, anna.added_at);
    store
        .set_staff(ChannelKind::Telegram, "902", Role::Admin, None)
        .await
        .unwrap();
    assert_eq!(
        store
            .staff_role(ChannelKind::Telegram, "902")
            .await
            .unwrap(),
        Some(Role::Admin)
    );
    assert!(
        store
            .staff_member(ChannelKind::Telegram, "903")
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_second_role_for_a_person_is_refused_and_changes_nothing(db: TestDb) {
    let store = &*db.store;
    add_anna_on_both_channels(store).await;
    let before = staff_rows(store).await;

    let refusals = [
        // A new address would make Anna press as well.
        (
            ChannelKind::Whatsapp,
            "4917099999",
            Role::Press,
            Some("Anna"),
            "Anna is emergency",
        ),
        // So would one of hers: she has another address.
        (
            ChannelKind::Telegram,
            "901",
            Role::Admin,
            Some("Anna"),
            "Anna is emergency",
        ),
        // Her address cannot become Ben's, nor a person of its own.
        (
            ChannelKind::Telegram,
            "901",
            Role::Emergency,
            Some("Ben"),
            "belongs to Anna",
        ),
        (
            ChannelKind::Telegram,
            "901",
            Role::Emergency,
            None,
            "belongs to Anna",
        ),
    ];
    for (channel, address, role, person, why) in refusals {
        match store.set_staff(channel, address, role, person).await {
            Err(StoreError::StaffConflict(message)) => {
                assert!(message.contains(why), "{message}")
            }
            other => panic!("{channel}:{address} as {person:?} {role:?}: {other:?}"),
        }
    }
    assert_eq!(staff_rows(store).await, before, "a refusal changes nothing");

    // Two changes at once that cannot both hold: exactly one is made.
    let (press, emergency) = tokio::join!(
        store.set_staff(ChannelKind::Telegram, "905", Role::Press, Some("Cara")),
        store.set_staff(
            ChannelKind::Whatsapp,
            "4917055555",
            Role::Emergency,
            Some("Cara")
        ),
    );
    assert!(
        press.is_ok() != emergency.is_ok(),
        "{press:?} / {emergency:?}"
    );
    let cara: Vec<Role> = store
        .list_staff()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.person == "Cara")
        .map(|m| m.role)
        .collect();
    assert_eq!(cara.len(), 1, "{cara:?}");
}

async fn staff_from_before_people_are_people_of_their_own(db: TestDb) {
    let old = db
        .another_as_left_at(
            4,
            &[
                "INSERT INTO staff (channel, address, role, added_at) VALUES ('telegram', '900', 'press', 11)",
                "INSERT INTO staff (channel, address, role, added_at) \
                 VALUES ('whatsapp', '4917012345', 'emergency', 12)",
            ],
        )
        .await;
    old.store
        .migrate()
        .await
        .expect("the later migrations apply");
    assert_eq!(
        staff_rows(&*old.store).await,
        [
            row("telegram:900", "telegram:900", Role::Press),
            row(
                "whatsapp:4917012345",
                "whatsapp:4917012345",
                Role::Emergency
            ),
        ]
    );
    let member = old
        .store
        .staff_member(ChannelKind::Telegram, "900")
        .await
        .unwrap()
        .expect("still staff");
    assert_eq!(member.added_at, 11);
    // Each is still a person of its own: a role change needs no person.
    old.store
        .set_staff(ChannelKind::Telegram, "900", Role::Admin, None)
        .await
        .unwrap();
}

async fn removing_a_person_removes_every_address_they_have(db: TestDb) {
    let store = &*db.store;
    for (channel, address, person) in [
        (ChannelKind::Telegram, "901", "Anna"),
        (ChannelKind::Whatsapp, "4917012345", "Anna"),
        (ChannelKind::Telegram, "902", "Ben"),
        (ChannelKind::Whatsapp, "4917022222", "Ben"),
    ] {
        store
            .set_staff(channel, address, Role::Emergency, Some(person))
            .await
            .unwrap();
    }
    assert_eq!(store.remove_person("Anna").await.unwrap(), 2);
    assert_eq!(store.remove_person("Anna").await.unwrap(), 0);
    assert_eq!(
        store
            .staff_role(ChannelKind::Telegram, "901")
            .await
            .unwrap(),
        None
    );

    // One address goes alone; the person keeps the other.
    assert!(
        store
            .remove_staff(ChannelKind::Telegram, "902")
            .await
            .unwrap()
    );
    assert_eq!(
        staff_rows(store).await,
        [row("Ben", "whatsapp:4917022222", Role::Emergency)]
    );
}

async fn a_page_of_broadcasts_comes_newest_first_from_a_cursor(db: TestDb) {
    let mut ids = Vec::new();
    for n in 0..5 {
        let mut b = new_broadcast("news", Priority::Normal, &format!("n{n}"));
        if n % 2 != 0 {
            b.start = amtsbote::store::Start::Draft;
        }
        ids.push(create(&*db.store, b).await);
    }
    let page = |status, before, limit| {
        let store = db.store.clone();
        async move {
            store
                .list_broadcasts_page(status, before, limit)
                .await
                .expect("page")
                .iter()
                .map(|b| b.id)
                .collect::<Vec<i64>>()
        }
    };
    assert_eq!(page(None, None, 2).await, [ids[4], ids[3]]);
    assert_eq!(page(None, Some(ids[3]), 2).await, [ids[2], ids[1]]);
    assert_eq!(page(None, Some(ids[1]), 2).await, [ids[0]]);
    assert!(page(None, Some(ids[0]), 2).await.is_empty());
    assert_eq!(
        page(Some(BroadcastStatus::Draft), None, 10).await,
        [ids[3], ids[1]]
    );
    assert_eq!(
        page(Some(BroadcastStatus::Released), Some(ids[4]), 1).await,
        [ids[2]]
    );
    assert!(page(Some(BroadcastStatus::Done), None, 10).await.is_empty());
}

async fn the_counts_of_several_broadcasts_come_in_one_answer(db: TestDb) {
    seed(&*db.store, 3, 2, &["news", "traffic"]).await;
    let news = create(&*db.store, new_broadcast("news", Priority::Normal, "n")).await;
    let traffic = create(&*db.store, new_broadcast("traffic", Priority::Urgent, "t")).await;
    let mut draft = new_broadcast("news", Priority::Normal, "later");
    draft.start = amtsbote::store::Start::Draft;
    let draft = create(&*db.store, draft).await;
    fan_out_all(&*db.store, news, 100).await;
    fan_out_all(&*db.store, traffic, 100).await;
    claim_all(&*db.store, ChannelKind::Telegram, "l").await;
    assert!(db.store.cancel_broadcast(traffic).await.unwrap());

    let stats = db
        .store
        .stats_of(&[news, traffic, draft, 999_999])
        .await
        .unwrap();
    assert_eq!(stats.len(), 4, "every id asked for is answered");
    for id in [news, traffic] {
        let one = db.store.broadcast_stats(id).await.unwrap();
        assert_eq!(stats[&id].counts, one.counts, "broadcast {id}");
    }
    assert_eq!(
        stats[&news].count(ChannelKind::Telegram, DeliveryStatus::Leased),
        3
    );
    assert_eq!(
        stats[&news].count(ChannelKind::Whatsapp, DeliveryStatus::Pending),
        2
    );
    assert_eq!(stats[&traffic].total(DeliveryStatus::Cancelled), 5);
    assert_eq!(stats[&traffic].total(DeliveryStatus::Leased), 0);
    assert!(stats[&draft].counts.is_empty());
    assert!(stats[&999_999].counts.is_empty());
    assert!(db.store.stats_of(&[]).await.unwrap().is_empty());
}

async fn the_fan_out_ceiling_inserts_every_active_subscriber_and_leaves_nothing(db: TestDb) {
    seed(&*db.store, 6, 4, &["news"]).await;
    db.store
        .mark_gone(ChannelKind::Telegram, "1000")
        .await
        .unwrap();
    let news = crate::helpers::topic("news");
    let (rows, ms) = db.store.fan_out_ceiling(&news).await.unwrap();
    assert_eq!(rows, 9);
    assert!(ms >= 0.0);
    // The scratch table is gone: a second probe starts afresh and the queue holds nothing.
    assert_eq!(db.store.fan_out_ceiling(&news).await.unwrap().0, 9);
    assert_eq!(db.store.open_deliveries().await.unwrap(), 0);
}

async fn the_parts_of_a_long_text_sent_are_remembered_under_the_lease(db: TestDb) {
    seed(&*db.store, 0, 1, &["news"]).await;
    let id = create(&*db.store, new_broadcast("news", Priority::Normal, "n")).await;
    fan_out_all(&*db.store, id, 10).await;
    let claimed = claim_all(&*db.store, ChannelKind::Whatsapp, "w").await;
    assert_eq!(claimed[0].parts_sent, 0);
    let ack = |lease: &str, outcome: AckOutcome| Ack {
        delivery_id: claimed[0].id,
        lease: lease.into(),
        outcome,
    };
    let part = |n: i32, wamid: &str| AckOutcome::PartSent {
        parts_sent: n,
        platform_id: Some(wamid.into()),
    };
    assert_eq!(
        db.store
            .acknowledge(&[ack("not-mine", part(1, "wamid.P1"))])
            .await
            .unwrap(),
        0,
        "only under the lease"
    );
    let retry = AckOutcome::Retry {
        due_at: now_ms(),
        attempts: 1,
        error: "HTTP 502".into(),
    };
    assert_eq!(
        db.store
            .acknowledge(&[ack("w", part(1, "wamid.P1")), ack("w", retry)])
            .await
            .unwrap(),
        2
    );
    assert!(
        matches!(
            db.store
                .record_platform_status("wamid.P1", &amtsbote::domain::PlatformStatus::Delivered)
                .await
                .unwrap(),
            amtsbote::store::StatusApplied::Applied { .. }
        ),
        "the platform id of the last part sent is kept"
    );
    let again = claim_all(&*db.store, ChannelKind::Whatsapp, "w2").await;
    assert_eq!(again[0].parts_sent, 1, "the retry starts after part 1");
    assert_eq!(again[0].attempts, 1);
    let sent = AckOutcome::Sent {
        at: now_ms(),
        platform_id: Some("wamid.P3".into()),
    };
    assert_eq!(
        db.store
            .acknowledge(&[ack("w2", part(2, "wamid.P2")), ack("w2", sent)])
            .await
            .unwrap(),
        2
    );
    let stats = db.store.broadcast_stats(id).await.unwrap();
    assert_eq!(stats.total(DeliveryStatus::Sent), 1);
    assert!(
        matches!(
            db.store
                .record_platform_status(
                    "wamid.P3",
                    &amtsbote::domain::PlatformStatus::Failed {
                        failure: amtsbote::domain::LateFailure::OutsideWindow,
                        error: "131047: outside the window".into(),
                    }
                )
                .await
                .unwrap(),
            amtsbote::store::StatusApplied::Applied { .. }
        ),
        "the last part's id is the delivery's, and part 1's status does not hold back its own"
    );
}

async fn a_login_link_is_used_once_and_only_before_it_expires(db: TestDb) {
    use amtsbote::store::LoginLink;
    let store = &db.store;
    let now = now_ms();
    let link = |hash: &str, expires_at: i64| LoginLink {
        token_hash: hash.into(),
        channel: ChannelKind::Telegram,
        address: "900".into(),
        created_at: now,
        expires_at,
    };
    store
        .put_login_link(&link("fresh", now + 600_000))
        .await
        .unwrap();
    store.put_login_link(&link("stale", now - 1)).await.unwrap();
    assert_eq!(
        store.take_login_link("fresh", now).await.unwrap(),
        Some((ChannelKind::Telegram, "900".to_string()))
    );
    assert_eq!(
        store.take_login_link("fresh", now).await.unwrap(),
        None,
        "used"
    );
    assert_eq!(
        store.take_login_link("stale", now).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        store.take_login_link("never", now).await.unwrap(),
        None,
        "unknown"
    );
    // The expired link goes; the used one stays until its time (it signs nobody in).
    assert_eq!(store.forget_dashboard_sign_ins(now, 1).await.unwrap(), 1);
}

async fn a_session_ends_when_idle_at_its_absolute_end_or_on_sign_out(db: TestDb) {
    use amtsbote::store::DashboardSession;
    let store = &db.store;
    let t0 = 1_000_000_000;
    let idle = 30 * 60_000;
    let session = |hash: &str| DashboardSession {
        id_hash: hash.into(),
        channel: ChannelKind::Whatsapp,
        address: "4915100000001".into(),
        csrf: format!("csrf-{hash}"),
        created_at: t0,
        last_seen: t0,
        expires_at: t0 + 8 * 3_600_000,
    };
    for h in ["a", "b", "c"] {
        store.put_session(&session(h)).await.unwrap();
    }
    // Reading a session writes nothing: only marking it as seen moves the idle end on; the
    // absolute end stays.
    let read = store
        .session("a", t0 + idle - 1, idle)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.last_seen, t0);
    assert_eq!(read.csrf, "csrf-a");
    assert_eq!(read.channel, ChannelKind::Whatsapp);
    store.mark_session_seen("a", t0 + idle - 1).await.unwrap();
    assert!(
        store
            .session("a", t0 + 2 * idle - 2, idle)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .session("b", t0 + idle - 1, idle)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store.session("b", t0 + idle, idle).await.unwrap().is_none(),
        "idle: the read before did not count as seen"
    );
    let mut t = t0;
    while t + idle / 2 < t0 + 8 * 3_600_000 {
        t += idle / 2;
        assert!(store.session("c", t, idle).await.unwrap().is_some());
        store.mark_session_seen("c", t).await.unwrap();
    }
    assert!(
        store
            .session("c", t0 + 8 * 3_600_000, idle)
            .await
            .unwrap()
            .is_none(),
        "past the absolute end"
    );
    assert!(store.end_session("a").await.unwrap());
    assert!(!store.end_session("a").await.unwrap());
    assert!(
        store
            .session("a", t0 + 2 * idle - 1, idle)
            .await
            .unwrap()
            .is_none()
    );
}

async fn whatsapp_recipients_outside_their_window_are_counted(db: TestDb) {
    let store = &db.store;
    seed(&**store, 2, 3, &["news"]).await;
    let now = now_ms();
    let window_start = now - 24 * 3_600_000;
    // One WhatsApp subscriber wrote an hour ago: free text reaches them.
    store
        .touch_inbound(ChannelKind::Whatsapp, "4915100000000", now - 3_600_000)
        .await
        .unwrap();
    let news = amtsbote::domain::Topic::parse("news").unwrap();
    assert_eq!(
        store
            .whatsapp_outside_window(&news, None, window_start)
            .await
            .unwrap(),
        2
    );
    let id = create(&**store, new_broadcast("news", Priority::Normal, "Hallo")).await;
    fan_out_all(&**store, id, 100).await;
    assert_eq!(
        store
            .whatsapp_outside_window(&news, Some(id), window_start)
            .await
            .unwrap(),
        2,
        "a follow-up's recipients are the alert's"
    );
}

async fn messages_sent_are_counted_per_second(db: TestDb) {
    let store = &db.store;
    seed(&**store, 3, 0, &["news"]).await;
    let id = create(&**store, new_broadcast("news", Priority::Normal, "Hallo")).await;
    fan_out_all(&**store, id, 100).await;
    assert_eq!(store.sent_per_second(id).await.unwrap(), vec![]);
    let now = now_ms();
    let claimed = store
        .claim(ChannelKind::Telegram, "lane", 10, now, now + 30_000)
        .await
        .unwrap();
    let second = 1_800_000_000_i64;
    let acks: Vec<Ack> = claimed
        .iter()
        .enumerate()
        .map(|(i, d)| Ack {
            delivery_id: d.id,
            lease: "lane".into(),
            outcome: AckOutcome::Sent {
                at: second * 1000 + if i == 2 { 1500 } else { 100 },
                platform_id: None,
            },
        })
        .collect();
    assert_eq!(store.acknowledge(&acks).await.unwrap(), 3);
    assert_eq!(
        store.sent_per_second(id).await.unwrap(),
        vec![(second, 2), (second + 1, 1)]
    );
}

async fn daily_subscriber_counts_are_kept_once_a_day(db: TestDb) {
    let store = &db.store;
    let counts = |n: u64| {
        vec![
            (ChannelKind::Telegram, "news".to_string(), n),
            (ChannelKind::Whatsapp, "news".to_string(), 1),
        ]
    };
    store
        .record_subscriber_day("2026-11-25", &counts(3))
        .await
        .unwrap();
    store
        .record_subscriber_day("2026-11-26", &counts(4))
        .await
        .unwrap();
    store
        .record_subscriber_day("2026-11-26", &counts(5))
        .await
        .unwrap();
    let days = store.subscriber_days("2026-11-26").await.unwrap();
    assert_eq!(
        days,
        vec![
            (
                "2026-11-26".to_string(),
                "news".to_string(),
                ChannelKind::Telegram,
                5
            ),
            (
                "2026-11-26".to_string(),
                "news".to_string(),
                ChannelKind::Whatsapp,
                1
            ),
        ]
    );
    assert_eq!(store.subscriber_days("2026-01-01").await.unwrap().len(), 4);
}

async fn a_warning_version_is_recorded_once_and_names_its_latest_broadcast(db: TestDb) {
    use amtsbote::store::WarningRecord;
    let store = db.store.as_ref();
    let alert = create(store, new_broadcast("alerts", Priority::Alert, "Warnung")).await;
    let update = create(store, new_broadcast("alerts", Priority::Alert, "Update")).await;
    let t0 = now_ms();
    let record = |version: i64, decision: &str, broadcast_id: Option<i64>| WarningRecord {
        identifier: "mow.DE-NW-1".into(),
        version,
        provider: "mowas".into(),
        msg_type: "Alert".into(),
        severity: "Severe".into(),
        headline: "Großbrand".into(),
        expires_at: Some(t0 + 3_600_000),
        decision: decision.into(),
        broadcast_id,
        seen_at: t0 + version,
    };
    assert!(!store.warning_known("mow.DE-NW-1", 1).await.expect("db"));
    assert_eq!(
        store.warning_broadcast("mow.DE-NW-1").await.expect("db"),
        None
    );
    assert!(
        store
            .record_warning(&record(1, "sent", Some(alert)))
            .await
            .expect("db")
    );
    assert!(store.warning_known("mow.DE-NW-1", 1).await.expect("db"));
    assert!(!store.warning_known("mow.DE-NW-1", 2).await.expect("db"));
    // The same version again (a second poll, a second provider, a restart): nothing changes.
    assert!(
        !store
            .record_warning(&record(1, "expired", None))
            .await
            .expect("db")
    );
    assert!(
        store
            .record_warning(&record(2, "too_minor", None))
            .await
            .expect("db")
    );
    assert_eq!(
        store.warning_broadcast("mow.DE-NW-1").await.expect("db"),
        Some(alert)
    );
    assert!(
        store
            .record_warning(&record(3, "sent", Some(update)))
            .await
            .expect("db")
    );
    assert_eq!(
        store.warning_broadcast("mow.DE-NW-1").await.expect("db"),
        Some(update)
    );
    let listed = store.warnings(10).await.expect("db");
    assert_eq!(
        listed
            .iter()
            .map(|w| (w.version, w.decision.as_str()))
            .collect::<Vec<_>>(),
        [(3, "sent"), (2, "too_minor"), (1, "sent")]
    );
    assert_eq!(listed[2], record(1, "sent", Some(alert)));
    assert_eq!(store.warnings(1).await.expect("db").len(), 1);
}

async fn an_english_text_goes_to_english_subscribers_only(db: TestDb) {
    let store = db.store.as_ref();
    let de = store
        .ensure_subscriber(ChannelKind::Telegram, "1", "de")
        .await
        .expect("subscriber");
    let en = store
        .ensure_subscriber(ChannelKind::Telegram, "2", "en")
        .await
        .expect("subscriber");
    for s in [&de, &en] {
        store
            .set_subscription(s.id, &crate::helpers::topic("alerts"), true)
            .await
            .expect("subscribe");
    }
    let mut new = new_broadcast("alerts", Priority::Alert, "Amtliche Warnung");
    new.text_en = Some(amtsbote::domain::BroadcastText::parse("Official warning").expect("text"));
    let claimed = released_and_claimed(store, new).await;
    let mut texts: Vec<(String, String)> = claimed
        .iter()
        .map(|d| (d.address.clone(), d.text.clone()))
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        [
            ("1".to_string(), "Amtliche Warnung".to_string()),
            ("2".into(), "Official warning".into())
        ]
    );
    // Without an English text, everyone gets the one text.
    let plain = new_broadcast("alerts", Priority::Alert, "Nur deutsch");
    let claimed = released_and_claimed(store, plain).await;
    assert!(claimed.iter().all(|d| d.text == "Nur deutsch"));
}

/// Creates `new`, fans it out and claims its Telegram deliveries.
async fn released_and_claimed(
    store: &dyn Store,
    new: amtsbote::store::NewBroadcast,
) -> Vec<amtsbote::store::ClaimedDelivery> {
    let id = create(store, new).await;
    while !store.fan_out_chunk(id, 100).await.expect("fan-out").done {}
    store
        .claim(
            ChannelKind::Telegram,
            "lane",
            10,
            now_ms(),
            now_ms() + 60_000,
        )
        .await
        .expect("claim")
}

/// The CLI is another process with its own connection: what it releases, the running
/// service hears of at once (Postgres `NOTIFY`; SQLite a socket beside the file).
async fn a_release_announced_by_another_process_is_heard_by_the_running_service(db: TestDb) {
    let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let listening = {
        let (store, heard, stop) = (db.store.clone(), heard.clone(), stop.clone());
        tokio::spawn(async move {
            store
                .listen_enqueued(Arc::new(move |p| heard.lock().unwrap().push(p)), stop)
                .await;
        })
    };
    let cli = db.reopen().await;
    // Until the listener is up, an announcement may fall on deaf ears (then the poll finds
    // the release): announce until one is heard.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while heard.lock().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the release was not heard"
        );
        cli.announce_released(Priority::Alert).await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(heard.lock().unwrap().iter().all(|p| *p == Priority::Alert));
    stop.cancel();
    listening.await.unwrap();
}
