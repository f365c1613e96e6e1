"""`ot.client.OtClient` against the real application: every method answers its route's `ot.api`
model (parsed from what the server really sent, so the two cannot drift), each refusal is raised
as its typed error, and the stored credentials are the user's alone and gone after logging out.
Also: every route's declared body and answer is a model of `ot.api`, not of a handler."""

from __future__ import annotations

import importlib
import os
import pkgutil
import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from pydantic import BaseModel, RootModel

from ot import api as contract
from ot.accounts import api_keys as core_api_keys
from ot.accounts import passwords as core_passwords
from ot.accounts import store as core_accounts
from ot.accounts.permissions import Scope
from ot.accounts.sessions import SESSION_PREFIX
from ot.api import accounts, api_keys, grants, sites, team
from ot.api.errors import ErrorAnswer, PlausibleError
from ot.api.stats import QueryAnswer, StatsQuery
from ot.client import (
    ClientError,
    CredentialStore,
    Forbidden,
    Invalid,
    NotFound,
    NotLoggedIn,
    OtClient,
    StoredCredential,
    Throttled,
    Unavailable,
    config_folder,
)
from ot.client.client import SESSION_TOKEN_PREFIX
from ot.clock import utcnow
from ot.config import Settings, load_settings
from ot.grants import store as core_grants
from ot.models import MemberRole
from ot.server.app import create_app
from ot.server.auth import declared
from ot.server.openapi import router_operations
from ot.sites import store as core_sites
from tests import support
from tests.account_support import EMAIL, PASSWORD, enrolled, registered, session_headers
from tests.conftest import LiveServer, free_port, stop_server
from tests.support import event, store_hits


@pytest.fixture
def credentials(tmp_path: Path) -> CredentialStore:
    """A config folder of the test's own, so no test reads or writes the user's real one."""
    return CredentialStore(tmp_path / "config" / "opentracker")


@pytest.fixture
async def account_id(client: TestClient, settings: Settings) -> int:
    """Ada's account, registered and verified through the API: she logs in with the client."""
    return await registered(client, settings)


@pytest.fixture
async def ot(
    client: TestClient, account_id: int, credentials: CredentialStore
) -> AsyncIterator[OtClient]:
    """The client on the in-process server (a real loopback socket), logged in as Ada."""
    async with OtClient(base_url_of(client), credentials=credentials) as ot_client:
        await ot_client.log_in(EMAIL, PASSWORD)
        yield ot_client


def base_url_of(client: TestClient) -> str:
    return str(client.make_url("/")).rstrip("/")


# --- logging in and out, and the stored credentials ---------------------------------------


async def test_logging_in_keeps_the_session_in_a_file_only_the_user_may_read(
    client: TestClient, account_id: int, credentials: CredentialStore
) -> None:
    async with OtClient(base_url_of(client), credentials=credentials) as ot_client:
        logged_in = await ot_client.log_in(EMAIL, PASSWORD)

    assert logged_in.account_id == account_id
    assert stat.S_IMODE(credentials.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.folder.stat().st_mode) == 0o700
    assert credentials.load(base_url_of(client)) == StoredCredential("session", logged_in.token)
    # A later run finds it: no password needed again.
    async with OtClient(base_url_of(client) + "/", credentials=credentials) as later:
        assert (await later.profile()).id == account_id


async def test_the_credentials_file_is_created_0600_whatever_the_umask(
    credentials: CredentialStore,
) -> None:
    """Created with its mode, not chmod-ed after: there is no moment when others may read it."""
    previous = os.umask(0)
    try:
        credentials.save("https://ot.example", StoredCredential("api_key", "ot_secret"))
    finally:
        os.umask(previous)

    assert stat.S_IMODE(credentials.path.stat().st_mode) == 0o600


async def test_logging_out_ends_the_session_and_forgets_it_for_that_server_only(
    client: TestClient, ot: OtClient, credentials: CredentialStore
) -> None:
    token = ot.token
    assert token is not None
    credentials.save("https://other.example", StoredCredential("api_key", "ot_other"))

    await ot.log_out()

    assert credentials.load(base_url_of(client)) is None
    assert credentials.load("https://other.example") == StoredCredential("api_key", "ot_other")
    async with OtClient(base_url_of(client), token, credentials=credentials) as old:
        with pytest.raises(NotLoggedIn):
            await old.profile()
    await ot.log_out()  # twice: nothing left to end, no error


