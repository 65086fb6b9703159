-- Areas: the districts a citizen chose, the place they let the city keep (rounded to 1/1000
-- degree, about 100 m, and only with their consent), and where a broadcast goes.

CREATE TABLE subscriber_areas (
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    area_id       TEXT    NOT NULL,
    PRIMARY KEY (subscriber_id, area_id)
) WITHOUT ROWID;
CREATE INDEX subscriber_areas_by_area ON subscriber_areas (area_id, subscriber_id);

CREATE TABLE subscriber_places (
    subscriber_id INTEGER PRIMARY KEY REFERENCES subscribers (id) ON DELETE CASCADE,
    lat_e3        INTEGER NOT NULL,
    lon_e3        INTEGER NOT NULL,
    kept_at       INTEGER NOT NULL
);
CREATE INDEX subscriber_places_by_cell ON subscriber_places (lat_e3, lon_e3);

-- The target as staff gave it (JSON); NULL: the whole city.
ALTER TABLE broadcasts ADD COLUMN target TEXT;

-- The districts a targeted broadcast touches (written with it) and the kept places inside its
-- shape (written when its fan-out starts, so places kept after a draft count too).
CREATE TABLE broadcast_areas (
    broadcast_id INTEGER NOT NULL,
    area_id      TEXT    NOT NULL,
    PRIMARY KEY (broadcast_id, area_id)
) WITHOUT ROWID;

CREATE TABLE broadcast_cells (
    broadcast_id INTEGER NOT NULL,
    lat_e3       INTEGER NOT NULL,
    lon_e3       INTEGER NOT NULL,
    PRIMARY KEY (broadcast_id, lat_e3, lon_e3)
) WITHOUT ROWID;
