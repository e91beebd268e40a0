"""Just-in-time provisioning: a login's claims become a user, its groups and memberships, in one transaction.

The IdP is the source of truth for 'idp' memberships: each login adds the groups the claims
name and ends the memberships of groups they no longer name (deprovisioning). Roles mapped to
IdP groups are bound to the group, not copied onto the user, so losing a group loses its roles
in the same step. Memberships an administrator added by hand ('manual') are left alone.

Concurrency: the user row is written first and stays locked until commit, so two logins of the
same subject run one after the other and create one user; group names are inserted in sorted
order, so logins of different users sharing groups cannot deadlock on them.
"""

from __future__ import annotations

from uuid import UUID

import psycopg
from psycopg import AsyncConnection

from skyloom.graph.identity_model import (
    USER_COLUMNS,
    AlreadyExists,
    IdentityProviderDisabled,
    ProvisionRequest,
    ProvisioningRefused,
    UnknownIdentityProvider,
    User,
    UserDisabled,
)
from skyloom.graph.pool import Database

_IDP = "idp"   # the `created_by` / `added_by` stamp of rows provisioning writes


async def provision(db: Database, request: ProvisionRequest) -> User:
    """The user this login is, created or refreshed; raises a typed IdentityError on refusal, writing nothing."""
    groups = tuple(sorted({name for name in request.groups if name}))
    async with db.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT provider_id, tenant_id, auto_create_users, auto_create_groups, enabled "
            "FROM skyloom.identity_provider WHERE id = %s",
            (request.idp_id,),
        )
        idp = await cur.fetchone()
        if idp is None:
            raise UnknownIdentityProvider(request.idp_id)
        provider_id, tenant_id, auto_users, auto_groups, enabled = idp
        if not enabled:
            raise IdentityProviderDisabled(request.idp_id)
        user = await _touch_user(conn, request)
        if user is None:
            if not auto_users:
                raise ProvisioningRefused(
                    f"no user for this subject at {request.idp_id!r}, and the provider does not create users on login"
                )
            user = await _create_user(conn, request, provider_id, tenant_id)
        if user.disabled_at is not None:
            raise UserDisabled(str(user.id))
        if auto_groups and groups:
            await conn.execute(
                "INSERT INTO skyloom.identity_group (idp_id, name, home_provider, home_tenant, created_by) "
                "SELECT %s, name, %s, %s, %s FROM unnest(%s::text[]) AS name ORDER BY name "
                "ON CONFLICT DO NOTHING",
                (request.idp_id, provider_id, tenant_id, _IDP, list(groups)),
            )
        await _sync_memberships(conn, user.id, request.idp_id, groups)
        await _apply_mappings(conn, request.idp_id, groups)
    return user


async def _touch_user(conn: AsyncConnection, request: ProvisionRequest) -> User | None:
    """Refresh an existing user's profile from the claims and lock its row for this transaction."""
    cur = await conn.execute(
        "UPDATE skyloom.identity_user SET email = %s, display_name = %s, last_login_at = now(), "
        "home_subtenant = coalesce(%s, home_subtenant) "
        f"WHERE idp_id = %s AND subject = %s RETURNING {USER_COLUMNS}",
        (request.email, request.display_name or "", request.home_subtenant, request.idp_id, request.subject),
    )
    row = await cur.fetchone()
    return User(*row) if row else None


async def _create_user(conn: AsyncConnection, request: ProvisionRequest, provider_id: str, tenant_id: str | None) -> User:
    # ON CONFLICT DO UPDATE: a concurrent first login that won the race is waited for and then
    # refreshed instead of failing, and its row stays locked for the rest of this transaction.
    cur = await conn.execute(
        "INSERT INTO skyloom.identity_user (kind, idp_id, subject, email, display_name, home_provider, home_tenant, "
        "home_subtenant, created_by, last_login_at) VALUES ('user', %s, %s, %s, %s, %s, %s, %s, %s, now()) "
        "ON CONFLICT (idp_id, subject) DO UPDATE SET email = excluded.email, display_name = excluded.display_name, "
        f"last_login_at = now() RETURNING {USER_COLUMNS}",
        (request.idp_id, request.subject, request.email, request.display_name or "", provider_id, tenant_id,
         request.home_subtenant, _IDP),
    )
    return User(*await cur.fetchone())


