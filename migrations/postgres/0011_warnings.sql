-- Official warnings (NINA, CAP feeds): one row per warning identifier and version, with what
-- the bot did with it, so a restart, a second poll or a second provider sends nothing twice.
CREATE TABLE warnings (
    identifier   TEXT    NOT NULL,
    version      BIGINT  NOT NULL,
    provider     TEXT    NOT NULL,
    msg_type     TEXT    NOT NULL,
    severity     TEXT    NOT NULL,
    headline     TEXT    NOT NULL,
    expires_at   BIGINT,
    decision     TEXT    NOT NULL,
    broadcast_id BIGINT,
    seen_at      BIGINT  NOT NULL,
    PRIMARY KEY (identifier, version)
);
CREATE INDEX warnings_by_seen ON warnings (seen_at);

-- An official warning may come in English too: English subscribers get that text.
ALTER TABLE broadcasts ADD COLUMN text_en TEXT;
