"""Lawful disclosure requests up to the decision (`ot.disclosure.requests`): a `legal` operator
opens a request with a checked scope, another `legal` operator approves or rejects it (four
eyes), nothing is disclosed before approval, every act and every refusal that matters is in the
audit trail, and none of it shows in the customer's own trail."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from ot.config import Settings
from ot.db import transaction
from ot.disclosure.requests import (
    DisclosureRefused,
    DisclosureTerms,
    approve_request,
    approved_scope,
    customer_may_be_told,
    get_request,
    list_requests,
    open_request,
    reject_request,
    review_request,
    texts_of,
)
from ot.errors import InvalidInput, NotFound, OtError
from ot.models import DataCategory, DisclosureRequest, DisclosureState, Jurisdiction, Site
from ot.rights.account_deletion import purge_account
from ot.schema import alembic_config, upgrade
from ot.security.audit import entries_of
from ot.security.crypto import Cipher
from ot.security.operators import Operator, OperatorRefused, OsUser, add_operator, operator_for
from ot.security.secrets import load_secrets_of
from ot.sites.store import add_site
from tests import support
from tests.support import NOT_SETUP, rows

NOW = datetime.now(UTC)
AUTHORITY = "Politie Eenheid Amsterdam, Team Cybercrime, contact: inspecteur J. de Vries"
LEGAL_BASIS = "art. 126nd Wetboek van Strafvordering"
REFERENCE = "PL1300-2026-0042"
BEFORE_OURS = "a3f9c1d27e58"  # the migration before operators and disclosure requests


@dataclass
class Office:
    """The operators of a running installation: Alice (admin), Lena and Lars (legal), Bill
    (billing); the customer's account with two sites, and a stranger's site."""

    alice: Operator
    lena: Operator
    lars: Operator
    bill: Operator
    site: Site
    second_site: Site
    stranger_site: Site
    trail_start: int  # the last audit entry of the setup: the tests read the trail after it


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The test database, for the core's own transactions."""
    async with support.helper_engine(settings) as engine:
        yield engine


@pytest.fixture
def cipher(settings: Settings) -> Cipher:
    return Cipher(load_secrets_of(settings))


@pytest.fixture
async def office(settings: Settings, engine: AsyncEngine) -> Office:
    """Root appointed Alice, who appointed the others."""
    site = await support.make_site(settings)
    stranger_site = await support.make_site(settings, "stranger.example")
    async with transaction(engine) as session:
        second_site = await add_site(
            session, site.account_id, "blog.example", actor=support.TEST_OPERATOR
        )
        alice = OsUser("alice", 1001)
        await add_operator(session, OsUser("root", 0), "alice", "admin")
        for login, role in (("lena", "legal"), ("lars", "legal"), ("bill", "billing")):
            await add_operator(session, alice, login, role)
    async with transaction(engine) as session:
        found = [
            await operator_for(session, login, act="test")
            for login in ("alice", "lena", "lars", "bill")
        ]
    [head] = await rows(settings, "SELECT max(id) AS id FROM audit_entry")
    alice_, lena, lars, bill = found
    return Office(alice_, lena, lars, bill, site, second_site, stranger_site, head["id"])


def terms(office: Office, **changes: Any) -> DisclosureTerms:
    """A request from the Dutch police for the customer's shop, IPs included, under a gag."""
    asked = DisclosureTerms(
        authority=AUTHORITY,
        legal_basis=LEGAL_BASIS,
        reference=REFERENCE,
        jurisdiction="nl",
        account_id=office.site.account_id,
        site_ids=(office.site.id or 0,),
        period_start=NOW - timedelta(days=30),
        period_end=NOW - timedelta(days=1),
        categories=("raw_hits", "ips"),
        deadline=NOW + timedelta(days=14),
        gagged=True,
        gag_ends_at=NOW + timedelta(days=90),
    )
    return replace(asked, **changes)


async def trail(settings: Settings, office: Office) -> list[dict[str, Any]]:
    """The entries written since the office was set up, oldest first, details as dicts."""
    found = await rows(
        settings,
        f"SELECT actor, action, account_id, details FROM audit_entry "
        f"WHERE {NOT_SETUP} AND id > :start ORDER BY id",
        start=office.trail_start,
    )
    for row in found:
        if isinstance(row["details"], str):
            row["details"] = json.loads(row["details"])
    return found


