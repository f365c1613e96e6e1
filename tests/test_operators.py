"""Named operators (`ot.security.operators`): root appoints the first admin, admins appoint the
rest, an OS user who is not an operator or lacks the role an act needs is refused by name, and
every appointment, removal and refusal is in the audit trail."""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ot.config import Settings
from ot.db import transaction
from ot.errors import Conflict, InvalidInput, NotFound
from ot.models import OperatorRole
from ot.security.operators import (
    Operator,
    OperatorRefused,
    OsUser,
    add_operator,
    list_operators,
    operator_for,
    os_user,
    remove_operator,
    require_role,
)
from tests import support
from tests.support import NOT_SETUP, rows

ROOT = OsUser("root", 0)
ALICE = OsUser("alice", 1001)
BOB = OsUser("bob", 1002)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The test database, for the core's own transactions."""
    async with support.helper_engine(settings) as engine:
        yield engine


@pytest.fixture
async def admin_alice(engine: AsyncEngine) -> None:
    """A running installation: root has appointed alice, the first admin."""
    async with transaction(engine) as session:
        await add_operator(session, ROOT, "alice", "admin")


async def trail(settings: Settings) -> list[dict[str, Any]]:
    """The audit entries the test wrote, oldest first, details as dicts."""
    found = await rows(
        settings,
        f"SELECT actor, action, account_id, details FROM audit_entry WHERE {NOT_SETUP} ORDER BY id",
    )
    for row in found:
        if isinstance(row["details"], str):
            row["details"] = json.loads(row["details"])
    return found


async def appointments(settings: Settings) -> list[dict[str, Any]]:
    return await rows(
        settings,
        "SELECT login, role, appointed_by, ended_by, ended_at FROM operator_appointment "
        "ORDER BY id",
    )


async def roles_of(engine: AsyncEngine, login: str) -> frozenset[OperatorRole]:
    async with transaction(engine) as session:
        return (await operator_for(session, login, act="test")).roles


async def test_root_appoints_the_first_admin_and_the_trail_names_root(
    settings: Settings, engine: AsyncEngine
) -> None:
    async with transaction(engine) as session:
        await add_operator(session, ROOT, "alice", "admin")

    assert await roles_of(engine, "alice") == {OperatorRole.ADMIN}
    [row] = await appointments(settings)
    assert row["appointed_by"] == "root" and row["ended_at"] is None
    assert await trail(settings) == [
        {
            "actor": "operator:root",
            "action": "operator.added",
            "account_id": None,
            "details": {"login": "alice", "role": "admin", "bootstrap": True},
        }
    ]


async def test_root_behind_sudo_is_named_by_the_sudo_user(
    settings: Settings, engine: AsyncEngine
) -> None:
    async with transaction(engine) as session:
        await add_operator(session, OsUser("alice", 0), "alice", "admin")
    assert [entry["actor"] for entry in await trail(settings)] == ["operator:alice"]


async def test_before_there_is_an_admin_only_root_may_appoint(
    settings: Settings, engine: AsyncEngine
) -> None:
    with pytest.raises(OperatorRefused) as caught:
        async with transaction(engine) as session:
            await add_operator(session, ALICE, "alice", "admin")

    assert "the first admin is added by root" in caught.value.message
    assert caught.value.login == "alice" and caught.value.role == OperatorRole.ADMIN
    assert await appointments(settings) == []
    assert await trail(settings) == [
        {
            "actor": "operator:alice",
            "action": "operator.refused",
            "account_id": None,
            "details": {"act": "operators add", "needed_role": "admin"},
        }
    ]


async def test_the_first_operator_must_be_an_admin(settings: Settings, engine: AsyncEngine) -> None:
    with pytest.raises(InvalidInput, match="the first operator must be an admin") as caught:
        async with transaction(engine) as session:
            await add_operator(session, ROOT, "alice", "legal")
    assert caught.value.field == "role"
    assert await appointments(settings) == []


