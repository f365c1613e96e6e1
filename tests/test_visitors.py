"""Visitor ids: cookieless ids come from a random salt of the day that is deleted after two days,
so nobody can link a visitor's days; cookie ids come from the tracker's first-party id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ot.config import Settings
from ot.db import create_engine
from ot.ingest.visitors import SaltKeeper, choose_visitor_id
from ot.privacy import VisitorMode
from tests.support import rows

DAY_1 = datetime(2026, 3, 1, 12, tzinfo=UTC)


async def test_each_day_gets_its_own_random_salt_and_old_salts_are_deleted(
    settings: Settings,
) -> None:
    engine = create_engine(settings, for_writes=True)
    try:
        keeper = SaltKeeper(engine)
        salts = [await keeper.salt_for(DAY_1 + timedelta(days=n)) for n in range(4)]
        assert len(set(salts)) == 4
        assert all(len(salt) == 32 for salt in salts)
        # A second process sees the same salt for today.
        assert await SaltKeeper(engine).salt_for(DAY_1 + timedelta(days=3)) == salts[3]
    finally:
        await engine.dispose()
    kept = await rows(settings, "SELECT day FROM visitor_salt ORDER BY day")
    assert [str(row["day"]) for row in kept] == ["2026-03-03", "2026-03-04"]


def test_cookieless_ids_change_with_the_salt_and_ignore_client_ids() -> None:
    common = {"visitor_key": b"k" * 32, "site_id": 1, "ip": "203.0.113.9", "user_agent": "UA"}
    monday = choose_visitor_id(VisitorMode.COOKIELESS, salt=b"a" * 32, client_id="x", **common)
    again = choose_visitor_id(VisitorMode.COOKIELESS, salt=b"a" * 32, client_id="y", **common)
    tuesday = choose_visitor_id(VisitorMode.COOKIELESS, salt=b"b" * 32, client_id="x", **common)
    assert monday == again
    assert monday != tuesday


def test_cookie_ids_follow_the_client_id_across_days_and_addresses() -> None:
    def visitor(salt: bytes, ip: str, client_id: str | None) -> int:
        return choose_visitor_id(
            VisitorMode.COOKIE,
            visitor_key=b"k" * 32,
            salt=salt,
            site_id=1,
            client_id=client_id,
            ip=ip,
            user_agent="UA",
        )

    assert visitor(b"a" * 32, "198.51.100.1", "abc") == visitor(b"b" * 32, "198.51.100.2", "abc")
    assert visitor(b"a" * 32, "198.51.100.1", "abc") != visitor(b"a" * 32, "198.51.100.1", "abd")
    # No id from the tracker (Plausible's script, the pixel): the daily hash.
    assert visitor(b"a" * 32, "198.51.100.1", None) != visitor(b"b" * 32, "198.51.100.1", None)


def test_the_same_client_id_is_a_different_visitor_on_another_site() -> None:
    first = choose_visitor_id(
        VisitorMode.COOKIE,
        visitor_key=b"k" * 32,
        salt=b"s" * 32,
        site_id=1,
        client_id="abc",
        ip="",
        user_agent="",
    )
    second = choose_visitor_id(
        VisitorMode.COOKIE,
        visitor_key=b"k" * 32,
        salt=b"s" * 32,
        site_id=2,
        client_id="abc",
        ip="",
        user_agent="",
    )
    assert first != second
