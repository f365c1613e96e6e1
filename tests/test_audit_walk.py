"""Every route of our API that changes data leaves an audit entry naming its caller, written by
the core function doing the act.

The routes are read from the router: a new changing route fails here until it is walked (a
successful call, set up in `WALKS`) or exempted, with a reason, in `EXEMPT`. Each walk makes the
call and looks for a new entry whose actor is the caller (`ot.security.audit.Actor`)."""

from __future__ import annotations

import ast
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import ot
from ot.config import Settings
from ot.models import MemberRole
from ot.security.audit import AuditAction
from tests.account_support import (
    EMAIL,
    PASSWORD,
    enrolled,
    execute,
    mails_to,
    new_account,
    register,
    registered,
    text_of,
    token_in,
    totp_code,
)
from tests.dns_server import LoopbackDns, dns
from tests.grants_support import grant, grant_terms
from tests.support import bearer, logged_in, rows
from tests.team_support import add_member
from tests.team_support import new_account as account_without_password
from tests.test_route_access import ROUTES
from tests.test_site_verification import verifying_client

__all__ = ["dns"]  # the fixture, used by name

# Changing routes that write no entry, each for a reason: adding one here is a deliberate act.
EXEMPT = {
    # Keeps a secret that waits for its first code; turning the second factor on (`/confirm`)
    # is the act, and it is audited.
    ("POST", "/ot/v1/account/second-factor"),
    # Needs PayPal (the fake of tests/paypal_fake.py): tests/test_billing.py checks the payment
    # is started by the customer in the trail (invoice.payment_started) and paid by PayPal.
    ("POST", "/ot/v1/billing/invoices/{number}/payment"),
    # Reads only, as `/api/v2/query` (a GET would not carry fifty queries): an owner's or team
    # member's own reading of their statistics is not an act the trail records.
    ("POST", "/ot/v1/stats/queries"),
}
CHANGING = sorted(
    (method, path)
    for method, path, _ in ROUTES
    if path.startswith("/ot/v1/") and method != "GET" and (method, path) not in EXEMPT
)
NEWEST_ACCOUNT = "the account the call made or confirmed"
BOB = "bob@example.com"


@dataclass
class Act:
    """One route's call, set up to succeed: what to send, and who the trail must name."""

    actor: str
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    ids: dict[str, str] = field(default_factory=dict)  # the path's parameters


@dataclass
class Owner:
    """Ada: registered with a password, logged in, owning shop.example."""

    account_id: int
    token: str
    site_id: int

    @property
    def actor(self) -> str:
        return f"account:{self.account_id}"

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, dns: LoopbackDns) -> TestClient:
    """The server in-process, where every domain serves the token it is asked for: verifying
    and claiming succeed (and no DNS question leaves the machine)."""
    return await verifying_client(aiohttp_client, settings, dns, serving_every_token)


async def serving_every_token(url: str) -> str | None:
    found = re.search(r"opentracker-(\w+)\.txt$", url)
    return found.group(1) if found else None


async def owner(client: TestClient, settings: Settings) -> Owner:
    account_id = await registered(client, settings)
    token = (await logged_in(settings, account_id)).token
    added = await client.post(
        "/ot/v1/sites", json={"domain": "shop.example"}, headers=bearer(token)
    )
    assert added.status == 201, await added.text()
    return Owner(account_id, token, (await added.json())["id"])


async def created(client: TestClient, path: str, body: dict[str, Any], who: Owner) -> str:
    """Make an object through the API; its id."""
    response = await client.post(path, json=body, headers=who.headers)
    assert response.status == 201, await response.text()
    return str((await response.json())["id"])


Setup = Callable[[TestClient, Settings], Awaitable[Act]]
WALKS: dict[tuple[str, str], Setup] = {}


def walks(method: str, path: str) -> Callable[[Setup], Setup]:
    def register_walk(setup: Setup) -> Setup:
        WALKS[(method, path)] = setup
        return setup

    return register_walk


@walks("POST", "/ot/v1/accounts")
async def _registration(client: TestClient, settings: Settings) -> Act:
    return Act(NEWEST_ACCOUNT, body=new_account())


@walks("POST", "/ot/v1/accounts/verify")
async def _verification(client: TestClient, settings: Settings) -> Act:
    assert (await register(client)).status == 202
    return Act(NEWEST_ACCOUNT, body={"token": token_in(mails_to(settings, EMAIL)[-1])})


@walks("POST", "/ot/v1/login")
async def _login(client: TestClient, settings: Settings) -> Act:
    account_id = await registered(client, settings)
    return Act(f"account:{account_id}", body={"email": EMAIL, "password": PASSWORD})


@walks("PATCH", "/ot/v1/account")
async def _profile(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers, {"company": "Difference Engines B.V."})


