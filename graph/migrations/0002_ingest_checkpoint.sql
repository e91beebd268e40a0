-- Where each ingest source got to, committed in the same transaction as the batch it covers,
-- so a restart resumes exactly after the last applied batch: nothing lost, nothing applied twice.
CREATE TABLE skyloom.ingest_checkpoint (
    source     text PRIMARY KEY,
    position   jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
