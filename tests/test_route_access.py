"""Every route of the server declares who may call it (`ot.server.auth`), and a stranger gets
nothing from any of them: no credentials answer 401, and another account's objects answer exactly
as missing ones. The walk covers routes added later automatically: a new route fails here until
it declares its access and, if it takes an object id, says how to name a victim's object."""

from __future__ import annotations

import ast
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel.ext.asyncio.session import AsyncSession

import ot
from ot.accounts.permissions import Principal, PrincipalKind, Scope
from ot.accounts.sessions import StartedSession
from ot.billing.invoices import issue_invoices
from ot.billing.plans import Period, set_plan
from ot.config import Settings, load_settings
from ot.credentials import CredentialKind
from ot.db import transaction
from ot.grants.store import GrantTerms, IssuedGrant, create_grant
from ot.models import Account, Site
from ot.security.crypto import Cipher
from ot.security.secrets import load_or_create_secrets
from ot.server.app import create_app
from ot.server.auth import CSRF_HEADER, SESSION_COOKIE, RouteNeeds, declared
from ot.server.middlewares import COLLECTOR_PATHS
from ot.stats.query import METRICS
from tests import support
from tests.stats_support import goal, token_for
from tests.support import TEST_OPERATOR, bearer, helper_engine, logged_in
from tests.team_support import team_objects

# Routes anyone may call, each for a reason: adding one here is a deliberate act.
OPEN_ROUTES = {
    ("POST", "/api/event"),  # the collector
    ("GET", "/pixel.gif"),
    ("GET", "/matomo.php"),
    ("POST", "/matomo.php"),
    ("GET", "/piwik.php"),
    ("POST", "/piwik.php"),
    ("GET", "/js/ot.js"),
    ("POST", "/ot/v1/accounts"),  # registration, e-mail verification and log-in
    ("POST", "/ot/v1/accounts/verify"),
    ("GET", "/ot/v1/accounts/verify"),
    ("POST", "/ot/v1/login"),
    ("GET", "/ot/v1/team/invitations/accept"),  # the mailed link: describes, accepts nothing
    ("GET", "/healthz"),  # operations: no customer data
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/ot/v1/openapi.json"),  # describes the API, holds no data
    # PayPal's redirect of the payer: executes only the payment PayPal approved for that
    # invoice (test_billing_api); and PayPal's webhooks, believed once PayPal verifies them.
    ("GET", "/billing/paypal/return"),
    ("GET", "/billing/paypal/cancel"),
    ("POST", "/webhooks/paypal"),
}


@dataclass
class World:
    """A victim account with a site, a live session and a grant to a third party, and a
    stranger with its own site, session, API key (every scope) and a grant of its own site
    with a share link."""

    victim_site: Site
    victim_session: StartedSession
    victim_grant: IssuedGrant
    stranger_account_id: int
    stranger_session: StartedSession
    stranger_key: str
    stranger_grant: IssuedGrant
    # Ids of the victim's other objects (keys, invitations, members, goals), by path parameter.
    victim_ids: dict[str, str]

    @property
    def stranger_grant_key(self) -> str:
        return self.stranger_grant.key


# How to name one of the victim's objects in a path parameter.
VICTIM_OBJECTS: dict[str, Callable[[World], str]] = {
    "session_id": lambda world: str(world.victim_session.session.id),
    "grant_id": lambda world: str(world.victim_grant.grant.id),
    "site_id": lambda world: str(world.victim_site.id),
    "key_id": lambda world: world.victim_ids["key_id"],
    "invitation_id": lambda world: world.victim_ids["invitation_id"],
    "member_id": lambda world: world.victim_ids["member_id"],
    "goal_id": lambda world: world.victim_ids["goal_id"],
    "number": lambda world: world.victim_ids["number"],
}
MISSING_ID = "987654"


def routes() -> list[tuple[str, str, Any]]:
    """(method, path, handler) of every route; building the app touches no database."""
    app = create_app(load_settings(data_dir="/nonexistent-ot-data-for-route-listing"))
    found = []
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS"):
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        found.append((route.method, path, route.handler))
    return found


ROUTES = routes()
GUARDED = [(m, p, h) for m, p, h in ROUTES if (m, p) not in OPEN_ROUTES]
# Routes a third party reads through with a grant's key: besides the GRANT routes, the Stats
# API's v2 query (Plausible's clients hold a key, not a session).
GRANT_READABLE = {("POST", "/api/v2/query")} | {
    (m, p) for m, p, h in ROUTES if (d := declared(h)) is not None and d.access is RouteNeeds.GRANT
}


