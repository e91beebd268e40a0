-- The audit trail: append-only, hash-chained per priority, partitioned by priority and month.
--
-- Writers (any transaction, any replica) only INSERT the facts; they cannot choose the time,
-- the chain position or the hashes (column privileges). A sealer, `skyloom.audit_seal`, then
-- chains committed entries in the order it finds them: position n of a priority stores
-- sha256(hash(n-1) || canonical(n)). Chaining after commit instead of at insert keeps a long
-- ingest transaction from serialising every other writer behind one lock. Each priority has
-- its own chain so that retention can drop a priority's old months without breaking the others;
-- a dropped stretch leaves an anchor (its last position and hash) that `verify` starts from.

CREATE TABLE skyloom.audit_entry (
    priority     text NOT NULL CHECK (priority IN ('debug', 'info', 'notice', 'warn', 'error', 'critical')),
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    type         text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$' AND length(type) <= 64),
    actor        text NOT NULL CHECK (length(actor) BETWEEN 1 AND 512),
    impersonator text CHECK (length(impersonator) <= 512),
    tenant       text,     -- the tenant's uid the entry belongs to (NULL: provider level)
    subtenant    text,     -- the sub-tenant's uid, when the entry is a sub-tenant's
    target       text CHECK (length(target) <= 1024),
    request_id   text CHECK (length(request_id) <= 128),
    source       text CHECK (length(source) <= 256),
    outcome      text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied', 'error')),
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (octet_length(detail::text) <= 65536),
    position     bigint,   -- place in its priority's chain, set by the sealer
    prev_hash    bytea,
    hash         bytea,
    PRIMARY KEY (priority, at, id)
) PARTITION BY LIST (priority);

DO $$
DECLARE
    p text;
BEGIN
    FOREACH p IN ARRAY ARRAY['debug', 'info', 'notice', 'warn', 'error', 'critical'] LOOP
        EXECUTE format('CREATE TABLE skyloom.%I PARTITION OF skyloom.audit_entry FOR VALUES IN (%L) PARTITION BY RANGE (at)',
                       'audit_' || p, p);
        EXECUTE format('CREATE TABLE skyloom.%I PARTITION OF skyloom.%I DEFAULT', 'audit_' || p || '_default', 'audit_' || p);
    END LOOP;
END
$$;

CREATE INDEX audit_entry_unsealed ON skyloom.audit_entry (priority, id) WHERE hash IS NULL;
CREATE INDEX audit_entry_position ON skyloom.audit_entry (priority, position) WHERE position IS NOT NULL;
CREATE INDEX audit_entry_at ON skyloom.audit_entry (at, id);
CREATE INDEX audit_entry_tenant ON skyloom.audit_entry (tenant, at) WHERE tenant IS NOT NULL;
-- No index on actor or type: each costs every insert and every seal, and the trail is read newest
-- first, where the (at, id) index with a filter serves those questions.

-- The last sealed link of each chain, so that deleting the newest entries is detected too.
CREATE TABLE skyloom.audit_head (
    priority text PRIMARY KEY,
    position bigint NOT NULL,
    hash     bytea NOT NULL
);

-- Where a chain starts after retention dropped its beginning (or at genesis: position 0).
CREATE TABLE skyloom.audit_anchor (
    priority text NOT NULL,
    position bigint NOT NULL,
    hash     bytea NOT NULL,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    reason   text NOT NULL,
    PRIMARY KEY (priority, position)
);

-- Retention per priority, in days; expiry is itself an audit entry, never silent.
CREATE TABLE skyloom.audit_retention (
    priority  text PRIMARY KEY CHECK (priority IN ('debug', 'info', 'notice', 'warn', 'error', 'critical')),
    keep_days integer NOT NULL DEFAULT 400 CHECK (keep_days BETWEEN 1 AND 36500)
);

-- How far each external destination (a syslog collector) has received each chain.
CREATE TABLE skyloom.audit_forward (
    destination text NOT NULL,
    priority    text NOT NULL,
    position    bigint NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (destination, priority)
);

