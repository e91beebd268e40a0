-- Runs of a design's program against a client's cloud (an "apply"). A run is started only from
-- the preview the operator approved (its plan digest), for one version of one design, and at most
-- one runs per client stack (project, stack) at a time: the partial unique index refuses a second
-- `running` row across every replica, and the runner holds the stack's advisory lock while it
-- runs, so a row left `running` by a replica that died is recognised (its lock is free) and closed.

CREATE TABLE skyloom.design_run (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    design_id    uuid NOT NULL,
    version      integer NOT NULL,
    tenant_id    text NOT NULL,
    project      text NOT NULL CHECK (project ~ '^[A-Za-z0-9_.-]{1,100}$'),
    stack        text NOT NULL CHECK (stack ~ '^[A-Za-z0-9_.-]{1,100}$'),
    plan_digest  text NOT NULL CHECK (plan_digest ~ '^[0-9a-f]{64}$'),
    engine       text NOT NULL CHECK (engine IN ('mocks', 'pulumi')),
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    resources    integer NOT NULL DEFAULT 0 CHECK (resources >= 0),
    error        text CHECK (length(error) <= 2000),
    requested_by text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    FOREIGN KEY (design_id, version) REFERENCES skyloom.design_version (design_id, version),
    CHECK ((status = 'running') = (finished_at IS NULL))
);
CREATE UNIQUE INDEX design_run_one_per_stack ON skyloom.design_run (project, stack) WHERE status = 'running';
CREATE INDEX design_run_of_design ON skyloom.design_run (design_id, seq DESC);
