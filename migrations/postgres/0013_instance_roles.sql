-- Several instances on one database: each role (a channel's lane, the Telegram poller, the
-- scheduler, the warnings feed, housekeeping) has one holder at a time. A holder keeps its role
-- by renewing `expires_at` (the database's clock); whoever takes it over after it ran out gets
-- the next `token`, and claims and acknowledgements made under an older token are refused.
CREATE TABLE instance_roles (
    role TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    token BIGINT NOT NULL,
    since TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
