"""PKCS#11 step-up proofs end to end: keys in a real SoftHSM2 token, challenges in the real database.

Every refusal is checked twice: the exact error code, and that the challenge row (and the key
rows) are exactly as before, so a refused proof can neither spend nor damage anything.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pkcs11
import psycopg
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from skyloom.graph.pool import Database
from skyloom.policy.proofs import Challenge, Code, Proof, ProofError, StepUp, payload_digest, signer
from skyloom.policy.proofs.challenge import DOMAIN, key_fingerprint
from skyloom.proof_cli import proof as proof_group
from tests.conftest import GRAPH, Pg

PURPOSE = "hsmSettingsUpdate"
PAYLOAD = {"module": "/opt/hsm/lib.so", "slot": 3, "tokenLabel": "provider-root"}


@dataclass(frozen=True)
class Hsm:
    module: str
    pins: dict[str, str]   # token label -> user PIN, made up per session, never written to the repo


@pytest.fixture(scope="session")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hsm]:
    """SoftHSM2 with its own config and token directory in a temp dir (never the machine's default).

    All tokens are made before the module is first loaded: PKCS#11 is initialised once per process.
    """
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    pins = {label: secrets.token_hex(6) for label in ("ops-a", "ops-b", "cli")}
    for label, pin in pins.items():
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", secrets.token_hex(6)],
            check=True, capture_output=True,
        )
    yield Hsm(signer.DEFAULT_MODULE, pins)
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


def ec_key(hsm: Hsm, token: str) -> tuple[str, bytes]:
    label = f"ec-{secrets.token_hex(3)}"
    return label, signer.generate_ec_key(hsm.module, token, label, hsm.pins[token])


def rsa_key(hsm: Hsm, token: str) -> tuple[str, bytes]:
    label = f"rsa-{secrets.token_hex(3)}"
    with signer.session(hsm.module, token, hsm.pins[token], rw=True) as s:
        s.generate_keypair(pkcs11.KeyType.RSA, 2048, store=True, label=label)
    return label, signer.export_public_key(hsm.module, token, label, hsm.pins[token])


def sign(hsm: Hsm, token: str, key_label: str, challenge: Challenge) -> Proof:
    return signer.sign_challenge(hsm.module, token, key_label, hsm.pins[token], challenge)


@pytest.fixture(scope="module")
async def db(pg: Pg) -> AsyncIterator[Database]:
    database = Database(pg.app_url, GRAPH, min_size=1, max_size=4)
    await database.open()
    yield database
    await database.close()


@pytest.fixture
def stepup(db: Database) -> StepUp:
    return StepUp(db)


def new_actor() -> str:
    return f"user:{uuid.uuid4()}"


def challenge_row(pg: Pg, challenge_id: str) -> tuple:
    with psycopg.connect(pg.admin_url) as conn:
        return conn.execute(
            "SELECT actor_id, purpose, payload_digest, used_at, used_key::text FROM skyloom.proof_challenge WHERE id = %s",
            (uuid.UUID(challenge_id),),
        ).fetchone()


def key_rows(pg: Pg, owner: str) -> list[tuple]:
    with psycopg.connect(pg.admin_url) as conn:
        return conn.execute(
            "SELECT id::text, label, revoked_at FROM skyloom.proof_key WHERE owner = %s ORDER BY created_at", (owner,)
        ).fetchall()


async def refused(coro, code: Code) -> ProofError:
    with pytest.raises(ProofError) as caught:
        await coro
    assert caught.value.code == code, caught.value
    return caught.value


# --- the canonical bytes ---------------------------------------------------------------------

def test_canonical_bytes_are_versioned_domain_separated_and_length_prefixed() -> None:
    # Given a challenge with fixed fields
    challenge = Challenge(
        id="0b6f1f4e-3c3a-4d56-9a3e-2f1f0e6c9d11", nonce=bytes(range(32)), purpose="hsmSettingsUpdate",
        payload_digest=b"\xaa" * 32, actor_id="user:1", expires_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    )
    # When it is encoded, Then the bytes are exactly the documented layout
    assert challenge.to_bytes() == (
        b"skyloom/step-up-proof/v1\x00"
        + b"\x00\x24" + b"0b6f1f4e-3c3a-4d56-9a3e-2f1f0e6c9d11"
        + b"\x00\x20" + bytes(range(32))
        + b"\x00\x11" + b"hsmSettingsUpdate"
        + b"\x00\x20" + b"\xaa" * 32
        + b"\x00\x06" + b"user:1"
        + b"\x00\x0a" + b"1893553445"
    )
    assert challenge.to_bytes().startswith(DOMAIN)
    # And the JSON form the operator receives round-trips to the same bytes
    assert Challenge.from_json(json.loads(json.dumps(challenge.to_json()))).to_bytes() == challenge.to_bytes()
    # And moving a character between two fields changes the bytes
    assert replace(challenge, purpose="hsmSettingsUpdat", actor_id="euser:1").to_bytes() != challenge.to_bytes()


def test_payload_digest_ignores_key_order_and_sees_every_value() -> None:
    assert payload_digest({"a": 1, "b": [1, 2]}) == payload_digest({"b": [1, 2], "a": 1})
    assert payload_digest({"a": 1, "b": [1, 2]}) != payload_digest({"a": 1, "b": [2, 1]})
    assert payload_digest({"slot": 3}) != payload_digest({"slot": "3"})


# --- the accepted path --------------------------------------------------------------------------

async def test_ec_proof_signed_in_the_token_is_accepted_once(hsm: Hsm, stepup: StepUp, pg: Pg) -> None:
    # Given an operator with a P-256 key in the HSM, registered with us
    actor = new_actor()
    label, spki = ec_key(hsm, "ops-a")
    key = await stepup.register_key(actor, "ops laptop HSM", spki)
    assert (key.owner, key.kind, key.label, key.public_key, key.revoked_at) == (actor, "pkcs11", "ops laptop HSM", spki, None)
    assert key.fingerprint == key_fingerprint(spki)
    # And a challenge for one exact request
    challenge = await stepup.issue(actor, PURPOSE, PAYLOAD)
    assert (challenge.actor_id, challenge.purpose, challenge.payload_digest) == (actor, PURPOSE, payload_digest(PAYLOAD))
    assert timedelta(seconds=100) < challenge.expires_at - datetime.now(timezone.utc) <= timedelta(seconds=121)
    # When the token signs it and the proof comes back
    proof = sign(hsm, "ops-a", label, challenge)
    assert proof.algorithm == "ES256"
    verified = await stepup.verify(actor, PURPOSE, PAYLOAD, proof.to_json())
    # Then it is accepted, and the challenge is spent by that key
    assert (verified.challenge_id, verified.key_id, verified.actor_id, verified.purpose) == (challenge.id, key.id, actor, PURPOSE)
    assert verified.proof_until == verified.used_at + timedelta(minutes=5)
    spent = challenge_row(pg, challenge.id)
    assert spent[3] == verified.used_at and spent[4] == key.id
    # When the same proof is sent again, Then it is refused as a replay and nothing changes
    await refused(stepup.verify(actor, PURPOSE, PAYLOAD, proof.to_json()), Code.REPLAYED)
    assert challenge_row(pg, challenge.id) == spent


async def test_rsa_pss_proof_is_accepted(hsm: Hsm, stepup: StepUp, pg: Pg) -> None:
    # Given an RSA key in the token, registered as PEM
    actor = new_actor()
    label, spki = rsa_key(hsm, "ops-a")
    pem = serialization.load_der_public_key(spki).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = await stepup.register_key(actor, "rsa", pem)
    assert key.public_key == spki
    challenge = await stepup.issue(actor, PURPOSE, PAYLOAD)
    # When the token signs with RSA-PSS
    proof = sign(hsm, "ops-a", label, challenge)
    assert proof.algorithm == "PS256"
    verified = await stepup.verify(actor, PURPOSE, PAYLOAD, proof)
    # Then the proof is accepted with that key
    assert verified.key_id == key.id
    assert challenge_row(pg, challenge.id)[4] == key.id


async def test_racing_copies_of_one_proof_are_accepted_exactly_once(hsm: Hsm, stepup: StepUp, pg: Pg) -> None:
    # Given a valid proof
    actor = new_actor()
    label, spki = ec_key(hsm, "ops-a")
    key = await stepup.register_key(actor, "k", spki)
    challenge = await stepup.issue(actor, PURPOSE, PAYLOAD)
    proof = sign(hsm, "ops-a", label, challenge).to_json()
    # When four copies arrive at once
    results = await asyncio.gather(
        *(stepup.verify(actor, PURPOSE, PAYLOAD, proof) for _ in range(4)), return_exceptions=True
    )
    # Then one is accepted and the other three are refused as replays
    accepted = [r for r in results if not isinstance(r, Exception)]
    assert len(accepted) == 1 and accepted[0].key_id == key.id
    assert sorted(r.code for r in results if isinstance(r, ProofError)) == [Code.REPLAYED] * 3
    assert challenge_row(pg, challenge.id)[3] == accepted[0].used_at


# --- refusals -------------------------------------------------------------------------------------

async def test_forged_signature_is_refused_and_the_challenge_stays_open(hsm: Hsm, stepup: StepUp, pg: Pg) -> None:
    # Given a proof whose signature was altered
    actor = new_actor()
    label, spki = ec_key(hsm, "ops-a")
    await stepup.register_key(actor, "k", spki)
    challenge = await stepup.issue(actor, PURPOSE, PAYLOAD)
    genuine = sign(hsm, "ops-a", label, challenge)
    forged = replace(genuine, signature=genuine.signature[:-1] + bytes([genuine.signature[-1] ^ 1]))
    before = challenge_row(pg, challenge.id)
    # When it is verified, Then it is refused and the challenge is untouched
    await refused(stepup.verify(actor, PURPOSE, PAYLOAD, forged), Code.BAD_SIGNATURE)
    assert challenge_row(pg, challenge.id) == before and before[3] is None
    # And a signature made by software with a key not in the token fails the same way
    software = ec.generate_private_key(ec.SECP256R1()).sign(challenge.to_bytes(), ec.ECDSA(hashes.SHA256()))
    await refused(stepup.verify(actor, PURPOSE, PAYLOAD, replace(genuine, signature=software)), Code.BAD_SIGNATURE)
    # And the genuine proof still works afterwards
    assert (await stepup.verify(actor, PURPOSE, PAYLOAD, genuine)).challenge_id == challenge.id


async def test_signature_over_another_challenge_is_refused(hsm: Hsm, stepup: StepUp, pg: Pg) -> None:
    # Given two challenges and a signature over the first one, presented for the second
    actor = new_actor()
    label, spki = ec_key(hsm, "ops-a")
    await stepup.register_key(actor, "k", spki)
    first = await stepup.issue(actor, PURPOSE, PAYLOAD)
    second = await stepup.issue(actor, PURPOSE, PAYLOAD)
    moved = replace(sign(hsm, "ops-a", label, first), challenge_id=second.id)
    # When verified, Then refused, and neither challenge was spent
    await refused(stepup.verify(actor, PURPOSE, PAYLOAD, moved), Code.BAD_SIGNATURE)
    assert challenge_row(pg, first.id)[3] is None and challenge_row(pg, second.id)[3] is None


async def test_other_actors_key_is_refused(hsm: Hsm, stepup: StepUp, pg: Pg) -> None:
    # Given operator B's registered key, used to sign operator A's challenge
    actor_a, actor_b = new_actor(), new_actor()
    label_b, spki_b = ec_key(hsm, "ops-b")
    await stepup.register_key(actor_b, "b", spki_b)
    challenge = await stepup.issue(actor_a, PURPOSE, PAYLOAD)
    before = challenge_row(pg, challenge.id)
    # When A presents it, Then it is refused as a foreign key and nothing changes
    await refused(stepup.verify(actor_a, PURPOSE, PAYLOAD, sign(hsm, "ops-b", label_b, challenge)), Code.FOREIGN_KEY)
    assert challenge_row(pg, challenge.id) == before


async def test_challenge_of_another_actor_is_refused(hsm: Hsm, stepup: StepUp, pg: Pg) -> None:
    # Given A's challenge, signed correctly by B with B's own key
    actor_a, actor_b = new_actor(), new_actor()
    label_b, spki_b = ec_key(hsm, "ops-b")
    await stepup.register_key(actor_b, "b", spki_b)
    challenge = await stepup.issue(actor_a, PURPOSE, PAYLOAD)
    before = challenge_row(pg, challenge.id)
    # When B presents it, Then it is refused as the wrong actor and nothing changes
    await refused(stepup.verify(actor_b, PURPOSE, PAYLOAD, sign(hsm, "ops-b", label_b, challenge)), Code.WRONG_ACTOR)
    assert challenge_row(pg, challenge.id) == before


async def test_expired_challenge_is_refused(hsm: Hsm, db: Database, pg: Pg) -> None:
    # Given a service whose challenges live one second, and a proof signed in time
    short = StepUp(db, ttl=timedelta(seconds=1))
    actor = new_actor()
    label, spki = ec_key(hsm, "ops-a")
    await short.register_key(actor, "k", spki)
    challenge = await short.issue(actor, PURPOSE, PAYLOAD)
    proof = sign(hsm, "ops-a", label, challenge)
    # When it arrives after the expiry, Then it is refused and stays unspent
    await asyncio.sleep(1.2)
    await refused(short.verify(actor, PURPOSE, PAYLOAD, proof), Code.EXPIRED)
    assert challenge_row(pg, challenge.id)[3] is None


async def test_proof_moved_to_another_payload_or_action_is_refused(hsm: Hsm, stepup: StepUp, pg: Pg) -> None:
    # Given a valid proof for one exact request
    actor = new_actor()
    label, spki = ec_key(hsm, "ops-a")
    await stepup.register_key(actor, "k", spki)
    challenge = await stepup.issue(actor, PURPOSE, PAYLOAD)
    proof = sign(hsm, "ops-a", label, challenge)
    before = challenge_row(pg, challenge.id)
    # When it is presented with a changed payload, or for another action, Then both are refused
    await refused(stepup.verify(actor, PURPOSE, {**PAYLOAD, "slot": 4}, proof), Code.PAYLOAD_MISMATCH)
    await refused(stepup.verify(actor, "rootGroupUpdate", PAYLOAD, proof), Code.WRONG_PURPOSE)
    # And nothing changed
    assert challenge_row(pg, challenge.id) == before and before[3] is None


async def test_revoked_key_is_refused(hsm: Hsm, stepup: StepUp, pg: Pg) -> None:
    # Given a registered key that is then revoked
    actor = new_actor()
    label, spki = ec_key(hsm, "ops-a")
    key = await stepup.register_key(actor, "k", spki)
    challenge = await stepup.issue(actor, PURPOSE, PAYLOAD)
    revoked = await stepup.revoke_key(actor, key.id)
    assert revoked.id == key.id and revoked.revoked_at is not None
    assert await stepup.list_keys(actor) == []
    assert [k.id for k in await stepup.list_keys(actor, include_revoked=True)] == [key.id]
    # When its signature arrives, Then it is refused and the challenge stays unspent
    await refused(stepup.verify(actor, PURPOSE, PAYLOAD, sign(hsm, "ops-a", label, challenge)), Code.KEY_REVOKED)
    assert challenge_row(pg, challenge.id)[3] is None
    # And revoking again, or by another actor, changes nothing
    await refused(stepup.revoke_key(actor, key.id), Code.UNKNOWN_KEY)
    await refused(stepup.revoke_key(new_actor(), key.id), Code.UNKNOWN_KEY)
    assert key_rows(pg, actor) == [(key.id, "k", revoked.revoked_at)]


async def test_unregistered_key_and_unknown_or_malformed_proofs_are_refused(hsm: Hsm, stepup: StepUp, pg: Pg) -> None:
    # Given a challenge and a key that exists in the token but was never registered
    actor = new_actor()
    label, _spki = ec_key(hsm, "ops-a")
    challenge = await stepup.issue(actor, PURPOSE, PAYLOAD)
    proof = sign(hsm, "ops-a", label, challenge)
    # Then each is refused with its own code, and the challenge is untouched
    await refused(stepup.verify(actor, PURPOSE, PAYLOAD, proof), Code.UNKNOWN_KEY)
    await refused(stepup.verify(actor, PURPOSE, PAYLOAD, replace(proof, challenge_id=str(uuid.uuid4()))), Code.UNKNOWN_CHALLENGE)
    await refused(stepup.verify(actor, PURPOSE, PAYLOAD, {**proof.to_json(), "signature": "%%"}), Code.MALFORMED_PROOF)
    await refused(stepup.verify(actor, PURPOSE, PAYLOAD, {**proof.to_json(), "algorithm": "none"}), Code.MALFORMED_PROOF)
    await refused(stepup.verify(actor, PURPOSE, PAYLOAD, {"version": 1}), Code.MALFORMED_PROOF)
    assert challenge_row(pg, challenge.id)[3] is None


async def test_registration_refuses_duplicates_and_weak_keys(hsm: Hsm, stepup: StepUp, pg: Pg) -> None:
    # Given a registered key
    actor, other = new_actor(), new_actor()
    _label, spki = ec_key(hsm, "ops-a")
    key = await stepup.register_key(actor, "k", spki)
    # When the same key is registered again (by anyone), or a weak key is offered, Then refused
    await refused(stepup.register_key(actor, "again", spki), Code.KEY_ALREADY_REGISTERED)
    await refused(stepup.register_key(other, "stolen", spki), Code.KEY_ALREADY_REGISTERED)
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    rsa1024 = rsa.generate_private_key(65537, 1024).public_key()
    for weak in (p384, rsa1024):
        der = weak.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        await refused(stepup.register_key(actor, "weak", der), Code.UNSUPPORTED_KEY)
    await refused(stepup.register_key(actor, "junk", b"not a key"), Code.UNSUPPORTED_KEY)
    # And only the first registration exists
    assert key_rows(pg, actor) == [(key.id, "k", None)]
    assert key_rows(pg, other) == []


async def test_api_role_cannot_rewrite_or_delete_what_a_proof_approves(stepup: StepUp, db: Database, pg: Pg) -> None:
    # Given an open challenge
    actor = new_actor()
    challenge = await stepup.issue(actor, PURPOSE, PAYLOAD)
    before = challenge_row(pg, challenge.id)
    # When the API role tries to rewrite what it approves, or to delete it, Then the database refuses
    async with db.connection() as conn:
        for statement in (
            "UPDATE skyloom.proof_challenge SET payload_digest = %s WHERE id = %s",
            "UPDATE skyloom.proof_challenge SET expires_at = now() + interval '1 day' WHERE %s IS NOT NULL AND id = %s",
            "DELETE FROM skyloom.proof_challenge WHERE %s IS NOT NULL AND id = %s",
            "UPDATE skyloom.proof_key SET public_key = %s WHERE id = %s",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                await conn.execute(statement, (b"\x00" * 32, uuid.UUID(challenge.id)))
    assert challenge_row(pg, challenge.id) == before


# --- the operator's command -------------------------------------------------------------------------

async def test_cli_keygen_and_sign_produce_an_accepted_proof(hsm: Hsm, db: Database, pg: Pg, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"OPS_PIN": hsm.pins["cli"]}
    common = ["--module", hsm.module, "--token-label", "cli", "--key-label", "cli-key", "--pin-env", "OPS_PIN"]
    # Given a key made with `proof keygen`
    made = runner.invoke(proof_group, ["keygen", *common], env=env)
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith("-----BEGIN PUBLIC KEY-----\n") and made.stdout.endswith("-----END PUBLIC KEY-----\n")
    exported = runner.invoke(proof_group, ["public-key", *common], env=env)
    assert exported.stdout == made.stdout
    # And registered, with a challenge issued for it
    actor = new_actor()
    stepup = StepUp(db)
    await stepup.register_key(actor, "cli", made.stdout.encode())
    challenge = await stepup.issue(actor, PURPOSE, PAYLOAD)
    (tmp_path / "challenge.json").write_text(json.dumps(challenge.to_json()))
    # When `proof sign` reads it from a file
    signed = runner.invoke(proof_group, ["sign", *common, "--challenge", str(tmp_path / "challenge.json")], env=env)
    # Then it prints one proof JSON on stdout, says what it approves on stderr, and never the PIN
    assert signed.exit_code == 0, signed.output
    assert signed.stderr.startswith(f"approving {PURPOSE} for {actor} (challenge {challenge.id}, expires ")
    assert hsm.pins["cli"] not in signed.output
    proof = json.loads(signed.stdout)
    assert (proof["challengeId"], proof["algorithm"]) == (challenge.id, "ES256")
    # And the same works from stdin, each a valid signature (ECDSA is randomised, so they differ)
    piped = runner.invoke(proof_group, ["sign", *common, "--challenge", "-"], input=json.dumps(challenge.to_json()), env=env)
    assert piped.exit_code == 0, piped.output
    assert json.loads(piped.stdout)["keyFingerprint"] == proof["keyFingerprint"]
    verified = await stepup.verify(actor, PURPOSE, PAYLOAD, proof)
    assert verified.challenge_id == challenge.id
    assert challenge_row(pg, challenge.id)[3] == verified.used_at


def test_cli_refuses_pin_on_the_command_line_and_wrong_or_missing_pins(hsm: Hsm, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--module", hsm.module, "--token-label", "cli", "--key-label", "other-key"]
    # A --pin option does not exist
    no_option = runner.invoke(proof_group, ["keygen", *base, "--pin", "1234"])
    assert no_option.exit_code == 2 and "Error: No such option '--pin'." in no_option.output
    # A variable that is not set is an error, not an empty PIN
    unset = runner.invoke(proof_group, ["keygen", *base, "--pin-env", "NOT_SET_PIN"], env={"NOT_SET_PIN": None})
    assert (unset.exit_code, unset.output) == (1, "Error: environment variable NOT_SET_PIN is not set or empty\n")
    # A wrong PIN is refused by the token, and the message does not repeat it
    wrong_pin = "9" + hsm.pins["cli"]
    wrong = runner.invoke(proof_group, ["keygen", *base, "--pin-env", "P"], env={"P": wrong_pin})
    assert (wrong.exit_code, wrong.output) == (1, "Error: the token refused the PIN\n")
    # The prompt takes the PIN hidden, and an unknown token is reported by label
    prompted = runner.invoke(
        proof_group, ["keygen", "--module", hsm.module, "--token-label", "nope", "--key-label", "k"], input="1234\n"
    )
    assert prompted.exit_code == 1 and "1234" not in prompted.output
    assert prompted.output.endswith("Error: no token labelled 'nope' in " + hsm.module + "\n")