async def opened(engine: AsyncEngine, cipher: Cipher, office: Office, **changes: Any) -> int:
    """A request Lena opened; its id."""
    async with transaction(engine) as session:
        request = await open_request(session, cipher, office.lena, terms(office, **changes))
    assert request.id is not None
    return request.id


async def stored(engine: AsyncEngine, request_id: int) -> DisclosureRequest:
    async with transaction(engine) as session:
        return await get_request(session, request_id)


async def request_rows(settings: Settings) -> list[dict[str, Any]]:
    return await rows(settings, "SELECT * FROM disclosure_request ORDER BY id")


async def test_a_legal_operator_opens_a_request_with_its_scope(
    settings: Settings, engine: AsyncEngine, cipher: Cipher, office: Office
) -> None:
    request_id = await opened(engine, cipher, office)

    request = await stored(engine, request_id)
    assert request.state == DisclosureState.OPENED
    assert request.opened_by == "lena" and request.decided_by is None
    assert request.account_id == office.site.account_id
    assert request.site_ids == [office.site.id]
    assert request.categories == ["ips", "raw_hits"]
    assert request.jurisdiction == "nl" and request.gagged
    texts = texts_of(request, cipher)
    assert (texts.authority, texts.legal_basis, texts.reference) == (
        AUTHORITY,
        LEGAL_BASIS,
        REFERENCE,
    )
    assert texts.decision_note is None
    assert await trail(settings, office) == [
        {
            "actor": "operator:lena",
            "action": "disclosure.opened",
            "account_id": None,
            "details": {
                "request_id": request_id,
                "account_id": office.site.account_id,
                "site_ids": [office.site.id],
                "categories": ["ips", "raw_hits"],
                "jurisdiction": "nl",
                "gagged": True,
            },
        }
    ]


async def test_the_requests_free_texts_are_stored_encrypted(
    settings: Settings, engine: AsyncEngine, cipher: Cipher, office: Office
) -> None:
    await opened(engine, cipher, office)
    [row] = await request_rows(settings)
    raw = json.dumps({key: str(value) for key, value in row.items()})
    for text in (AUTHORITY, "de Vries", LEGAL_BASIS, REFERENCE):
        assert text not in raw
    assert row["authority_encrypted"].startswith("v1.")


async def test_a_request_naming_no_sites_covers_the_sites_the_account_has_when_opened(
    engine: AsyncEngine, cipher: Cipher, office: Office
) -> None:
    request_id = await opened(engine, cipher, office, site_ids=None)
    request = await stored(engine, request_id)
    assert office.site.id is not None and office.second_site.id is not None
    assert request.site_ids == sorted([office.site.id, office.second_site.id])


async def test_opening_needs_the_legal_role(
    settings: Settings, engine: AsyncEngine, cipher: Cipher, office: Office
) -> None:
    with pytest.raises(
        OperatorRefused, match="bill may not run `ot-admin disclosure open`: that needs"
    ):
        async with transaction(engine) as session:
            await open_request(session, cipher, office.bill, terms(office))

    assert await request_rows(settings) == []
    assert await trail(settings, office) == [
        {
            "actor": "operator:bill",
            "action": "operator.refused",
            "account_id": None,
            "details": {"act": "disclosure open", "needed_role": "legal"},
        }
    ]


