-- Personal secret links to the editorial calendar's iCalendar feed (issue 25): one per person;
-- only the SHA-256 of the secret is kept, and a new link replaces (revokes) the old one.
CREATE TABLE calendar_links (
    person      TEXT    PRIMARY KEY,
    secret_hash TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);
