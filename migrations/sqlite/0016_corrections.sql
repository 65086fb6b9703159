-- Corrections and retractions of sent broadcasts.
-- A broadcast's text has versions: `version` counts them (1 = as first sent). For a correction
-- (kind 'correction', parent_id = the corrected broadcast) `new_text` is the text it gives its
-- parent, `version` the parent's version it makes, `notice` 0 when staff chose a silent one.
ALTER TABLE broadcasts ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE broadcasts ADD COLUMN notice INTEGER NOT NULL DEFAULT 1;
ALTER TABLE broadcasts ADD COLUMN new_text TEXT;
-- The version of its broadcast's text a delivery was claimed with (and so went out with).
ALTER TABLE deliveries ADD COLUMN text_version INTEGER;
-- Every text a corrected broadcast had: who changed it, when, by which correction.
CREATE TABLE broadcast_versions (
    broadcast_id  INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    text          TEXT    NOT NULL,
    changed_by    TEXT,
    changed_at    INTEGER NOT NULL,
    correction_id INTEGER,
    notice        INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (broadcast_id, version)
);
