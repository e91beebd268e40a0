"""A real SAML 2.0 identity provider for the tests: pysaml2's IdP side, signing with xmlsec1.

It reads the panel's AuthnRequest from the redirect URL the panel produced and answers with a
Response signed by a key generated for this test run (kept in a temp dir, never in the repo).
The forging helpers make the responses an attacker or a misbehaving IdP would send: tampered
after signing, for another audience, already expired, unsigned, answering another request,
unsolicited.
"""
from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.assertion import Policy
from saml2.config import IdPConfig
from saml2.mdstore import MetadataStore
from saml2.metadata import entity_descriptor
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.time_util import a_while_ago, in_a_while
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

__all__ = ["PASSWORD", "SIG_RSA_SHA1", "TWO_FACTOR", "SamlIdp", "make_key_pair", "tamper"]

PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
TWO_FACTOR = "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"


def make_key_pair(directory: Path, common_name: str) -> tuple[Path, Path]:
    """A fresh RSA key and self-signed certificate as PEM files (key readable by owner only)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{common_name}.key", directory / f"{common_name}.crt"
    key_path.touch(mode=0o600)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


class _AgedPolicy(Policy):
    """The release policy of an assertion issued `ago` minutes before now with a `lifetime` in
    minutes: how a response captured earlier looks when it is posted now."""

    def __init__(self, lifetime: int, ago: int, mds: object) -> None:
        super().__init__({"default": {"lifetime": {"minutes": lifetime}, "name_form": NAME_FORMAT_BASIC}}, mds)
        self.remaining = lifetime - ago
        self.ago = ago

    def not_on_or_after(self, sp_entity_id: str) -> str:
        return in_a_while(minutes=self.remaining)

    def conditions(self, sp_entity_id: str) -> object:
        conditions = super().conditions(sp_entity_id)
        conditions.not_before = a_while_ago(minutes=self.ago)
        return conditions


@dataclass(frozen=True)
class Request:
    """An AuthnRequest as the IdP received it."""

    id: str
    issuer: str
    acs_url: str
    relay_state: str


class SamlIdp:
    def __init__(self, directory: Path, entity_id: str = "https://idp.example.test/saml", xmlsec_binary: str = "/usr/bin/xmlsec1") -> None:
        key, cert = make_key_pair(directory, "saml-idp")
        self.entity_id = entity_id
        config = IdPConfig()
        config.load({
            "entityid": entity_id,
            "xmlsec_binary": xmlsec_binary,
            "key_file": str(key),
            "cert_file": str(cert),
            "service": {"idp": {
                "endpoints": {"single_sign_on_service": [(f"{entity_id}/sso/redirect", BINDING_HTTP_REDIRECT)]},
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_BASIC}},
            }},
        })
        self.server = Server(config=config)

    def metadata_xml(self) -> str:
        return str(entity_descriptor(self.server.config))

    def trust(self, sp_metadata_xml: str) -> None:
        """Register a service provider (its ACS URL comes from its metadata)."""
        if self.server.metadata is None:
            config = self.server.config
            self.server.metadata = MetadataStore(config.attribute_converters, config)
        self.server.metadata.load("inline", sp_metadata_xml)

    def receive(self, redirect_url: str) -> Request:
        """Parse the AuthnRequest a browser would bring here from the SP's redirect."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(redirect_url).query).items()}
        message = self.server.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT).message
        acs = message.assertion_consumer_service_url or self.server.metadata.assertion_consumer_service(message.issuer.text, BINDING_HTTP_POST)[0]["location"]
        return Request(message.id, message.issuer.text, acs, query.get("RelayState", ""))

    def respond(
        self,
        request: Request | None,
        user: str,
        groups: list[str],
        *,
        email: str | None = None,
        name: str | None = None,
        authn_class: str = PASSWORD,
        audience: str | None = None,
        issued_minutes_ago: int = 0,
        sign_assertion: bool = True,
        sign_response: bool = False,
        sign_alg: str = SIG_RSA_SHA256,
        in_response_to: str | None = None,
        acs_url: str | None = None,
    ) -> str:
        """A base64 SAMLResponse for `user`, as the HTTP-POST binding carries it. Defaults answer
        `request` honestly; each keyword bends one thing. `request` None is an unsolicited
        response (then `audience` and `acs_url` are required)."""
        identity = {"groups": groups}
        if email:
            identity["mail"] = [email]
        if name:
            identity["displayName"] = [name]
        sp = audience or request.issuer
        response = self.server.create_authn_response(
            identity=identity,
            in_response_to=in_response_to if in_response_to is not None else (request.id if request else None),
            destination=acs_url or request.acs_url,
            sp_entity_id=sp,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=user, name_qualifier=self.entity_id, sp_name_qualifier=sp),
            authn={"class_ref": authn_class, "authn_auth": self.entity_id},
            sign_assertion=sign_assertion,
            sign_response=sign_response,
            sign_alg=sign_alg,
            digest_alg=DIGEST_SHA256,
            release_policy=_AgedPolicy(5, issued_minutes_ago, self.server.metadata),
        )
        return base64.b64encode(str(response).encode()).decode()


def tamper(saml_response: str, old: str, new: str) -> str:
    """Change signed content after signing, as an attacker editing the POST form would."""
    xml = base64.b64decode(saml_response).decode()
    assert old in xml, f"{old!r} not in the response"
    return base64.b64encode(xml.replace(old, new).encode()).decode()
