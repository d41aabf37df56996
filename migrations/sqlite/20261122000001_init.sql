-- The same tables as migrations/postgres, in SQLite's types. Timestamps are ISO-8601 text in UTC
-- with milliseconds ('2026-11-22T06:31:02.123Z'), which sort and compare as text.

CREATE TABLE tasks (
    id                  TEXT    PRIMARY KEY,
    spec                TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('open', 'processing', 'completed', 'failed', 'cancelled', 'skipped')),
    created_at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_heartbeat_at   TEXT,
    secrets             TEXT,
    created_by          TEXT,
    template_ref        TEXT    NOT NULL,
    state               TEXT,
    attempt             INTEGER NOT NULL DEFAULT 0,
    claimed_by          TEXT,
    claimed_at          TEXT,
    cancel_requested_at TEXT,
    completed_at        TEXT
);

CREATE INDEX tasks_open_idx ON tasks (created_at, id) WHERE status = 'open';
CREATE INDEX tasks_processing_idx ON tasks (last_heartbeat_at) WHERE status = 'processing';
CREATE INDEX tasks_created_at_idx ON tasks (created_at);
CREATE INDEX tasks_status_created_at_idx ON tasks (status, created_at);
CREATE INDEX tasks_created_by_idx ON tasks (created_by, created_at);
CREATE INDEX tasks_completed_at_idx ON tasks (completed_at) WHERE completed_at IS NOT NULL;

CREATE TABLE task_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     TEXT    NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    event_type  TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX task_events_task_id_idx ON task_events (task_id, id);

CREATE TABLE catalog_locations (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    target      TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (type, target)
);

CREATE TABLE catalog_entities (
    uid          TEXT PRIMARY KEY,
    entity_ref   TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    namespace    TEXT NOT NULL,
    name         TEXT NOT NULL,
    entity       TEXT NOT NULL,
    location_id  TEXT REFERENCES catalog_locations (id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX catalog_entities_kind_idx ON catalog_entities (kind);