INSERT INTO skyloom.audit_head (priority, position, hash)
SELECT p, 0, sha256(convert_to('skyloom-audit-genesis:' || p, 'UTF8'))
FROM unnest(ARRAY['debug', 'info', 'notice', 'warn', 'error', 'critical']) AS p;
INSERT INTO skyloom.audit_anchor (priority, position, hash, reason)
SELECT priority, position, hash, 'genesis' FROM skyloom.audit_head;
INSERT INTO skyloom.audit_retention (priority)
SELECT p FROM unnest(ARRAY['debug', 'info', 'notice', 'warn', 'error', 'critical']) AS p;

-- The bytes a link's hash covers. Each field is length-prefixed (NULL as '-') so that no two
-- different entries can share a canonical form by moving text between fields.
CREATE FUNCTION skyloom.audit_field(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v IS NULL THEN '-' ELSE octet_length(v)::text || ':' || v END
$$;

CREATE FUNCTION skyloom.audit_canonical(e skyloom.audit_entry) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT convert_to(concat_ws('|', 'v1', e.position::text, e.id::text,
        to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        e.priority, e.type, skyloom.audit_field(e.actor), skyloom.audit_field(e.impersonator),
        skyloom.audit_field(e.tenant), skyloom.audit_field(e.subtenant), skyloom.audit_field(e.target),
        skyloom.audit_field(e.request_id), skyloom.audit_field(e.source), e.outcome,
        skyloom.audit_field(e.detail::text)), 'UTF8')
$$;

-- Chain up to `batch` committed, unsealed entries per priority. One sealer at a time across all
-- replicas (a transaction-level advisory lock); a busy sealer elsewhere makes this a no-op. The
-- links are computed in memory and written with one UPDATE per priority: a statement per entry
-- (each pruning the partitions anew) cost more than the hashing.
CREATE FUNCTION skyloom.audit_seal(batch integer DEFAULT 10000) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, skyloom SET TimeZone = 'UTC' AS $fn$
DECLARE
    h      record;
    e      skyloom.audit_entry;
    pos    bigint;
    prev   bytea;
    ats    timestamptz[];
    ids    bigint[];
    poss   bigint[];
    prevs  bytea[];
    hashes bytea[];
    done   integer := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('skyloom.audit_seal')) THEN
        RETURN 0;
    END IF;
    FOR h IN SELECT * FROM skyloom.audit_head ORDER BY priority FOR UPDATE LOOP
        pos := h.position;
        prev := h.hash;
        ats := '{}'; ids := '{}'; poss := '{}'; prevs := '{}'; hashes := '{}';
        FOR e IN SELECT * FROM skyloom.audit_entry
                 WHERE priority = h.priority AND hash IS NULL ORDER BY id LIMIT batch LOOP
            pos := pos + 1;
            e.position := pos;
            e.prev_hash := prev;
            prevs := prevs || prev;
            prev := sha256(prev || skyloom.audit_canonical(e));
            ats := ats || e.at; ids := ids || e.id; poss := poss || pos; hashes := hashes || prev;
        END LOOP;
        IF pos <> h.position THEN
            UPDATE skyloom.audit_entry t SET position = u.pos, prev_hash = u.prev, hash = u.hash
            FROM unnest(ats, ids, poss, prevs, hashes) AS u(at, id, pos, prev, hash)
            WHERE t.priority = h.priority AND t.at = u.at AND t.id = u.id;
            UPDATE skyloom.audit_head SET position = pos, hash = prev WHERE priority = h.priority;
            done := done + (pos - h.position);
        END IF;
    END LOOP;
    RETURN done;
END
$fn$;

-- Sealed entries never change; this stops an UPDATE even by a role that could otherwise make one
-- (the sealer itself only touches rows whose hash is still NULL).
CREATE FUNCTION skyloom.audit_immutable() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.hash IS NULL AND NEW.hash IS NOT NULL
       AND (OLD.priority, OLD.at, OLD.id, OLD.type, OLD.actor, OLD.impersonator, OLD.tenant, OLD.subtenant,
            OLD.target, OLD.request_id, OLD.source, OLD.outcome, OLD.detail)
           IS NOT DISTINCT FROM
           (NEW.priority, NEW.at, NEW.id, NEW.type, NEW.actor, NEW.impersonator, NEW.tenant, NEW.subtenant,
            NEW.target, NEW.request_id, NEW.source, NEW.outcome, NEW.detail) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only' USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE TRIGGER audit_entry_immutable BEFORE UPDATE OR DELETE ON skyloom.audit_entry
    FOR EACH ROW EXECUTE FUNCTION skyloom.audit_immutable();

