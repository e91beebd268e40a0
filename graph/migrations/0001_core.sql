-- Skyloom's relational side: the change log (CI history + subscription feed) and the helpers
-- that give AGE label tables the indexes AGE itself never creates.

CREATE SCHEMA IF NOT EXISTS skyloom;

-- One row per version of every vertex. History is never dropped: a deletion is a row too.
-- `tx` lets a change-feed listener fetch exactly what one committed transaction wrote.
CREATE TABLE skyloom.change_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    tx          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    graph       text NOT NULL,
    topic       text NOT NULL CHECK (topic IN ('ci', 'tenancy', 'panel')),
    uid         uuid NOT NULL,
    label       text NOT NULL,
    tenancy_uid uuid,
    version     integer NOT NULL CHECK (version > 0),
    operation   text NOT NULL CHECK (operation IN ('create', 'update', 'delete', 'restore')),
    actor       text NOT NULL,
    before      jsonb,
    after       jsonb
);
CREATE INDEX change_log_uid ON skyloom.change_log (uid, version);
CREATE INDEX change_log_tx ON skyloom.change_log (tx);
CREATE INDEX change_log_topic ON skyloom.change_log (topic, id);

-- Vertex label with its indexes. `role` is 'panel' (provider, tenant, backend, stack),
-- 'container' (tenancy, compartment) or 'resource' (every other semantic kind).
CREATE FUNCTION skyloom.ensure_vertex_label(g name, l name, role text) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    t text := format('%I.%I', g, l);
BEGIN
    IF role NOT IN ('panel', 'container', 'resource') THEN
        RAISE EXCEPTION 'unknown label role %', role;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM ag_catalog.ag_label al JOIN ag_catalog.ag_graph ag ON al.graph = ag.graphid
                   WHERE ag.name = g AND al.name = l) THEN
        PERFORM ag_catalog.create_vlabel(g, l);
    END IF;
    EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %s (id)', l || '_id', t);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s USING gin (properties)', l || '_props', t);
    EXECUTE format($$CREATE UNIQUE INDEX IF NOT EXISTS %I ON %s ((properties ->> 'uid'::text))$$, l || '_uid', t);
    EXECUTE format($$CREATE INDEX IF NOT EXISTS %I ON %s ((properties ->> 'parentUid'::text))$$, l || '_parent', t);
    IF role IN ('panel', 'container') THEN
        EXECUTE format($$CREATE UNIQUE INDEX IF NOT EXISTS %I ON %s
                        (coalesce(properties ->> 'parentUid'::text, ''), lower(properties ->> 'name'::text))
                        WHERE (properties ->> 'deleted'::text) = 'false'$$, l || '_live_name', t);
    END IF;
    IF role IN ('container', 'resource') THEN
        EXECUTE format($$CREATE INDEX IF NOT EXISTS %I ON %s ((properties ->> 'urn'::text))$$, l || '_urn', t);
        EXECUTE format($$CREATE INDEX IF NOT EXISTS %I ON %s ((properties ->> 'tenancyUid'::text))$$, l || '_tenancy', t);
        EXECUTE format($$CREATE INDEX IF NOT EXISTS %I ON %s ((properties ->> 'compartmentUid'::text))$$, l || '_compartment', t);
        EXECUTE format($$CREATE INDEX IF NOT EXISTS %I ON %s USING gin (lower(properties ->> 'name'::text) public.gin_trgm_ops)$$,
                       l || '_name_trgm', t);
    END IF;
END
$fn$;

-- Edge label with its indexes: one edge of a type between two vertices.
CREATE FUNCTION skyloom.ensure_edge_label(g name, l name) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    t text := format('%I.%I', g, l);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ag_catalog.ag_label al JOIN ag_catalog.ag_graph ag ON al.graph = ag.graphid
                   WHERE ag.name = g AND al.name = l) THEN
        PERFORM ag_catalog.create_elabel(g, l);
    END IF;
    EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %s (id)', l || '_id', t);
    EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %s (start_id, end_id)', l || '_pair', t);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s (end_id)', l || '_end', t);
END
$fn$;