async def _sync_memberships(conn: AsyncConnection, user_id: UUID, idp_id: str, groups: tuple[str, ...]) -> None:
    await conn.execute(
        "UPDATE skyloom.group_membership m SET removed_at = now(), removed_by = %s "
        "FROM skyloom.identity_group g "
        "WHERE m.group_id = g.id AND m.user_id = %s AND m.source = 'idp' AND m.removed_at IS NULL "
        "AND g.idp_id = %s AND NOT (g.name = ANY (%s::text[]))",
        (_IDP, user_id, idp_id, list(groups)),
    )
    await conn.execute(
        "INSERT INTO skyloom.group_membership (user_id, group_id, source, added_by) "
        "SELECT %s, g.id, 'idp', %s FROM skyloom.identity_group g "
        "WHERE g.idp_id = %s AND g.name = ANY (%s::text[]) ORDER BY g.name "
        "ON CONFLICT DO NOTHING",
        (user_id, _IDP, idp_id, list(groups)),
    )


async def _apply_mappings(conn: AsyncConnection, idp_id: str, groups: tuple[str, ...]) -> None:
    """Bind each mapped role to the synced group, once (the live-binding index makes repeats no-ops)."""
    await conn.execute(
        "INSERT INTO skyloom.role_binding (subject_kind, subject_id, role, scope_kind, scope_id, mapping_id, created_by) "
        "SELECT 'group', g.id, m.role, m.scope_kind, m.scope_id, m.id, 'idp-mapping' "
        "FROM skyloom.group_role_mapping m JOIN skyloom.identity_group g ON g.idp_id = m.idp_id AND g.name = m.group_name "
        "WHERE m.idp_id = %s AND m.removed_at IS NULL AND m.group_name = ANY (%s::text[]) "
        "ORDER BY g.id, m.role, m.scope_kind, m.scope_id ON CONFLICT DO NOTHING",
        (idp_id, list(groups)),
    )


# -- users, service accounts, local groups --------------------------------------------------------
async def get_user(db: Database, user_id: UUID) -> User | None:
    async with db.connection() as conn:
        cur = await conn.execute(f"SELECT {USER_COLUMNS} FROM skyloom.identity_user WHERE id = %s", (user_id,))
        row = await cur.fetchone()
    return User(*row) if row else None


async def find_user(db: Database, idp_id: str, subject: str) -> User | None:
    async with db.connection() as conn:
        cur = await conn.execute(
            f"SELECT {USER_COLUMNS} FROM skyloom.identity_user WHERE idp_id = %s AND subject = %s", (idp_id, subject)
        )
        row = await cur.fetchone()
    return User(*row) if row else None


async def set_user_disabled(db: Database, user_id: UUID, disabled: bool) -> bool:
    """Disabling shuts out every session and token of the user at once (they are checked per request)."""
    async with db.connection() as conn:
        return await set_user_disabled_on(conn, user_id, disabled)


async def set_user_disabled_on(conn: AsyncConnection, user_id: UUID, disabled: bool) -> bool:
    """`set_user_disabled` on the caller's connection."""
    cur = await conn.execute(
        "UPDATE skyloom.identity_user SET disabled_at = CASE WHEN %s THEN coalesce(disabled_at, now()) END WHERE id = %s",
        (disabled, user_id),
    )
    return cur.rowcount == 1


