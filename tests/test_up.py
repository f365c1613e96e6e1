"""What `scripts/up` leaves for the TUI (`scripts/demo_data.py`): a demo customer who logs in with
the printed password, their site with goals, and weeks of traffic that looks real; made once,
so running `scripts/up` again adds only what happened since."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType

from aiohttp.test_utils import TestClient

from ot.client import CredentialStore, OtClient
from ot.config import Settings
from ot.ingest.geo import GeoLocator
from tests.support import make_site, rows
from tests.tui_support import base_url_of

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)  # a Wednesday afternoon


def load_demo_data() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_data", SCRIPTS / "demo_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("demo_data", module)
    spec.loader.exec_module(module)
    return module


demo_data = load_demo_data()


def test_each_country_network_of_the_demo_visitors_is_located_in_that_country() -> None:
    locator = GeoLocator()
    for country, network in demo_data.NETWORKS.items():
        for host in (1, 127, 254):
            assert locator.locate(f"{network}.{host}").country == country, (network, host)


async def test_the_demo_customer_logs_in_with_the_printed_password_and_sees_the_demo_site(
    settings: Settings, client: TestClient, tmp_path: Path
) -> None:
    made = await demo_data.seed(settings, 1, NOW)
    assert made["email"] == "demo@opentracker.example"
    async with OtClient(
        base_url_of(client), credentials=CredentialStore(tmp_path / "config")
    ) as ot_client:
        await ot_client.log_in(str(made["email"]), str(made["password"]))
        profile = await ot_client.profile()
        sites = await ot_client.list_sites()
        goals = await ot_client.list_goals(int(str(made["site_id"])))
    assert profile.email_verified
    assert [site.domain for site in sites.sites] == ["demo.example"]
    assert {goal.name for goal in goals.goals} >= {"Signup", "404", "File Download"}


async def test_a_data_folder_of_an_older_scripts_up_gets_the_demo_log_in_on_its_demo_account(
    settings: Settings, client: TestClient, tmp_path: Path
) -> None:
    """The older scripts/up made demo.example on an operator's account without a log-in."""
    older = await make_site(settings, "demo.example")
    made = await demo_data.seed(settings, 1, NOW)
    assert made["account_id"] == older.account_id and made["site_id"] == older.id
    async with OtClient(
        base_url_of(client), credentials=CredentialStore(tmp_path / "config")
    ) as ot_client:
        await ot_client.log_in(str(made["email"]), str(made["password"]))
        sites = await ot_client.list_sites()
    assert [site.domain for site in sites.sites] == ["demo.example"]


async def test_six_weeks_of_traffic_look_real(settings: Settings) -> None:
    made = await demo_data.seed(settings, 6, NOW)
    assert made["hits_stored"] > 10_000

    async def distinct(column: str) -> int:
        found = await rows(settings, f"SELECT COUNT(DISTINCT {column}) AS n FROM hit")
        return int(found[0]["n"])

    assert await distinct("country") == len(demo_data.NETWORKS) == 30
    assert await distinct("referrer_source") >= 12
    assert await distinct("utm_campaign") >= 5
    assert await distinct("browser") >= 6
    assert await distinct("os") >= 6
    assert await distinct("device") == 3
    assert await distinct("pathname") >= 20
    names = {row["name"] for row in await rows(settings, "SELECT DISTINCT name FROM hit")}
    assert names == {"pageview", "Signup", "Outbound Link: Click", "File Download", "404"}

    visits = await rows(settings, "SELECT pageviews, started_at, last_seen_at FROM visit")
    bounces = sum(1 for visit in visits if visit["pageviews"] == 1)
    assert 0.35 < bounces / len(visits) < 0.6
    assert max(visit["pageviews"] for visit in visits) >= 10

    # A weekly rhythm that grows: weekdays busier than weekends, the last weeks above the first.
    days = await rows(
        settings, "SELECT timestamp FROM hit WHERE name = 'pageview' ORDER BY timestamp"
    )
    per_day: dict[date, int] = {}
    for row in days:
        moment = row["timestamp"]
        moment = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
        per_day[moment.date()] = per_day.get(moment.date(), 0) + 1
    assert min(per_day) <= (NOW - timedelta(weeks=6)).date() + timedelta(days=1)
    weekdays = [n for day, n in per_day.items() if day.weekday() < 5 and day < NOW.date()]
    weekends = [n for day, n in per_day.items() if day.weekday() >= 5]
    assert sum(weekdays) / len(weekdays) > 1.4 * sum(weekends) / len(weekends)
    first_week = sum(n for day, n in per_day.items() if day < min(per_day) + timedelta(days=7))
    last_week = sum(
        n for day, n in per_day.items() if NOW.date() - timedelta(days=7) <= day < NOW.date()
    )
    assert last_week > 1.1 * first_week


async def test_running_it_again_adds_only_what_happened_since(settings: Settings) -> None:
    first = await demo_data.seed(settings, 1, NOW)
    again = await demo_data.seed(settings, 1, NOW)
    assert again["hits_stored"] == 0
    assert again["account_id"] == first["account_id"] and again["site_id"] == first["site_id"]
    count = (await rows(settings, "SELECT COUNT(*) AS n FROM hit"))[0]["n"]
    assert count == first["hits_stored"]

    later = await demo_data.seed(settings, 1, NOW + timedelta(hours=2))
    assert later["hits_stored"] > 0
    count_later = (await rows(settings, "SELECT COUNT(*) AS n FROM hit"))[0]["n"]
    assert count_later == count + later["hits_stored"]
    accounts = await rows(settings, "SELECT id FROM account")
    assert len(accounts) == 1
