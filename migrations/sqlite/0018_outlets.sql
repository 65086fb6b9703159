-- Outlets (issue 24): the city's own channel, Mastodon, Bluesky, its website. One row per
-- outlet and broadcast that concerns it: the post of a broadcast, or a correction or
-- retraction of that post. The row is the outlet lane's delivery: claimed, leased and
-- acknowledged like a citizen's, and it keeps the remote id so a correction finds its post
-- and a restart never posts twice.
CREATE TABLE outlet_posts (
    id            INTEGER PRIMARY KEY,
    outlet        TEXT    NOT NULL,
    -- The broadcast that caused the row: the post's broadcast, or the correction or
    -- retraction broadcast.
    broadcast_id  INTEGER NOT NULL,
    -- The broadcast whose post this is about (= broadcast_id for a post).
    target_id     INTEGER NOT NULL,
    action        TEXT    NOT NULL CHECK (action IN ('post', 'correct', 'retract')),
    priority      INTEGER NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'leased', 'sent', 'failed', 'skipped', 'manual')),
    due_at        INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    lease_until   INTEGER,
    leased_by     TEXT,
    last_error    TEXT,
    -- The text version the post went out with (a post: the broadcast's version at the claim).
    version       INTEGER,
    remote_id     TEXT,
    remote_url    TEXT,
    -- What else a follow-up needs of the post (Bluesky: the record's cid, for a reply).
    remote_ref    TEXT,
    sent_at       INTEGER,
    -- WhatsApp Channels: who posted it by hand.
    posted_by     TEXT,
    created_at    INTEGER NOT NULL,
    UNIQUE (outlet, broadcast_id)
);

CREATE INDEX outlet_posts_claim ON outlet_posts (outlet, priority DESC, due_at, id)
    WHERE status IN ('pending', 'leased');
CREATE INDEX outlet_posts_by_target ON outlet_posts (target_id);