BAD_SCOPES: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown account", {"account_id": 999_999, "site_ids": None}, "account", "does not exist"),
    ("a stranger's site", {}, "site_ids", "is not a site of account"),
    ("a repeated site", {}, "site_ids", "sites must not repeat"),
    (
        "a reversed period",
        {"period_start": NOW - timedelta(days=1), "period_end": NOW - timedelta(days=2)},
        "period_end",
        "period_end must be after period_start",
    ),
    (
        "a period in the future",
        {"period_end": NOW + timedelta(days=1)},
        "period_end",
        "must not be in the future",
    ),
    (
        "a period before any data",
        {"period_start": datetime(1999, 1, 1, tzinfo=UTC)},
        "period_start",
        "must not be before 2000-01-01",
    ),
    (
        "a moment without a zone",
        {"period_start": datetime(2026, 11, 1)},
        "period_start",
        "needs a time zone",
    ),
    ("no category", {"categories": ()}, "categories", "name at least one data category"),
    (
        "an unknown category",
        {"categories": ("passwords",)},
        "categories",
        'unknown categories "passwords": choose from customer_information, statistics, '
        "raw_hits, ips",
    ),
    ("a repeated category", {"categories": ("ips", "ips")}, "categories", "must not repeat"),
    (
        "an unknown jurisdiction",
        {"jurisdiction": "de"},
        "jurisdiction",
        'unknown jurisdiction "de": choose from nl, us',
    ),
    ("a blank authority", {"authority": "  "}, "authority", "authority must not be blank"),
    ("a blank reference", {"reference": ""}, "reference", "reference must not be blank"),
    ("a long reference", {"reference": "x" * 201}, "reference", "at most 200 characters"),
    (
        "a gag's end without a gag",
        {"gagged": False},
        "gag_ends_at",
        "a gag's end needs a gag",
    ),
    (
        "a gag that has ended",
        {"gag_ends_at": NOW - timedelta(days=1)},
        "gag_ends_at",
        "gag_ends_at must be in the future",
    ),
]


@pytest.mark.parametrize(
    ("case", "changes", "field", "message"), BAD_SCOPES, ids=[case[0] for case in BAD_SCOPES]
)
async def test_a_bad_request_is_refused_naming_the_problem_and_nothing_is_stored(
    settings: Settings,
    engine: AsyncEngine,
    cipher: Cipher,
    office: Office,
    case: str,
    changes: dict[str, Any],
    field: str,
    message: str,
) -> None:
    if case == "a stranger's site":
        changes = {"site_ids": (office.site.id, office.stranger_site.id)}
    if case == "a repeated site":
        changes = {"site_ids": (office.site.id, office.site.id)}
    with pytest.raises((InvalidInput, NotFound)) as caught:
        async with transaction(engine) as session:
            await open_request(session, cipher, office.lena, terms(office, **changes))
    assert isinstance(caught.value, OtError)
    assert message in caught.value.message
    assert caught.value.field == field
    assert await request_rows(settings) == []
    assert await trail(settings, office) == []


async def test_another_legal_operator_approves_and_the_scope_is_released(
    settings: Settings, engine: AsyncEngine, cipher: Cipher, office: Office
) -> None:
    request_id = await opened(engine, cipher, office)
    async with transaction(engine) as session:
        await approve_request(session, cipher, office.lars, request_id)

    request = await stored(engine, request_id)
    assert request.state == DisclosureState.APPROVED
    assert request.decided_by == "lars" and request.decided_at is not None
    scope = approved_scope(request)
    assert scope.request_id == request_id
    assert scope.account_id == office.site.account_id
    assert scope.site_ids == (office.site.id,)
    assert scope.categories == {DataCategory.RAW_HITS, DataCategory.IPS}
    assert scope.period_start == request.period_start.replace(tzinfo=UTC)
    assert (scope.period_end - scope.period_start) == timedelta(days=29)
    assert (await trail(settings, office))[-1] == {
        "actor": "operator:lars",
        "action": "disclosure.approved",
        "account_id": None,
        "details": {
            "request_id": request_id,
            "account_id": office.site.account_id,
            "partial": False,
        },
    }


async def test_another_legal_operator_rejects_saying_why(
    settings: Settings, engine: AsyncEngine, cipher: Cipher, office: Office
) -> None:
    request_id = await opened(engine, cipher, office)
    async with transaction(engine) as session:
        await reject_request(
            session, cipher, office.lars, request_id, reason="No judge's order for the IPs"
        )

    request = await stored(engine, request_id)
    assert request.state == DisclosureState.REJECTED and request.decided_by == "lars"
    assert texts_of(request, cipher).decision_note == "No judge's order for the IPs"
    assert "judge" not in str(await request_rows(settings))
    with pytest.raises(DisclosureRefused, match="is rejected, not approved"):
        approved_scope(request)
    assert (await trail(settings, office))[-1]["action"] == "disclosure.rejected"


async def test_a_rejection_needs_a_reason(
    engine: AsyncEngine, cipher: Cipher, office: Office
) -> None:
    request_id = await opened(engine, cipher, office)
    with pytest.raises(InvalidInput, match="note must not be blank"):
        async with transaction(engine) as session:
            await reject_request(session, cipher, office.lars, request_id, reason=" ")
    assert (await stored(engine, request_id)).state == DisclosureState.OPENED


