-- The desk (issue 25): contributors (Fachabteilungen) write drafts for the press office. A
-- contributor person's department and the topics it may draft for (topic ids, comma-separated);
-- the role itself stays in `staff`. Their drafts are broadcasts awaiting approval whose author
-- is `person:NAME`, so nothing else needs a column.
CREATE TABLE desks (
    person     TEXT    PRIMARY KEY,
    department TEXT    NOT NULL,
    topics     TEXT    NOT NULL
);
-- A staff person may now be a contributor.
ALTER TABLE staff DROP CONSTRAINT staff_role_check;
ALTER TABLE staff ADD CONSTRAINT staff_role_check
    CHECK (role IN ('press', 'emergency', 'admin', 'contributor'));

CREATE INDEX broadcasts_awaiting_by_age ON broadcasts (status, created_at);

-- Text templates (Textbausteine): named texts with {placeholders}, kept in every version (the
-- newest is the one offered); who saved each version is in the row and the audit log.
CREATE TABLE text_templates (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT    NOT NULL,
    version    BIGINT  NOT NULL,
    topic      TEXT    NOT NULL,
    text       TEXT    NOT NULL,
    saved_by   TEXT    NOT NULL,
    saved_at   BIGINT  NOT NULL,
    UNIQUE (name, version)
);
