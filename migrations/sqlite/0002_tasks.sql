-- The background task queue. A claim sets locked_until; a task whose lock ran out is claimable
-- again, so a crashed worker's task is retried.

CREATE TABLE tasks (
    id           INTEGER PRIMARY KEY,
    job          TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    run_at       TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    locked_until TEXT,
    last_error   TEXT,
    buried_at    TEXT,
    created_at   TEXT    NOT NULL
);

CREATE INDEX tasks_due ON tasks (run_at, id) WHERE buried_at IS NULL;
