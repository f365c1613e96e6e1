"""A client with canned answers, for the snapshot tests (tests/test_tui_snapshots.py): the
screens' look must not change with the clock, and a real server's answers carry real moments
(when a site or key was made, last used). Behaviour is tested on a real server elsewhere
(tests/test_tui_*.py); this only gives the screens something fixed and plausible to show.

Every answer is an `ot.api` model, so a canned answer cannot drift from the contract: a field
renamed or added there fails here. A call the screens make that is not canned here fails the
test loudly instead of painting an error."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ot.api.accounts import ChangeOut, ConsentOut, History, ProfileOut
from ot.api.api_keys import KeyList, KeyOut
from ot.api.dashboard import Snippet
from ot.api.goals import GoalList, GoalOut
from ot.api.grants import GrantList, GrantOut, GrantReadList, GrantReadOut
from ot.api.rights import DeletionStatus
from ot.api.sessions import SessionList, SessionOut
from ot.api.sites import SiteList, SiteOut, Verification
from ot.api.ssh_keys import SshKeyList, SshKeyOut
from ot.api.stats import Comparison, QueryAnswer, QueryEcho, ResultRow, StatsQuery
from ot.api.team import (
    InvitationList,
    InvitationOut,
    MemberList,
    MemberOut,
    MemberRole,
    Memberships,
)
from ot.client import ClientError, CredentialStore, OtClient
from ot.client.credentials import StoredCredential

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
BASE_URL = "https://ot.example"
ACCOUNT_ID = 1
TEAM_ID = 7  # a team that shares its site with the account


def fixed_now() -> datetime:
    return NOW


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def _site(
    site_id: int, account_id: int, domain: str, *, verified: bool, **settings: Any
) -> SiteOut:
    return SiteOut(
        id=site_id,
        account_id=account_id,
        domain=domain,
        timezone=settings.get("timezone", "Europe/Amsterdam"),
        visitor_mode=settings.get("visitor_mode", "cookieless"),
        ip_policy=settings.get("ip_policy", "truncated"),
        excluded_ips=settings.get("excluded_ips", []),
        excluded_paths=settings.get("excluded_paths", []),
        hash_routing=False,
        respect_do_not_track=True,
        retention_days=settings.get("retention_days", 400),
        created_at=ago(200 + site_id),
        verified_at=ago(199 + site_id) if verified else None,
        verification=Verification(
            token=f"ot-verify-{site_id}0f3a9c",
            file_url=f"https://{domain}/.well-known/opentracker-{site_id}.txt",
            dns_name=f"_opentracker.{domain}",
            dns_value=f"ot-verify-{site_id}0f3a9c",
        ),
        snippet=_snippet(domain),
    )


def _snippet(domain: str) -> str:
    return (
        f'<script defer data-domain="{domain}" src="{BASE_URL}/js/script.js"></script>\n'
        f'<noscript><img src="{BASE_URL}/pixel?d={domain}" alt=""></noscript>'
    )


SITES = [
    _site(
        1,
        ACCOUNT_ID,
        "shop.example.com",
        verified=True,
        excluded_ips=["192.0.2.0/24"],
        excluded_paths=["/admin/**"],
    ),
    _site(2, ACCOUNT_ID, "blog.example.com", verified=False, visitor_mode="cookie"),
    _site(3, TEAM_ID, "docs.example.org", verified=True, timezone="UTC", retention_days=None),
]
# Each site's traffic, relative to the first one's (the sparklines differ).
SITE_SCALE = {"shop.example.com": 1.0, "blog.example.com": 0.3, "docs.example.org": 0.6}
SITE_SEED = {"shop.example.com": 0, "blog.example.com": 2, "docs.example.org": 9}

PROFILE = ProfileOut(
    id=ACCOUNT_ID,
    name="Ada Lovelace",
    email="ada@example.com",
    email_verified=True,
    pending_email=None,
    company="Analytical Engines Ltd",
    address="12 St James's Square, London",
    phone="+44 20 7946 0000",
    region="nl",
    second_factor=True,
    created_at=ago(400),
    consents=[ConsentOut(region="nl", statement_version="2026-01", given_at=ago(400))],
)

MEMBERSHIPS = Memberships(
    memberships=[
        MemberOut(
            id=21,
            team_id=TEAM_ID,
            account_id=ACCOUNT_ID,
            name="Ada Lovelace",
            role=MemberRole.ADMIN,
            created_at=ago(90),
        )
    ]
)
MEMBERS = MemberList(
    team_id=ACCOUNT_ID,
    owner_account_id=ACCOUNT_ID,
    members=[
        MemberOut(
            id=11,
            team_id=ACCOUNT_ID,
            account_id=2,
            name="Charles Babbage",
            role=MemberRole.ADMIN,
            created_at=ago(120),
        ),
        MemberOut(
            id=12,
            team_id=ACCOUNT_ID,
            account_id=3,
            name="Mary Somerville",
            role=MemberRole.VIEWER,
            created_at=ago(30),
        ),
    ],
)
INVITATIONS = InvitationList(
    invitations=[
        InvitationOut(
            id=31,
            team_id=ACCOUNT_ID,
            email="grace@example.net",
            role=MemberRole.VIEWER,
            created_at=ago(2),
            expires_at=ago(-5),
            expired=False,
        )
    ]
)
KEYS = KeyList(
    keys=[
        KeyOut(
            id=41,
            name="Grafana dashboard",
            prefix="otk_3f9a",
            scopes=["stats:read"],
            created_at=ago(60),
            last_used_at=ago(0.1),
            revoked_at=None,
        ),
        KeyOut(
            id=42,
            name="Deploy script",
            prefix="otk_b71c",
            scopes=["sites:read", "sites:write"],
            created_at=ago(45),
            last_used_at=None,
            revoked_at=None,
        ),
        KeyOut(
            id=43,
            name="Old laptop",
            prefix="otk_05de",
            scopes=["stats:read", "sites:read"],
            created_at=ago(300),
            last_used_at=ago(200),
            revoked_at=ago(180),
        ),
    ]
)


def _grant(grant_id: int, grantee: str, purpose: str, **state: Any) -> GrantOut:
    return GrantOut(
        id=grant_id,
        status=state.get("status", "active"),
        grantee=grantee,
        purpose=purpose,
        site_ids=state.get("site_ids", [1]),
        metrics=["visitors", "pageviews"],
        dimensions=["visit:country", "event:page"],
        date_from=None,
        date_to=None,
        min_visitors=5,
        key_prefix=f"otg_{grant_id}a2",
        share_link=state.get("share_link", False),
        password_protected=False,
        created_by_account_id=ACCOUNT_ID,
        created_at=ago(state.get("made_days_ago", 20)),
        expires_at=ago(-state.get("expires_in_days", 90)),
        revoked_at=None,
        suspended_at=ago(3) if state.get("status") == "suspended" else None,
        suspended_reason="role_lowered" if state.get("status") == "suspended" else None,
    )


GRANTS = GrantList(
    grants=[
        _grant(51, "Acme Marketing", "Monthly campaign report", site_ids=[1, 2]),
        _grant(52, "Investor update", "Quarterly traffic figures", share_link=True),
        _grant(53, "Old agency", "Redesign study", status="suspended", made_days_ago=100),
    ]
)


def _read(read_id: int, days_ago: float) -> GrantReadOut:
    return GrantReadOut(
        id=read_id,
        at=ago(days_ago),
        via="key",
        query={"site_id": "shop.example.com", "metrics": ["visitors"], "date_range": "30d"},
        site_id=1,
        outcome="answered",
        reason="",
        metrics=["visitors"],
        dimensions=["visit:country"],
        filtered_dimensions=[],
        first_day=(NOW - timedelta(days=30)).date(),
        last_day=NOW.date(),
        rows_returned=12,
        rows_hidden=2,
    )


READS = {51: [_read(61, 1), _read(60, 8)], 52: [_read(62, 4)], 53: []}

GOALS = GoalList(
    goals=[
        GoalOut(id=71, kind="event", target="Signup", name="Signup", created_at=ago(150)),
        GoalOut(id=72, kind="page", target="/pricing", name="Visit /pricing", created_at=ago(140)),
    ]
)
SESSIONS = SessionList(
    sessions=[
        SessionOut(id=81, current=True, created_at=ago(0.2), last_seen_at=NOW, expires_at=ago(-14)),
        SessionOut(
            id=80,
            current=False,
            created_at=ago(6),
            last_seen_at=ago(1),
            expires_at=ago(-8),
        ),
    ]
)
SSH_KEYS = SshKeyList(
    keys=[
        SshKeyOut(
            id=5,
            name="ada@laptop",
            key_type="ssh-ed25519",
            fingerprint="SHA256:4bNWRshRyfUxD1cWZ+sb1bbgE9Q+0NaBRJb3W3GvtHs",
            public_key="ssh-ed25519 "
            "AAAAC3NzaC1lZDI1NTE5AAAAIHINOc74i+6D1TTMtXWvRC/7YdwrOWpJ0lpmfFHoitay",
            created_at=ago(30),
            last_used_at=ago(2),
        )
    ]
)
HISTORY = History(
    changes=[
        ChangeOut(
            at=ago(40),
            actor="account 1",
            fields=["phone"],
            old_values={"phone": "+44 20 7946 0999"},
        ),
        ChangeOut(
            at=ago(120),
            actor="account 1",
            fields=["company", "address"],
            old_values={"company": "", "address": "Marylebone, London"},
        ),
    ]
)

# --- the Stats API ---------------------------------------------------------------------------

KPIS = {
    "visitors": 1274,
    "visits": 1689,
    "pageviews": 4022,
    "views_per_visit": 2.38,
    "bounce_rate": 41.2,
    "visit_duration": 154,
    "events": 4410,
}
KPI_CHANGES = {
    "visitors": 12.4,
    "visits": 8.1,
    "pageviews": -3.0,
    "views_per_visit": -10.5,
    "bounce_rate": 2.3,
    "visit_duration": 15.0,
    "events": 4.2,
}
# Each dimension's values and their visitors, most first.
BREAKDOWNS: dict[str, list[tuple[str, int]]] = {
    "event:page": [
        ("/", 812),
        ("/pricing", 344),
        ("/blog/privacy-first-analytics-without-cookies", 221),
        ("/docs/getting-started", 158),
        ("/about", 97),
        ("/contact", 41),
        ("/blog/hello-world", 23),
    ],
    "visit:entry_page": [("/", 702), ("/blog/privacy-first-analytics-without-cookies", 201)],
    "visit:exit_page": [("/pricing", 301), ("/", 280), ("/contact", 40)],
    "visit:source": [
        ("Direct / None", 540),
        ("Google", 402),
        ("DuckDuckGo", 133),
        ("Hacker News", 88),
        ("Mastodon", 35),
    ],
    "visit:referrer": [("news.ycombinator.com", 88), ("mastodon.social", 35)],
    "visit:utm_campaign": [("winter-sale", 120), ("newsletter-dec", 64)],
    "visit:utm_medium": [("email", 90), ("social", 70)],
    "visit:utm_source": [("newsletter", 90), ("mastodon", 45)],
    "visit:country": [("NL", 420), ("DE", 310), ("US", 205), ("GB", 120), ("FR", 64)],
    "visit:browser": [("Firefox", 520), ("Chrome", 480), ("Safari", 190), ("Edge", 60)],
    "visit:os": [("Linux", 360), ("Windows", 340), ("macOS", 280), ("iOS", 150)],
    "visit:device": [("Desktop", 910), ("Mobile", 320), ("Tablet", 42)],
    "event:goal": [("Visit /pricing", 344), ("Signup", 58)],
    "event:name": [("Signup", 58), ("Newsletter", 31)],
    "event:props:plan": [("pro", 31), ("free", 27)],
}
# Breakdowns of one of Plausible's own events (`event:props:url` and `event:props:path` mean
# different things for each).
EVENT_BREAKDOWNS: dict[str, list[tuple[str, int]]] = {
    "Outbound Link: Click": [("https://github.com/opentracker/opentracker", 27)],
    "File Download": [("https://shop.example.com/files/price-list-2027.pdf", 19)],
    "404": [("/wp-login.php", 12), ("/old-shop/cart", 9)],
}
COUNTS = frozenset({"visitors", "visits", "pageviews", "events"})
ROW_CHANGES = (12.0, -5.0, 30.0, 0.0, -12.5, 4.0, 8.0)
# Shown when the dashboard is filtered: a part of the visitors.
FILTERED_SHARE = 0.35


class CannedClient(OtClient):
    """An `OtClient` answering every read the screens make from the tables above."""

    def __init__(self, *, logged_in: bool = True) -> None:
        super().__init__(
            BASE_URL,
            "ots_canned-session" if logged_in else None,
            credentials=_NoCredentials(),
        )

    async def _request(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the canned client has no answer for {method} {path}")

    async def profile(self) -> ProfileOut:
        return PROFILE

    async def profile_history(self) -> History:
        return HISTORY

    async def list_sessions(self) -> SessionList:
        return SESSIONS

    async def list_ssh_keys(self) -> SshKeyList:
        return SSH_KEYS

    async def deletion_status(self) -> DeletionStatus:
        return DeletionStatus(scheduled=False)

    async def list_keys(self) -> KeyList:
        return KEYS

    async def list_sites(self) -> SiteList:
        return SiteList(sites=SITES)

    async def site(self, site_id: int) -> SiteOut:
        return next(site for site in SITES if site.id == site_id)

    async def snippet(self, site_id: int) -> Snippet:
        site = await self.site(site_id)
        return Snippet(site_id=site.id, domain=site.domain, snippet=site.snippet)

    async def list_goals(self, site_id: int) -> GoalList:
        return GOALS

    async def list_members(self, team_id: int | None = None) -> MemberList:
        return MEMBERS

    async def list_invitations(self, team_id: int | None = None) -> InvitationList:
        return INVITATIONS

    async def list_memberships(self) -> Memberships:
        return MEMBERSHIPS

    async def list_grants(self, status: str | None = None) -> GrantList:
        return GRANTS

    async def grant_reads(self, grant_id: int, before_id: int | None = None) -> GrantReadList:
        return GrantReadList(reads=READS.get(grant_id, []) if before_id is None else [])

    async def realtime_visitors(self, domain: str) -> int:
        return 3

    async def query(self, query: StatsQuery) -> QueryAnswer:
        return canned_answer(query)

    async def query_many(
        self, queries: Sequence[StatsQuery]
    ) -> AsyncIterator[tuple[int, QueryAnswer | ClientError]]:
        for index, query in enumerate(queries):
            yield index, canned_answer(query)


class _NoCredentials(CredentialStore):
    """Nothing stored, nothing written: the tests leave the user's config folder alone."""

    def __init__(self) -> None:
        pass

    def load(self, base_url: str) -> StoredCredential | None:
        return None

    def save(self, base_url: str, credential: StoredCredential) -> None:
        pass

    def delete(self, base_url: str) -> None:
        pass


