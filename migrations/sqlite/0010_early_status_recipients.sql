-- A kept WhatsApp status names its recipient only as the keyed hash inbound messages use, so
-- `/delete` erases it too.
ALTER TABLE early_statuses ADD COLUMN recipient_key TEXT;
CREATE INDEX early_statuses_by_recipient ON early_statuses (recipient_key);
