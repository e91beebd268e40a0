"""The identity and access store on the real database, as the API's unprivileged role: provisioning,
deprovisioning, bindings, sessions, API tokens, and what the role cannot do."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from skyloom.graph import identity as idn
from skyloom.graph.identity_model import new_api_token
from skyloom.graph.pool import Database
from skyloom.policy.actor import AuthStrength, Binding
from tests.conftest import Pg, unique

GRAPH = "cmdb"
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
async def db(pg: Pg) -> AsyncIterator[Database]:
    database = Database(pg.app_url, GRAPH, min_size=1, max_size=2)
    await database.open()
    yield database
    await database.close()


async def admin_rows(pg: Pg, query: str, params: Any = ()) -> list[tuple]:
    """Look behind the store's back, as the superuser."""
    async with await psycopg.AsyncConnection.connect(pg.admin_url, autocommit=True) as conn:
        cur = await conn.execute(query, params)
        return await cur.fetchall() if cur.description else []


async def counts(pg: Pg) -> dict[str, int]:
    out = {}
    for table in idn.IDENTITY_TABLES:
        (row,) = await admin_rows(pg, f"SELECT count(*) FROM skyloom.{table}")
        out[table] = row[0]
    return out


async def new_idp(db: Database, *, users: bool = True, groups: bool = True, tenant: str | None = "t-acme") -> idn.IdentityProvider:
    return await idn.create_idp(db, idn.IdentityProvider(
        id=unique("idp"), kind="oidc", name="Acme SSO", provider_id="p-one", tenant_id=tenant,
        settings={"issuer": "https://sso.example.test", "client_id": "skyloom", "client_secret_env": "ACME_SSO_SECRET"},
        auto_create_users=users, auto_create_groups=groups,
    ))


def login(idp: idn.IdentityProvider, subject: str, *groups: str) -> idn.ProvisionRequest:
    return idn.ProvisionRequest(idp.id, subject, f"{subject}@acme.test", subject.title(), groups, AuthStrength.MULTI_FACTOR)


async def live_memberships(pg: Pg, user_id) -> set[tuple[str, str]]:
    rows = await admin_rows(
        pg,
        "SELECT g.name, m.source FROM skyloom.group_membership m JOIN skyloom.identity_group g ON g.id = m.group_id "
        "WHERE m.user_id = %s AND m.removed_at IS NULL",
        (user_id,),
    )
    return set(rows)


# -- provisioning ---------------------------------------------------------------------------------
async def test_first_login_creates_user_groups_memberships_and_mapped_bindings(db: Database, pg: Pg) -> None:
    # Given an IdP that creates users and groups, with two group mappings
    idp = await new_idp(db)
    await idn.add_group_mapping(db, idp.id, "ops", "editor", "tenant", "t-acme", "admin")
    await idn.add_group_mapping(db, idp.id, "auditors", "auditor", "tenant", "t-acme", "admin")

    # When alice logs in for the first time
    user = await idn.provision(db, login(idp, "alice", "ops", "auditors", "misc"))

    # Then she exists, with her home scope from the IdP
    assert (user.kind, user.idp_id, user.subject, user.email, user.display_name) == ("user", idp.id, "alice", "alice@acme.test", "Alice")
    assert (user.home_provider, user.home_tenant, user.home_subtenant) == ("p-one", "t-acme", None)
    assert user.last_login_at is not None and user.disabled_at is None
    groups = await admin_rows(pg, "SELECT name, home_provider, home_tenant FROM skyloom.identity_group WHERE idp_id = %s ORDER BY name", (idp.id,))
    assert groups == [("auditors", "p-one", "t-acme"), ("misc", "p-one", "t-acme"), ("ops", "p-one", "t-acme")]
    assert await live_memberships(pg, user.id) == {("auditors", "idp"), ("misc", "idp"), ("ops", "idp")}
    # and the mapped roles are bound to the groups, reaching her through them
    actor = await idn.load_actor(db, user.id)
    assert actor.id == f"user:{user.id}" and actor.kind == "user" and actor.name == "Alice"
    assert (actor.home_provider, actor.home_tenant, actor.home_subtenant) == ("p-one", "t-acme", None)
    assert actor.groups == frozenset({"auditors", "misc", "ops"})
    assert actor.bindings == (Binding("auditor", "tenant", "t-acme", "auditors"), Binding("editor", "tenant", "t-acme", "ops"))
    assert actor.attributes == {"email": "alice@acme.test"}


