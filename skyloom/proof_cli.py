"""`skyloom proof ...`: the operator's side of a step-up proof, with a key held in a PKCS#11 token.

The PIN is read from an environment variable named by `--pin-env` or typed at a hidden prompt,
never taken as an argument (arguments show in `ps` and shell history). Proof JSON goes to
stdout so it can be piped; everything said to the operator goes to stderr.
"""

from __future__ import annotations

import json
import os

import click

from skyloom.policy.proofs import signer
from skyloom.policy.proofs.challenge import Challenge

MODULE = click.option(
    "--module", default=None, metavar="PATH",
    help=f"PKCS#11 module of the token (default: ${signer.MODULE_ENV}, else {signer.DEFAULT_MODULE}).",
)
TOKEN = click.option("--token-label", required=True, help="Label of the token (slot) holding the key.")
KEY = click.option("--key-label", required=True, help="Label of the key pair in the token.")
PIN_ENV = click.option(
    "--pin-env", default=None, metavar="VAR", help="Read the user PIN from this environment variable (else prompt)."
)


def _pin(pin_env: str | None) -> str:
    if pin_env:
        pin = os.environ.get(pin_env)
        if not pin:
            raise click.ClickException(f"environment variable {pin_env} is not set or empty")
        return pin
    return click.prompt("Token user PIN", hide_input=True, err=True)


def _signer_call(fn, *args):
    try:
        return fn(*args)
    except signer.SignerError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def proof() -> None:
    """Hardware-key step-up proofs: make a key in a token, export it, sign a challenge."""


@proof.command()
@MODULE
@TOKEN
@KEY
@PIN_ENV
def keygen(module: str | None, token_label: str, key_label: str, pin_env: str | None) -> None:
    """Create an EC P-256 key pair in the token and print its public key (PEM) for registration."""
    der = _signer_call(signer.generate_ec_key, signer.module_path(module), token_label, key_label, _pin(pin_env))
    click.echo(signer.public_key_pem(der), nl=False)


@proof.command("public-key")
@MODULE
@TOKEN
@KEY
@PIN_ENV
def public_key(module: str | None, token_label: str, key_label: str, pin_env: str | None) -> None:
    """Print the public key (PEM) of an existing key pair in the token."""
    der = _signer_call(signer.export_public_key, signer.module_path(module), token_label, key_label, _pin(pin_env))
    click.echo(signer.public_key_pem(der), nl=False)


@proof.command()
@MODULE
@TOKEN
@KEY
@PIN_ENV
@click.option("--challenge", "challenge_file", type=click.File("r"), required=True,
              help="The challenge JSON the API issued (a file, or - for stdin).")
def sign(module: str | None, token_label: str, key_label: str, pin_env: str | None, challenge_file) -> None:
    """Sign a challenge in the token and print the proof JSON to send back."""
    try:
        challenge = Challenge.from_json(json.load(challenge_file))
    except (json.JSONDecodeError, ValueError) as exc:
        raise click.ClickException(f"cannot read the challenge: {exc}") from None
    # Say what is being approved before the PIN unlocks the key: the operator signs knowingly.
    click.echo(
        f"approving {challenge.purpose} for {challenge.actor_id} (challenge {challenge.id}, "
        f"expires {challenge.expires_at:%Y-%m-%d %H:%M:%S}Z)",
        err=True,
    )
    result = _signer_call(
        signer.sign_challenge, signer.module_path(module), token_label, key_label, _pin(pin_env), challenge
    )
    click.echo(json.dumps(result.to_json()))
