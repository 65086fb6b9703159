-- Pictures and documents: stored once in the database (so any instance can send them), with
-- their metadata already removed; a broadcast names at most one. `media_uploads` keeps the
-- platform's id per medium (Telegram's file_id, WhatsApp's media id) and the claim on its one
-- upload, so that two sends, or two instances, never both upload it.

CREATE TABLE media (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL CHECK (kind IN ('picture', 'document')),
    mime        TEXT    NOT NULL,
    file_name   TEXT    NOT NULL,
    bytes       BLOB    NOT NULL,
    size        INTEGER NOT NULL,
    width       INTEGER,
    height      INTEGER,
    sha256      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT
);

CREATE TABLE media_uploads (
    media_id     INTEGER NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    channel      TEXT    NOT NULL,
    platform_ref TEXT,
    uploaded_at  INTEGER,
    claimed_by   TEXT,
    claim_until  INTEGER,
    uploads      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (media_id, channel)
) WITHOUT ROWID;

ALTER TABLE broadcasts ADD COLUMN media_id INTEGER;
ALTER TABLE broadcasts ADD COLUMN alt TEXT;
CREATE INDEX broadcasts_by_media ON broadcasts (media_id) WHERE media_id IS NOT NULL;
