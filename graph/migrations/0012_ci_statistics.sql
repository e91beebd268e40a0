-- Statistics on the expressions every scoped read filters by. Without them PostgreSQL guesses that
-- `deleted = 'false'` keeps 0.5 % of the rows and the restricted-tag test few more, so it reads a
-- tenant's whole share through the tenancy index and sorts it, instead of walking ids and stopping
-- after a page (measured at 100k CIs: 20.6 ms -> 6.7 ms for a tenant's page of 100 over three kinds).
CREATE FUNCTION skyloom.ensure_ci_statistics(g name, l name) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format($$CREATE STATISTICS IF NOT EXISTS %I.%I ON ((properties ->> 'deleted'::text)) FROM %I.%I$$,
                   g, l || '_live_stats', g, l);
    EXECUTE format($$CREATE STATISTICS IF NOT EXISTS %I.%I ON (((properties -> 'tags'::text) ->> 'data-classification'::text))
                     FROM %I.%I$$, g, l || '_class_stats', g, l);
END
$fn$;
