//! SQL both stores run as written: SQLite understands Postgres' `$n` placeholders, `ON CONFLICT`
//! and `RETURNING`, so only the statements that differ live in the store modules.

use super::{broadcast_columns, staff_columns};

pub const BROADCAST_BY_ID: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts WHERE id = $1"
);
pub const BROADCASTS_RECENT: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts ORDER BY id DESC LIMIT $1"
);
pub const BROADCASTS_TO_FAN_OUT: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts WHERE status = 'released' ORDER BY priority DESC, id"
);
pub const NOTICES_OF: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts WHERE parent_id = $1 AND kind IN ('correction', 'retraction') ORDER BY id"
);
pub const BROADCAST_HASH_BY_KEY: &str =
    "SELECT id, request_hash FROM broadcasts WHERE idempotency_key = $1";
pub const INSERT_BROADCAST: &str = concat!(
    "INSERT INTO broadcasts \
    (topic, kind, priority, text, status, idempotency_key, request_hash, created_by, created_at, released_at, parent_id, scheduled_at, author, cron, text_en, target, notice, new_text, public_code, media_id, alt) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
    ON CONFLICT (idempotency_key) DO NOTHING RETURNING ",
    broadcast_columns!()
);
pub const RELEASE_BROADCAST: &str = "UPDATE broadcasts SET \
    status = CASE WHEN scheduled_at IS NULL THEN 'released' ELSE 'scheduled' END, \
    released_at = CASE WHEN scheduled_at IS NULL THEN $2 ELSE NULL END \
    WHERE id = $1 AND status = 'draft'";
pub const RELEASE_FROM: &str = concat!(
    "UPDATE broadcasts SET \
    status = CASE WHEN scheduled_at IS NULL THEN 'released' ELSE 'scheduled' END, \
    released_at = CASE WHEN scheduled_at IS NULL THEN $2 ELSE NULL END, \
    approved_by = COALESCE($4, approved_by) \
    WHERE id = $1 AND status = $3 RETURNING ",
    broadcast_columns!()
);
pub const AWAIT_APPROVAL: &str = concat!(
    "UPDATE broadcasts SET status = 'awaiting_approval' WHERE id = $1 AND status = 'draft' RETURNING ",
    broadcast_columns!()
);
pub const MAKE_RECURRING: &str = "UPDATE broadcasts SET status = 'recurring', approved_by = COALESCE($3, approved_by) \
    WHERE id = $1 AND status = $2 \
    RETURNING topic, kind, priority, text, cron, created_by";
pub const SET_SCHEDULE_OF: &str = "UPDATE broadcasts SET schedule_id = $2 WHERE id = $1";
pub const APPROVALS_TO_REQUEST: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts WHERE status = 'awaiting_approval' AND approval_requested_at IS NULL ORDER BY id"
);
pub const APPROVAL_REQUESTED: &str = "UPDATE broadcasts SET approval_requested_at = $2 \
    WHERE id = $1 AND approval_requested_at IS NULL";
pub const CANCEL_BROADCAST: &str = "UPDATE broadcasts SET status = 'cancelled', cancelled_at = $2 \
    WHERE id = $1 AND status IN ('draft', 'awaiting_approval', 'scheduled', 'released', 'sending')";
pub const CANCEL_DELIVERIES: &str = "UPDATE deliveries SET status = 'cancelled', last_error = 'broadcast cancelled' \
    WHERE broadcast_id = $1 AND status IN ('pending', 'leased')";
pub const BROADCAST_STATS: &str = "SELECT channel, status, COUNT(*) FROM deliveries \
    WHERE broadcast_id = $1 GROUP BY channel, status";
pub const FAILURE_REASONS: &str = "SELECT COALESCE(last_error, ''), COUNT(*) FROM deliveries \
    WHERE broadcast_id = $1 AND status = 'failed' GROUP BY last_error ORDER BY COUNT(*) DESC LIMIT 20";
pub const RECIPIENT_COUNT: &str = "SELECT s.channel, COUNT(*) FROM subscriptions t \
    JOIN subscribers s ON s.id = t.subscriber_id \
    WHERE t.topic = $1 AND s.status = 'active' GROUP BY s.channel";

/// A broadcast's fan-out state at the start of a chunk; the store appends how it locks the row
/// (Postgres: `FOR UPDATE`), so a cancel waits for a chunk being written and sees its
/// deliveries, and a chunk after a cancel sees the cancel. SQLite has one writer at a time.
macro_rules! fan_out_state {
    ($lock:literal) => {
        concat!(
            "SELECT topic, priority, status, fanout_cursor, parent_id, target IS NOT NULL, kind, notice FROM broadcasts WHERE id = $1",
            $lock
        )
    };
}
pub(crate) use fan_out_state;
/// A follow-up's next chunk: from its alert's deliveries instead of the topic.
/// Who a follow-up reaches: those who were sent the alert or still have it coming, never those
/// whose delivery was cancelled (or failed, or who are gone).
macro_rules! follow_up_audience {
    () => {
        "p.status IN ('pending', 'leased', 'sent')"
    };
}
pub const FOLLOW_UP_NEXT_CHUNK: &str = concat!(
    "SELECT MAX(subscriber_id), COUNT(*) FROM \
    (SELECT p.subscriber_id FROM deliveries p WHERE p.broadcast_id = $1 AND p.subscriber_id > $2 AND ",
    follow_up_audience!(),
    " ORDER BY p.subscriber_id LIMIT $3) AS chunk"
);
pub const FOLLOW_UP_INSERT: &str = "INSERT INTO deliveries \
    (broadcast_id, subscriber_id, channel, priority, status, due_at) \
    SELECT $1, s.id, s.channel, $2, 'pending', $3 FROM deliveries p \
    JOIN subscribers s ON s.id = p.subscriber_id \
    WHERE p.broadcast_id = $4 AND p.subscriber_id > $5 AND p.subscriber_id <= $6 AND s.status = 'active' AND \
    p.status IN ('pending', 'leased', 'sent') \
    ON CONFLICT (broadcast_id, subscriber_id) DO NOTHING";