async def test_a_group_gone_from_the_claims_deprovisions_exactly_that_membership(db: Database, pg: Pg) -> None:
    # Given alice and bob in "ops" (mapped to editor), alice also in "auditors" and, by hand, in a local group
    idp = await new_idp(db)
    await idn.add_group_mapping(db, idp.id, "ops", "editor", "tenant", "t-acme", "admin")
    await idn.add_group_mapping(db, idp.id, "auditors", "auditor", "tenant", "t-acme", "admin")
    alice = await idn.provision(db, login(idp, "alice", "ops", "auditors"))
    bob = await idn.provision(db, login(idp, "bob", "ops"))
    local = await idn.create_local_group(db, unique("local"), "admin", home_tenant="t-acme")
    assert await idn.add_member(db, local, alice.id, "admin") is True
    local_name = await _group_name(pg, local)
    await idn.create_binding(db, "group", local, "viewer", "subtenant", "s-one", "admin")
    bindings_before = await admin_rows(pg, "SELECT id, revoked_at FROM skyloom.role_binding ORDER BY id")

    # When alice logs in again without "ops"
    again = await idn.provision(db, login(idp, "alice", "auditors"))

    # Then only her "ops" membership has ended, stamped by the IdP sync
    assert again.id == alice.id
    assert await live_memberships(pg, alice.id) == {("auditors", "idp"), (local_name, "manual")}
    ended = await admin_rows(
        pg, "SELECT g.name, m.removed_by FROM skyloom.group_membership m JOIN skyloom.identity_group g ON g.id = m.group_id "
        "WHERE m.user_id = %s AND m.removed_at IS NOT NULL", (alice.id,),
    )
    assert ended == [("ops", "idp")]
    # and with it the editor role, while bob keeps his and no binding row changed
    actor = await idn.load_actor(db, alice.id)
    assert actor.bindings == (
        Binding("viewer", "subtenant", "s-one", local_name),
        Binding("auditor", "tenant", "t-acme", "auditors"),
    )
    assert (await idn.load_actor(db, bob.id)).bindings == (Binding("editor", "tenant", "t-acme", "ops"),)
    assert await admin_rows(pg, "SELECT id, revoked_at FROM skyloom.role_binding ORDER BY id") == bindings_before


async def _group_name(pg: Pg, group_id) -> str:
    (row,) = await admin_rows(pg, "SELECT name FROM skyloom.identity_group WHERE id = %s", (group_id,))
    return row[0]


async def test_without_auto_create_a_new_subject_is_refused_and_nothing_is_written(db: Database, pg: Pg) -> None:
    # Given an IdP that does not create users on login
    idp = await new_idp(db, users=False)
    await idn.add_group_mapping(db, idp.id, "ops", "editor", "tenant", "t-acme", "admin")
    before = await counts(pg)

    # When a subject with no user logs in
    with pytest.raises(idn.ProvisioningRefused) as refused:
        await idn.provision(db, login(idp, "mallory", "ops"))

    # Then it is refused with its code, and no user, group, membership or binding appeared
    assert refused.value.code == "provisioning_refused"
    assert await counts(pg) == before
    assert await idn.find_user(db, idp.id, "mallory") is None


async def test_without_auto_create_groups_only_existing_groups_are_joined(db: Database, pg: Pg) -> None:
    # Given an IdP that creates users but not groups, and no groups yet
    idp = await new_idp(db, groups=False)

    # When a user logs in claiming two groups
    user = await idn.provision(db, login(idp, "carol", "ops", "misc"))

    # Then the user exists but no group was created or joined
    assert await admin_rows(pg, "SELECT count(*) FROM skyloom.identity_group WHERE idp_id = %s", (idp.id,)) == [(0,)]
    assert await live_memberships(pg, user.id) == set()