async def test_an_admin_appoints_operators_who_may_hold_several_roles(
    settings: Settings, engine: AsyncEngine, admin_alice: None
) -> None:
    async with transaction(engine) as session:
        await add_operator(session, ALICE, "bob", "legal")
        await add_operator(session, ALICE, "bob", "billing")

    assert await roles_of(engine, "bob") == {OperatorRole.LEGAL, OperatorRole.BILLING}
    async with transaction(engine) as session:
        listed = [(each.login, each.role.value) for each in await list_operators(session)]
    assert listed == [("alice", "admin"), ("bob", "billing"), ("bob", "legal")]
    added = [entry for entry in await trail(settings) if entry["actor"] == "operator:alice"]
    assert [entry["details"] for entry in added] == [
        {"login": "bob", "role": "legal", "bootstrap": False},
        {"login": "bob", "role": "billing", "bootstrap": False},
    ]


async def test_once_there_is_an_admin_root_is_an_os_user_like_any_other(
    settings: Settings, engine: AsyncEngine, admin_alice: None
) -> None:
    with pytest.raises(OperatorRefused, match="root is not an operator"):
        async with transaction(engine) as session:
            await add_operator(session, ROOT, "mallory", "admin")
    assert [row["login"] for row in await appointments(settings)] == ["alice"]


async def test_only_an_admin_appoints(
    settings: Settings, engine: AsyncEngine, admin_alice: None
) -> None:
    async with transaction(engine) as session:
        await add_operator(session, ALICE, "bob", "legal")

    with pytest.raises(OperatorRefused) as caught:
        async with transaction(engine) as session:
            await add_operator(session, BOB, "bob", "admin")

    assert caught.value.message == (
        "bob may not run `ot-admin operators add`: that needs the admin role (bob holds: legal)"
    )
    assert await roles_of(engine, "bob") == {OperatorRole.LEGAL}
    assert (await trail(settings))[-1] == {
        "actor": "operator:bob",
        "action": "operator.refused",
        "account_id": None,
        "details": {"act": "operators add", "needed_role": "admin"},
    }


async def test_holding_a_role_twice_is_refused(
    settings: Settings, engine: AsyncEngine, admin_alice: None
) -> None:
    with pytest.raises(Conflict, match="alice already holds the admin role"):
        async with transaction(engine) as session:
            await add_operator(session, ALICE, "alice", "admin")
    assert len(await appointments(settings)) == 1


@pytest.mark.parametrize(
    ("login", "role", "field", "message"),
    [
        (
            "bob",
            "superuser",
            "role",
            'unknown role "superuser": the roles are admin, billing, legal',
        ),
        ("Bob", "legal", "login", '"Bob" is not a plausible login'),
        ("bob smith", "legal", "login", "is not a plausible login"),
        ("-bob", "legal", "login", "is not a plausible login"),
        ("b" * 33, "legal", "login", "at most 32 characters"),
        ("", "legal", "login", "is not a plausible login"),
    ],
)
async def test_an_unknown_role_or_an_implausible_login_is_refused(
    settings: Settings,
    engine: AsyncEngine,
    admin_alice: None,
    login: str,
    role: str,
    field: str,
    message: str,
) -> None:
    before = await trail(settings)
    with pytest.raises(InvalidInput, match=message) as caught:
        async with transaction(engine) as session:
            await add_operator(session, ALICE, login, role)
    assert caught.value.field == field
    assert len(await appointments(settings)) == 1
    assert await trail(settings) == before


async def test_removing_an_operator_ends_every_role_and_keeps_the_history(
    settings: Settings, engine: AsyncEngine, admin_alice: None
) -> None:
    async with transaction(engine) as session:
        await add_operator(session, ALICE, "bob", "legal")
        await add_operator(session, ALICE, "bob", "billing")
    async with transaction(engine) as session:
        ended = await remove_operator(session, ALICE, "bob")
    assert sorted(each.role.value for each in ended) == ["billing", "legal"]

    with pytest.raises(OperatorRefused, match="bob is not an operator"):
        async with transaction(engine) as session:
            await operator_for(session, "bob", act="disclosure approve")
    async with transaction(engine) as session:
        assert [each.login for each in await list_operators(session)] == ["alice"]
        history = await list_operators(session, include_ended=True)
    assert [(each.login, each.ended_by) for each in history] == [
        ("alice", None),
        ("bob", "alice"),
        ("bob", "alice"),
    ]
    removed = [entry for entry in await trail(settings) if entry["action"] == "operator.removed"]
    assert sorted(entry["details"]["role"] for entry in removed) == ["billing", "legal"]
    assert {entry["actor"] for entry in removed} == {"operator:alice"}