/// Who a correction or retraction reaches: those the parent reached or is reaching right now
/// (in flight, or cancelled by a retraction while in flight); whether each really got it is
/// decided as the notice is sent. A silent correction ($7 = 0) goes only where it can edit.
macro_rules! notice_audience {
    () => {
        "(p.status IN ('sent', 'leased') OR p.parts_sent > 0 \
          OR (p.status = 'cancelled' AND p.lease_until IS NOT NULL))"
    };
}
pub const NOTICE_NEXT_CHUNK: &str = concat!(
    "SELECT MAX(subscriber_id), COUNT(*) FROM \
    (SELECT p.subscriber_id FROM deliveries p WHERE p.broadcast_id = $1 AND p.subscriber_id > $2 AND ",
    notice_audience!(),
    " ORDER BY p.subscriber_id LIMIT $3) AS chunk"
);
pub const NOTICE_INSERT: &str = concat!(
    "INSERT INTO deliveries \
    (broadcast_id, subscriber_id, channel, priority, status, due_at) \
    SELECT $1, s.id, s.channel, $2, 'pending', $3 FROM deliveries p \
    JOIN subscribers s ON s.id = p.subscriber_id \
    WHERE p.broadcast_id = $4 AND p.subscriber_id > $5 AND p.subscriber_id <= $6 AND s.status = 'active' \
    AND ($7 <> 0 OR s.channel = 'telegram') AND ",
    notice_audience!(),
    " ON CONFLICT (broadcast_id, subscriber_id) DO NOTHING"
);
/// Retracts a sent broadcast: `$2` the time.
pub const RETRACT_BROADCAST: &str = "UPDATE broadcasts SET status = 'retracted', cancelled_at = $2 \
    WHERE id = $1 AND status IN ('released', 'sending', 'done') \
    AND kind IN ('announcement', 'alert', 'update', 'allclear')";
/// What follows a retracted broadcast and has not gone out stops: updates, all-clears and
/// corrections of it.
pub const CANCEL_FOLLOW_UPS: &str = "UPDATE broadcasts SET status = 'cancelled', cancelled_at = $2 \
    WHERE parent_id = $1 AND kind IN ('update', 'allclear', 'correction') \
    AND status IN ('draft', 'awaiting_approval', 'scheduled', 'released', 'sending')";
pub const CANCEL_FOLLOW_UP_DELIVERIES: &str = "UPDATE deliveries SET status = 'cancelled', last_error = 'broadcast retracted' \
    WHERE status IN ('pending', 'leased') AND broadcast_id IN \
    (SELECT id FROM broadcasts WHERE parent_id = $1 AND kind IN ('update', 'allclear', 'correction'))";
/// A retracted warning's identifier and version are never sent again (the feed skips known
/// ones; the decision says why).
pub const RETRACT_WARNING: &str =
    "UPDATE warnings SET decision = 'retracted' WHERE broadcast_id = $1";
/// The first version of a broadcast about to be corrected, kept once.
pub const KEEP_FIRST_VERSION: &str = "INSERT INTO broadcast_versions \
    (broadcast_id, version, text, changed_by, changed_at, correction_id, notice) \
    SELECT id, version, text, COALESCE(author, created_by), COALESCE(released_at, created_at), NULL, 1 \
    FROM broadcasts WHERE id = $1 ON CONFLICT (broadcast_id, version) DO NOTHING";
/// A correction takes effect: its parent gets the new text (English subscribers too: the
/// English text was not corrected) and the next version, unless it was retracted meanwhile.
pub const APPLY_CORRECTION: &str = "UPDATE broadcasts SET text = $2, text_en = NULL, version = version + 1 \
    WHERE id = $1 AND status IN ('released', 'sending', 'done') RETURNING version";
pub const SET_CORRECTION_VERSION: &str = "UPDATE broadcasts SET version = $2 WHERE id = $1";
pub const INSERT_VERSION: &str = "INSERT INTO broadcast_versions \
    (broadcast_id, version, text, changed_by, changed_at, correction_id, notice) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (broadcast_id, version) DO NOTHING";
pub const VERSIONS_OF: &str = "SELECT version, text, changed_by, changed_at, correction_id, notice \
    FROM broadcast_versions WHERE broadcast_id = $1 ORDER BY version";
/// A correction whose parent was retracted before it took effect never goes out.
pub const DROP_CORRECTION: &str =
    "UPDATE broadcasts SET status = 'cancelled', cancelled_at = $2 WHERE id = $1";
/// Platform message ids older than the keep time go (`corrections.keep_days`): nothing can be
/// corrected or quoted that far back.
pub const FORGET_PLATFORM_IDS: &str = "UPDATE deliveries SET platform_id = NULL \
    WHERE platform_id IS NOT NULL AND sent_at < $1 AND status IN ('sent', 'failed', 'gone', 'cancelled')";
pub const FOLLOW_UP_RECIPIENTS: &str = concat!(
    "SELECT s.channel, COUNT(*) FROM deliveries p \
    JOIN subscribers s ON s.id = p.subscriber_id \
    WHERE p.broadcast_id = $1 AND s.status = 'active' AND ",
    follow_up_audience!(),
    " GROUP BY s.channel"
);
pub const FAN_OUT_NEXT_CHUNK: &str = "SELECT MAX(subscriber_id), COUNT(*) FROM \
    (SELECT subscriber_id FROM subscriptions WHERE topic = $1 AND subscriber_id > $2 \
     ORDER BY subscriber_id LIMIT $3) AS chunk";
pub const FAN_OUT_INSERT: &str = "INSERT INTO deliveries \
    (broadcast_id, subscriber_id, channel, priority, status, due_at) \
    SELECT $1, s.id, s.channel, $2, 'pending', $3 FROM subscriptions t \
    JOIN subscribers s ON s.id = t.subscriber_id \
    WHERE t.topic = $4 AND t.subscriber_id > $5 AND t.subscriber_id <= $6 AND s.status = 'active' \
    ON CONFLICT (broadcast_id, subscriber_id) DO NOTHING";
