-- Schedules: one-off broadcasts wait in status 'scheduled'; recurring ones live here.

ALTER TABLE broadcasts ADD COLUMN scheduled_at BIGINT;
CREATE INDEX broadcasts_scheduled ON broadcasts (scheduled_at) WHERE status = 'scheduled';

CREATE TABLE schedules (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    priority   BIGINT  NOT NULL,
    text       TEXT    NOT NULL,
    cron       TEXT    NOT NULL,
    -- When it fires next; NULL once it has stopped.
    next_at    BIGINT,
    created_by TEXT,
    created_at BIGINT  NOT NULL,
    -- Where it came from when not from a person: a config file entry.
    source     TEXT    UNIQUE
);