def canned_answer(query: StatsQuery) -> QueryAnswer:
    """A Stats API answer for the query's dimensions and metrics (one at most of each kind, as
    the screens ask), with its filters, comparison, paging and extras honoured roughly."""
    first, last = _date_range(query)
    filters = query.filters or []
    scale = SITE_SCALE.get(query.site_id, 1.0)
    if any(f[0] == "is" and f[1] != "event:name" for f in filters):
        scale *= FILTERED_SHARE
    comparing = bool((query.include or {}).get("comparisons"))
    dimension = query.dimensions[0] if query.dimensions else None
    labels: list[str] | None = None
    if dimension is None:
        values = [
            round(KPIS[metric] * scale) if metric in COUNTS else KPIS[metric]
            for metric in query.metrics
        ]
        rows = [
            _row(
                [],
                values,
                comparing,
                changes=[KPI_CHANGES.get(metric, 0.0) for metric in query.metrics],
            )
        ]
    elif dimension.startswith("time"):
        labels = _time_labels(dimension, first, last)
        seed = SITE_SEED.get(query.site_id, 0)
        rows = [
            _row(
                [label],
                _series(label, query.metrics, scale, seed),
                comparing,
                # The compared period had a rhythm of its own, a little lower.
                before=_series(label, query.metrics, scale * 0.85, seed + 7),
            )
            for label in labels
        ]
    else:
        ranked = _ranked(dimension, filters)
        total = sum(visitors for _, visitors in ranked) or 1
        rows = [
            _row(
                [value],
                [_metric(metric, visitors * scale, total * scale) for metric in query.metrics],
                comparing,
                changes=[ROW_CHANGES[index % len(ROW_CHANGES)]] * len(query.metrics),
            )
            for index, (value, visitors) in enumerate(ranked)
        ]
    total_rows = len(rows)
    if query.pagination is not None:
        offset = query.pagination.get("offset", 0)
        rows = rows[offset : offset + query.pagination.get("limit", len(rows))]
    meta: dict[str, Any] = {}
    if (query.include or {}).get("time_labels"):
        meta["time_labels"] = labels or []
    if (query.include or {}).get("total_rows"):
        meta["total_rows"] = total_rows
    echo = QueryEcho(
        site_id=query.site_id,
        metrics=query.metrics,
        date_range=[f"{first}T00:00:00Z", f"{last}T23:59:59Z"],
        dimensions=query.dimensions or [],
        filters=filters,
        order_by=query.order_by or [],
        include=query.include or {},
        pagination=query.pagination or {"limit": 10000, "offset": 0},
    )
    return QueryAnswer(results=rows, meta=meta, query=echo)