/// Who a targeted broadcast reaches: those whose chosen district it touches, those whose kept
/// place lies inside it, and those who chose no area at all.
macro_rules! targeted {
    ($b:literal) => {
        concat!(
            "(EXISTS (SELECT 1 FROM subscriber_areas a JOIN broadcast_areas ba ON ba.area_id = a.area_id \
              WHERE a.subscriber_id = s.id AND ba.broadcast_id = ", $b, ") \
            OR EXISTS (SELECT 1 FROM subscriber_places p JOIN broadcast_cells c \
              ON c.lat_e3 = p.lat_e3 AND c.lon_e3 = p.lon_e3 \
              WHERE p.subscriber_id = s.id AND c.broadcast_id = ", $b, ") \
            OR (NOT EXISTS (SELECT 1 FROM subscriber_areas a WHERE a.subscriber_id = s.id) \
              AND NOT EXISTS (SELECT 1 FROM subscriber_places p WHERE p.subscriber_id = s.id)))"
        )
    };
}
pub const FAN_OUT_INSERT_TARGETED: &str = concat!(
    "INSERT INTO deliveries \
    (broadcast_id, subscriber_id, channel, priority, status, due_at) \
    SELECT $1, s.id, s.channel, $2, 'pending', $3 FROM subscriptions t \
    JOIN subscribers s ON s.id = t.subscriber_id \
    WHERE t.topic = $4 AND t.subscriber_id > $5 AND t.subscriber_id <= $6 AND s.status = 'active' AND ",
    targeted!("$1"),
    " ON CONFLICT (broadcast_id, subscriber_id) DO NOTHING"
);
pub const INSERT_BROADCAST_AREA: &str =
    "INSERT INTO broadcast_areas (broadcast_id, area_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
pub const INSERT_BROADCAST_CELL: &str = "INSERT INTO broadcast_cells (broadcast_id, lat_e3, lon_e3) \
    VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
pub const HAS_CELLS: &str = "SELECT COUNT(*) FROM broadcast_cells WHERE broadcast_id = $1";
/// The kept places (distinct cells) in a box of 1/1000 degrees.
pub const PLACES_IN_BOX: &str = "SELECT DISTINCT lat_e3, lon_e3 FROM subscriber_places \
    WHERE lat_e3 BETWEEN $1 AND $2 AND lon_e3 BETWEEN $3 AND $4";
/// Subscribers of topic $1 with no area and no kept place, per channel.
pub const RECIPIENTS_WITHOUT_AREA: &str = "SELECT s.channel, COUNT(*) FROM subscriptions t \
    JOIN subscribers s ON s.id = t.subscriber_id \
    WHERE t.topic = $1 AND s.status = 'active' \
    AND NOT EXISTS (SELECT 1 FROM subscriber_areas a WHERE a.subscriber_id = s.id) \
    AND NOT EXISTS (SELECT 1 FROM subscriber_places p WHERE p.subscriber_id = s.id) \
    GROUP BY s.channel";
/// Subscribers of topic $1 by one of the districts in the list $2 (the store's `$list`
/// fragment reads it), per channel.
macro_rules! recipients_by_district {
    ($list:literal) => {
        concat!(
            "SELECT s.channel, COUNT(*) FROM subscriptions t \
            JOIN subscribers s ON s.id = t.subscriber_id \
            WHERE t.topic = $1 AND s.status = 'active' \
            AND EXISTS (SELECT 1 FROM subscriber_areas a WHERE a.subscriber_id = s.id AND a.area_id IN ",
            $list,
            ") GROUP BY s.channel"
        )
    };
}
pub(crate) use recipients_by_district;
/// The kept places, in a box, of subscribers of topic $1 who are not reached by one of the
/// districts in the list $2.
macro_rules! places_beyond_districts {
    ($list:literal) => {
        concat!(
            "SELECT s.channel, p.lat_e3, p.lon_e3 FROM subscriptions t \
            JOIN subscribers s ON s.id = t.subscriber_id \
            JOIN subscriber_places p ON p.subscriber_id = s.id \
            WHERE t.topic = $1 AND s.status = 'active' \
            AND p.lat_e3 BETWEEN $3 AND $4 AND p.lon_e3 BETWEEN $5 AND $6 \
            AND NOT EXISTS (SELECT 1 FROM subscriber_areas a WHERE a.subscriber_id = s.id AND a.area_id IN ",
            $list,
            ")"
        )
    };
}
pub(crate) use places_beyond_districts;
pub const SUBSCRIBER_AREAS: &str =
    "SELECT area_id FROM subscriber_areas WHERE subscriber_id = $1 ORDER BY area_id";
pub const SUBSCRIBER_PLACE: &str =
    "SELECT lat_e3, lon_e3 FROM subscriber_places WHERE subscriber_id = $1";
pub const ADD_SUBSCRIBER_AREA: &str = "INSERT INTO subscriber_areas (subscriber_id, area_id) \
    VALUES ($1, $2) ON CONFLICT DO NOTHING";
pub const REMOVE_SUBSCRIBER_AREA: &str =
    "DELETE FROM subscriber_areas WHERE subscriber_id = $1 AND area_id = $2";
pub const CLEAR_SUBSCRIBER_AREAS: &str = "DELETE FROM subscriber_areas WHERE subscriber_id = $1";
pub const KEEP_PLACE: &str = "INSERT INTO subscriber_places (subscriber_id, lat_e3, lon_e3, kept_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (subscriber_id) DO UPDATE SET \
    lat_e3 = EXCLUDED.lat_e3, lon_e3 = EXCLUDED.lon_e3, kept_at = EXCLUDED.kept_at";
pub const FORGET_PLACE: &str = "DELETE FROM subscriber_places WHERE subscriber_id = $1";
/// Active subscribers per chosen district (each counted once per district).
pub const AREA_SUBSCRIBERS: &str = "SELECT a.area_id, COUNT(*) FROM subscriber_areas a \
    JOIN subscribers s ON s.id = a.subscriber_id WHERE s.status = 'active' GROUP BY a.area_id";
pub const FAN_OUT_ADVANCE: &str =
    "UPDATE broadcasts SET fanout_cursor = $2 WHERE id = $1 AND fanout_cursor < $2";
pub const FAN_OUT_COMPLETE: &str = "UPDATE broadcasts SET status = 'sending', fanout_done_at = $2 \
    WHERE id = $1 AND status = 'released'";
macro_rules! nothing_open {
    () => {
        "NOT EXISTS (SELECT 1 FROM deliveries d \
         WHERE d.broadcast_id = broadcasts.id AND d.status IN ('pending', 'leased'))"
    };
}
pub const FINISHED_BROADCASTS: &str = concat!(
    "SELECT id FROM broadcasts WHERE status = 'sending' AND ",
    nothing_open!()
);
pub const FINISH_BROADCAST: &str = concat!(
    "UPDATE broadcasts SET status = 'done', finished_at = $2 WHERE id = $1 AND status = 'sending' AND ",
    nothing_open!()
);