@walks("POST", "/ot/v1/account/email")
async def _email(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    body = {"email": "ada.king@example.com", "current_password": PASSWORD}
    return Act(ada.actor, ada.headers, body)


@walks("POST", "/ot/v1/account/password")
async def _password(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    body = {"current_password": PASSWORD, "new_password": "a different long passphrase"}
    return Act(ada.actor, ada.headers, body)


@walks("POST", "/ot/v1/account/second-factor/confirm")
async def _second_factor_on(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    begun = await client.post("/ot/v1/account/second-factor", headers=ada.headers)
    secret = (await begun.json())["secret"]
    return Act(ada.actor, ada.headers, {"password": PASSWORD, "code": totp_code(secret)})


@walks("POST", "/ot/v1/account/second-factor/disable")
async def _second_factor_off(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    _, recovery_codes = await enrolled(client, ada.headers)
    return Act(ada.actor, ada.headers, {"password": PASSWORD, "code": recovery_codes[0]})


@walks("DELETE", "/ot/v1/sessions")
async def _log_out_everywhere(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers)


@walks("DELETE", "/ot/v1/sessions/{session_id}")
async def _log_out(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers, ids={"session_id": "current"})


@walks("POST", "/ot/v1/grants")
async def _grant(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers, grant_terms([ada.site_id]))


@walks("DELETE", "/ot/v1/grants/{grant_id}")
async def _grant_revoked(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    issued = await grant(client, ada.token, [ada.site_id])
    return Act(ada.actor, ada.headers, ids={"grant_id": str(issued["id"])})


@walks("POST", "/ot/v1/grants/{grant_id}/confirm")
async def _grant_confirmed(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    issued = await grant(client, ada.token, [ada.site_id])
    await suspend(settings, issued["id"])
    return Act(ada.actor, ada.headers, ids={"grant_id": str(issued["id"])})


async def suspend(settings: Settings, grant_id: int) -> None:
    """Suspend a grant as a member's departure would (`ot.accounts.grant_suspension`)."""
    await execute(
        settings,
        "UPDATE access_grant SET suspended_at = CURRENT_TIMESTAMP, "
        "suspended_reason = 'member_removed' WHERE id = :id",
        id=grant_id,
    )


@walks("POST", "/ot/v1/shared/query")
async def _grant_read(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    issued = await grant(client, ada.token, [ada.site_id])
    body = {"site_id": "shop.example", "metrics": ["visitors"], "date_range": "7d"}
    return Act(f"grant:{issued['id']}", bearer(issued["key"]), body)


@walks("POST", "/ot/v1/keys")
async def _key(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers, {"name": "ci", "scopes": ["stats:read"]})


@walks("DELETE", "/ot/v1/keys/{key_id}")
async def _key_revoked(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    key_id = await created(client, "/ot/v1/keys", {"name": "ci", "scopes": ["stats:read"]}, ada)
    return Act(ada.actor, ada.headers, ids={"key_id": key_id})


def _ssh_key() -> dict[str, str]:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return {"public_key": line.decode() + " ada@laptop"}


@walks("POST", "/ot/v1/ssh-keys")
async def _ssh_key_added(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers, _ssh_key())


@walks("DELETE", "/ot/v1/ssh-keys/{key_id}")
async def _ssh_key_removed(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    key_id = await created(client, "/ot/v1/ssh-keys", _ssh_key(), ada)
    return Act(ada.actor, ada.headers, ids={"key_id": key_id})


@walks("POST", "/ot/v1/sites")
async def _site(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers, {"domain": "blog.example"})


@walks("POST", "/ot/v1/sites/claims")
async def _claim(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers, {"domain": "blog.example"})


@walks("PATCH", "/ot/v1/sites/{site_id}")
async def _site_changed(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers, {"timezone": "Europe/Paris"}, {"site_id": str(ada.site_id)})


@walks("DELETE", "/ot/v1/sites/{site_id}")
async def _site_removed(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers, ids={"site_id": str(ada.site_id)})


@walks("POST", "/ot/v1/sites/{site_id}/verify")
async def _site_verified(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers, ids={"site_id": str(ada.site_id)})


@walks("POST", "/ot/v1/sites/{site_id}/goals")
async def _goal_added(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers, {"event": "Signup"}, {"site_id": str(ada.site_id)})


@walks("DELETE", "/ot/v1/sites/{site_id}/goals/{goal_id}")
async def _goal_removed(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    goal_id = await created(client, f"/ot/v1/sites/{ada.site_id}/goals", {"event": "Signup"}, ada)
    return Act(ada.actor, ada.headers, ids={"site_id": str(ada.site_id), "goal_id": goal_id})


@walks("POST", "/ot/v1/sites/{site_id}/erasures")
async def _visitor_erased(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers, {"visitor_id": 1}, {"site_id": str(ada.site_id)})


@walks("PATCH", "/ot/v1/team/members/{member_id}")
async def _role_changed(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    member = await add_member(
        settings, ada.account_id, await account_without_password(settings), MemberRole.VIEWER
    )
    return Act(ada.actor, ada.headers, {"role": "admin"}, {"member_id": str(member)})


@walks("DELETE", "/ot/v1/team/members/{member_id}")
async def _member_removed(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    member = await add_member(
        settings, ada.account_id, await account_without_password(settings), MemberRole.VIEWER
    )
    return Act(ada.actor, ada.headers, ids={"member_id": str(member)})


@walks("POST", "/ot/v1/team/invitations")
async def _invited(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers, {"email": BOB, "role": "viewer"})


@walks("DELETE", "/ot/v1/team/invitations/{invitation_id}")
async def _invitation_withdrawn(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    invitation = await created(
        client, "/ot/v1/team/invitations", {"email": BOB, "role": "viewer"}, ada
    )
    return Act(ada.actor, ada.headers, ids={"invitation_id": invitation})


@walks("POST", "/ot/v1/team/invitations/accept")
async def _joined(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    bob = await registered(client, settings, email=BOB)
    await created(client, "/ot/v1/team/invitations", {"email": BOB, "role": "viewer"}, ada)
    found = re.search(r"code: (oti_\S+)", text_of(mails_to(settings, BOB)[-1]))
    assert found is not None
    bob_token = (await logged_in(settings, bob)).token
    return Act(f"account:{bob}", bearer(bob_token), {"token": found.group(1)})


@walks("POST", "/ot/v1/account/export")
async def _export(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers)


@walks("POST", "/ot/v1/account/deletion")
async def _deletion(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    return Act(ada.actor, ada.headers, {"confirm": True, "password": PASSWORD})


@walks("DELETE", "/ot/v1/account/deletion")
async def _deletion_cancelled(client: TestClient, settings: Settings) -> Act:
    ada = await owner(client, settings)
    asked = await client.post(
        "/ot/v1/account/deletion",
        json={"confirm": True, "password": PASSWORD},
        headers=ada.headers,
    )
    assert asked.status == 202, await asked.text()
    again = (await logged_in(settings, ada.account_id)).token  # asking ended every session
    return Act(ada.actor, bearer(again))


def test_every_changing_route_is_walked_or_exempted() -> None:
    assert sorted(WALKS) == CHANGING, "walk the new route in WALKS, or exempt it in EXEMPT"


@pytest.mark.parametrize(("method", "path"), CHANGING, ids=[f"{m} {p}" for m, p in CHANGING])
async def test_a_changing_route_leaves_an_entry_naming_its_caller(
    client: TestClient, settings: Settings, method: str, path: str
) -> None:
    act = await WALKS[(method, path)](client, settings)
    [before] = await rows(settings, "SELECT COALESCE(MAX(id), 0) AS id FROM audit_entry")
    url = re.sub(r"\{(\w+)\}", lambda match: act.ids[match.group(1)], path)
    response = await client.request(method, url, json=act.body, headers=act.headers)
    assert response.status < 300, await response.text()
    entries = await rows(
        settings,
        "SELECT actor, action FROM audit_entry WHERE id > :id ORDER BY id",
        id=before["id"],
    )
    actor = act.actor
    if actor == NEWEST_ACCOUNT:
        [newest] = await rows(settings, "SELECT MAX(id) AS id FROM account")
        actor = f"account:{newest['id']}"
    assert actor in [entry["actor"] for entry in entries], entries


def _sources(*packages: str) -> list[Path]:
    root = Path(ot.__file__).parent
    return sorted(path for package in packages for path in (root / package).rglob("*.py"))


def test_handlers_and_commands_never_write_the_trail_themselves() -> None:
    """The core function that does an act writes its entry (with the actor it is given), so an
    act reached from any door is audited alike."""
    writers = []
    for path in _sources("server", "admin"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "ot.security.audit"
                and any(alias.name == "record" for alias in node.names)
            ):
                writers.append(f"{path.name}:{node.lineno}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "record"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "audit"
            ):
                writers.append(f"{path.name}:{node.lineno}")
    assert writers == []


def test_actions_are_named_by_the_enum_only() -> None:
    """An action typed out as a string would slip past mypy: every one is an `AuditAction`."""
    names = {action.value for action in AuditAction}
    typed_out = [
        f"{path.relative_to(Path(ot.__file__).parent)}:{node.lineno} {node.value}"
        for path in _sources(".")
        if path.name != "audit.py" or path.parent.name != "security"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in names
    ]
    assert typed_out == []
