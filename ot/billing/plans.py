"""Plans and usage: which plan an account is on (`Subscription`, else the default plan of the
settings), and the pageviews it used in a month, metered from its sites' hits (those stored, and
those deleted since, counted as they went)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts.store import get_account
from ot.clock import utcnow
from ot.config import BillingSettings, Plan
from ot.errors import InvalidInput
from ot.ingest.hit import PAGEVIEW
from ot.models import DeletedPageviews, Hit, Site, Subscription
from ot.security import audit
from ot.security.audit import Actor, AuditAction

PERIOD = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class Period:
    """One calendar month, in UTC: what an invoice is for."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        match = PERIOD.fullmatch(text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
            raise InvalidInput(
                f"{text!r} is not a month: write YYYY-MM, e.g. 2026-11", field="period"
            )
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, moment: datetime) -> Period:
        return cls(moment.year, moment.month)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The start of the next month (excluded)."""
        return self.next().start

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def first_day(self) -> date:
        return self.start.date()

    def __str__(self) -> str:
        return f"{self.year:04}-{self.month:02}"


def plan_named(settings: BillingSettings, name: str) -> Plan:
    for plan in settings.plans:
        if plan.name == name:
            return plan
    known = ", ".join(plan.name for plan in settings.plans)
    raise InvalidInput(f'unknown plan "{name}": the plans are {known}', field="plan")


async def subscription_of(session: AsyncSession, account_id: int) -> Subscription | None:
    return await session.get(Subscription, account_id)


async def plan_of(session: AsyncSession, settings: BillingSettings, account_id: int) -> Plan:
    """The account's plan: its subscription's, else the default plan. A plan since removed
    from the settings reads as the default, rather than failing every bill."""
    subscription = await subscription_of(session, account_id)
    names = {plan.name for plan in settings.plans}
    if subscription is None or subscription.plan not in names:
        return plan_named(settings, settings.default_plan)
    return plan_named(settings, subscription.plan)


async def set_plan(
    session: AsyncSession, settings: BillingSettings, account_id: int, name: str, *, actor: Actor
) -> Subscription:
    """Put an account on a plan, from now on (the next invoice is for it)."""
    plan = plan_named(settings, name)
    await get_account(session, account_id)
    subscription = await subscription_of(session, account_id)
    before = subscription.plan if subscription else settings.default_plan
    if subscription is None:
        subscription = Subscription(account_id=account_id, plan=plan.name, since=utcnow())
    elif subscription.plan != plan.name:
        subscription.plan, subscription.since = plan.name, utcnow()
    session.add(subscription)
    await session.flush()
    await audit.record(
        session,
        AuditAction.PLAN_CHANGED,
        actor=actor,
        account_id=account_id,
        details={"from": before, "to": plan.name},
    )
    return subscription


async def pageviews_used(session: AsyncSession, account_id: int, period: Period) -> int:
    """The pageviews the account's sites had in the month (custom events are not counted, as
    the plans' quotas say): those still stored, and those whose hits retention or erasure has
    deleted since (`DeletedPageviews`, counted as they went). The usage an invoice shows, and
    the Billing screen's bar."""
    sites = select(Site.id).where(Site.account_id == account_id)
    query = select(func.count()).where(
        col(Hit.site_id).in_(sites),
        Hit.name == PAGEVIEW,
        col(Hit.timestamp) >= period.start,
        col(Hit.timestamp) < period.end,
    )
    stored = int((await session.exec(query)).one())
    deleted = await session.get(DeletedPageviews, (account_id, str(period)))
    return stored + (deleted.pageviews if deleted else 0)
