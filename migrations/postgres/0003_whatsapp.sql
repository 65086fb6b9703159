-- WhatsApp: delivery status from webhooks, template resends, and incoming message ids seen.

ALTER TABLE deliveries ADD COLUMN force_template BIGINT  NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN platform_status TEXT;
ALTER TABLE deliveries ADD COLUMN platform_error TEXT;
CREATE INDEX deliveries_by_platform_id ON deliveries (platform_id)
    WHERE channel = 'whatsapp' AND platform_id IS NOT NULL;

-- Meta retries webhooks for days: each incoming message is handled once.
CREATE TABLE inbound_messages (
    message_id  TEXT    PRIMARY KEY,
    received_at BIGINT  NOT NULL
);