async def test_a_disabled_user_or_idp_is_refused_and_last_login_is_unchanged(db: Database, pg: Pg) -> None:
    # Given a user who has logged in once, then was disabled
    idp = await new_idp(db)
    user = await idn.provision(db, login(idp, "dave", "ops"))
    assert await idn.set_user_disabled(db, user.id, True) is True
    before = await counts(pg)
    stamp = await admin_rows(pg, "SELECT last_login_at FROM skyloom.identity_user WHERE id = %s", (user.id,))

    # When they log in again, then they are refused and nothing changed
    with pytest.raises(idn.UserDisabled):
        await idn.provision(db, login(idp, "dave", "ops", "new-group"))
    assert await counts(pg) == before
    assert await admin_rows(pg, "SELECT last_login_at FROM skyloom.identity_user WHERE id = %s", (user.id,)) == stamp

    # When the IdP is disabled, its other subjects are refused too
    await idn.update_idp(db, idp.id, enabled=False)
    with pytest.raises(idn.IdentityProviderDisabled):
        await idn.provision(db, login(idp, "erin"))
    assert await counts(pg) == before


async def test_concurrent_first_logins_of_one_subject_create_one_user(db: Database, pg: Pg) -> None:
    # Given an IdP with auto-create on and a mapping
    idp = await new_idp(db)
    await idn.add_group_mapping(db, idp.id, "ops", "editor", "tenant", "t-acme", "admin")

    # When the same subject's first login arrives twice at once, on the pool's two connections
    first, second = await asyncio.gather(
        idn.provision(db, login(idp, "frank", "ops", "misc")),
        idn.provision(db, login(idp, "frank", "ops", "misc")),
    )

    # Then there is one user, one membership per group and one mapped binding
    assert first.id == second.id
    assert await admin_rows(pg, "SELECT count(*) FROM skyloom.identity_user WHERE idp_id = %s", (idp.id,)) == [(1,)]
    assert await admin_rows(
        pg, "SELECT count(*) FROM skyloom.group_membership WHERE user_id = %s", (first.id,)
    ) == [(2,)]
    assert await admin_rows(
        pg, "SELECT count(*) FROM skyloom.role_binding b JOIN skyloom.identity_group g ON g.id = b.subject_id WHERE g.idp_id = %s",
        (idp.id,),
    ) == [(1,)]


async def test_removing_a_mapping_ends_the_bindings_it_made(db: Database, pg: Pg) -> None:
    # Given a user whose editor role came from a group mapping, and a profile without a display name
    idp = await new_idp(db)
    mapping = await idn.add_group_mapping(db, idp.id, "ops", "editor", "tenant", "t-acme", "admin")
    user = await idn.provision(db, idn.ProvisionRequest(idp.id, "oscar", None, None, ("ops",)))
    assert (user.display_name, user.email) == ("", None)
    assert (await idn.load_actor(db, user.id)).bindings == (Binding("editor", "tenant", "t-acme", "ops"),)

    # When the mapping is removed, the binding it made ends with it (kept, stamped) and the role is gone
    assert await idn.remove_group_mapping(db, mapping.id, "admin") is True
    assert await idn.remove_group_mapping(db, mapping.id, "admin") is False
    assert await idn.list_group_mappings(db, idp.id) == []
    assert (await idn.load_actor(db, user.id)).bindings == ()
    assert await admin_rows(pg, "SELECT revoked_by FROM skyloom.role_binding WHERE mapping_id = %s", (mapping.id,)) == [("admin",)]

    # and the next login does not bring it back
    await idn.provision(db, idn.ProvisionRequest(idp.id, "oscar", None, None, ("ops",)))
    assert (await idn.load_actor(db, user.id)).bindings == ()


