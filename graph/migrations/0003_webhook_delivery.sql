-- Every Pulumi Cloud webhook delivery received, verified or not: idempotency by delivery id,
-- the work queue of the webhook worker (pending -> applied | failed | unbound | ignored), and
-- the record of rejected ones.
CREATE TABLE skyloom.webhook_delivery (
    delivery_id  text PRIMARY KEY,
    kind         text NOT NULL,
    body_sha256  text NOT NULL,
    payload      jsonb,
    status       text NOT NULL CHECK (status IN ('pending', 'applied', 'failed', 'unbound', 'ignored')),
    attempts     integer NOT NULL DEFAULT 0,
    detail       text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX webhook_delivery_pending ON skyloom.webhook_delivery (received_at) WHERE status = 'pending';

-- Deliveries refused at the door (bad signature, replayed id with another body): kept apart so
-- that an attacker cannot claim a delivery id before the real delivery arrives.
CREATE TABLE skyloom.webhook_rejection (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  text,
    kind         text,
    reason       text NOT NULL,
    source       text,
    received_at  timestamptz NOT NULL DEFAULT now()
);
