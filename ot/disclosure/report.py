"""The transparency report: how many disclosure requests a year brought, from where, and what
came of them — counts only, nothing that names an account or an authority."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.errors import InvalidInput
from ot.models import DisclosureRequest, DisclosureState, Jurisdiction

from .requests import is_partial

# What came of a request, in the report's words.
OUTCOMES = ("fully disclosed", "partially disclosed", "rejected", "approved, not yet disclosed",
            "pending")  # fmt: skip


@dataclass(frozen=True)
class TransparencyReport:
    year: int
    received: int
    by_jurisdiction: dict[str, int]
    by_outcome: dict[str, int]
    accounts_affected: int  # accounts whose data was disclosed
    accounts_asked_about: int
    customers_told: int
    gagged: int = field(default=0)  # requests received under a gag


def outcome_of(request: DisclosureRequest) -> str:
    if request.state == DisclosureState.REJECTED:
        return "rejected"
    if request.state == DisclosureState.EXPORTED:
        return "partially disclosed" if is_partial(request) else "fully disclosed"
    if request.state == DisclosureState.APPROVED:
        return "approved, not yet disclosed"
    return "pending"


async def transparency_report(session: AsyncSession, year: int) -> TransparencyReport:
    """The requests received in `year` (by the UTC date they were opened), counted."""
    if not 2000 <= year <= 9998:
        raise InvalidInput(f"{year} is not a year a report can cover", field="year")
    start = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    query = select(DisclosureRequest).where(
        col(DisclosureRequest.opened_at) >= start, col(DisclosureRequest.opened_at) < end
    )
    requests = list((await session.exec(query)).all())
    outcomes = Counter(outcome_of(each) for each in requests)
    jurisdictions = Counter(each.jurisdiction.value for each in requests)
    return TransparencyReport(
        year=year,
        received=len(requests),
        by_jurisdiction={each.value: jurisdictions[each.value] for each in Jurisdiction},
        by_outcome={outcome: outcomes[outcome] for outcome in OUTCOMES},
        accounts_affected=len(
            {each.account_id for each in requests if each.state == DisclosureState.EXPORTED}
        ),
        accounts_asked_about=len({each.account_id for each in requests}),
        customers_told=sum(1 for each in requests if each.notified_at is not None),
        gagged=sum(1 for each in requests if each.gagged),
    )