@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_the_operator_who_opened_a_request_may_not_decide_it(
    settings: Settings, engine: AsyncEngine, cipher: Cipher, office: Office, decision: str
) -> None:
    request_id = await opened(engine, cipher, office)
    with pytest.raises(DisclosureRefused) as caught:
        async with transaction(engine) as session:
            if decision == "approve":
                await approve_request(session, cipher, office.lena, request_id)
            else:
                await reject_request(session, cipher, office.lena, request_id, reason="no")

    assert caught.value.reason == "four_eyes"
    assert caught.value.message == (
        f"lena opened disclosure request {request_id} and may not {decision} it too: another "
        "operator with the legal role decides (four eyes)"
    )
    request = await stored(engine, request_id)
    assert request.state == DisclosureState.OPENED and request.decided_by is None
    assert (await trail(settings, office))[-1] == {
        "actor": "operator:lena",
        "action": "disclosure.refused",
        "account_id": None,
        "details": {
            "request_id": request_id,
            "state": "opened",
            "attempted": "approved" if decision == "approve" else "rejected",
            "reason": "four_eyes",
        },
    }


@pytest.mark.parametrize("decider", ["alice", "bill"])
async def test_deciding_needs_the_legal_role(
    settings: Settings, engine: AsyncEngine, cipher: Cipher, office: Office, decider: str
) -> None:
    request_id = await opened(engine, cipher, office)
    operator = getattr(office, decider)
    with pytest.raises(
        OperatorRefused, match=f"{decider} may not run `ot-admin disclosure approve`:"
    ):
        async with transaction(engine) as session:
            await approve_request(session, cipher, operator, request_id)
    assert (await stored(engine, request_id)).state == DisclosureState.OPENED
    assert (await trail(settings, office))[-1]["details"] == {
        "act": "disclosure approve",
        "needed_role": "legal",
    }


@pytest.mark.parametrize(
    ("first", "then"),
    [("approve", "approve"), ("approve", "reject"), ("reject", "approve"), ("reject", "reject")],
)
async def test_a_decided_request_cannot_be_decided_again(
    settings: Settings,
    engine: AsyncEngine,
    cipher: Cipher,
    office: Office,
    first: str,
    then: str,
) -> None:
    request_id = await opened(engine, cipher, office)

    async def decide(how: str) -> None:
        async with transaction(engine) as session:
            if how == "approve":
                await approve_request(session, cipher, office.lars, request_id)
            else:
                await reject_request(session, cipher, office.lars, request_id, reason="no")

    await decide(first)
    before = await stored(engine, request_id)
    with pytest.raises(DisclosureRefused) as caught:
        await decide(then)

    state = "approved" if first == "approve" else "rejected"
    attempted = "approved" if then == "approve" else "rejected"
    assert caught.value.reason == "state"
    assert caught.value.message == (
        f"disclosure request {request_id} is {state} (by lars): it cannot be {attempted} now"
    )
    after = await stored(engine, request_id)
    assert (after.state, after.decided_at, after.decision_note_encrypted) == (
        before.state,
        before.decided_at,
        before.decision_note_encrypted,
    )
    assert (await trail(settings, office))[-1]["details"] == {
        "request_id": request_id,
        "state": state,
        "attempted": attempted,
        "reason": "state",
    }


async def test_an_unknown_request_is_refused(
    engine: AsyncEngine, cipher: Cipher, office: Office
) -> None:
    with pytest.raises(NotFound, match="disclosure request 4242 does not exist"):
        async with transaction(engine) as session:
            await approve_request(session, cipher, office.lars, 4242)
    with pytest.raises(NotFound, match="disclosure request 4242 does not exist"):
        async with transaction(engine) as session:
            await review_request(session, cipher, office.lars, 4242)


async def test_an_unknown_operator_is_refused_before_anything_else(
    settings: Settings, engine: AsyncEngine, office: Office
) -> None:
    with pytest.raises(OperatorRefused, match="mallory is not an operator"):
        async with transaction(engine) as session:
            await operator_for(session, "mallory", act="disclosure approve")
    assert (await trail(settings, office))[-1] == {
        "actor": "operator:mallory",
        "action": "operator.refused",
        "account_id": None,
        "details": {"act": "disclosure approve"},
    }


