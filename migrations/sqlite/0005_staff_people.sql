-- Staff are people: the addresses given the same person share one role, so a person on Telegram
-- and on WhatsApp is still one person. An address without a person is a person of its own,
-- named `channel:address` (a chosen person name has no `:`, so the two never meet).

ALTER TABLE staff ADD COLUMN person TEXT NOT NULL DEFAULT '';
UPDATE staff SET person = channel || ':' || address;
CREATE INDEX staff_by_person ON staff (person);