async def test_logging_out_of_the_last_server_removes_the_file(
    ot: OtClient, credentials: CredentialStore
) -> None:
    assert credentials.path.exists()

    await ot.log_out()

    assert not credentials.path.exists()


async def test_a_wrong_password_is_not_logged_in(
    client: TestClient, account_id: int, credentials: CredentialStore
) -> None:
    async with OtClient(base_url_of(client), credentials=credentials) as ot_client:
        with pytest.raises(NotLoggedIn) as refused:
            await ot_client.log_in(EMAIL, "not the password")

    assert refused.value.status == 401
    assert not credentials.path.exists()


async def test_without_credentials_nothing_is_sent(
    client: TestClient, credentials: CredentialStore
) -> None:
    async with OtClient(base_url_of(client), credentials=credentials) as ot_client:
        with pytest.raises(NotLoggedIn):
            await ot_client.list_sites()


async def test_the_second_factor_is_given_at_log_in(
    client: TestClient, account_id: int, credentials: CredentialStore
) -> None:
    _, recovery_codes = await enrolled(client, await session_headers(client))

    async with OtClient(base_url_of(client), credentials=credentials) as ot_client:
        with pytest.raises(NotLoggedIn):
            await ot_client.log_in(EMAIL, PASSWORD)  # the code is missing
        logged_in = await ot_client.log_in(EMAIL, PASSWORD, recovery_code=recovery_codes[0])

    assert logged_in.account_id == account_id


async def test_repeated_failed_log_ins_are_throttled_with_the_seconds_to_wait(
    client: TestClient, account_id: int, credentials: CredentialStore
) -> None:
    async with OtClient(base_url_of(client), credentials=credentials) as ot_client:
        for _ in range(5):
            with pytest.raises(NotLoggedIn):
                await ot_client.log_in(EMAIL, "not the password")
        with pytest.raises(Throttled) as throttled:
            await ot_client.log_in(EMAIL, PASSWORD)

    assert throttled.value.retry_after == 2
    assert isinstance(throttled.value, ClientError)


