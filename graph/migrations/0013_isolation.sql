-- Tenant isolation: a database role per tenant, the tenant stamped on every CI row, and one of the
-- storage layouts below. Measured facts on AGE 1.5 that shape it (../shared/DESIGN.md section 3):
-- RLS filters Cypher reads but not Cypher writes, and a role without USAGE on a graph's schema can
-- run no Cypher on it at all. CHECK constraints, unlike RLS and triggers, are evaluated for Cypher
-- CREATE and SET, so the write-side guards here are CHECK constraints.
--
--   graph_rls (default)  each tenant's CIs and edges in its own graph `t_<uuid hex>`, whose label
--                        tables inherit the installation graph's (so provider queries read every
--                        tenant through the parents), plus row-level security on the parents and
--                        children;
--   graph                the same graphs, no row-level security (tenant roles see only their graph);
--   rls                  one shared graph, row-level security on every CI and edge table;
--   database             a database per tenant: not offered by this release (see `skyloom setup`).
--
-- Tenant graphs take their label ids and graphid sequences from the installation graph, so a
-- graphid names one row installation-wide and moving rows between graphs keeps every edge valid.

CREATE TABLE skyloom.isolation (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    mode             text NOT NULL CHECK (mode IN ('database', 'graph', 'rls', 'graph_rls')),
    graph            name,
    app_role         name,
    vertex_labels    text[] NOT NULL DEFAULT '{}',   -- CI labels (stamped, isolated)
    container_labels text[] NOT NULL DEFAULT '{}',   -- the CI labels that are containers
    edge_labels      text[] NOT NULL DEFAULT '{}',
    changed_at       timestamptz NOT NULL DEFAULT now(),
    changed_by       text NOT NULL
);
INSERT INTO skyloom.isolation (mode, changed_by) VALUES ('graph_rls', 'installation default');

CREATE TABLE skyloom.tenant_home (
    tenant      uuid PRIMARY KEY,
    role        name NOT NULL UNIQUE,
    graph       name UNIQUE,
    mode        text NOT NULL,      -- the mode its grants were made for
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Where a vertex that settled into a tenant graph lives. A lookup by uid alone through the
-- installation graph's `_ag_label_vertex` reads every label table of every tenant (at 10
-- tenants, ~250 index scans: 8x a shared graph); this makes it one probe here and one there.
-- Maintained only by `settle`, `restamp_tenancy` and `set_isolation`, which alone move rows.
CREATE TABLE skyloom.vertex_home (
    uid    text PRIMARY KEY,
    graph  name NOT NULL,
    label  name NOT NULL
);