def test_every_route_declares_who_may_call_it() -> None:
    undeclared = [(m, p) for m, p, h in ROUTES if declared(h) is None]
    assert undeclared == []


def test_only_the_listed_routes_are_open_to_anyone() -> None:
    open_by_declaration = {
        (m, p)
        for m, p, h in ROUTES
        if (d := declared(h)) is not None and d.access in (RouteNeeds.COLLECTOR, RouteNeeds.PUBLIC)
    }
    assert open_by_declaration <= OPEN_ROUTES
    assert {(m, p) for m, p, _ in ROUTES} >= OPEN_ROUTES


def test_every_route_on_a_collector_path_is_a_collector_endpoint() -> None:
    """Their requests skip the API's credential checks (`middlewares.collector_shortcut`)."""
    on_collector_paths = [(m, p, h) for m, p, h in ROUTES if p in COLLECTOR_PATHS]
    assert {p for _, p, _ in on_collector_paths} == COLLECTOR_PATHS
    assert [
        (m, p) for m, p, h in on_collector_paths if declared(h).access is not RouteNeeds.COLLECTOR
    ] == []


def test_every_path_parameter_can_name_a_victims_object() -> None:
    names = {name for _, path, _ in GUARDED for name in re.findall(r"\{(\w+)", path)}
    assert names <= set(VICTIM_OBJECTS), "teach VICTIM_OBJECTS to name a victim's object"


# The one module that reads credentials off a request (`ot.server.auth`); the HTTP client may
# one day send them.
CREDENTIAL_READERS = {"ot/server/auth.py"}
CREDENTIAL_SENDERS = ("ot/client/",)


def _reads_credentials(tree: ast.AST) -> bool:
    """Whether a module names the Authorization header, reads a request's cookies or calls the
    old `bearer_token` parser."""
    for node in ast.walk(tree):
        constant = isinstance(node, ast.Constant) and isinstance(node.value, str)
        if constant and node.value.strip().lower() == "authorization":
            return True
        if isinstance(node, ast.Attribute) and node.attr in ("cookies", "bearer_token"):
            return True
        if isinstance(node, ast.Name) and node.id == "bearer_token":
            return True
        if isinstance(node, ast.alias) and node.name == "bearer_token":
            return True
    return False


def test_only_the_authorise_middleware_reads_credentials() -> None:
    """One way in: no handler and no core module parses `Authorization` or the session cookie,
    so no route can authenticate a caller differently from the others."""
    root = Path(ot.__file__).parent.parent
    readers = {
        str(path.relative_to(root))
        for path in (root / "ot").rglob("*.py")
        if _reads_credentials(ast.parse(path.read_text(encoding="utf-8")))
    }
    readers = {path for path in readers if not path.startswith(CREDENTIAL_SENDERS)}
    assert readers == CREDENTIAL_READERS


@pytest.fixture
async def world(settings: Settings, site: Site) -> World:
    """Two tenants: the victim (shop.example) and a stranger with no tie to it."""
    stranger_site = await support.make_site(settings, "stranger.example")
    every_scope = tuple(scope.value for scope in Scope)
    victim_ids = await team_objects(settings, site.account_id)
    await goal(settings, site, page="/thanks")
    [victims_goal] = await support.rows(settings, "SELECT id FROM goal")
    return World(
        victim_site=site,
        victim_session=await logged_in(settings, site.account_id),
        victim_grant=await _grant(settings, site),
        stranger_account_id=stranger_site.account_id,
        stranger_session=await logged_in(settings, stranger_site.account_id),
        stranger_key=await token_for(settings, stranger_site.account_id, scopes=every_scope),
        stranger_grant=await _grant(settings, stranger_site, share_link=True),
        victim_ids={
            **victim_ids,
            "goal_id": str(victims_goal["id"]),
            "number": await invoice_of(settings, site.account_id),
        },
    )


async def invoice_of(settings: Settings, account_id: int) -> str:
    """The number of an open invoice of the account (a customer for months, on a priced plan,
    invoiced for last month)."""
    async with helper_engine(settings) as engine, transaction(engine) as session:
        now = datetime.now(UTC)
        account = await session.get(Account, account_id)
        assert account is not None
        account.created_at = now - timedelta(days=90)
        session.add(account)
        await set_plan(session, settings.billing, account_id, "starter", actor=TEST_OPERATOR)
        run = await issue_invoices(
            session,
            Cipher(load_or_create_secrets(settings.data_dir)),
            settings.billing,
            Period.of(now - timedelta(days=40)),
            now=now,
            actor=TEST_OPERATOR,
        )
        return run.issued[0].number


