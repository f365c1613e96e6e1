"""A disclosure request's life up to the decision: opened by a `legal` operator, reviewed, then
approved or rejected by another `legal` operator (four eyes). `approved_scope` is the one door to
the data: it answers the scope of an approved request and refuses every other.

States move only along `TRANSITIONS`; a refused move changes nothing, says why, and is written to
the trail (`disclosure.refused`). Entries of these acts name the account in their details, never
in the entry's `account_id`: the customer reads their account's entries (their trail, their
export), and a gag must hold there too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.store import get_account
from ot.clock import as_utc, utcnow
from ot.errors import Conflict, InvalidInput, NotFound
from ot.models import (
    DISCLOSURE_AUTHORITY,
    DISCLOSURE_DECISION_NOTE,
    DISCLOSURE_LEGAL_BASIS,
    DISCLOSURE_REFERENCE,
    DataCategory,
    DisclosureRequest,
    DisclosureState,
    Jurisdiction,
    OperatorRole,
    Site,
)
from ot.security import audit
from ot.security.audit import AuditAction
from ot.security.crypto import Cipher
from ot.security.operators import Operator, require_role

# Where each state may go. An exported request may be exported again (a lost bundle, a second
# copy): each bundle is in the trail. Telling the customer is no state: it is `notified_at`,
# which any decided request may get (`ot.disclosure.notices`).
TRANSITIONS: dict[DisclosureState, frozenset[DisclosureState]] = {
    DisclosureState.OPENED: frozenset({DisclosureState.APPROVED, DisclosureState.REJECTED}),
    DisclosureState.APPROVED: frozenset({DisclosureState.EXPORTED}),
    DisclosureState.EXPORTED: frozenset({DisclosureState.EXPORTED}),
    DisclosureState.REJECTED: frozenset(),
}
DISCLOSABLE = frozenset({DisclosureState.APPROVED, DisclosureState.EXPORTED})
EARLIEST = datetime.fromisoformat("2000-01-01T00:00:00+00:00")  # before any data we hold
TEXT_LIMITS = {"authority": 1000, "legal_basis": 1000, "reference": 200, "note": 4000}


class DisclosureRefused(Conflict):
    """A move the request's state or the four-eyes rule does not allow; `reason` says which in
    one word ("state" or "four_eyes")."""

    code = "disclosure_refused"

    def __init__(self, message: str, *, request_id: int, reason: str) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.reason = reason


@dataclass(frozen=True)
class DisclosureTerms:
    """A request as the authority made it, in the operator's words: the choices as text, checked
    by `open_request`. `site_ids` None: every site the account has when the request is opened."""

    authority: str  # the authority, and whom to contact there
    legal_basis: str
    reference: str  # the authority's case number or reference
    jurisdiction: str
    account_id: int
    period_start: datetime  # included
    period_end: datetime  # excluded
    categories: tuple[str, ...]
    deadline: datetime
    site_ids: tuple[int, ...] | None = None
    # May the customer be told? Not while gagged: until `gag_ends_at`, or, with no end, until
    # the authority lifts the gag.
    gagged: bool = False
    gag_ends_at: datetime | None = None


@dataclass(frozen=True)
class DisclosureScope:
    """Exactly what an approved request discloses."""

    request_id: int
    account_id: int
    site_ids: tuple[int, ...]
    period_start: datetime
    period_end: datetime
    categories: frozenset[DataCategory]


@dataclass(frozen=True)
class RequestTexts:
    """A request's free texts, decrypted for the operators who review it."""

    authority: str
    legal_basis: str
    reference: str
    decision_note: str | None


