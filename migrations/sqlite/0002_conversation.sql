-- Staff roles, the audit log, pending confirmations, channel state, and alert follow-ups.

CREATE TABLE staff (
    channel  TEXT    NOT NULL,
    address  TEXT    NOT NULL,
    role     TEXT    NOT NULL CHECK (role IN ('press', 'emergency', 'admin')),
    added_at INTEGER NOT NULL,
    PRIMARY KEY (channel, address)
);

-- Staff actions only: never a citizen's address.
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    detail TEXT    NOT NULL
);

-- A preview waiting for Send/Cancel, or an erasure waiting for its code.
CREATE TABLE confirmations (
    code           TEXT    PRIMARY KEY,
    action         TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    author_channel TEXT    NOT NULL,
    author_address TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX confirmations_by_author ON confirmations (author_channel, author_address);

CREATE TABLE channel_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Updates and all-clears go to the recipients of the alert they refer to.
ALTER TABLE broadcasts ADD COLUMN parent_id INTEGER;
