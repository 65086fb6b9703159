-- Pictures and documents: stored once in the database (so any instance can send them), with
-- their metadata already removed; a broadcast names at most one. `media_uploads` keeps the
-- platform's id per medium (Telegram's file_id, WhatsApp's media id) and the claim on its one
-- upload, so that two sends, or two instances, never both upload it.

CREATE TABLE media (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT    NOT NULL CHECK (kind IN ('picture', 'document')),
    mime        TEXT    NOT NULL,
    file_name   TEXT    NOT NULL,
    bytes       BYTEA   NOT NULL,
    size        BIGINT  NOT NULL,
    width       BIGINT,
    height      BIGINT,
    sha256      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    created_by  TEXT
);

CREATE TABLE media_uploads (
    media_id     BIGINT  NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    channel      TEXT    NOT NULL,
    platform_ref TEXT,
    uploaded_at  BIGINT,
    claimed_by   TEXT,
    claim_until  BIGINT,
    uploads      BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (media_id, channel)
);

ALTER TABLE broadcasts ADD COLUMN media_id BIGINT;
ALTER TABLE broadcasts ADD COLUMN alt TEXT;
CREATE INDEX broadcasts_by_media ON broadcasts (media_id) WHERE media_id IS NOT NULL;