def _text(value: str, field: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput(f"{field.replace('_', ' ')} must not be blank", field=field)
    if len(value) > TEXT_LIMITS[field]:
        raise InvalidInput(
            f"{field.replace('_', ' ')} must be at most {TEXT_LIMITS[field]} characters",
            field=field,
        )
    return value


def _moment(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidInput(
            f"{field} needs a time zone (e.g. 2026-11-01T00:00:00+00:00)", field=field
        )
    return as_utc(value)


def _choice(value: str, kind: type[Jurisdiction] | type[DataCategory], field: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise InvalidInput(f'unknown {field} "{value}": choose from {known}', field=field) from None


def _categories(values: tuple[str, ...]) -> list[DataCategory]:
    if not values:
        raise InvalidInput("name at least one data category", field="categories")
    chosen = [_choice(value, DataCategory, "categories") for value in values]
    if len(set(chosen)) != len(chosen):
        raise InvalidInput("data categories must not repeat", field="categories")
    return sorted(chosen)


async def _sites_of_scope(
    session: AsyncSession, account_id: int, asked: tuple[int, ...] | None
) -> list[int]:
    owned = set((await session.exec(select(Site.id).where(Site.account_id == account_id))).all())
    if asked is None:
        return sorted(site_id for site_id in owned if site_id is not None)
    if len(set(asked)) != len(asked):
        raise InvalidInput("sites must not repeat", field="site_ids")
    foreign = [site_id for site_id in asked if site_id not in owned]
    if foreign:
        raise InvalidInput(
            f"site {', '.join(map(str, foreign))} "
            f"{'is not a site' if len(foreign) == 1 else 'are not sites'} of account {account_id}",
            field="site_ids",
        )
    return sorted(asked)


async def _checked(session: AsyncSession, terms: DisclosureTerms, now: datetime) -> dict[str, Any]:
    """The request's plain columns from `terms`, or the first problem found in them."""
    jurisdiction = _choice(terms.jurisdiction, Jurisdiction, "jurisdiction")
    start = _moment(terms.period_start, "period_start")
    end = _moment(terms.period_end, "period_end")
    if start < EARLIEST:
        raise InvalidInput(
            f"period_start must not be before {EARLIEST.date()}", field="period_start"
        )
    if end <= start:
        raise InvalidInput("period_end must be after period_start", field="period_end")
    if end > now:
        raise InvalidInput(
            "period_end must not be in the future: a request covers data that exists",
            field="period_end",
        )
    categories = _categories(terms.categories)
    deadline = _moment(terms.deadline, "deadline")
    gag_ends_at = None
    if terms.gag_ends_at is not None:
        if not terms.gagged:
            raise InvalidInput("a gag's end needs a gag", field="gag_ends_at")
        gag_ends_at = _moment(terms.gag_ends_at, "gag_ends_at")
        if gag_ends_at <= now:
            raise InvalidInput("gag_ends_at must be in the future", field="gag_ends_at")
    await get_account(session, terms.account_id)
    site_ids = await _sites_of_scope(session, terms.account_id, terms.site_ids)
    return {
        "jurisdiction": jurisdiction,
        "account_id": terms.account_id,
        "site_ids": site_ids,
        "period_start": start,
        "period_end": end,
        "categories": [category.value for category in categories],
        "deadline": deadline,
        "gagged": terms.gagged,
        "gag_ends_at": gag_ends_at,
    }


async def open_request(
    session: AsyncSession, cipher: Cipher, operator: Operator, terms: DisclosureTerms
) -> DisclosureRequest:
    """Record an authority's request, as a `legal` operator. The scope is checked: the account
    exists, the sites are its own, the period is real and past, the categories known."""
    await require_role(session, operator, OperatorRole.LEGAL, act="disclosure open")
    now = utcnow()
    columns = await _checked(session, terms, now)
    request = DisclosureRequest(
        state=DisclosureState.OPENED,
        authority_encrypted=cipher.encrypt(
            _text(terms.authority, "authority"), context=DISCLOSURE_AUTHORITY.context
        ),
        legal_basis_encrypted=cipher.encrypt(
            _text(terms.legal_basis, "legal_basis"), context=DISCLOSURE_LEGAL_BASIS.context
        ),
        reference_encrypted=cipher.encrypt(
            _text(terms.reference, "reference"), context=DISCLOSURE_REFERENCE.context
        ),
        opened_by=operator.login,
        opened_at=now,
        **columns,
    )
    session.add(request)
    await session.flush()
    assert request.id is not None
    await audit.record(
        session,
        AuditAction.DISCLOSURE_OPENED,
        actor=operator.actor,
        details={
            "request_id": request.id,
            "account_id": request.account_id,
            "site_ids": request.site_ids,
            "categories": request.categories,
            "jurisdiction": request.jurisdiction.value,
            "gagged": request.gagged,
        },
    )
    return request


async def get_request(
    session: AsyncSession, request_id: int, *, for_update: bool = False
) -> DisclosureRequest:
    query = select(DisclosureRequest).where(DisclosureRequest.id == request_id)
    if for_update:  # PostgreSQL: a second decision waits for the first, then sees it
        query = query.with_for_update()
    found = (await session.exec(query)).first()
    if found is None:
        raise NotFound(f"disclosure request {request_id} does not exist", field="request")
    return found


async def list_requests(
    session: AsyncSession, *, state: DisclosureState | None = None
) -> list[DisclosureRequest]:
    """Requests, oldest first (of one state, when given). Their texts stay encrypted."""
    query = select(DisclosureRequest)
    if state is not None:
        query = query.where(DisclosureRequest.state == state)
    return list((await session.exec(query.order_by(col(DisclosureRequest.id)))).all())


def texts_of(request: DisclosureRequest, cipher: Cipher) -> RequestTexts:
    note = request.decision_note_encrypted
    return RequestTexts(
        authority=cipher.decrypt(request.authority_encrypted, context=DISCLOSURE_AUTHORITY.context),
        legal_basis=cipher.decrypt(
            request.legal_basis_encrypted, context=DISCLOSURE_LEGAL_BASIS.context
        ),
        reference=cipher.decrypt(request.reference_encrypted, context=DISCLOSURE_REFERENCE.context),
        decision_note=None
        if note is None
        else cipher.decrypt(note, context=DISCLOSURE_DECISION_NOTE.context),
    )


async def review_request(
    session: AsyncSession, cipher: Cipher, operator: Operator, request_id: int
) -> tuple[DisclosureRequest, RequestTexts]:
    """A request with its texts, for a `legal` operator to decide on; the reading is recorded."""
    await require_role(session, operator, OperatorRole.LEGAL, act="disclosure review")
    request = await get_request(session, request_id)
    await audit.record(
        session,
        AuditAction.DISCLOSURE_REVIEWED,
        actor=operator.actor,
        details={"request_id": request_id, "state": request.state.value},
    )
    return request, texts_of(request, cipher)


async def approve_request(
    session: AsyncSession,
    cipher: Cipher,
    operator: Operator,
    request_id: int,
    *,
    note: str | None = None,
    site_ids: tuple[int, ...] | None = None,
    categories: tuple[str, ...] | None = None,
) -> DisclosureRequest:
    """Approve an opened request, as a `legal` operator other than the one who opened it.
    `site_ids` and `categories` narrow what is disclosed to part of what was asked (a partial
    disclosure); they may not widen it."""
    narrowed = (site_ids, categories)
    return await _decide(
        session, cipher, operator, request_id, DisclosureState.APPROVED, note, narrowed
    )


async def reject_request(
    session: AsyncSession, cipher: Cipher, operator: Operator, request_id: int, *, reason: str
) -> DisclosureRequest:
    """Reject an opened request, saying why, as a `legal` operator other than its opener."""
    reason = _text(reason, "note")
    return await _decide(session, cipher, operator, request_id, DisclosureState.REJECTED, reason)


async def _decide(
    session: AsyncSession,
    cipher: Cipher,
    operator: Operator,
    request_id: int,
    decision: DisclosureState,
    note: str | None,
    narrowed: tuple[tuple[int, ...] | None, tuple[str, ...] | None] = (None, None),
) -> DisclosureRequest:
    verb = "approve" if decision == DisclosureState.APPROVED else "reject"
    await require_role(session, operator, OperatorRole.LEGAL, act=f"disclosure {verb}")
    if note is not None:
        note = _text(note, "note")
    request = await get_request(session, request_id, for_update=True)
    if decision not in TRANSITIONS[request.state]:
        raise await _refuse(
            session,
            operator,
            request,
            decision,
            "state",
            f"disclosure request {request_id} is {request.state.value} "
            f"(by {request.decided_by}): it cannot be {decision.value} now",
        )
    if request.opened_by == operator.login:
        raise await _refuse(
            session,
            operator,
            request,
            decision,
            "four_eyes",
            f"{operator.login} opened disclosure request {request_id} and may not {verb} it too: "
            "another operator with the legal role decides (four eyes)",
        )
    approved_sites, approved_categories = _narrowed(request, *narrowed)
    request.state = decision
    request.decided_by = operator.login
    request.decided_at = utcnow()
    request.approved_site_ids, request.approved_categories = approved_sites, approved_categories
    if note is not None:
        request.decision_note_encrypted = cipher.encrypt(
            note, context=DISCLOSURE_DECISION_NOTE.context
        )
    session.add(request)
    await session.flush()
    await audit.record(
        session,
        AuditAction.DISCLOSURE_APPROVED
        if decision == DisclosureState.APPROVED
        else AuditAction.DISCLOSURE_REJECTED,
        actor=operator.actor,
        details={
            "request_id": request_id,
            "account_id": request.account_id,
            "partial": is_partial(request),
        },
    )
    return request


def _narrowed(
    request: DisclosureRequest, sites: tuple[int, ...] | None, categories: tuple[str, ...] | None
) -> tuple[list[int] | None, list[str] | None]:
    """The approval's narrower sites and categories, checked to be part of the request's (None
    where the approval keeps what was asked)."""
    kept_sites = None
    if sites is not None:
        outside = sorted(set(sites) - set(request.site_ids))
        if outside:
            raise InvalidInput(
                f"site {', '.join(map(str, outside))} is not in the request's scope "
                f"(sites {', '.join(map(str, request.site_ids)) or 'none'}): an approval may "
                "narrow the scope, never widen it",
                field="site_ids",
            )
        if set(sites) != set(request.site_ids):
            kept_sites = sorted(set(sites))
    kept_categories = None
    if categories is not None:
        chosen = [each.value for each in _categories(categories)]
        outside_categories = sorted(set(chosen) - set(request.categories))
        if outside_categories:
            raise InvalidInput(
                f"{', '.join(outside_categories)} is not in the request's scope "
                f"({', '.join(request.categories)}): an approval may narrow the scope, never "
                "widen it",
                field="categories",
            )
        if set(chosen) != set(request.categories):
            kept_categories = chosen
    return kept_sites, kept_categories


def is_partial(request: DisclosureRequest) -> bool:
    """Whether the approval let through less than was asked."""
    return request.approved_site_ids is not None or request.approved_categories is not None


async def _refuse(
    session: AsyncSession,
    operator: Operator,
    request: DisclosureRequest,
    attempted: DisclosureState,
    reason: str,
    message: str,
) -> DisclosureRefused:
    """Record a refused move and return the error to raise."""
    assert request.id is not None
    await audit.record(
        session,
        AuditAction.DISCLOSURE_REFUSED,
        actor=operator.actor,
        details={
            "request_id": request.id,
            "state": request.state.value,
            "attempted": attempted.value,
            "reason": reason,
        },
    )
    return DisclosureRefused(message, request_id=request.id, reason=reason)


async def scope_to_export(
    session: AsyncSession, operator: Operator, request_id: int
) -> tuple[DisclosureRequest, DisclosureScope]:
    """The request and what it discloses, for a `legal` operator about to export it; a request
    not approved is refused, and the refusal recorded."""
    await require_role(session, operator, OperatorRole.LEGAL, act="disclosure export")
    request = await get_request(session, request_id)
    if request.state not in DISCLOSABLE:
        raise await _refuse(
            session,
            operator,
            request,
            DisclosureState.EXPORTED,
            "state",
            f"disclosure request {request_id} is {request.state.value}, not approved: "
            "nothing may be exported for it",
        )
    return request, approved_scope(request)


def approved_scope(request: DisclosureRequest) -> DisclosureScope:
    """What an approved request discloses; any other request discloses nothing. Everything that
    reads data for an authority starts here."""
    assert request.id is not None
    if request.state not in DISCLOSABLE:
        raise DisclosureRefused(
            f"disclosure request {request.id} is {request.state.value}, not approved: "
            "nothing may be exported for it",
            request_id=request.id,
            reason="state",
        )
    return DisclosureScope(
        request_id=request.id,
        account_id=request.account_id,
        site_ids=tuple(
            request.site_ids if request.approved_site_ids is None else request.approved_site_ids
        ),
        period_start=as_utc(request.period_start),
        period_end=as_utc(request.period_end),
        categories=frozenset(
            DataCategory(each)
            for each in (
                request.categories
                if request.approved_categories is None
                else request.approved_categories
            )
        ),
    )


def customer_may_be_told(request: DisclosureRequest, now: datetime) -> bool:
    """Whether a gag still keeps the customer from being told at `now`."""
    if not request.gagged:
        return True
    return request.gag_ends_at is not None and as_utc(request.gag_ends_at) <= now
