-- The desk (issue 25): contributors (Fachabteilungen) write drafts for the press office. A
-- contributor person's department and the topics it may draft for (topic ids, comma-separated);
-- the role itself stays in `staff`. Their drafts are broadcasts awaiting approval whose author
-- is `person:NAME`, so nothing else needs a column.
CREATE TABLE desks (
    person     TEXT    PRIMARY KEY,
    department TEXT    NOT NULL,
    topics     TEXT    NOT NULL
);
-- A staff person may now be a contributor: SQLite changes a CHECK only by building the table anew.
CREATE TABLE staff_new (
    channel  TEXT    NOT NULL,
    address  TEXT    NOT NULL,
    role     TEXT    NOT NULL CHECK (role IN ('press', 'emergency', 'admin', 'contributor')),
    added_at INTEGER NOT NULL,
    person   TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (channel, address)
);
INSERT INTO staff_new (channel, address, role, added_at, person)
    SELECT channel, address, role, added_at, person FROM staff;
DROP TABLE staff;
ALTER TABLE staff_new RENAME TO staff;
CREATE INDEX staff_by_person ON staff (person);

CREATE INDEX broadcasts_awaiting_by_age ON broadcasts (status, created_at);

-- Text templates (Textbausteine): named texts with {placeholders}, kept in every version (the
-- newest is the one offered); who saved each version is in the row and the audit log.
CREATE TABLE text_templates (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    version    INTEGER  NOT NULL,
    topic      TEXT    NOT NULL,
    text       TEXT    NOT NULL,
    saved_by   TEXT    NOT NULL,
    saved_at   INTEGER  NOT NULL,
    UNIQUE (name, version)
);