/// The claim: the inner select picks the ids in queue order, the update leases them. SQLite
/// takes them `IN (…)`; Postgres locks them with `SKIP LOCKED` and takes `= ANY(ARRAY(…))`,
/// which keeps the update on primary-key lookups (`IN` let the planner scan the whole table).
macro_rules! claim_update {
    ($open:literal, $close:literal) => {
        concat!(
            "UPDATE deliveries SET status = 'leased', leased_by = $1, lease_until = $2, \
             text_version = (SELECT b.version FROM broadcasts b WHERE b.id = deliveries.broadcast_id) WHERE id ",
            $open,
            "SELECT id FROM deliveries \
             WHERE channel = $3 AND status = 'pending' AND due_at <= $4 \
             ORDER BY priority DESC, due_at, id LIMIT $5",
            $close,
            " RETURNING id"
        )
    };
}
pub(crate) use claim_update;

/// Reads what was just claimed; the store appends how it names the list of ids.
macro_rules! claimed_rows {
    ($ids:literal) => {
        concat!(
            "SELECT ",
            $crate::store::claim_columns!(),
            " FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id \
             JOIN broadcasts b ON b.id = d.broadcast_id \
             LEFT JOIN deliveries p ON p.broadcast_id = b.parent_id AND p.subscriber_id = d.subscriber_id \
               AND b.kind IN ('correction', 'retraction') \
             LEFT JOIN broadcasts pb ON pb.id = b.parent_id AND b.kind IN ('correction', 'retraction') \
             WHERE d.id ",
            $ids
        )
    };
}
pub(crate) use claimed_rows;

/// Closes claimed deliveries whose subscriber row is gone (erased while fan-out wrote them):
/// there is no one to send them to, and leased again and again they would keep their
/// broadcast open forever. `$1` is the list of ids, named as the store names lists.
macro_rules! close_orphans {
    ($ids:literal) => {
        concat!(
            "UPDATE deliveries SET status = 'gone', last_error = 'recipient erased', lease_until = NULL \
             WHERE status = 'leased' AND id ",
            $ids,
            " AND NOT EXISTS (SELECT 1 FROM subscribers s WHERE s.id = deliveries.subscriber_id)"
        )
    };
}
pub(crate) use close_orphans;

/// Extends lease `$1` to `$2` on those of the deliveries `$3` it still holds (leased, neither
/// acknowledged nor cancelled) and names them.
macro_rules! extend_lease {
    ($ids:literal) => {
        concat!(
            "UPDATE deliveries SET lease_until = $2 WHERE leased_by = $1 AND status = 'leased' AND id ",
            $ids,
            " RETURNING id"
        )
    };
}
pub(crate) use extend_lease;

/// A new message: the platform's statuses of an earlier one (before a template resend) go.
/// A send without an id of its own (the edit after a notice) keeps the id of the part before.
pub const ACK_SENT: &str = "UPDATE deliveries SET status = 'sent', sent_at = $3, platform_id = COALESCE($4, platform_id), \
    lease_until = NULL, last_error = NULL, platform_status = NULL, platform_error = NULL \
    WHERE id = $1 AND leased_by = $2 AND status IN ('leased', 'cancelled')";
pub const ACK_RETRY: &str = "UPDATE deliveries SET status = 'pending', due_at = $3, attempts = $4, \
    last_error = $5, leased_by = NULL, lease_until = NULL \
    WHERE id = $1 AND leased_by = $2 AND status = 'leased'";
pub const ACK_FAILED: &str = "UPDATE deliveries SET status = 'failed', attempts = $3, last_error = $4, \
    lease_until = NULL WHERE id = $1 AND leased_by = $2 AND status = 'leased'";
/// A part of a long text went out and more follow. The platform's statuses on the row are those
/// of the message `platform_id` names: a new part starts with none.
pub const ACK_PART_SENT: &str = "UPDATE deliveries SET parts_sent = $3, platform_id = $4, \
    platform_status = NULL, platform_error = NULL \
    WHERE id = $1 AND leased_by = $2 AND status IN ('leased', 'cancelled')";
pub const ACK_SKIPPED: &str = "UPDATE deliveries SET status = 'cancelled', last_error = $3, lease_until = NULL \
    WHERE id = $1 AND leased_by = $2 AND status = 'leased'";
/// Not sent: back to the queue; one cancelled meanwhile (a cancel, a retraction) stays
/// cancelled, and its lease ends, so that a retraction's notice knows it never went.
pub const ACK_RELEASE: &str = "UPDATE deliveries SET \
    status = CASE WHEN status = 'leased' THEN 'pending' ELSE status END, leased_by = NULL, lease_until = NULL \
    WHERE id = $1 AND leased_by = $2 AND status IN ('leased', 'cancelled')";
pub const ACK_GONE: &str = "UPDATE deliveries SET status = 'gone', last_error = $3, lease_until = NULL \
    WHERE id = $1 AND leased_by = $2 AND status IN ('leased', 'cancelled') RETURNING subscriber_id";
pub const MOVE_SUBSCRIBER: &str = "UPDATE subscribers SET address = $1 \
    WHERE id = (SELECT subscriber_id FROM deliveries WHERE id = $2 AND leased_by = $3 AND status = 'leased') \
    AND NOT EXISTS (SELECT 1 FROM subscribers o WHERE o.channel = subscribers.channel AND o.address = $1)";
pub const MARK_SUBSCRIBER_GONE: &str = "UPDATE subscribers SET status = 'gone' WHERE id = $1";
pub const CLOSE_DELIVERIES_OF_GONE: &str = "UPDATE deliveries SET status = 'gone', \
    last_error = 'recipient gone' WHERE subscriber_id = $1 AND status = 'pending'";

pub const RECLAIM_EXPIRED: &str = "UPDATE deliveries SET status = 'pending', leased_by = NULL, \
    lease_until = NULL WHERE status = 'leased' AND lease_until < $1";
/// Every delivery of a channel still leased goes back to the queue: only the lane's holder
/// leases them, and a new holder has claimed nothing yet.
pub const TAKE_OVER_LANE: &str = "UPDATE deliveries SET status = 'pending', leased_by = NULL, \
    lease_until = NULL WHERE channel = $1 AND status = 'leased'";
pub const NEXT_DUE: &str =
    "SELECT MIN(due_at) FROM deliveries WHERE channel = $1 AND status = 'pending'";
pub const OPEN_DELIVERIES: &str =
    "SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'leased')";

