-- A text longer than one message goes out in parts: how many of them a delivery that is not
-- finished has sent already, so that a retry resumes at the first part not sent.
ALTER TABLE deliveries ADD COLUMN parts_sent INTEGER NOT NULL DEFAULT 0;