# -- bindings -------------------------------------------------------------------------------------
async def test_bindings_are_checked_against_the_role_and_revoked_by_timestamp(db: Database, pg: Pg) -> None:
    # Given a user
    idp = await new_idp(db)
    user = await idn.provision(db, login(idp, "grace"))
    before = await counts(pg)

    # When a role is bound where it cannot be, or to a subject that does not exist, it is refused
    with pytest.raises(idn.InvalidBinding):
        await idn.create_binding(db, "user", user.id, "tenant-admin", "compartment", "c-1", "admin")
    with pytest.raises(idn.InvalidBinding):
        await idn.create_binding(db, "group", user.id, "viewer", "tenant", "t-acme", "admin")
    with pytest.raises(idn.InvalidBinding):
        await idn.create_binding(db, "user", user.id, "no-such-role", "tenant", "t-acme", "admin")
    assert await counts(pg) == before

    # When it is bound where it can be, the actor has it; revoked, the actor loses it and the row stays
    binding = await idn.create_binding(db, "user", user.id, "viewer", "compartment", "c-1", "admin")
    assert (await idn.load_actor(db, user.id)).bindings == (Binding("viewer", "compartment", "c-1"),)
    assert [b.id for b in await idn.list_bindings(db, subject_kind="user", subject_id=user.id)] == [binding.id]
    assert await idn.revoke_binding(db, binding.id, "admin") is True
    assert await idn.revoke_binding(db, binding.id, "admin") is False
    assert (await idn.load_actor(db, user.id)).bindings == ()
    assert await admin_rows(pg, "SELECT revoked_by FROM skyloom.role_binding WHERE id = %s", (binding.id,)) == [("admin",)]


# -- sessions -------------------------------------------------------------------------------------
async def test_a_session_resolves_to_its_actor_until_it_expires(db: Database, pg: Pg) -> None:
    # Given a user with a session
    idp = await new_idp(db)
    user = await idn.provision(db, login(idp, "heidi"))
    token, csrf = await idn.open_session(db, user.id, AuthStrength.MULTI_FACTOR, HOUR)

    # When it is resolved, then it is that user at the strength of the login, and only digests are stored
    actor = await idn.resolve_session(db, token)
    (session_id, token_hash, csrf_hash) = (await admin_rows(
        pg, "SELECT id, token_hash, csrf_hash FROM skyloom.user_session WHERE user_id = %s", (user.id,)
    ))[0]
    assert (actor.id, actor.auth_strength, actor.session_id) == (f"user:{user.id}", AuthStrength.MULTI_FACTOR, str(session_id))
    assert bytes(token_hash) == hashlib.sha256(token.encode()).digest()
    assert bytes(csrf_hash) == hashlib.sha256(csrf.encode()).digest()
    assert await idn.check_csrf(db, token, csrf) is True
    assert await idn.check_csrf(db, token, csrf[:-1] + ("A" if csrf[-1] != "A" else "B")) is False
    assert await idn.check_csrf(db, token, token) is False

    # When its time has passed, it resolves to nothing
    await admin_rows(pg, "UPDATE skyloom.user_session SET expires_at = now() - interval '1 second' WHERE id = %s", (session_id,))
    assert await idn.resolve_session(db, token) is None
    assert await idn.check_csrf(db, token, csrf) is False


async def test_revoked_sessions_and_disabled_users_resolve_to_nothing(db: Database, pg: Pg) -> None:
    # Given a user with three sessions
    idp = await new_idp(db)
    user = await idn.provision(db, login(idp, "ivan"))
    one, _ = await idn.open_session(db, user.id, AuthStrength.PASSWORD, HOUR)
    two, _ = await idn.open_session(db, user.id, AuthStrength.PASSWORD, HOUR)
    three, _ = await idn.open_session(db, user.id, AuthStrength.PASSWORD, HOUR)

    # When one is revoked, only it stops resolving
    assert await idn.revoke_session(db, one) is True
    assert await idn.revoke_session(db, one) is False
    assert await idn.resolve_session(db, one) is None
    assert (await idn.resolve_session(db, two)).id == f"user:{user.id}"

    # When the user is disabled, nothing of theirs resolves; re-enabled, the live session does again
    await idn.set_user_disabled(db, user.id, True)
    assert await idn.resolve_session(db, two) is None
    with pytest.raises(idn.UnknownUser):
        await idn.open_session(db, user.id, AuthStrength.PASSWORD, HOUR)
    await idn.set_user_disabled(db, user.id, False)
    assert (await idn.resolve_session(db, two)).id == f"user:{user.id}"

    # When all are revoked, the two live ones end
    assert await idn.revoke_all_sessions(db, user.id) == 2
    assert await idn.resolve_session(db, two) is None
    assert await idn.resolve_session(db, three) is None


