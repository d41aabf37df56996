-- The queue, its event log and the minimal catalog. Every table lives in the `scaffolder` schema
-- (the connection's search_path), so a database shared with Backstage collides with nothing.

CREATE TABLE tasks (
    id                  uuid PRIMARY KEY,
    -- JSON text, not jsonb: the spec is echoed back byte for byte, key order included.
    spec                text        NOT NULL,
    status              text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at   timestamptz,
    -- JSON object of secret values; NULL once the task has ended.
    secrets             text,
    created_by          text,
    template_ref        text        NOT NULL,
    -- JSON {"steps": {...}, "checkpoints": {...}}: what earlier attempts already finished.
    state               text,
    -- Fencing token: incremented by every claim; every later write checks it.
    attempt             integer     NOT NULL DEFAULT 0,
    claimed_by          text,
    claimed_at          timestamptz,
    cancel_requested_at timestamptz,
    completed_at        timestamptz,
    CONSTRAINT tasks_status_check CHECK (status IN ('open', 'processing', 'completed', 'failed', 'cancelled', 'skipped'))
);

CREATE INDEX tasks_open_idx ON tasks (created_at, id) WHERE status = 'open';
CREATE INDEX tasks_processing_idx ON tasks (last_heartbeat_at) WHERE status = 'processing';
CREATE INDEX tasks_created_at_idx ON tasks (created_at);
CREATE INDEX tasks_status_created_at_idx ON tasks (status, created_at);
CREATE INDEX tasks_created_by_idx ON tasks (created_by, created_at);
CREATE INDEX tasks_completed_at_idx ON tasks (completed_at) WHERE completed_at IS NOT NULL;

CREATE TABLE task_events (
    id          bigserial   PRIMARY KEY,
    task_id     uuid        NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    event_type  text        NOT NULL,
    body        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX task_events_task_id_idx ON task_events (task_id, id);

CREATE TABLE catalog_locations (
    id          uuid        PRIMARY KEY,
    type        text        NOT NULL,
    target      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (type, target)
);

CREATE TABLE catalog_entities (
    uid          uuid        PRIMARY KEY,
    -- lower-cased "kind:namespace/name", the key Backstage compares case-insensitively
    entity_ref   text        NOT NULL UNIQUE,
    kind         text        NOT NULL,
    namespace    text        NOT NULL,
    name         text        NOT NULL,
    entity       text        NOT NULL,
    location_id  uuid        REFERENCES catalog_locations (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX catalog_entities_kind_idx ON catalog_entities (kind);