async def _grant(settings: Settings, site: Site, *, share_link: bool = False) -> IssuedGrant:
    """A grant of every metric of one site, made by its owner through the core."""
    assert site.id is not None
    async with (
        helper_engine(settings) as engine,
        AsyncSession(engine, expire_on_commit=False) as session,
    ):
        owner = Principal(PrincipalKind.SESSION, site.account_id)
        terms = GrantTerms(
            grantee="A third party",
            purpose="route walk",
            site_ids=(site.id,),
            metrics=METRICS,
            dimensions=(),
            expires_at=datetime.now(UTC) + timedelta(days=1),
            share_link=share_link,
        )
        cipher = Cipher(load_or_create_secrets(settings.data_dir))
        issued = await create_grant(session, cipher, owner, terms, settings.accounts)
        await session.commit()
        return issued


def _path(path: str, value_of: Callable[[str], str]) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: value_of(m.group(1)), path)


async def _call(
    client: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    handler: Any,
    site_domain: str = "shop.example",
) -> web.Response | Any:
    declaration = declared(handler)
    body: dict[str, Any] | None = None
    if declaration is not None and declaration.access in (RouteNeeds.STATS_API, RouteNeeds.GRANT):
        body = {"site_id": site_domain, "metrics": ["visitors"], "date_range": "7d"}
        if declaration.access is RouteNeeds.STATS_API:
            path = path + f"?site_id={site_domain}&metrics=visitors"
    elif method in ("POST", "PUT", "PATCH"):
        body = {}
    request: Callable[..., Awaitable[Any]] = getattr(client, method.lower())
    return await request(path, json=body, headers=headers)


@pytest.mark.parametrize(
    ("method", "path", "handler"), GUARDED, ids=[f"{m} {p}" for m, p, _ in GUARDED]
)
async def test_a_caller_without_credentials_is_refused(
    client: TestClient, world: World, method: str, path: str, handler: Any
) -> None:
    response = await _call(
        client, method, _path(path, lambda name: VICTIM_OBJECTS[name](world)), {}, handler
    )
    assert response.status == 401, await response.text()


@pytest.mark.parametrize(
    ("method", "path", "handler"), GUARDED, ids=[f"{m} {p}" for m, p, _ in GUARDED]
)
async def test_a_stranger_gets_the_victims_objects_answered_as_missing(
    settings: Settings, client: TestClient, world: World, method: str, path: str, handler: Any
) -> None:
    """With every kind of credential the route takes: a session (bearer token, and the browser's
    cookie with its CSRF token), an API key with every scope, a grant's key, its share link."""
    declaration = declared(handler)
    assert declaration is not None
    for way in STRANGERS_WAYS:
        if way.kind not in declaration.credentials:
            continue
        victims = await way.call(
            settings, client, world, method, _victims_path(path, world), handler
        )
        text = (await victims.read()).decode("utf-8", "replace")  # an export is a zip
        assert "shop.example" not in text.replace('"site_id": "shop.example"', ""), way.name
        if "{" in path:
            missing_path = _path(path, lambda _: MISSING_ID)
            missing = await way.call(settings, client, world, method, missing_path, handler)
            assert victims.status == missing.status == 404, (way.name, text)
            victims_id = VICTIM_OBJECTS[re.findall(r"\{(\w+)", path)[0]](world)
            assert text.replace(victims_id, "ID") == (await missing.text()).replace(
                MISSING_ID, "ID"
            ), way.name
        elif declaration.access in (RouteNeeds.STATS_API, RouteNeeds.GRANT):
            assert victims.status == 404, (way.name, text)
        else:
            assert victims.status < 500, (way.name, text)


@pytest.mark.parametrize(
    ("method", "path", "handler"), GUARDED, ids=[f"{m} {p}" for m, p, _ in GUARDED]
)
async def test_a_credential_of_a_kind_the_route_does_not_take_is_refused(
    settings: Settings, client: TestClient, world: World, method: str, path: str, handler: Any
) -> None:
    """401, or 403 for an API key where a logged-in session is needed: never the handler."""
    declaration = declared(handler)
    assert declaration is not None
    for way in STRANGERS_WAYS:
        if way.kind in declaration.credentials:
            continue
        response = await way.call(
            settings, client, world, method, _victims_path(path, world), handler
        )
        session_only = declaration.access is RouteNeeds.SESSION
        refused = 403 if session_only and way.kind is CredentialKind.API_KEY else 401
        assert response.status == refused, (way.name, await response.text())