-- A tenant's role and graph are named after its uid; the role's name is its tenant context.
CREATE FUNCTION skyloom.tenant_role(tenant uuid) RETURNS name LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ('skyloom_t_' || replace(tenant::text, '-', ''))::name $$;
CREATE FUNCTION skyloom.tenant_graph(tenant uuid) RETURNS name LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ('t_' || replace(tenant::text, '-', ''))::name $$;
-- The tenant a role acts for: NULL for every role that is not a tenant role (the API, the owner).
CREATE FUNCTION skyloom.role_tenant(role_name text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT CASE WHEN role_name ~ '^skyloom_t_[0-9a-f]{32}$' THEN substr(role_name, 11)::uuid::text END $$;

-- Row-level security and the write check of one label table. `per_tenant` NULL: a table of the
-- installation graph (the app role sees all, a tenant role its own stamp, and a tenant role may
-- only write its own stamp); a uuid: a tenant graph's table, whose every row carries that stamp.
CREATE FUNCTION skyloom.guard_table(g name, l name, rls boolean, per_tenant uuid) RETURNS void
LANGUAGE plpgsql SET search_path = ag_catalog, pg_catalog AS $fn$
DECLARE
    t text := format('%I.%I', g, l);
    app name := (SELECT app_role FROM skyloom.isolation);
BEGIN
    EXECUTE format($$CREATE INDEX IF NOT EXISTS %I ON %s ((properties ->> 'tenantUid'::text))$$, l || '_tenant', t);
    EXECUTE format('DROP POLICY IF EXISTS skyloom_provider ON %s', t);
    EXECUTE format('DROP POLICY IF EXISTS skyloom_tenant ON %s', t);
    IF rls THEN
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        IF app IS NOT NULL THEN
            EXECUTE format('CREATE POLICY skyloom_provider ON %s TO %I USING (true) WITH CHECK (true)', t, app);
        END IF;
        EXECUTE format($$CREATE POLICY skyloom_tenant ON %s
                         USING ((properties ->> 'tenantUid'::text) = skyloom.role_tenant(current_user::text))
                         WITH CHECK ((properties ->> 'tenantUid'::text) = skyloom.role_tenant(current_user::text))$$, t);
    ELSE
        EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', t);
    END IF;
    IF per_tenant IS NULL THEN
        IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = t::regclass AND conname = 'tenant_write') THEN
            EXECUTE format($$ALTER TABLE %s ADD CONSTRAINT tenant_write CHECK (skyloom.role_tenant(current_user::text) IS NULL
                             OR skyloom.role_tenant(current_user::text) = (properties ->> 'tenantUid'::text)) NO INHERIT$$, t);
        END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = t::regclass AND conname = 'tenant_stamp') THEN
        EXECUTE format($$ALTER TABLE %s ADD CONSTRAINT tenant_stamp CHECK ((properties ->> 'tenantUid'::text) = %L)$$,
                       t, per_tenant::text);
    END IF;
END
$fn$;

-- A tenant's graph gains the labels it lacks, with the installation graph's label ids, sequences,
-- indexes and statistics, as children of the installation graph's tables.
CREATE FUNCTION skyloom.tenant_graph_labels(tenant uuid) RETURNS void
LANGUAGE plpgsql SET search_path = ag_catalog, pg_catalog AS $fn$
DECLARE
    cfg skyloom.isolation;
    tg name := skyloom.tenant_graph(tenant);
    lab record;
    made integer;
BEGIN
    SELECT * INTO cfg FROM skyloom.isolation;
    FOR lab IN SELECT l.name, l.id, l.kind, l.relation FROM ag_label l JOIN ag_graph gr ON gr.graphid = l.graph
               WHERE gr.name = cfg.graph AND l.name = ANY (cfg.vertex_labels || cfg.edge_labels) ORDER BY l.id LOOP
        IF EXISTS (SELECT 1 FROM ag_label l JOIN ag_graph gr ON gr.graphid = l.graph WHERE gr.name = tg AND l.name = lab.name) THEN
            IF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = format('%I.%I', tg, lab.name)::regclass
                                                       AND inhparent = lab.relation) THEN
                EXECUTE format('ALTER TABLE %I.%I INHERIT %I.%I', tg, lab.name, cfg.graph, lab.name);
            END IF;
            PERFORM skyloom.guard_table(tg, lab.name, cfg.mode = 'graph_rls', tenant);
            CONTINUE;
        END IF;
        PERFORM setval(format('%I.%I', tg, '_label_id_seq'), lab.id - 1);
        IF lab.kind = 'v' THEN
            PERFORM ag_catalog.create_vlabel(tg, lab.name);
        ELSE
            PERFORM ag_catalog.create_elabel(tg, lab.name);
        END IF;
        SELECT l.id INTO made FROM ag_label l JOIN ag_graph gr ON gr.graphid = l.graph WHERE gr.name = tg AND l.name = lab.name;
        IF made <> lab.id THEN
            RAISE EXCEPTION 'label % got id % in graph %, not % as in %', lab.name, made, tg, lab.id, cfg.graph;
        END IF;
        EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN id SET DEFAULT %s', tg, lab.name,
                       (SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = lab.relation AND adnum = 1));
        EXECUTE format('ALTER TABLE %I.%I INHERIT %I.%I', tg, lab.name, cfg.graph, lab.name);
        IF lab.kind = 'v' THEN
            PERFORM skyloom.ensure_vertex_label(tg, lab.name,
                CASE WHEN lab.name = ANY (cfg.container_labels) THEN 'container' ELSE 'resource' END);
            PERFORM skyloom.ensure_ci_statistics(tg, lab.name);
        ELSE
            PERFORM skyloom.ensure_edge_label(tg, lab.name);
        END IF;
        PERFORM skyloom.guard_table(tg, lab.name, cfg.mode = 'graph_rls', tenant);
    END LOOP;