async def test_an_impersonating_session_carries_both_identities_until_it_lapses(db: Database, pg: Pg) -> None:
    # Given a root user's session and a sub-tenant user
    idp = await new_idp(db)
    root = await idn.provision(db, login(idp, "root"))
    target = await idn.provision(db, login(idp, "subroot"))
    token, _ = await idn.open_session(db, root.id, AuthStrength.HARDWARE, HOUR)

    # When the session impersonates the target, requests are the target's, with the root as impersonator
    until = datetime.now(timezone.utc) + timedelta(minutes=10)
    assert await idn.impersonate(db, token, target.id, until) is True
    actor = await idn.resolve_session(db, token)
    assert (actor.id, actor.impersonator.id, actor.impersonator.impersonator) == (f"user:{target.id}", f"user:{root.id}", None)

    # When the impersonation lapses, the session is the root's own again
    await admin_rows(pg, "UPDATE skyloom.user_session SET impersonation_until = now() - interval '1 second' WHERE user_id = %s", (root.id,))
    actor = await idn.resolve_session(db, token)
    assert (actor.id, actor.impersonator) == (f"user:{root.id}", None)


# -- API tokens -----------------------------------------------------------------------------------
async def test_an_api_token_resolves_until_revoked_and_is_listed_without_its_secret(db: Database, pg: Pg) -> None:
    # Given a service account with a scoped token
    robot = await idn.create_service_account(db, "ci-robot", "admin", home_tenant="t-acme")
    await idn.create_binding(db, "service", robot.id, "editor", "tenant", "t-acme", "admin")
    token, info = await idn.create_api_token(db, robot.id, "deploys", "admin", scopes=("read", "write"), expires_in=HOUR)

    # When it is resolved, it is the service account with the token's scopes
    assert token.startswith("sky_") and len(token) == 50
    actor = await idn.resolve_api_token(db, token)
    assert (actor.id, actor.kind, actor.name, actor.home_tenant) == (f"service:{robot.id}", "service", "ci-robot", "t-acme")
    assert actor.bindings == (Binding("editor", "tenant", "t-acme"),)
    assert actor.attributes == {"credential": f"token:{info.id}", "token_scopes": "read write"}
    assert actor.auth_strength == AuthStrength.PASSWORD

    # and a listing shows what it is, never the secret
    (listed,) = await idn.list_api_tokens(db, robot.id)
    assert (listed.id, listed.name, listed.scopes, listed.revoked_at) == (info.id, "deploys", ("read", "write"), None)
    assert listed.last_used_at is not None
    assert token not in repr(listed)

    # When it is revoked, it resolves to nothing and drops out of the live listing
    assert await idn.revoke_api_token(db, info.id) is True
    assert await idn.resolve_api_token(db, token) is None
    assert await idn.list_api_tokens(db, robot.id) == []
    assert [t.id for t in await idn.list_api_tokens(db, robot.id, include_revoked=True)] == [info.id]


async def test_forged_and_tampered_credentials_resolve_to_nothing_and_change_nothing(db: Database, pg: Pg) -> None:
    # Given a user with a live token and session, both used once
    idp = await new_idp(db)
    user = await idn.provision(db, login(idp, "judy"))
    token, info = await idn.create_api_token(db, user.id, "cli", "judy")
    session, _ = await idn.open_session(db, user.id, AuthStrength.PASSWORD, HOUR)
    assert await idn.resolve_api_token(db, token) is not None
    assert await idn.resolve_session(db, session) is not None
    before = await counts(pg)
    stamps = await admin_rows(
        pg, "SELECT (SELECT last_used_at FROM skyloom.api_token WHERE id = %s), "
        "(SELECT last_seen_at FROM skyloom.user_session WHERE user_id = %s)", (info.id, user.id),
    )
    flipped = token[:10] + ("a" if token[10] != "a" else "b") + token[11:]

    # When forged or tampered credentials are presented, each resolves to nothing
    for forged in (flipped, new_api_token(), token[:-1], token + "x", token.upper(), "", "sky_", session):
        assert await idn.resolve_api_token(db, forged) is None, forged
    for forged in (session[:-1], session + "x", token, new_api_token(), ""):
        assert await idn.resolve_session(db, forged) is None, forged

    # Then nothing was written
    assert await counts(pg) == before
    assert await admin_rows(
        pg, "SELECT (SELECT last_used_at FROM skyloom.api_token WHERE id = %s), "
        "(SELECT last_seen_at FROM skyloom.user_session WHERE user_id = %s)", (info.id, user.id),
    ) == stamps