pub const SET_LANE_PAUSE: &str = "INSERT INTO lanes (channel, paused_until, pause_reason, updated_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (channel) DO UPDATE SET \
    paused_until = excluded.paused_until, pause_reason = excluded.pause_reason, \
    updated_at = excluded.updated_at";
pub const LANE_STATES: &str =
    "SELECT channel, paused_until, updated_at, pause_reason FROM lanes ORDER BY channel";

pub const SUBSCRIBER_BY_ADDRESS: &str = "SELECT id, channel, address, language, status FROM subscribers WHERE channel = $1 AND address = $2";
pub const TOPICS_OF: &str =
    "SELECT topic FROM subscriptions WHERE subscriber_id = $1 ORDER BY topic";
pub const INSERT_SUBSCRIBER: &str = "INSERT INTO subscribers (channel, address, language, status, created_at) \
    VALUES ($1, $2, $3, 'active', $4) ON CONFLICT (channel, address) DO NOTHING";
pub const SUBSCRIBE: &str =
    "INSERT INTO subscriptions (topic, subscriber_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
pub const UNSUBSCRIBE: &str = "DELETE FROM subscriptions WHERE topic = $1 AND subscriber_id = $2";
pub const SET_LANGUAGE: &str = "UPDATE subscribers SET language = $2 WHERE id = $1";
pub const SET_SUBSCRIBER_STATUS: &str = "UPDATE subscribers SET status = $2 WHERE id = $1";
pub const ERASE_DELIVERIES: &str = "DELETE FROM deliveries WHERE subscriber_id = $1";
pub const ERASE_SUBSCRIPTIONS: &str = "DELETE FROM subscriptions WHERE subscriber_id = $1";
pub const ERASE_AREAS: &str = "DELETE FROM subscriber_areas WHERE subscriber_id = $1";
pub const ERASE_PLACE: &str = "DELETE FROM subscriber_places WHERE subscriber_id = $1";
pub const ERASE_SUBSCRIBER: &str = "DELETE FROM subscribers WHERE id = $1";
pub const ERASE_CONFIRMATIONS: &str =
    "DELETE FROM confirmations WHERE author_channel = $1 AND author_address = $2";
/// The `channel_state` key an erase sets (to a random value) in its own transaction, so that
/// housekeeping, on whichever instance holds it, clears what the database keeps of deleted rows
/// beyond the tables (`Store::upkeep`), and then removes it if no erase came in between.
pub const ERASED_KEY: &str = "privacy.erased";
pub const CLEAR_STATE: &str = "DELETE FROM channel_state WHERE key = $1 AND value = $2";

pub const SET_STAFF: &str = concat!(
    "INSERT INTO staff (channel, address, role, added_at, person) VALUES ($1, $2, $3, $4, $5) \
    ON CONFLICT (channel, address) DO UPDATE SET role = excluded.role, person = excluded.person \
    RETURNING ",
    staff_columns!()
);
/// The roles of a person's addresses other than ($2, $3).
pub const OTHER_ROLES_OF_PERSON: &str = "SELECT DISTINCT role FROM staff \
    WHERE person = $1 AND NOT (channel = $2 AND address = $3)";
pub const STAFF_MEMBER: &str = concat!(
    "SELECT ",
    staff_columns!(),
    " FROM staff WHERE channel = $1 AND address = $2"
);
pub const REMOVE_STAFF: &str = "DELETE FROM staff WHERE channel = $1 AND address = $2";
pub const REMOVE_PERSON: &str = "DELETE FROM staff WHERE person = $1";
pub const SET_DESK: &str = "INSERT INTO desks (person, department, topics) VALUES ($1, $2, $3) \
    ON CONFLICT (person) DO UPDATE SET department = excluded.department, topics = excluded.topics";
pub const DESK: &str = "SELECT person, department, topics FROM desks WHERE person = $1";
pub const DESKS: &str = "SELECT person, department, topics FROM desks ORDER BY person";
pub const REMOVE_DESK: &str = "DELETE FROM desks WHERE person = $1";
pub const REVISE_AWAITING: &str = concat!(
    "UPDATE broadcasts SET text = $2, scheduled_at = $3 WHERE id = $1 AND status = 'awaiting_approval' RETURNING ",
    broadcast_columns!()
);
pub const SAVE_TEMPLATE: &str = "INSERT INTO text_templates (name, version, topic, text, saved_by, saved_at) \
    SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5 FROM text_templates WHERE name = $1 \
    RETURNING name, version, topic, text, saved_by, saved_at";
pub const TEMPLATE_LATEST: &str = "SELECT name, version, topic, text, saved_by, saved_at \
    FROM text_templates WHERE name = $1 ORDER BY version DESC LIMIT 1";
pub const TEMPLATES_LATEST: &str = "SELECT t.name, t.version, t.topic, t.text, t.saved_by, t.saved_at \
    FROM text_templates t \
    WHERE t.version = (SELECT MAX(u.version) FROM text_templates u WHERE u.name = t.name) ORDER BY t.name";
pub const AWAITING_SINCE: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts WHERE status = 'awaiting_approval' AND created_at < $1 ORDER BY id"
);
/// Unordered: the stores collate text differently (Postgres by locale), so the list is sorted
/// after reading.
pub const LIST_STAFF: &str = concat!("SELECT ", staff_columns!(), " FROM staff");
pub const LAST_INBOUND: &str =
    "SELECT last_inbound_at FROM subscribers WHERE channel = $1 AND address = $2";

pub const INSERT_AUDIT: &str =
    "INSERT INTO audit (at, actor, action, detail) VALUES ($1, $2, $3, $4)";
pub const AUDIT_LOG: &str = "SELECT at, actor, action, detail FROM audit ORDER BY id DESC LIMIT $1";

pub const PUT_CONFIRMATION: &str = "INSERT INTO confirmations \
    (code, action, payload, author_channel, author_address, created_at, expires_at, broadcast_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
macro_rules! confirmation_columns {
    () => {
        "code, action, payload, author_channel, author_address, created_at, expires_at, broadcast_id"
    };
}
pub const CONFIRMATION: &str = concat!(
    "SELECT ",
    confirmation_columns!(),
    " FROM confirmations WHERE code = $1 AND expires_at > $2"
);
pub const TAKE_CONFIRMATION: &str = concat!(
    "DELETE FROM confirmations WHERE code = $1 AND expires_at > $2 RETURNING ",
    confirmation_columns!()
);
pub const LATEST_CONFIRMATION: &str = concat!(
    "SELECT ",
    confirmation_columns!(),
    " FROM confirmations WHERE author_channel = $1 AND author_address = $2 AND action = $3 \
      AND expires_at > $4 ORDER BY created_at DESC, code LIMIT 1"
);
pub const EXPIRE_CONFIRMATIONS: &str = "DELETE FROM confirmations WHERE expires_at <= $1";

