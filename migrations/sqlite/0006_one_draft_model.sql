-- One draft model: every draft, from any way in, is a broadcast row; codes point at a broadcast.

-- Who composed it, as the two-person rule compares them: a staff person, a token, the operator.
ALTER TABLE broadcasts ADD COLUMN author TEXT;
-- The person who approved it under the two-person rule.
ALTER TABLE broadcasts ADD COLUMN approved_by TEXT;
-- When the emergency staff were asked to approve it (NULL: not yet; the service asks).
ALTER TABLE broadcasts ADD COLUMN approval_requested_at INTEGER;
-- A recurring draft: its cron expression; once confirmed, the schedule it became.
ALTER TABLE broadcasts ADD COLUMN cron TEXT;
ALTER TABLE broadcasts ADD COLUMN schedule_id INTEGER;
CREATE INDEX broadcasts_awaiting ON broadcasts (id) WHERE status = 'awaiting_approval';
CREATE INDEX broadcasts_recent ON broadcasts (status, id);

-- A code sends, approves or drops the broadcast it points at (erasure codes point at none).
ALTER TABLE confirmations ADD COLUMN broadcast_id INTEGER;
