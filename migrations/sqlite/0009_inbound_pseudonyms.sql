-- Incoming WhatsApp message ids are remembered only as keyed hashes (HMAC-SHA256 with a key
-- kept in channel_state): a wamid carries the sender's number. The sender is kept as a keyed
-- hash too, so `/delete` can erase their rows; housekeeping forgets every row after Meta's
-- retry window (7 days). The old rows held raw ids and cannot be hashed here: they go, so a
-- retry Meta is still making at the upgrade may be handled once more.
DROP TABLE inbound_messages;
CREATE TABLE inbound_messages (
    message_key TEXT    PRIMARY KEY,
    sender_key  TEXT,
    received_at INTEGER NOT NULL,
    -- NULL while a webhook is handling it (a claim); a claim older than a minute is stale.
    handled_at  INTEGER
);
CREATE INDEX inbound_messages_by_sender ON inbound_messages (sender_key);
CREATE INDEX inbound_messages_by_age ON inbound_messages (received_at);
