-- The dashboard's sign-in: one-time login links asked for in the chat (or printed by the CLI)
-- and the sessions they open. Only SHA-256 hashes of the secrets are kept, so a copy of the
-- database signs nobody in. A session names the staff address that asked for its link; the
-- role is read from the staff table on every request, so removing a person ends their access.

CREATE TABLE dashboard_links (
    token_hash TEXT    PRIMARY KEY,
    channel    TEXT    NOT NULL,
    address    TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT
);

CREATE TABLE dashboard_sessions (
    id_hash    TEXT    PRIMARY KEY,
    channel    TEXT    NOT NULL,
    address    TEXT    NOT NULL,
    csrf       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    last_seen  BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX dashboard_sessions_by_expiry ON dashboard_sessions (expires_at);

-- Active subscribers per day (city time), topic and channel, kept by housekeeping for the
-- dashboard's chart: counts only, no one's address.
CREATE TABLE subscriber_days (
    day     TEXT    NOT NULL,
    topic   TEXT    NOT NULL,
    channel TEXT    NOT NULL,
    count   BIGINT  NOT NULL,
    PRIMARY KEY (day, topic, channel)
);
