-- Core schema: subscribers, their topics, broadcasts and the delivery queue.
-- Times are milliseconds since the Unix epoch (INTEGER).

CREATE TABLE subscribers (
    id              INTEGER PRIMARY KEY,
    channel         TEXT    NOT NULL CHECK (channel IN ('telegram', 'whatsapp')),
    address         TEXT    NOT NULL,
    language        TEXT    NOT NULL DEFAULT 'de',
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'stopped', 'gone')),
    created_at      INTEGER NOT NULL,
    last_inbound_at INTEGER,
    UNIQUE (channel, address)
);

CREATE TABLE subscriptions (
    topic         TEXT    NOT NULL,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    PRIMARY KEY (topic, subscriber_id)
) WITHOUT ROWID;

CREATE INDEX subscriptions_by_subscriber ON subscriptions (subscriber_id);

CREATE TABLE broadcasts (
    id               INTEGER PRIMARY KEY,
    topic            TEXT    NOT NULL,
    kind             TEXT    NOT NULL DEFAULT 'announcement',
    priority         INTEGER NOT NULL,
    text             TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    idempotency_key  TEXT    UNIQUE,
    request_hash     TEXT,
    created_by       TEXT,
    created_at       INTEGER NOT NULL,
    released_at      INTEGER,
    fanout_cursor    INTEGER NOT NULL DEFAULT 0,
    fanout_done_at   INTEGER,
    finished_at      INTEGER,
    cancelled_at     INTEGER
);

CREATE INDEX broadcasts_by_status ON broadcasts (status, priority);

-- Deliveries carry no foreign keys: fan-out writes 100k rows at a time and the per-row checks
-- would double its cost. Broadcasts are never deleted; erasing a subscriber deletes their
-- deliveries explicitly (deliveries_by_subscriber).
CREATE TABLE deliveries (
    id            INTEGER PRIMARY KEY,
    broadcast_id  INTEGER  NOT NULL,
    subscriber_id INTEGER  NOT NULL,
    channel       TEXT    NOT NULL,
    priority      INTEGER NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending',
    due_at        INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    lease_until   INTEGER,
    leased_by     TEXT,
    last_error    TEXT,
    sent_at       INTEGER,
    platform_id   TEXT,
    UNIQUE (broadcast_id, subscriber_id)
);

-- The claim reads this index in order: highest priority, then earliest due, then oldest.
CREATE INDEX deliveries_claim ON deliveries (channel, priority DESC, due_at, id)
    WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE status = 'leased';
CREATE INDEX deliveries_by_subscriber ON deliveries (subscriber_id);

CREATE TABLE lanes (
    channel      TEXT PRIMARY KEY,
    paused_until INTEGER,
    pause_reason TEXT,
    updated_at   INTEGER NOT NULL
);
