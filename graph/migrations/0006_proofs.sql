-- Step-up proofs for the provider tier: the hardware-held keys an operator registered, and the
-- one-time challenges those keys sign. A challenge is bound to one actor, one action (purpose)
-- and the digest of one exact request payload, and it is spent by a single conditional UPDATE,
-- so a replayed or raced proof finds nothing left to spend.
--
-- The API role gets SELECT and INSERT on both tables and UPDATE only on the columns that may
-- change (see `skyloom.graph.proofs.APP_GRANTS`); it never deletes, so a revoked key and a spent
-- challenge stay on record for the audit trail.

CREATE TABLE skyloom.proof_key (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner          text NOT NULL,                       -- actor id, "user:<uuid>"
    kind           text NOT NULL CHECK (kind IN ('pkcs11', 'webauthn')),
    label          text NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
    -- SHA-256 of the SubjectPublicKeyInfo (pkcs11) or of the credential id (webauthn): how a
    -- proof names its key without the operator having to know our uuid.
    fingerprint    bytea NOT NULL CHECK (length(fingerprint) = 32),
    public_key     bytea,                               -- pkcs11: SubjectPublicKeyInfo DER
    credential_id  bytea,                               -- webauthn
    aaguid         bytea,                               -- webauthn: authenticator model
    cose_key       bytea,                               -- webauthn: CBOR COSE public key
    sign_count     bigint CHECK (sign_count >= 0),      -- webauthn: last counter seen
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    CHECK (
        (kind = 'pkcs11' AND public_key IS NOT NULL AND credential_id IS NULL AND cose_key IS NULL AND sign_count IS NULL)
        OR (kind = 'webauthn' AND public_key IS NULL AND credential_id IS NOT NULL AND aaguid IS NOT NULL
            AND cose_key IS NOT NULL AND sign_count IS NOT NULL)
    )
);
-- One live registration per key: the same key may come back after a revocation, never twice at once.
CREATE UNIQUE INDEX proof_key_live_fingerprint ON skyloom.proof_key (fingerprint) WHERE revoked_at IS NULL;
CREATE INDEX proof_key_owner ON skyloom.proof_key (owner, kind);

CREATE TABLE skyloom.proof_challenge (
    id              uuid PRIMARY KEY,
    actor_id        text NOT NULL,
    ceremony        text NOT NULL CHECK (ceremony IN ('pkcs11', 'webauthn-register', 'webauthn-authenticate')),
    purpose         text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 100),
    payload_digest  bytea NOT NULL CHECK (length(payload_digest) = 32),
    nonce           bytea NOT NULL CHECK (length(nonce) = 32),
    -- The fido2 server's per-ceremony state, kept here so any replica can finish the ceremony.
    webauthn_state  jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    used_key        uuid REFERENCES skyloom.proof_key (id),
    CHECK (expires_at > created_at),
    CHECK ((used_at IS NULL) = (used_key IS NULL))   -- a spent challenge names the key that spent it
);
CREATE INDEX proof_challenge_open ON skyloom.proof_challenge (expires_at) WHERE used_at IS NULL;