pub const GET_STATE: &str = "SELECT value FROM channel_state WHERE key = $1";
pub const SET_STATE: &str = "INSERT INTO channel_state (key, value) VALUES ($1, $2) \
    ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// The key of the keyed hashes that stand for incoming message ids and their senders.
pub const PSEUDONYM_KEY: &str = "inbound_hmac_key";
pub const INIT_STATE: &str =
    "INSERT INTO channel_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
/// A new message, or one whose claim went stale (its handler died): ours to handle.
pub const CLAIM_INBOUND: &str = "INSERT INTO inbound_messages \
    (message_key, sender_key, received_at, handled_at) VALUES ($1, $2, $3, NULL) \
    ON CONFLICT (message_key) DO UPDATE SET received_at = excluded.received_at, \
    sender_key = excluded.sender_key \
    WHERE inbound_messages.handled_at IS NULL AND inbound_messages.received_at < $4 \
    RETURNING message_key";
pub const INBOUND_HANDLED: &str =
    "UPDATE inbound_messages SET handled_at = $2 WHERE message_key = $1";
/// The sender erased their data while their message was handled (`/delete`): the id is still
/// remembered, without the sender.
pub const INBOUND_HANDLED_ANONYMOUS: &str = "INSERT INTO inbound_messages \
    (message_key, sender_key, received_at, handled_at) VALUES ($1, NULL, $2, $2) \
    ON CONFLICT (message_key) DO NOTHING";
pub const RELEASE_INBOUND: &str =
    "DELETE FROM inbound_messages WHERE message_key = $1 AND handled_at IS NULL";
pub const FORGET_INBOUND: &str = "DELETE FROM inbound_messages WHERE received_at < $1";
pub const ERASE_INBOUND: &str = "DELETE FROM inbound_messages WHERE sender_key = $1";
pub const TOUCH_INBOUND: &str = "UPDATE subscribers SET last_inbound_at = $3 \
    WHERE channel = $1 AND address = $2 AND (last_inbound_at IS NULL OR last_inbound_at < $3)";
pub const RECORD_PLATFORM_STATUS: &str = "UPDATE deliveries SET platform_status = CAST($2 AS TEXT), platform_error = $3 \
    WHERE channel = 'whatsapp' AND platform_id = $1 AND ( \
      (CAST($2 AS TEXT) = 'failed' AND (platform_status IS NULL OR platform_status = 'sent')) \
      OR (CAST($2 AS TEXT) <> 'failed' AND \
        COALESCE(CASE platform_status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 \
                 WHEN 'failed' THEN 4 END, 0) \
        < CASE CAST($2 AS TEXT) WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 0 END)) \
    RETURNING id, subscriber_id, force_template";
pub const DELIVERY_SENT_AS: &str =
    "SELECT id FROM deliveries WHERE channel = 'whatsapp' AND platform_id = $1 LIMIT 1";
/// Never for a cancelled broadcast: nothing of it goes out again.
pub const RESEND_AS_TEMPLATE: &str = "UPDATE deliveries SET status = 'pending', force_template = 1, due_at = $2, \
    leased_by = NULL, lease_until = NULL, platform_status = NULL \
    WHERE id = $1 AND force_template = 0 AND status = 'sent' AND NOT EXISTS \
    (SELECT 1 FROM broadcasts b WHERE b.id = deliveries.broadcast_id AND b.status = 'cancelled')";
pub const FAIL_SENT_DELIVERY: &str =
    "UPDATE deliveries SET status = 'failed', last_error = $2 WHERE id = $1 AND status = 'sent'";
/// How long a status for a send whose outcome is not written yet is kept (ms). The outcome is
/// written within seconds; a status that matches nothing longer than this belongs to no
/// delivery (a reply of the conversation).
pub const EARLY_STATUS_KEPT_MS: i64 = 10 * 60 * 1000;
pub const KEEP_EARLY_STATUS: &str = "INSERT INTO early_statuses \
    (platform_id, status, error, failure, received_at, recipient_key) VALUES ($1, $2, $3, $4, $5, $6)";
pub const ERASE_EARLY_STATUSES: &str = "DELETE FROM early_statuses WHERE recipient_key = $1";
pub const FORGET_EARLY_STATUSES: &str = "DELETE FROM early_statuses WHERE received_at < $1";
/// Takes the statuses kept for `$1`, once a delivery was sent as `$1`; whoever takes them
/// applies them, so the webhook and the acknowledgement never both do.
pub const TAKE_EARLY_STATUSES: &str = "DELETE FROM early_statuses WHERE platform_id = $1 AND EXISTS \
    (SELECT 1 FROM deliveries d WHERE d.channel = 'whatsapp' AND d.platform_id = $1) \
    RETURNING id, status, error, failure";
/// The platform ids among `$1` with statuses kept; the store appends how it names the list.
macro_rules! early_statuses_for {
    ($ids:literal) => {
        concat!(
            "SELECT DISTINCT platform_id FROM early_statuses WHERE platform_id ",
            $ids
        )
    };
}
pub(crate) use early_statuses_for;

pub const DUE_SCHEDULED: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts WHERE status = 'scheduled' AND scheduled_at <= $1 ORDER BY scheduled_at"
);
pub const SCHEDULED_BROADCASTS: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts WHERE status = 'scheduled' ORDER BY scheduled_at"
);
pub const RELEASE_SCHEDULED: &str = "UPDATE broadcasts SET status = 'released', released_at = $2 WHERE id = $1 AND status = 'scheduled'";
pub const MARK_MISSED: &str =
    "UPDATE broadcasts SET status = 'missed' WHERE id = $1 AND status = 'scheduled'";
pub const INSERT_SCHEDULE: &str = "INSERT INTO schedules \
    (topic, kind, priority, text, cron, next_at, created_by, created_at, source) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (source) DO NOTHING RETURNING id";