END
$fn$;

-- What a tenant's role may touch in the current mode: its own graph in the graph modes; the
-- installation graph's CI tables (through row-level security) in the RLS modes, read-only when
-- the tenant also has a graph. Never the panel's own tables, never another tenant's graph.
CREATE FUNCTION skyloom.tenant_grants(tenant uuid) RETURNS void
LANGUAGE plpgsql SET search_path = ag_catalog, pg_catalog AS $fn$
DECLARE
    cfg skyloom.isolation;
    r name := skyloom.tenant_role(tenant);
    tg name := skyloom.tenant_graph(tenant);
    lab text;
BEGIN
    SELECT * INTO cfg FROM skyloom.isolation;
    EXECUTE format('GRANT USAGE ON SCHEMA ag_catalog TO %I', r);
    EXECUTE format('GRANT SELECT ON ag_catalog.ag_graph, ag_catalog.ag_label TO %I', r);
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', cfg.graph, r);
    EXECUTE format('REVOKE ALL ON SCHEMA %I FROM %I', cfg.graph, r);
    FOREACH lab IN ARRAY cfg.vertex_labels || cfg.edge_labels LOOP
        EXECUTE format('GRANT USAGE ON SEQUENCE %I.%I TO %I', cfg.graph, lab || '_id_seq', r);
        IF cfg.mode = 'rls' THEN
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO %I', cfg.graph, lab, r);
        ELSIF cfg.mode = 'graph_rls' THEN
            EXECUTE format('GRANT SELECT ON %I.%I TO %I', cfg.graph, lab, r);
        END IF;
    END LOOP;
    IF cfg.mode IN ('rls', 'graph_rls') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', cfg.graph, r);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = tg) THEN
        EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', tg, r);
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM %I', tg, r);
    END IF;
    IF cfg.mode IN ('graph', 'graph_rls') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', tg, r);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', tg, r);
        EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO %I', tg, r);
        -- The API reads and locks (SELECT ... FOR UPDATE) a settled vertex straight in its table
        -- (`vertex_home`), not only through the parents, where it may do both already.
        IF cfg.app_role IS NOT NULL THEN
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', tg, cfg.app_role);
            EXECUTE format('GRANT SELECT, UPDATE ON ALL TABLES IN SCHEMA %I TO %I', tg, cfg.app_role);
        END IF;
    END IF;
    UPDATE skyloom.tenant_home SET mode = cfg.mode WHERE tenant_home.tenant = tenant_grants.tenant;
END
$fn$;