def _date_range(query: StatsQuery) -> tuple[date, date]:
    if isinstance(query.date_range, list):
        return date.fromisoformat(query.date_range[0]), date.fromisoformat(query.date_range[1])
    return NOW.date() - timedelta(days=29), NOW.date()  # the screens always send two dates


def _time_labels(dimension: str, first: date, last: date) -> list[str]:
    if dimension == "time:hour":
        return [f"{first.isoformat()} {hour:02d}:00:00" for hour in range(24)]
    days = [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
    if dimension == "time:month":
        return sorted({day.replace(day=1).isoformat() for day in days})
    return [day.isoformat() for day in days]


def _series(label: str, metrics: list[str], scale: float, seed: int) -> list[float]:
    """A weekly rhythm with some wobble, the same for the same bucket every run."""
    day = date.fromisoformat(label[:10])
    wobble = (day.toordinal() * 37 + int(label[11:13] or 0) * 11 + seed * 5) % 23
    visitors = (30 + wobble - (14 if day.weekday() >= 5 else 0)) * scale
    per_metric = {"visitors": visitors, "pageviews": visitors * 3.1, "visits": visitors * 1.3}
    return [round(per_metric.get(metric, visitors)) for metric in metrics]


def _ranked(dimension: str, filters: list[Any]) -> list[tuple[str, int]]:
    event = next((f[2][0] for f in filters if f[0] == "is" and f[1] == "event:name" and f[2]), None)
    if event in EVENT_BREAKDOWNS and dimension in ("event:props:url", "event:props:path"):
        ranked = EVENT_BREAKDOWNS[event]
    else:
        ranked = BREAKDOWNS.get(dimension, [])
    # A filter on the dimension itself leaves its value only (a drill-down).
    chosen = {v for f in filters if f[0] == "is" and f[1] == dimension for v in f[2]}
    return [row for row in ranked if not chosen or row[0] in chosen]


def _metric(metric: str, visitors: float, total: float) -> float:
    if metric == "percentage":
        return round(visitors / total * 100, 1)
    if metric == "events":
        return round(visitors * 1.6)
    if metric == "conversion_rate":
        return round(visitors / KPIS["visitors"] * 100, 1)
    return round(visitors)


def _row(
    dimensions: list[str],
    metrics: list[float],
    comparing: bool,
    *,
    changes: list[float] | None = None,
    before: list[float] | None = None,
) -> ResultRow:
    """A row; compared, with either the changes (in percent) or the figures before."""
    if not comparing:
        return ResultRow(dimensions=dimensions, metrics=metrics)
    if before is None:
        assert changes is not None
        before = [
            round(now / (1 + change / 100), 2) for now, change in zip(metrics, changes, strict=True)
        ]
    else:
        changes = [
            round((now - then) / then * 100, 1) if then else 0.0
            for now, then in zip(metrics, before, strict=True)
        ]
    return ResultRow(
        dimensions=dimensions,
        metrics=metrics,
        comparison=Comparison(dimensions=dimensions, metrics=before, change=changes),
    )
