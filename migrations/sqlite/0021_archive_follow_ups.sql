-- A broadcast's page in the public archive lists its follow-ups, corrections and retraction
-- (`parent_id`): found by index, not by reading every broadcast.
CREATE INDEX broadcasts_by_parent ON broadcasts (parent_id) WHERE parent_id IS NOT NULL;
