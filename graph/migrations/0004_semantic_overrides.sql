-- A provider installation's own semantic layer on top of the shipped defaults: extra type-token
-- rules (tried before the shipped ones) and its own words for a kind in a cloud.
CREATE TABLE skyloom.semantic_mapping (
    provider_uid  uuid NOT NULL,
    token_pattern text NOT NULL CHECK (length(token_pattern) BETWEEN 1 AND 300),
    kind          text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider_uid, token_pattern)
);

CREATE TABLE skyloom.semantic_term (
    provider_uid uuid NOT NULL,
    kind         text NOT NULL,
    cloud        text NOT NULL,
    term         text NOT NULL CHECK (length(term) BETWEEN 1 AND 100),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider_uid, kind, cloud)
);