async def test_removing_one_role_keeps_the_others(
    settings: Settings, engine: AsyncEngine, admin_alice: None
) -> None:
    async with transaction(engine) as session:
        await add_operator(session, ALICE, "bob", "legal")
        await add_operator(session, ALICE, "bob", "billing")
        await remove_operator(session, ALICE, "bob", "billing")
    assert await roles_of(engine, "bob") == {OperatorRole.LEGAL}


async def test_a_removed_operator_can_be_appointed_again(
    settings: Settings, engine: AsyncEngine, admin_alice: None
) -> None:
    async with transaction(engine) as session:
        await add_operator(session, ALICE, "bob", "legal")
        await remove_operator(session, ALICE, "bob")
        await add_operator(session, ALICE, "bob", "legal")
    assert await roles_of(engine, "bob") == {OperatorRole.LEGAL}
    assert [row["login"] for row in await appointments(settings)] == ["alice", "bob", "bob"]


async def test_the_last_admin_cannot_be_removed(
    settings: Settings, engine: AsyncEngine, admin_alice: None
) -> None:
    with pytest.raises(Conflict, match="alice is the last admin: appoint another admin first"):
        async with transaction(engine) as session:
            await remove_operator(session, ALICE, "alice")
    assert await roles_of(engine, "alice") == {OperatorRole.ADMIN}

    async with transaction(engine) as session:  # with a second admin, the first may go
        await add_operator(session, ALICE, "bob", "admin")
        await remove_operator(session, BOB, "alice")
    assert [each["login"] for each in await appointments(settings) if not each["ended_at"]] == [
        "bob"
    ]


@pytest.mark.parametrize("role", [None, "legal"])
async def test_removing_someone_who_is_not_an_operator_is_refused(
    settings: Settings, engine: AsyncEngine, admin_alice: None, role: str | None
) -> None:
    with pytest.raises(NotFound, match=r"carol is not an? (legal )?operator"):
        async with transaction(engine) as session:
            await remove_operator(session, ALICE, "carol", role)
    assert len(await appointments(settings)) == 1


async def test_an_os_user_who_is_no_operator_is_refused_by_name_and_recorded(
    settings: Settings, engine: AsyncEngine, admin_alice: None
) -> None:
    with pytest.raises(OperatorRefused) as caught:
        async with transaction(engine) as session:
            await operator_for(session, "mallory", act="accounts show")

    assert caught.value.login == "mallory" and caught.value.role is None
    assert caught.value.message.startswith("mallory is not an operator")
    assert "ot-admin operators add mallory --role ROLE" in caught.value.message
    assert (await trail(settings))[-1] == {
        "actor": "operator:mallory",
        "action": "operator.refused",
        "account_id": None,
        "details": {"act": "accounts show"},
    }


async def test_a_missing_role_is_refused_with_who_and_which_role(
    settings: Settings, engine: AsyncEngine
) -> None:
    bill = Operator("bill", frozenset({OperatorRole.BILLING}))
    with pytest.raises(OperatorRefused) as caught:
        async with transaction(engine) as session:
            await require_role(session, bill, OperatorRole.LEGAL, act="disclosure approve")

    assert caught.value.login == "bill" and caught.value.role == OperatorRole.LEGAL
    assert caught.value.message == (
        "bill may not run `ot-admin disclosure approve`: that needs the legal role "
        "(bill holds: billing)"
    )
    assert caught.value.code == "operator_refused"
    assert (await trail(settings))[-1]["details"] == {
        "act": "disclosure approve",
        "needed_role": "legal",
    }
    async with transaction(engine) as session:  # holding it, nothing is said
        await require_role(session, bill, OperatorRole.BILLING, act="billing run")
    assert len(await trail(settings)) == 1


def test_the_os_user_is_the_real_login_not_what_the_environment_claims(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own_login = pwd.getpwuid(os.getuid()).pw_name
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert os_user({"USER": "alice", "LOGNAME": "alice", "SUDO_USER": "alice"}) == OsUser(
        own_login, 1000
    )


def test_behind_sudo_the_os_user_is_the_one_sudo_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    found = os_user({"USER": "root", "SUDO_USER": "alice"})
    assert found == OsUser("alice", 0, via_sudo=True) and found.is_root
    assert os_user({"USER": "root"}).login == pwd.getpwuid(os.getuid()).pw_name