pub const SCHEDULE_BY_SOURCE: &str = "SELECT id FROM schedules WHERE source = $1";
macro_rules! schedule_columns {
    () => {
        "id, topic, kind, priority, text, cron, next_at, created_by"
    };
}
pub const DUE_SCHEDULES: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE next_at IS NOT NULL AND next_at <= $1 ORDER BY next_at"
);
pub const SCHEDULES: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE next_at IS NOT NULL ORDER BY next_at"
);
pub const SCHEDULE_BY_ID: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE id = $1"
);
pub const ADVANCE_SCHEDULE: &str = "UPDATE schedules SET next_at = $2 WHERE id = $1";
pub const DELETE_SCHEDULE: &str = "DELETE FROM schedules WHERE id = $1";

pub const QUEUE_DEPTH: &str =
    "SELECT priority, COUNT(*) FROM deliveries WHERE status = 'pending' GROUP BY priority";
pub const SUBSCRIBER_COUNTS: &str = "SELECT s.channel, t.topic, COUNT(*) FROM subscriptions t \
    JOIN subscribers s ON s.id = t.subscriber_id WHERE s.status = 'active' GROUP BY s.channel, t.topic";

/// A page of the list: `$1` a status or NULL for any, ids below `$2`, newest first.
/// What the public archive shows: sent (or sending) broadcasts, those retracted (marked so),
/// and those cancelled after their first message; never drafts, plans, drills or what was
/// cancelled before any send.
macro_rules! public_broadcast {
    () => {
        "(b.status IN ('released', 'sending', 'done', 'retracted') \
          OR (b.status = 'cancelled' AND EXISTS (SELECT 1 FROM deliveries d \
              WHERE d.broadcast_id = b.id AND d.status = 'sent'))) \
         AND b.topic <> 'drill'"
    };
}
/// A page of the archive, newest first: topic `$1` and area `$2` (the city-wide ones and those
/// aimed at it) when given, ids below `$3`. Corrections and retractions are not entries of
/// their own: the broadcast they change says so (their pages are there, for their codes).
pub const ARCHIVE_PAGE: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts b WHERE ",
    public_broadcast!(),
    " AND b.kind NOT IN ('correction', 'retraction') AND ($1 IS NULL OR b.topic = $1) \
      AND ($2 IS NULL OR b.target IS NULL OR EXISTS (SELECT 1 FROM broadcast_areas a \
          WHERE a.broadcast_id = b.id AND a.area_id = $2)) \
      AND b.id < $3 ORDER BY b.id DESC LIMIT $4"
);
pub const ARCHIVED_BY_CODE: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts b WHERE b.public_code = $1 AND ",
    public_broadcast!()
);
pub const ARCHIVED_FOLLOW_UPS: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts b WHERE b.parent_id = $1 AND ",
    public_broadcast!(),
    " ORDER BY b.id"
);
/// The check's index: public broadcasts released at or after `$1` (ms) and created since `$2`,
/// with both texts, in the order of their release (a draft confirmed late comes late).
pub const ARCHIVED_TEXTS: &str = concat!(
    "SELECT b.id, b.released_at, b.text, b.text_en FROM broadcasts b \
     WHERE b.released_at >= $1 AND b.created_at >= $2 AND ",
    public_broadcast!(),
    " ORDER BY b.released_at, b.id"
);

/// The check's index of texts a broadcast had: every version of public broadcasts created since
/// `$2` that became the text at or after `$1` (ms), in the order they did.
pub const ARCHIVED_VERSIONS: &str = concat!(
    "SELECT v.broadcast_id, v.version, v.changed_at, v.text FROM broadcast_versions v \
     JOIN broadcasts b ON b.id = v.broadcast_id \
     WHERE v.changed_at >= $1 AND b.created_at >= $2 AND ",
    public_broadcast!(),
    " ORDER BY v.changed_at, v.broadcast_id, v.version"
);

pub const BROADCASTS_PAGE: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts WHERE ($1 IS NULL OR status = $1) AND id < $2 ORDER BY id DESC LIMIT $3"
);

/// Delivery counts of several broadcasts; the store appends how it names the list of ids (as
/// for `claimed_rows`).
macro_rules! stats_of {
    ($ids:literal) => {
        concat!(
            "SELECT broadcast_id, channel, status, COUNT(*) FROM deliveries WHERE broadcast_id ",
            $ids,
            " GROUP BY broadcast_id, channel, status"
        )
    };
}
pub(crate) use stats_of;

/// The fan-out's ceiling: the same `INSERT … SELECT`, bare, into the scratch table.
pub const CEILING_INSERT: &str = "INSERT INTO probe_deliveries \
    (broadcast_id, subscriber_id, channel, priority, status, due_at) \
    SELECT 0, s.id, s.channel, 1, 'pending', 0 FROM subscriptions t \
    JOIN subscribers s ON s.id = t.subscriber_id WHERE t.topic = $1 AND s.status = 'active' \
    ON CONFLICT (broadcast_id, subscriber_id) DO NOTHING";

/// WhatsApp subscribers of a topic whose 24-hour window is closed at `$2` (its start): they get
/// the paid template.
pub const WHATSAPP_OUTSIDE_WINDOW: &str = "SELECT COUNT(*) FROM subscriptions t \
    JOIN subscribers s ON s.id = t.subscriber_id \
    WHERE t.topic = $1 AND s.status = 'active' AND s.channel = 'whatsapp' \
    AND (s.last_inbound_at IS NULL OR s.last_inbound_at <= $2)";
/// The same among a follow-up's recipients (those of alert `$1`).
pub const WHATSAPP_OUTSIDE_WINDOW_FOLLOW_UP: &str = concat!(
    "SELECT COUNT(*) FROM deliveries p \
    JOIN subscribers s ON s.id = p.subscriber_id \
    WHERE p.broadcast_id = $1 AND s.status = 'active' AND s.channel = 'whatsapp' \
    AND (s.last_inbound_at IS NULL OR s.last_inbound_at <= $2) AND ",
    follow_up_audience!()
);

pub const PUT_LOGIN_LINK: &str = "INSERT INTO dashboard_links \
    (token_hash, channel, address, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
/// Uses a link once: only an unused one that has not expired.
pub const TAKE_LOGIN_LINK: &str = "UPDATE dashboard_links SET used_at = $2 \
    WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING channel, address";
pub const PUT_SESSION: &str = "INSERT INTO dashboard_sessions \
    (id_hash, channel, address, csrf, created_at, last_seen, expires_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// A live session at `$2`: not past its absolute end, and seen after `$3`. A read: a request
