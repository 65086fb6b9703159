-- WhatsApp statuses that arrive before the send's outcome (and with it the message id) is
-- written: kept here, applied when the outcome is, forgotten after a few minutes.

CREATE TABLE early_statuses (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform_id TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    error       TEXT,
    -- What a failure means for the delivery (outside_window, recipient_gone, refused).
    failure     TEXT,
    received_at BIGINT  NOT NULL
);
CREATE INDEX early_statuses_by_platform_id ON early_statuses (platform_id);
CREATE INDEX early_statuses_by_age ON early_statuses (received_at);
