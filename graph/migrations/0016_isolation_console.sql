-- The setup assistant from the console: the API's role owns nothing and may not create roles or
-- graphs, so the owner-only steps of a switch are one SECURITY DEFINER door, granted to that role
-- by `db migrate`. The counts and checksums around it are read by the caller (it reads every
-- graph through the parents), who commits only when they agree: the same switch as `skyloom
-- setup`'s, whichever role drives it. The API checks the policy (IsolationSettings, a fresh
-- hardware proof) before it calls.
CREATE FUNCTION skyloom.isolation_prepare() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ag_catalog, pg_catalog AS $fn$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('skyloom.isolation'));
    RETURN skyloom.stamp_unstamped();     -- rows written before tenants were stamped
END
$fn$;
REVOKE ALL ON FUNCTION skyloom.isolation_prepare() FROM PUBLIC;

CREATE FUNCTION skyloom.isolation_apply(new_mode text, by_whom text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ag_catalog, pg_catalog AS $fn$
BEGIN
    PERFORM skyloom.set_isolation(new_mode, by_whom);
END
$fn$;
REVOKE ALL ON FUNCTION skyloom.isolation_apply(text, text) FROM PUBLIC;

-- After a switch: fresh planner statistics for every label table of the installation's graphs
-- (moved rows leave the old tables' statistics saying nothing is left). VACUUM cannot run in a
-- function; autovacuum, or `skyloom setup`, which vacuums too, takes the dead rows.
CREATE FUNCTION skyloom.isolation_analyze() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ag_catalog, pg_catalog AS $fn$
DECLARE
    t record;
    n integer := 0;
BEGIN
    FOR t IN SELECT l.relation::regclass AS rel FROM ag_label l JOIN ag_graph g ON g.graphid = l.graph
             WHERE g.name = (SELECT graph FROM skyloom.isolation)
                OR g.name IN (SELECT graph FROM skyloom.tenant_home WHERE graph IS NOT NULL) LOOP
        EXECUTE format('ANALYZE %s', t.rel);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$fn$;
REVOKE ALL ON FUNCTION skyloom.isolation_analyze() FROM PUBLIC;