/// with an unknown cookie must not take the write lock (SQLite has one writer).
pub const SESSION: &str = "SELECT id_hash, channel, address, csrf, created_at, last_seen, expires_at \
    FROM dashboard_sessions WHERE id_hash = $1 AND expires_at > $2 AND last_seen > $3";
pub const MARK_SESSION_SEEN: &str =
    "UPDATE dashboard_sessions SET last_seen = $2 WHERE id_hash = $1 AND last_seen < $2";
/// Whether a login link could still be used: looked up before the write that uses it, so a
/// failed sign-in writes nothing.
pub const LOGIN_LINK_USABLE: &str =
    "SELECT 1 FROM dashboard_links WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2";
pub const END_SESSION: &str = "DELETE FROM dashboard_sessions WHERE id_hash = $1";
pub const FORGET_SESSIONS: &str =
    "DELETE FROM dashboard_sessions WHERE expires_at <= $1 OR last_seen <= $2";
pub const FORGET_LOGIN_LINKS: &str = "DELETE FROM dashboard_links WHERE expires_at <= $1";
/// A broadcast's messages sent per second (seconds since the epoch).
pub const SENT_PER_SECOND: &str = "SELECT sent_at / 1000, COUNT(*) FROM deliveries \
    WHERE broadcast_id = $1 AND sent_at IS NOT NULL GROUP BY sent_at / 1000 ORDER BY 1";
pub const RECORD_SUBSCRIBER_DAY: &str = "INSERT INTO subscriber_days (day, topic, channel, count) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (day, topic, channel) DO UPDATE SET count = excluded.count";
pub const SUBSCRIBER_DAYS: &str = "SELECT day, topic, channel, count FROM subscriber_days \
    WHERE day >= $1 ORDER BY day, topic, channel";
/// Official warnings: one row per identifier and version.
pub const WARNING_KNOWN: &str = "SELECT 1 FROM warnings WHERE identifier = $1 AND version = $2";
pub const INSERT_WARNING: &str = "INSERT INTO warnings \
    (identifier, version, provider, msg_type, severity, headline, expires_at, decision, broadcast_id, seen_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (identifier, version) DO NOTHING";
pub const WARNING_BROADCAST: &str = "SELECT broadcast_id FROM warnings \
    WHERE identifier = $1 AND broadcast_id IS NOT NULL ORDER BY version DESC LIMIT 1";
pub const LIST_WARNINGS: &str = "SELECT identifier, version, provider, msg_type, severity, headline, \
    expires_at, decision, broadcast_id, seen_at FROM warnings \
    ORDER BY seen_at DESC, identifier, version DESC LIMIT $1";
pub const SENT_SPAN: &str = "SELECT MIN(sent_at), MAX(sent_at) FROM deliveries WHERE broadcast_id = $1 AND sent_at IS NOT NULL";

// Pictures and documents.

/// The columns of a medium without its bytes: the fields of `MediaRow`.
macro_rules! media_columns {
    () => {
        "id, kind, mime, file_name, size, width, height, sha256, created_at"
    };
}

pub const INSERT_MEDIA: &str = concat!(
    "INSERT INTO media (kind, mime, file_name, bytes, size, width, height, sha256, created_at, created_by) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ",
    media_columns!()
);
pub const MEDIA_INFO: &str = concat!("SELECT ", media_columns!(), " FROM media WHERE id = $1");
pub const MEDIA_BYTES: &str = "SELECT bytes FROM media WHERE id = $1";
/// Takes the one upload of medium `$1` to channel `$2` for `$3` until `$4`, unless its id is
/// stored and fresh (uploaded at or after `$5`) or someone else's claim still runs at `$6`
/// (a claim of `$3`'s own is taken back: an instance that died while uploading and came back).
/// Counts the upload when taken. Returns a row only when taken.
pub const CLAIM_MEDIA_UPLOAD: &str = "INSERT INTO media_uploads \
    (media_id, channel, claimed_by, claim_until, uploads) VALUES ($1, $2, $3, $4, 1) \
    ON CONFLICT (media_id, channel) DO UPDATE SET claimed_by = excluded.claimed_by, \
    claim_until = excluded.claim_until, uploads = media_uploads.uploads + 1 \
    WHERE (media_uploads.platform_ref IS NULL OR media_uploads.uploaded_at < $5) \
    AND (media_uploads.claim_until IS NULL OR media_uploads.claim_until < $6 \
    OR media_uploads.claimed_by = $3) \
    RETURNING media_id";
pub const MEDIA_UPLOAD_STATE: &str = "SELECT platform_ref, uploaded_at, claim_until FROM media_uploads \
    WHERE media_id = $1 AND channel = $2";
pub const MEDIA_UPLOADED: &str = "UPDATE media_uploads SET platform_ref = $3, uploaded_at = $4, \
    claimed_by = NULL, claim_until = NULL WHERE media_id = $1 AND channel = $2";
pub const RELEASE_MEDIA_UPLOAD: &str = "UPDATE media_uploads SET claimed_by = NULL, claim_until = NULL \
    WHERE media_id = $1 AND channel = $2 AND claimed_by = $3";
pub const MEDIA_UPLOADS: &str = "SELECT channel, uploads, platform_ref FROM media_uploads \
    WHERE media_id = $1 ORDER BY channel";
/// Media created before `$1` that no broadcast still needs: none names them, or all that do
/// finished (or were cancelled) before `$1`.
pub const FORGET_MEDIA: &str = "DELETE FROM media WHERE created_at < $1 AND NOT EXISTS (\
    SELECT 1 FROM broadcasts b WHERE b.media_id = media.id \
    AND (b.status NOT IN ('done', 'cancelled', 'missed') OR COALESCE(b.finished_at, b.created_at) >= $1))";

/// Moves a one-off broadcast that waits for its time.
pub const RESCHEDULE_BROADCAST: &str =
    "UPDATE broadcasts SET scheduled_at = $2 WHERE id = $1 AND status = 'scheduled'";
/// A person's calendar link, replacing the one before.
pub const SET_CALENDAR_LINK: &str = "INSERT INTO calendar_links (person, secret_hash, created_at) \
    VALUES ($1, $2, $3) \
    ON CONFLICT (person) DO UPDATE SET secret_hash = excluded.secret_hash, created_at = excluded.created_at";
pub const CALENDAR_LINK_PERSON: &str = "SELECT person FROM calendar_links WHERE secret_hash = $1";
