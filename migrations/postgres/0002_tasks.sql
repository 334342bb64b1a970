-- The background task queue. A claim sets locked_until; a task whose lock ran out is claimable
-- again, so a crashed worker's task is retried. Claims lock the row they take with
-- FOR UPDATE SKIP LOCKED, so concurrent workers pass over each other's rows instead of queueing.

CREATE TABLE tasks (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job          TEXT        NOT NULL,
    payload      JSONB       NOT NULL,
    run_at       TIMESTAMPTZ NOT NULL,
    attempts     INTEGER     NOT NULL DEFAULT 0,
    max_attempts INTEGER     NOT NULL,
    locked_until TIMESTAMPTZ,
    last_error   TEXT,
    buried_at    TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE INDEX tasks_due ON tasks (run_at, id) WHERE buried_at IS NULL;
