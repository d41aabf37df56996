-- Locations from `catalog.locations` are not listed by `GET /api/catalog/locations`, as in
-- Backstage; only those registered through the API are.
ALTER TABLE catalog_locations ADD COLUMN from_config INTEGER NOT NULL DEFAULT 0;