async def test_nothing_can_be_disclosed_before_approval(
    engine: AsyncEngine, cipher: Cipher, office: Office
) -> None:
    request_id = await opened(engine, cipher, office)
    with pytest.raises(DisclosureRefused) as caught:
        approved_scope(await stored(engine, request_id))
    assert caught.value.message == (
        f"disclosure request {request_id} is opened, not approved: nothing may be exported for it"
    )


async def test_a_legal_operator_reviews_a_request_and_the_reading_is_recorded(
    settings: Settings, engine: AsyncEngine, cipher: Cipher, office: Office
) -> None:
    request_id = await opened(engine, cipher, office)
    async with transaction(engine) as session:
        request, texts = await review_request(session, cipher, office.lars, request_id)
    assert request.id == request_id and texts.reference == REFERENCE
    assert (await trail(settings, office))[-1] == {
        "actor": "operator:lars",
        "action": "disclosure.reviewed",
        "account_id": None,
        "details": {"request_id": request_id, "state": "opened"},
    }
    with pytest.raises(OperatorRefused):
        async with transaction(engine) as session:
            await review_request(session, cipher, office.bill, request_id)


async def test_requests_are_listed_by_state(
    engine: AsyncEngine, cipher: Cipher, office: Office
) -> None:
    first = await opened(engine, cipher, office)
    second = await opened(engine, cipher, office, reference="PL1300-2026-0043")
    async with transaction(engine) as session:
        await approve_request(session, cipher, office.lars, second)
    async with transaction(engine) as session:
        assert [each.id for each in await list_requests(session)] == [first, second]
        opened_now = await list_requests(session, state=DisclosureState.OPENED)
    assert [each.id for each in opened_now] == [first]


async def test_the_customer_reads_nothing_of_a_request_in_their_own_trail(
    engine: AsyncEngine, cipher: Cipher, office: Office
) -> None:
    """A gag must hold in every channel the customer reads: their trail and their export list
    the entries filed under their account."""
    request_id = await opened(engine, cipher, office)
    async with transaction(engine) as session:
        await review_request(session, cipher, office.lars, request_id)
        await approve_request(session, cipher, office.lars, request_id)
        customers_trail = await entries_of(session, office.site.account_id)
    assert not [entry for entry in customers_trail if entry.action.startswith("disclosure.")]


def test_the_customer_may_be_told_once_no_gag_holds() -> None:
    def request(gagged: bool, ends: datetime | None) -> DisclosureRequest:
        return DisclosureRequest(
            state=DisclosureState.OPENED,
            jurisdiction=Jurisdiction.NL,
            authority_encrypted="",
            legal_basis_encrypted="",
            reference_encrypted="",
            account_id=1,
            period_start=NOW - timedelta(days=2),
            period_end=NOW - timedelta(days=1),
            deadline=NOW,
            gagged=gagged,
            gag_ends_at=ends,
            opened_by="lena",
            opened_at=NOW,
        )

    assert customer_may_be_told(request(False, None), NOW)
    assert not customer_may_be_told(request(True, None), NOW)  # until the authority lifts it
    assert not customer_may_be_told(request(True, NOW + timedelta(days=1)), NOW)
    assert customer_may_be_told(request(True, NOW - timedelta(seconds=1)), NOW)


async def test_the_migration_adds_and_removes_both_tables(settings: Settings) -> None:
    url = settings.effective_database_url

    async def tables() -> set[str]:
        async with support.helper_engine(settings) as engine, engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))

    ours = {"operator_appointment", "disclosure_request"}
    assert ours <= await tables()
    await asyncio.to_thread(command.downgrade, alembic_config(url), BEFORE_OURS)
    assert not ours & await tables()
    await asyncio.to_thread(upgrade, url)
    assert ours <= await tables()


async def test_a_request_outlives_the_purge_of_its_account(
    settings: Settings, engine: AsyncEngine, cipher: Cipher, office: Office
) -> None:
    """The law keeps disclosure records after the customer's data is gone."""
    request_id = await opened(engine, cipher, office)
    await purge_account(engine, office.site.account_id, now=NOW, batch_size=100)

    request = await stored(engine, request_id)
    assert request.account_id == office.site.account_id
    assert texts_of(request, cipher).reference == REFERENCE
    assert await rows(settings, "SELECT id FROM site WHERE id = :id", id=office.site.id) == []