@dataclass(frozen=True)
class Way:
    """One way a stranger can present credentials: `call(settings, client, world, method,
    path, handler)` makes the request."""

    name: str
    kind: CredentialKind
    call: Callable[[Settings, TestClient, World, str, str, Any], Awaitable[Any]]


def _victims_path(path: str, world: World) -> str:
    return _path(path, lambda name: VICTIM_OBJECTS[name](world))


def _bearer_of(secret: Callable[[World], str]) -> Callable[..., Awaitable[Any]]:
    async def call(
        settings: Settings, client: TestClient, world: World, method: str, path: str, handler: Any
    ) -> Any:
        return await _call(client, method, path, bearer(secret(world)), handler)

    return call


async def _by_session_token(
    settings: Settings, client: TestClient, world: World, method: str, path: str, handler: Any
) -> Any:
    # A new session each time: a route may end every session of the account.
    started = await logged_in(settings, world.stranger_account_id)
    return await _call(client, method, path, bearer(started.token), handler)


async def _by_cookie(
    settings: Settings, client: TestClient, world: World, method: str, path: str, handler: Any
) -> Any:
    started = await logged_in(settings, world.stranger_account_id)
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: started.token})
    try:
        return await _call(client, method, path, {CSRF_HEADER: started.csrf_token}, handler)
    finally:
        client.session.cookie_jar.clear()


STRANGERS_WAYS = [
    Way("session token", CredentialKind.SESSION, _by_session_token),
    Way("session cookie", CredentialKind.SESSION, _by_cookie),
    Way("API key", CredentialKind.API_KEY, _bearer_of(lambda world: world.stranger_key)),
    Way("grant key", CredentialKind.GRANT_KEY, _bearer_of(lambda world: world.stranger_grant.key)),
    Way(
        "share link",
        CredentialKind.SHARE_LINK,
        _bearer_of(lambda world: world.stranger_grant.link_token or ""),
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "handler"), GUARDED, ids=[f"{m} {p}" for m, p, _ in GUARDED]
)
async def test_a_grant_for_another_site_reads_nothing_of_the_victims(
    client: TestClient, world: World, method: str, path: str, handler: Any
) -> None:
    """A third party holding a grant of the stranger's site: routes it may read through answer
    the victim's site exactly as a missing one; every other route refuses the grant's key."""
    headers = bearer(world.stranger_grant_key)
    victims = await _call(
        client, method, _path(path, lambda name: VICTIM_OBJECTS[name](world)), headers, handler
    )
    if (method, path) not in GRANT_READABLE:
        assert victims.status == 401, await victims.text()
        return
    missing = await _call(client, method, path, headers, handler, site_domain="nowhere.example")
    assert victims.status == missing.status == 404
    assert await victims.text() == await missing.text()
    # The victim's own grant reads the victim's site: the refusal above is about the grant.
    own = await _call(client, method, path, bearer(world.victim_grant.key), handler)
    assert own.status == 200, await own.text()


def _strangers_credential(world: World, access: RouteNeeds) -> str:
    """The stranger's key for the kind of credential a route takes."""
    return {
        RouteNeeds.STATS_API: world.stranger_key,
        RouteNeeds.GRANT: world.stranger_grant_key,
    }.get(access, world.stranger_session.token)


WITH_IDS = [(m, p, h) for m, p, h in GUARDED if "{" in p]


@pytest.mark.parametrize(
    ("method", "path", "handler"), WITH_IDS, ids=[f"{m} {p}" for m, p, _ in WITH_IDS]
)
async def test_an_id_of_digits_from_another_script_answers_as_malformed_or_missing(
    client: TestClient, world: World, method: str, path: str, handler: Any
) -> None:
    # Superscript two and Arabic-Indic one pass str.isdigit(); int() refuses the first.
    declaration = declared(handler)
    assert declaration is not None
    token = _strangers_credential(world, declaration.access)
    for odd in ("%C2%B2", "%D9%A1"):
        odd_path = _path(path, lambda _, odd=odd: odd)
        response = await _call(client, method, odd_path, bearer(token), handler)
        assert response.status in (400, 404), (path, odd, await response.text())