-- Monthly partitions from last month to `ahead` months on, for every priority. Run by the API at
-- start and by `skyloom audit maintain`; the DEFAULT partitions catch anything outside them.
CREATE FUNCTION skyloom.audit_maintain(ahead integer DEFAULT 3) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, skyloom SET TimeZone = 'UTC' AS $fn$
DECLARE
    p       text;
    m       date;
    name    text;
    made    integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('skyloom.audit_maintain'));
    FOREACH p IN ARRAY ARRAY['debug', 'info', 'notice', 'warn', 'error', 'critical'] LOOP
        FOR i IN -1 .. ahead LOOP
            m := (date_trunc('month', now()) + make_interval(months => i))::date;
            name := format('audit_%s_%s', p, to_char(m, 'YYYY_MM'));
            CONTINUE WHEN to_regclass('skyloom.' || quote_ident(name)) IS NOT NULL;
            -- A month whose rows already landed in DEFAULT stays there (creating it would fail).
            CONTINUE WHEN EXISTS (
                SELECT 1 FROM skyloom.audit_entry
                WHERE priority = p AND at >= m AND at < (m + interval '1 month'));
            EXECUTE format('CREATE TABLE skyloom.%I PARTITION OF skyloom.%I FOR VALUES FROM (%L) TO (%L)',
                           name, 'audit_' || p, m, (m + interval '1 month')::date);
            made := made + 1;
        END LOOP;
    END LOOP;
    RETURN made;
END
$fn$;

-- Drop whole months older than each priority's retention. Only sealed months go, an anchor keeps
-- the chain verifiable, and an audit entry says what went: expiry is never silent.
CREATE FUNCTION skyloom.audit_expire(actor text DEFAULT 'system:retention') RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, skyloom SET TimeZone = 'UTC' AS $fn$
DECLARE
    r        record;
    last     record;
    dropped  integer := 0;
    n        bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('skyloom.audit_seal'));
    FOR r IN
        SELECT c.relname AS part, k.priority, k.keep_days,
               to_date(right(c.relname, 7), 'YYYY_MM') AS month
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class parent ON parent.oid = i.inhparent
        JOIN skyloom.audit_retention k ON parent.relname = 'audit_' || k.priority
        WHERE c.relname ~ '_[0-9]{4}_[0-9]{2}$'
        ORDER BY 3, 4
    LOOP
        CONTINUE WHEN r.month + interval '1 month' > now() - make_interval(days => r.keep_days);
        EXECUTE format('SELECT count(*) FROM skyloom.%I WHERE hash IS NULL', r.part) INTO n;
        CONTINUE WHEN n > 0;   -- never drop what is not chained yet
        EXECUTE format('SELECT position, hash, (SELECT count(*) FROM skyloom.%I) AS total FROM skyloom.%I
                        ORDER BY position DESC LIMIT 1', r.part, r.part) INTO last;
        IF last.position IS NOT NULL THEN
            INSERT INTO skyloom.audit_anchor (priority, position, hash, reason)
            VALUES (r.priority, last.position, last.hash, 'retention dropped ' || r.part)
            ON CONFLICT (priority, position) DO NOTHING;
        END IF;
        -- Dropping a partition fires no row triggers: this is the only way rows ever leave.
        EXECUTE format('DROP TABLE skyloom.%I', r.part);
        INSERT INTO skyloom.audit_entry (priority, type, actor, target, outcome, detail)
        VALUES ('notice', 'audit.expired', actor, r.part, 'success',
                jsonb_build_object('priority', r.priority, 'month', to_char(r.month, 'YYYY-MM'),
                                   'entries', coalesce(last.total, 0), 'keepDays', r.keep_days,
                                   'lastPosition', last.position));
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$fn$;

-- The definer functions run as their owner: only roles granted EXECUTE (the API's) may call them.
REVOKE EXECUTE ON FUNCTION skyloom.audit_seal(integer), skyloom.audit_maintain(integer), skyloom.audit_expire(text) FROM PUBLIC;
