-- Step-up ("sudo mode") and HSM settings.
--
-- A session raised to the hardware tier keeps, on its own row, until when the hardware-key proof
-- holds (`proof_until`) and which registered key gave it (`proof_key`); `auth_strength` is raised
-- to HARDWARE (3) in the same UPDATE. Every request re-reads the row, so a step-up is seen at
-- once by every replica and lapses by itself: nothing has to run when it ends.
--
-- The HSM settings are one row: the PKCS#11 module and token label the operators' signers use
-- (hints shown with a challenge, never secrets: the PIN stays with the operator), how long a
-- challenge may wait for its signature, and how long an accepted proof lasts. The step-up
-- service reads them at every challenge, so a change applies at once on every replica.

ALTER TABLE skyloom.user_session
    ADD COLUMN proof_until timestamptz,
    ADD COLUMN proof_key   uuid REFERENCES skyloom.proof_key (id),
    ADD CONSTRAINT user_session_proof_key CHECK ((proof_until IS NULL) = (proof_key IS NULL));

CREATE TABLE skyloom.hsm_settings (
    id                     smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    module_path            text CHECK (module_path IS NULL
                                       OR (module_path ~ '^/' AND length(module_path) <= 4096 AND module_path !~ '[[:cntrl:]]')),
    token_label            text CHECK (token_label IS NULL OR length(token_label) BETWEEN 1 AND 32),
    challenge_ttl_seconds  integer NOT NULL DEFAULT 120 CHECK (challenge_ttl_seconds BETWEEN 10 AND 600),
    proof_validity_seconds integer NOT NULL DEFAULT 300 CHECK (proof_validity_seconds BETWEEN 30 AND 3600),
    updated_by             text NOT NULL DEFAULT 'system:migrate',
    updated_at             timestamptz NOT NULL DEFAULT now()
);
INSERT INTO skyloom.hsm_settings (id) VALUES (1);