-- A tenant's role (and, in the graph modes, its graph); idempotent and cheap once done. The API
-- calls it (through `settle`) when a tenant's first CI is written; it runs as its owner because
-- the API's role may not create roles or graphs.
CREATE FUNCTION skyloom.provision_tenant(tenant uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ag_catalog, pg_catalog AS $fn$
DECLARE
    cfg skyloom.isolation;
    home skyloom.tenant_home;
    r name := skyloom.tenant_role(tenant);
    tg name := skyloom.tenant_graph(tenant);
BEGIN
    SELECT * INTO cfg FROM skyloom.isolation;
    SELECT * INTO home FROM skyloom.tenant_home h WHERE h.tenant = provision_tenant.tenant;
    IF FOUND AND home.mode = cfg.mode THEN
        RETURN;
    END IF;
    IF cfg.graph IS NULL THEN
        RAISE EXCEPTION 'the installation graph is not recorded yet: run `skyloom db migrate`';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', r);
    END IF;
    IF cfg.app_role IS NOT NULL THEN
        EXECUTE format('GRANT %I TO %I WITH INHERIT FALSE, SET TRUE', r, cfg.app_role);
    END IF;
    INSERT INTO skyloom.tenant_home (tenant, role, mode) VALUES (provision_tenant.tenant, r, cfg.mode)
    ON CONFLICT ON CONSTRAINT tenant_home_pkey DO NOTHING;
    IF cfg.mode IN ('graph', 'graph_rls') AND NOT EXISTS (SELECT 1 FROM ag_graph WHERE name = tg) THEN
        PERFORM ag_catalog.create_graph(tg);
    END IF;
    IF EXISTS (SELECT 1 FROM ag_graph WHERE name = tg) THEN
        UPDATE skyloom.tenant_home h SET graph = tg WHERE h.tenant = provision_tenant.tenant;
    END IF;
    IF cfg.mode IN ('graph', 'graph_rls') THEN
        PERFORM skyloom.tenant_graph_labels(tenant);
    END IF;
    PERFORM skyloom.tenant_grants(tenant);
END
$fn$;

-- Writers call this before commit with the labels they inserted into and the tenants they
-- stamped: each tenant gets its role (and graph) if it has none yet, and in the graph modes the
-- rows stamped for a tenant but written into the installation graph's own tables move to the
-- tenant's graph, keeping their ids.
CREATE FUNCTION skyloom.settle(wanted text[], tenants uuid[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ag_catalog, pg_catalog AS $fn$
DECLARE
    cfg skyloom.isolation;
    lab text;
    stamp uuid;
    n bigint;
    moved bigint := 0;
BEGIN
    -- Held to the end of the writer's transaction: a mode switch (which takes this lock alone)
    -- waits for writers placing rows now, and writers wait for a switch under way. An advisory
    -- lock, so that concurrent writers share it without writing to the settings row.
    PERFORM pg_advisory_xact_lock_shared(hashtext('skyloom.isolation'));
    SELECT * INTO cfg FROM skyloom.isolation;
    FOREACH stamp IN ARRAY coalesce(tenants, '{}') LOOP
        PERFORM skyloom.provision_tenant(stamp);
    END LOOP;
    IF cfg.mode NOT IN ('graph', 'graph_rls') THEN
        RETURN 0;
    END IF;
    FOREACH lab IN ARRAY wanted LOOP
        CONTINUE WHEN NOT (lab = ANY (cfg.vertex_labels || cfg.edge_labels));
        FOR stamp IN EXECUTE format($$SELECT DISTINCT (properties ->> 'tenantUid'::text)::uuid FROM ONLY %I.%I
                                      WHERE (properties ->> 'tenantUid'::text) IS NOT NULL$$, cfg.graph, lab) LOOP
            PERFORM skyloom.provision_tenant(stamp);
            IF lab = ANY (cfg.edge_labels) THEN
                EXECUTE format($$WITH moved AS (DELETE FROM ONLY %1$I.%2$I WHERE (properties ->> 'tenantUid'::text) = %4$L RETURNING *)
                                 INSERT INTO %3$I.%2$I SELECT * FROM moved ON CONFLICT (start_id, end_id) DO NOTHING$$,
                               cfg.graph, lab, skyloom.tenant_graph(stamp), stamp::text);
            ELSE
                EXECUTE format($$WITH moved AS (DELETE FROM ONLY %1$I.%2$I WHERE (properties ->> 'tenantUid'::text) = %4$L RETURNING *),
                                 homed AS (INSERT INTO skyloom.vertex_home (uid, graph, label)
                                           SELECT properties ->> 'uid'::text, %3$L, %2$L FROM moved
                                           WHERE (properties ->> 'uid'::text) IS NOT NULL
                                           ON CONFLICT (uid) DO UPDATE SET graph = EXCLUDED.graph, label = EXCLUDED.label)
                                 INSERT INTO %3$I.%2$I SELECT * FROM moved$$,
                               cfg.graph, lab, skyloom.tenant_graph(stamp), stamp::text);
            END IF;
            GET DIAGNOSTICS n = ROW_COUNT;
            moved := moved + n;
        END LOOP;
    END LOOP;
    RETURN moved;
END
$fn$;

-- A tenancy changes hands: it, everything in it and their outgoing edges take the new tenant's
-- stamp (NULL: the provider's own) and, in the graph modes, move to its graph with their ids.
-- Bookkeeping, not a version: the caller writes the tenancy's new owner as a version itself.
CREATE FUNCTION skyloom.restamp_tenancy(tenancy uuid, tenant uuid) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ag_catalog, pg_catalog AS $fn$
DECLARE
    cfg skyloom.isolation;
    lab text;
    ids graphid[] := '{}';
    batch graphid[];
    n bigint;
    total bigint := 0;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('skyloom.isolation'));   -- as `settle`
    SELECT * INTO cfg FROM skyloom.isolation;
    FOREACH lab IN ARRAY cfg.vertex_labels LOOP
        EXECUTE format($$WITH moved AS (DELETE FROM %1$I.%2$I
                             WHERE (properties ->> 'tenancyUid'::text) = $1 OR (properties ->> 'uid'::text) = $1 RETURNING id, properties),
                         put AS (INSERT INTO %1$I.%2$I (id, properties)
                             SELECT id, (agtype_out(properties)::text::jsonb || jsonb_build_object('tenantUid', $2))::text::agtype
                             FROM moved RETURNING id)
                         SELECT coalesce(array_agg(id), '{}') FROM put$$, cfg.graph, lab)
        INTO batch USING tenancy::text, tenant::text;
        ids := ids || batch;
    END LOOP;
    total := cardinality(ids);
    -- They live in the installation graph now; `settle` records the new home, if any.
    EXECUTE format($$DELETE FROM skyloom.vertex_home h USING %I._ag_label_vertex v
                     WHERE v.id = ANY ($1) AND h.uid = (v.properties ->> 'uid'::text)$$, cfg.graph) USING ids;
    FOREACH lab IN ARRAY cfg.edge_labels LOOP
        EXECUTE format($$WITH moved AS (DELETE FROM %1$I.%2$I WHERE start_id = ANY ($1) RETURNING id, start_id, end_id, properties)
                         INSERT INTO %1$I.%2$I (id, start_id, end_id, properties)
                         SELECT id, start_id, end_id, (agtype_out(properties)::text::jsonb || jsonb_build_object('tenantUid', $2))::text::agtype
                         FROM moved ON CONFLICT (start_id, end_id) DO NOTHING$$, cfg.graph, lab)
        USING ids, tenant::text;
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
    END LOOP;
    PERFORM skyloom.settle(cfg.vertex_labels || cfg.edge_labels, ARRAY[tenant]);
    RETURN total;
END
$fn$;

-- Apply the current mode to the installation graph's CI tables, to every tenant's graph and
-- grants; idempotent (every `db migrate` runs it, so a kind added to the vocabulary is guarded too).
CREATE FUNCTION skyloom.isolation_reconcile(g name, app name, vertex_labels text[], container_labels text[], edge_labels text[])
RETURNS void LANGUAGE plpgsql SET search_path = ag_catalog, pg_catalog AS $fn$
DECLARE
    cfg skyloom.isolation;
    lab text;
    t uuid;
BEGIN
    UPDATE skyloom.isolation SET graph = g, app_role = coalesce(app, app_role), vertex_labels = isolation_reconcile.vertex_labels,
        container_labels = isolation_reconcile.container_labels, edge_labels = isolation_reconcile.edge_labels;
    SELECT * INTO cfg FROM skyloom.isolation;
    -- The API's own role is the provider's context, which sees every row anyway (the
    -- skyloom_provider policies); BYPASSRLS says so to the planner, which otherwise keeps
    -- non-leakproof conditions (a name search) off the indexes behind the policy's barrier.
    -- Tenant roles never have it. Only a superuser may grant it: otherwise the policies serve.
    IF cfg.app_role IS NOT NULL AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('ALTER ROLE %I BYPASSRLS', cfg.app_role);
    END IF;
    IF cfg.mode = 'database' THEN
        RAISE EXCEPTION 'isolation mode "database" is not offered by this release';
    END IF;
    FOREACH lab IN ARRAY cfg.vertex_labels || cfg.edge_labels LOOP
        PERFORM skyloom.guard_table(g, lab, cfg.mode IN ('rls', 'graph_rls'), NULL);
    END LOOP;
    FOR t IN SELECT tenant FROM skyloom.tenant_home LOOP
        UPDATE skyloom.tenant_home SET mode = '' WHERE tenant = t;   -- redo its grants and labels
        PERFORM skyloom.provision_tenant(t);
    END LOOP;
END
$fn$;

-- Switch modes, moving the data: every tenant graph's rows back into the installation graph, the
-- new layout built, the rows settled where it wants them. One transaction; the setup assistant
-- compares counts and checksums before it commits. Tenant graphs are emptied, never dropped:
-- AGE 1.5's drop_graph corrupts its label cache once a session knows 42 or more labels
-- (apache/age#2245, fixed after 1.5), and an empty graph costs nothing; the graph modes reuse it.
CREATE FUNCTION skyloom.set_isolation(new_mode text, by_whom text) RETURNS void
LANGUAGE plpgsql SET search_path = ag_catalog, pg_catalog AS $fn$
DECLARE
    cfg skyloom.isolation;
    home skyloom.tenant_home;
    lab text;
    stamp uuid;
BEGIN
    IF new_mode NOT IN ('graph', 'rls', 'graph_rls') THEN
        RAISE EXCEPTION 'isolation mode % is not offered by this release', new_mode;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('skyloom.isolation'));   -- writers wait (see `settle`)
    SELECT * INTO cfg FROM skyloom.isolation FOR UPDATE;
    FOR home IN SELECT * FROM skyloom.tenant_home WHERE graph IS NOT NULL LOOP
        FOREACH lab IN ARRAY cfg.vertex_labels || cfg.edge_labels LOOP
            IF EXISTS (SELECT 1 FROM ag_label l JOIN ag_graph gr ON gr.graphid = l.graph WHERE gr.name = home.graph AND l.name = lab) THEN
                EXECUTE format('WITH moved AS (DELETE FROM ONLY %I.%I RETURNING *) INSERT INTO %I.%I SELECT * FROM moved',
                               home.graph, lab, cfg.graph, lab);
                -- Out of the installation graph's tree until a graph mode wants it again: an
                -- empty child still costs every provider query a scan.
                IF EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = format('%I.%I', home.graph, lab)::regclass
                                                       AND inhparent = format('%I.%I', cfg.graph, lab)::regclass) THEN
                    EXECUTE format('ALTER TABLE %I.%I NO INHERIT %I.%I', home.graph, lab, cfg.graph, lab);
                END IF;
            END IF;
        END LOOP;
    END LOOP;
    UPDATE skyloom.tenant_home SET mode = '';
    DELETE FROM skyloom.vertex_home;
    UPDATE skyloom.isolation SET mode = new_mode, changed_at = now(), changed_by = by_whom;
    PERFORM skyloom.isolation_reconcile(cfg.graph, cfg.app_role, cfg.vertex_labels, cfg.container_labels, cfg.edge_labels);
    FOREACH lab IN ARRAY cfg.vertex_labels LOOP
        FOR stamp IN EXECUTE format($$SELECT DISTINCT (properties ->> 'tenantUid'::text)::uuid FROM ONLY %I.%I
                                      WHERE (properties ->> 'tenantUid'::text) IS NOT NULL$$, cfg.graph, lab) LOOP
            PERFORM skyloom.provision_tenant(stamp);
        END LOOP;
    END LOOP;
    PERFORM skyloom.settle(cfg.vertex_labels || cfg.edge_labels, '{}');
END
$fn$;

REVOKE ALL ON FUNCTION skyloom.provision_tenant(uuid), skyloom.settle(text[], uuid[]), skyloom.restamp_tenancy(uuid, uuid),
    skyloom.set_isolation(text, text), skyloom.isolation_reconcile(name, name, text[], text[], text[]),
    skyloom.guard_table(name, name, boolean, uuid), skyloom.tenant_graph_labels(uuid), skyloom.tenant_grants(uuid) FROM PUBLIC;

-- Rows written before tenants were stamped (an installation older than this migration) take the
-- stamp the writers would give them: a tenancy its owner's tenant, a CI its tenancy's, an edge its
-- start vertex's. Returns how many rows it stamped; rows of the provider's own stay unstamped.
CREATE FUNCTION skyloom.stamp_unstamped() RETURNS bigint
LANGUAGE plpgsql SET search_path = ag_catalog, pg_catalog AS $fn$
DECLARE
    cfg skyloom.isolation;
    lab text;
    n bigint;
    total bigint := 0;
BEGIN
    SELECT * INTO cfg FROM skyloom.isolation;
    EXECUTE format($$UPDATE %1$I."Tenancy" t SET properties = (agtype_out(t.properties)::text::jsonb
                         || jsonb_build_object('tenantUid', o.tenant))::text::agtype
                     FROM (SELECT properties ->> 'uid'::text AS uid, properties ->> 'uid'::text AS tenant FROM %1$I."Tenant"
                           UNION ALL
                           SELECT properties ->> 'uid'::text, properties ->> 'parentUid'::text FROM %1$I."SubTenant") o
                     WHERE o.uid = (t.properties ->> 'ownerUid'::text) AND (t.properties ->> 'tenantUid'::text) IS NULL$$, cfg.graph);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    FOREACH lab IN ARRAY cfg.vertex_labels LOOP
        CONTINUE WHEN lab = 'Tenancy';
        EXECUTE format($$UPDATE %1$I.%2$I c SET properties = (agtype_out(c.properties)::text::jsonb
                             || jsonb_build_object('tenantUid', t.properties ->> 'tenantUid'::text))::text::agtype
                         FROM %1$I."Tenancy" t
                         WHERE (t.properties ->> 'uid'::text) = (c.properties ->> 'tenancyUid'::text)
                           AND (t.properties ->> 'tenantUid'::text) IS NOT NULL AND (c.properties ->> 'tenantUid'::text) IS NULL$$,
                       cfg.graph, lab);
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
    END LOOP;
    FOREACH lab IN ARRAY cfg.edge_labels LOOP
        EXECUTE format($$UPDATE %1$I.%2$I e SET properties = (agtype_out(e.properties)::text::jsonb
                             || jsonb_build_object('tenantUid', v.properties ->> 'tenantUid'::text))::text::agtype
                         FROM %1$I._ag_label_vertex v
                         WHERE v.id = e.start_id AND (v.properties ->> 'tenantUid'::text) IS NOT NULL
                           AND (e.properties ->> 'tenantUid'::text) IS NULL$$, cfg.graph, lab);
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
    END LOOP;
    RETURN total;
END
$fn$;
REVOKE ALL ON FUNCTION skyloom.stamp_unstamped() FROM PUBLIC;