def test_the_config_folder_follows_xdg(tmp_path: Path) -> None:
    assert config_folder({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "opentracker"
    assert config_folder({}) == Path.home() / ".config" / "opentracker"
    assert config_folder({"XDG_CONFIG_HOME": "relative"}) == Path.home() / ".config/opentracker"


# --- the account, sessions and keys -------------------------------------------------------


async def test_the_profile_is_read_and_corrected(ot: OtClient, account_id: int) -> None:
    profile = await ot.profile()
    assert (profile.id, profile.email, profile.email_verified) == (account_id, EMAIL, True)

    updated = await ot.update_profile(name="Ada King")

    assert updated.changed == ["name"]
    assert updated.profile.name == "Ada King"
    assert (await ot.profile()).name == "Ada King"


async def test_a_body_its_model_refuses_is_invalid_before_it_is_sent(ot: OtClient) -> None:
    """The client checks a body with the route's own `ot.api` model, naming the field as the
    server would."""
    with pytest.raises(Invalid) as refused:
        await ot.update_profile(password="new one")  # changed elsewhere, with the old one

    assert (refused.value.field, refused.value.status) == ("password", 0)
    assert "POST /ot/v1/account/password" in refused.value.message


async def test_sessions_are_listed_and_ended(
    client: TestClient, ot: OtClient, credentials: CredentialStore
) -> None:
    other = await session_headers(client)

    listing = await ot.list_sessions()

    assert len(listing.sessions) == 2
    [current] = [s for s in listing.sessions if s.current]
    [elsewhere] = [s for s in listing.sessions if not s.current]
    assert (await ot.end_session(elsewhere.id)).ended == 1
    assert [s.id for s in (await ot.list_sessions()).sessions] == [current.id]
    assert (await client.get("/ot/v1/account", headers=other)).status == 401


async def test_api_keys_are_made_listed_used_and_revoked(
    client: TestClient, ot: OtClient, credentials: CredentialStore
) -> None:
    created = await ot.create_key("reports", ["sites:read"])
    assert created.key.startswith(created.prefix)

    assert [key.id for key in (await ot.list_keys()).keys] == [created.id]
    async with OtClient(base_url_of(client), api_key=created.key, credentials=credentials) as key:
        assert (await key.list_sites()).sites == []
        with pytest.raises(Forbidden):
            await key.list_keys()  # keys are managed by a logged-in session only
        with pytest.raises(Forbidden):
            await key.add_site("new.example")  # a scope the key lacks
        assert (await ot.revoke_key(created.id)).revoked == 1
        with pytest.raises(NotLoggedIn):
            await key.list_sites()
    with pytest.raises(NotFound):
        await ot.revoke_key(created.id + 1000)


# --- sites and statistics -----------------------------------------------------------------


async def test_sites_are_added_read_configured_and_removed(ot: OtClient) -> None:
    added = await ot.add_site("shop.example", timezone="Europe/Amsterdam")
    assert (added.domain, added.timezone) == ("shop.example", "Europe/Amsterdam")
    assert added.snippet

    assert [site.id for site in (await ot.list_sites()).sites] == [added.id]
    assert (await ot.site(added.id)).domain == "shop.example"
    changed = await ot.update_site(added.id, retention_days=30)
    assert (changed.retention_days, changed.timezone) == (30, "Europe/Amsterdam")
    verification = await ot.verify_site(added.id)
    assert verification.verified is False and verification.hint

    removed = await ot.remove_site(added.id)

    assert all(count >= 0 for count in removed.removed.values())
    with pytest.raises(NotFound):
        await ot.site(added.id)


async def test_a_setting_the_server_refuses_is_invalid_naming_the_field(ot: OtClient) -> None:
    with pytest.raises(Invalid) as refused:
        await ot.add_site("shop.example", timezone="Mars/Olympus_Mons")

    assert refused.value.field == "timezone"
    assert refused.value.status == 400


async def test_another_accounts_site_is_not_found(ot: OtClient, settings: Settings) -> None:
    theirs = await support.make_site(settings, "theirs.example")
    assert theirs.id is not None

    with pytest.raises(NotFound):
        await ot.site(theirs.id)
    with pytest.raises(NotFound):
        await ot.update_site(theirs.id, timezone="UTC")


async def test_the_stats_query_answers_its_typed_shape(
    client: TestClient, ot: OtClient, credentials: CredentialStore
) -> None:
    site = await ot.add_site("shop.example")
    await store_hits(client, [event(), event(url="https://shop.example/about")])
    key = await ot.create_key("stats", ["stats:read"])
    query = StatsQuery(site_id=site.domain, metrics=["visitors", "pageviews"], date_range="day")

    async with OtClient(base_url_of(client), api_key=key.key, credentials=credentials) as reader:
        answer = await reader.query(query)
        with pytest.raises(NotFound):
            await reader.query(query.model_copy(update={"site_id": "nobody.example"}))

    assert isinstance(answer, QueryAnswer)
    assert answer.query.site_id == "shop.example"
    assert answer.query.metrics == ["visitors", "pageviews"]
    assert [row.metrics for row in answer.results] == [[1, 2]]


async def test_queries_asked_together_answer_each_by_its_place_or_refuse_it_alone(
    client: TestClient, ot: OtClient
) -> None:
    site = await ot.add_site("shop.example")
    await store_hits(client, [event(), event(url="https://shop.example/about")])
    both = StatsQuery(site_id=site.domain, metrics=["visitors", "pageviews"], date_range="day")
    pages = both.model_copy(update={"dimensions": ["event:page"], "metrics": ["pageviews"]})
    unknown_metric = both.model_copy(update={"metrics": ["likes"]})
    nobodys = both.model_copy(update={"site_id": "nobody.example"})

    outcomes = dict([item async for item in ot.query_many([both, unknown_metric, pages, nobodys])])

    assert sorted(outcomes) == [0, 1, 2, 3]
    assert isinstance(outcomes[0], QueryAnswer) and isinstance(outcomes[2], QueryAnswer)
    assert [row.metrics for row in outcomes[0].results] == [[1, 2]]
    assert outcomes[2] == await ot.query(pages)  # as the query alone answers
    assert isinstance(outcomes[1], Invalid) and "likes" in str(outcomes[1])
    assert isinstance(outcomes[3], NotFound)


async def test_queries_asked_together_without_a_credential_are_refused_whole(
    client: TestClient, credentials: CredentialStore
) -> None:
    query = StatsQuery(site_id="shop.example", metrics=["visitors"], date_range="day")
    async with OtClient(base_url_of(client), api_key="ot_unknown", credentials=credentials) as o:
        with pytest.raises(NotLoggedIn):
            [item async for item in o.query_many([query])]


async def test_a_logged_in_session_reads_its_own_stats(client: TestClient, ot: OtClient) -> None:
    site = await ot.add_site("shop.example")
    await store_hits(client, [event(), event(url="https://shop.example/about")])
    query = StatsQuery(site_id=site.domain, metrics=["visitors", "pageviews"], date_range="day")

    answer = await ot.query(query)  # the session from log_in: no API key needed

    assert [row.metrics for row in answer.results] == [[1, 2]]


async def test_the_dashboard_summary_agrees_with_the_stats_query(
    client: TestClient, ot: OtClient
) -> None:
    site = await ot.add_site("shop.example")
    await store_hits(client, [event(), event(url="https://shop.example/about")])

    summary = await ot.summary(site.id, period="day")
    [row] = (
        await ot.query(
            StatsQuery(site_id=site.domain, metrics=["visitors", "pageviews"], date_range="day")
        )
    ).results

    assert (summary.visitors, summary.pageviews) == tuple(row.metrics) == (1, 2)
    assert summary.domain == "shop.example"
    with pytest.raises(Invalid) as refused:
        await ot.summary(site.id, period="fortnight")
    assert refused.value.field == "period"


async def test_goals_are_added_listed_and_removed_and_the_snippet_read(ot: OtClient) -> None:
    site = await ot.add_site("shop.example")

    thanks = await ot.add_goal(site.id, page="/thanks")
    signup = await ot.add_goal(site.id, event="Signup", name="Signed up")
    assert [(goal.kind, goal.name) for goal in (await ot.list_goals(site.id)).goals] == [
        ("page", "Visit /thanks"),
        ("event", "Signed up"),
    ]
    assert (await ot.remove_goal(site.id, thanks.id)).id == thanks.id
    assert [goal.id for goal in (await ot.list_goals(site.id)).goals] == [signup.id]
    with pytest.raises(Invalid) as refused:
        await ot.add_goal(site.id, page="thanks")  # not a path
    assert refused.value.field == "page"
    with pytest.raises(NotFound):
        await ot.remove_goal(site.id, thanks.id)

    snippet = await ot.snippet(site.id)
    assert 'data-domain="shop.example"' in snippet.snippet


# --- team, grants and rights --------------------------------------------------------------


async def test_the_team_is_listed_and_someone_invited(ot: OtClient, account_id: int) -> None:
    members = await ot.list_members()
    assert (members.team_id, members.members) == (account_id, [])

    invitation = await ot.invite("grace@example.com", team.MemberRole.VIEWER)

    assert invitation.role is team.MemberRole.VIEWER
    listed = await ot.list_invitations()
    assert [i.id for i in listed.invitations] == [invitation.id]


async def test_grants_are_made_listed_read_and_revoked(ot: OtClient) -> None:
    site = await ot.add_site("shop.example")
    issued = await ot.create_grant(
        "Auditor B.V.",
        "yearly audit",
        [site.id],
        ["visitors"],
        utcnow().replace(microsecond=0) + timedelta(days=30),
    )
    assert issued.key and issued.status == "active"

    assert [g.id for g in (await ot.list_grants()).grants] == [issued.id]
    assert (await ot.grant(issued.id)).grantee == "Auditor B.V."
    assert (await ot.revoke_grant(issued.id)).status == "revoked"
    assert (await ot.list_grants(status="active")).grants == []
    with pytest.raises(Invalid) as refused:
        await ot.list_grants(status="someday")
    assert refused.value.field == "status"


async def test_the_account_is_exported_and_its_deletion_asked_for(
    client: TestClient, ot: OtClient, credentials: CredentialStore
) -> None:
    assert (await ot.export_account()).startswith(b"PK")  # a zip
    assert (await ot.deletion_status()).scheduled is False
    with pytest.raises(Forbidden) as refused:
        await ot.request_deletion("not the password")
    assert refused.value.code == "forbidden"

    status = await ot.request_deletion(PASSWORD)

    assert status.scheduled is True and status.purge_after is not None
    assert credentials.load(base_url_of(client)) is None  # every session ended


# --- a real server ------------------------------------------------------------------------


async def test_a_real_server_answers_and_once_stopped_is_unavailable(
    live_server: LiveServer, tmp_path: Path
) -> None:
    [site] = await support.rows(
        live_server.settings, "SELECT account_id FROM site WHERE id = :id", id=live_server.site_id
    )
    started = await support.logged_in(live_server.settings, site["account_id"])
    store = CredentialStore(tmp_path / "config")

    async with OtClient(live_server.base_url, started.token, credentials=store) as ot_client:
        listing = await ot_client.list_sites()
        assert [s.domain for s in listing.sites] == [live_server.site_domain]
        stop_server(live_server.process)
        with pytest.raises(Unavailable):
            await ot_client.list_sites()


async def test_no_server_listening_is_unavailable(credentials: CredentialStore) -> None:
    base_url = f"http://127.0.0.1:{free_port()}"
    async with OtClient(base_url, "ots_anything", credentials=credentials) as ot_client:
        with pytest.raises(Unavailable) as refused:
            await ot_client.profile()

    assert refused.value.status == 0


# --- the contract ---------------------------------------------------------------------------

APP = create_app(load_settings(data_dir="/nonexistent-ot-data-for-route-listing"))


@pytest.mark.parametrize(
    ("method", "path", "handler"),
    router_operations(APP),
    ids=[f"{m} {p}" for m, p, _ in router_operations(APP)],
)
def test_every_declared_body_and_answer_is_a_model_of_the_contract(
    method: str, path: str, handler: object
) -> None:
    declaration = declared(handler)
    assert declaration is not None
    for model in (declaration.body, declaration.answers):
        if model is not None:
            assert model.__module__.startswith("ot.api."), (model, model.__module__)


def _contract_models() -> list[type[BaseModel]]:
    found = []
    for module_info in pkgutil.iter_modules(contract.__path__):
        module = importlib.import_module(f"ot.api.{module_info.name}")
        found += [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, BaseModel)
            and value.__module__ == module.__name__
        ]
    return found


def test_every_field_of_the_contract_is_described() -> None:
    """The descriptions are what `openapi.json` tells the API's users about each field."""
    undescribed = [
        f"{model.__module__}.{model.__name__}.{name}"
        for model in _contract_models()
        if not issubclass(model, RootModel)
        for name, field in model.model_fields.items()
        if not field.description
    ]
    assert undescribed == []


def test_the_contracts_limits_are_the_cores() -> None:
    """The contract imports no core noun, so it states the core's limits again: they agree."""
    assert accounts.MAX_NAME_LENGTH == core_accounts.MAX_NAME_LENGTH
    assert accounts.MAX_EMAIL_LENGTH == core_accounts.MAX_EMAIL_LENGTH
    assert accounts.CONTACT_LIMITS == core_accounts.CONTACT_LIMITS
    assert accounts.MAX_PASSWORD_LENGTH == core_passwords.MAX_PASSWORD_LENGTH
    assert api_keys.MAX_KEY_NAME_LENGTH == core_api_keys.MAX_NAME_LENGTH
    assert tuple(scope.value for scope in Scope) == api_keys.SCOPES
    assert sites.MAX_EXCLUDED_IPS == core_sites.MAX_EXCLUDED_IPS
    assert sites.MAX_EXCLUDED_PATHS == core_sites.MAX_EXCLUDED_PATHS
    assert sites.MAX_RETENTION_DAYS == core_sites.MAX_RETENTION_DAYS
    assert grants.MAX_GRANT_DAYS == core_grants.MAX_GRANT_DAYS
    assert grants.LINK_PASSWORD_MAX_LENGTH == core_passwords.LINK_PASSWORD_MAX_LENGTH
    assert grants.STATUSES == core_grants.STATUSES
    assert [role.value for role in team.MemberRole] == [role.value for role in MemberRole]
    assert SESSION_TOKEN_PREFIX == SESSION_PREFIX


async def test_both_error_shapes_are_the_contracts(client: TestClient) -> None:
    ours = await client.get("/ot/v1/account")
    plausible = await client.post("/api/v2/query", json={})

    assert ErrorAnswer.model_validate(await ours.json()).error.code == "unauthorized"
    assert PlausibleError.model_validate(await plausible.json()).error