async def create_service_account(
    db: Database, name: str, created_by: str, *, home_provider: str | None = None,
    home_tenant: str | None = None, home_subtenant: str | None = None,
) -> User:
    """A non-person identity for automation; it authenticates with API tokens only."""
    async with db.connection() as conn:
        return await create_service_account_on(conn, name, created_by, home_provider=home_provider,
                                               home_tenant=home_tenant, home_subtenant=home_subtenant)


async def create_service_account_on(
    conn: AsyncConnection, name: str, created_by: str, *, home_provider: str | None = None,
    home_tenant: str | None = None, home_subtenant: str | None = None,
) -> User:
    """`create_service_account` on the caller's connection."""
    cur = await conn.execute(
        "INSERT INTO skyloom.identity_user (kind, display_name, home_provider, home_tenant, home_subtenant, created_by) "
        f"VALUES ('service', %s, %s, %s, %s, %s) RETURNING {USER_COLUMNS}",
        (name, home_provider, home_tenant, home_subtenant, created_by),
    )
    return User(*await cur.fetchone())


async def create_local_group(
    db: Database, name: str, created_by: str, *, home_provider: str | None = None,
    home_tenant: str | None = None, home_subtenant: str | None = None,
) -> UUID:
    async with db.connection() as conn:
        return await create_local_group_on(conn, name, created_by, home_provider=home_provider,
                                           home_tenant=home_tenant, home_subtenant=home_subtenant)


async def create_local_group_on(
    conn: AsyncConnection, name: str, created_by: str, *, home_provider: str | None = None,
    home_tenant: str | None = None, home_subtenant: str | None = None,
) -> UUID:
    """`create_local_group` on the caller's connection; a name taken at the same home is AlreadyExists."""
    try:
        cur = await conn.execute(
            "INSERT INTO skyloom.identity_group (name, home_provider, home_tenant, home_subtenant, created_by) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (name, home_provider, home_tenant, home_subtenant, created_by),
        )
    except psycopg.errors.UniqueViolation as exc:
        raise AlreadyExists(f"a group named {name!r} exists there") from exc
    return (await cur.fetchone())[0]


async def add_member(db: Database, group_id: UUID, user_id: UUID, added_by: str) -> bool:
    """A manual membership, which logins never remove; False if it already exists."""
    async with db.connection() as conn:
        return await add_member_on(conn, group_id, user_id, added_by)


async def add_member_on(conn: AsyncConnection, group_id: UUID, user_id: UUID, added_by: str) -> bool:
    """`add_member` on the caller's connection."""
    cur = await conn.execute(
        "INSERT INTO skyloom.group_membership (user_id, group_id, source, added_by) VALUES (%s, %s, 'manual', %s) "
        "ON CONFLICT DO NOTHING",
        (user_id, group_id, added_by),
    )
    return cur.rowcount == 1


async def remove_member(db: Database, group_id: UUID, user_id: UUID, removed_by: str) -> bool:
    async with db.connection() as conn:
        return await remove_member_on(conn, group_id, user_id, removed_by)


async def remove_member_on(conn: AsyncConnection, group_id: UUID, user_id: UUID, removed_by: str) -> bool:
    """`remove_member` on the caller's connection: ends a manual membership only."""
    cur = await conn.execute(
        "UPDATE skyloom.group_membership SET removed_at = now(), removed_by = %s "
        "WHERE group_id = %s AND user_id = %s AND source = 'manual' AND removed_at IS NULL",
        (removed_by, group_id, user_id),
    )
    return cur.rowcount == 1


async def find_service_account(db: Database, name: str) -> User | None:
    """The enabled service account with this display name (the oldest, if several): how the CLI's
    bootstrap finds the root operator it made before instead of making another."""
    async with db.connection() as conn:
        cur = await conn.execute(
            f"SELECT {USER_COLUMNS} FROM skyloom.identity_user WHERE kind = 'service' AND display_name = %s "
            "AND disabled_at IS NULL ORDER BY created_at LIMIT 1",
            (name,),
        )
        row = await cur.fetchone()
    return User(*row) if row else None