# -- what the app role cannot do ------------------------------------------------------------------
async def test_no_secret_is_stored_in_clear(db: Database, pg: Pg) -> None:
    # Given a session, a token and an IdP whose secret is named, not stored
    idp = await new_idp(db)
    user = await idn.provision(db, login(idp, "ken"))
    session, csrf = await idn.open_session(db, user.id, AuthStrength.PASSWORD, HOUR)
    token, _ = await idn.create_api_token(db, user.id, "cli", "ken")

    # Then no row of any identity table, read as the app role, contains a raw secret
    async with db.connection() as conn:
        for table in idn.IDENTITY_TABLES:
            for secret in (session, csrf, token):
                cur = await conn.execute(f"SELECT count(*) FROM skyloom.{table} t WHERE position(%s IN t::text) > 0", (secret,))
                assert await cur.fetchone() == (0,), table
    assert idn.secret_from_env(idp, "client_secret", {"ACME_SSO_SECRET": "s3cret"}) == "s3cret"


@pytest.mark.parametrize("idp_settings", [
    {"client_secret": "s3cret"},
    {"saml": {"sp": {"private_key": "-----BEGIN"}}},
    {"keys": [{"password": "x"}]},
])
async def test_idp_settings_holding_a_secret_are_refused_and_nothing_is_stored(db: Database, pg: Pg, idp_settings: dict) -> None:
    before = await counts(pg)
    with pytest.raises(idn.SecretInSettings):
        await idn.create_idp(db, idn.IdentityProvider(id=unique("idp"), kind="saml", name="x", provider_id="p-one", settings=idp_settings))
    assert await counts(pg) == before


async def test_the_database_refuses_a_secret_in_settings_even_past_the_store(db: Database, pg: Pg) -> None:
    before = await counts(pg)
    async with db.connection() as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            await conn.execute(
                "INSERT INTO skyloom.identity_provider (id, kind, name, provider_id, settings) "
                "VALUES (%s, 'oidc', 'x', 'p-one', %s::jsonb)",
                (unique("idp"), '{"client_secret": "s3cret"}'),
            )
    assert await counts(pg) == before


@pytest.mark.parametrize("table", idn.IDENTITY_TABLES)
async def test_the_app_role_cannot_delete_or_truncate(db: Database, pg: Pg, table: str) -> None:
    before = await counts(pg)
    async with db.connection() as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute(f"DELETE FROM skyloom.{table}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute(f"TRUNCATE skyloom.{table}")
    assert await counts(pg) == before


@pytest.mark.parametrize("statement", [
    "UPDATE skyloom.user_session SET token_hash = csrf_hash",
    "UPDATE skyloom.api_token SET token_hash = token_hash",
    "UPDATE skyloom.api_token SET user_id = user_id",
    "UPDATE skyloom.role_binding SET subject_id = subject_id",
    "UPDATE skyloom.identity_user SET subject = subject",
    "UPDATE skyloom.group_membership SET group_id = group_id",
    "INSERT INTO skyloom.role (name, scope_kinds, description) VALUES ('root', ARRAY['provider'], 'x')",
])
async def test_the_app_role_cannot_rewrite_identities_or_digests(db: Database, pg: Pg, statement: str) -> None:
    before = await counts(pg)
    async with db.connection() as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute(statement)
    assert await counts(pg) == before
