-- The public archive: each broadcast's code for its page (…/m/CODE) and the check link in its
-- footer. Random, never derived from the id; new broadcasts get 8 characters of Crockford
-- base32, those from before get 8 hexadecimal digits (a subset of the same alphabet).
ALTER TABLE broadcasts ADD COLUMN public_code TEXT;
UPDATE broadcasts SET public_code = upper(hex(randomblob(4))) WHERE public_code IS NULL;
CREATE UNIQUE INDEX broadcasts_by_public_code ON broadcasts (public_code);
