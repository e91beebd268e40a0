-- Architecture designs: what an operator draws in the planner for a client (a tenant), kept as
-- versioned documents. A design's row says where it lives and which version is the latest; each
-- save appends a version and never rewrites one, so any two versions can be compared and a
-- version that was previewed or applied stays exactly as it was.
--
-- The document is the planner's JSON (see docs/planner.md); the API validates it before it
-- stores it and keeps the counts of problems found, so lists can flag designs that do not
-- validate without parsing every document.

CREATE TABLE skyloom.design (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,   -- page order (newest first)
    provider_id    text NOT NULL,
    tenant_id      text NOT NULL,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100 AND name = btrim(name)),
    cloud          text NOT NULL CHECK (cloud IN ('aws', 'azure', 'gcp', 'oci')),
    latest         integer NOT NULL DEFAULT 1 CHECK (latest >= 1),
    copied_from    uuid REFERENCES skyloom.design (id),
    copied_version integer,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     text NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    archived_at    timestamptz,
    CHECK ((copied_from IS NULL) = (copied_version IS NULL))
);
-- A client's live designs have distinct names (case-insensitively): "acme-prod" is one design.
CREATE UNIQUE INDEX design_live_name ON skyloom.design (tenant_id, lower(name)) WHERE archived_at IS NULL;
CREATE INDEX design_tenant_page ON skyloom.design (tenant_id, seq DESC);

CREATE TABLE skyloom.design_version (
    design_id  uuid NOT NULL REFERENCES skyloom.design (id),
    version    integer NOT NULL CHECK (version >= 1),
    document   jsonb NOT NULL CHECK (jsonb_typeof(document) = 'object'),
    errors     integer NOT NULL CHECK (errors >= 0),
    warnings   integer NOT NULL CHECK (warnings >= 0),
    comment    text CHECK (length(comment) <= 500),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (design_id, version)
);
