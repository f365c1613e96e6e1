"""`ot-admin sites update`: a site's settings changed through the core's update (the API's), with
its validation and its audit entry; options left out stay as they are."""

from __future__ import annotations

import json

import pytest

from tests import test_admin_cli
from tests.test_admin_cli import AdminDatabase, _json, ok, refused

# The fixtures of the `ot-admin` tests: a fresh database per backend, an account made by command.
database = test_admin_cli.database
account_id = test_admin_cli.account_id


@pytest.fixture
def site(database: AdminDatabase, account_id: int) -> str:
    ok(
        database.invoke(
            f"sites add --account {account_id} example.com --exclude-ip 10.0.0.1"
            " --exclude-path '/admin/*'"
        )
    )
    return "example.com"


def stored(database: AdminDatabase) -> dict[str, object]:
    [row] = database.rows("SELECT * FROM site")
    return row


def test_site_update_changes_what_is_given_and_nothing_else(
    database: AdminDatabase, site: str
) -> None:
    before = stored(database)

    output = ok(
        database.invoke(
            f"sites update {site} --timezone Europe/Amsterdam --retention-days 400",
            SUDO_USER="alice",
        )
    )

    assert output == f"site {before['id']} (example.com) changed: retention_days, timezone\n"
    after = stored(database)
    assert after["timezone"] == "Europe/Amsterdam" and after["retention_days"] == 400
    unchanged = set(before) - {"timezone", "retention_days"}
    assert {name: after[name] for name in unchanged} == {name: before[name] for name in unchanged}
    [entry] = database.rows("SELECT * FROM audit_entry WHERE action = 'site.changed'")
    assert entry["actor"] == "operator:alice"
    assert _json(entry["details"]) == {
        "site_id": before["id"],
        "fields": ["retention_days", "timezone"],
    }


def test_site_update_prints_the_new_snippet_when_it_changes(
    database: AdminDatabase, site: str
) -> None:
    output = ok(database.invoke(f"sites update {site} --visitor-mode cookie --hash-routing"))
    assert "changed: hash_routing, visitor_mode" in output
    assert "The tracking snippet changed" in output
    assert ok(database.invoke(f"sites snippet {site}")).strip() in output


def test_site_update_replaces_and_clears_the_exclusions(database: AdminDatabase, site: str) -> None:
    ok(database.invoke(f"sites update {site} --exclude-ip 192.0.2.0/24 --exclude-ip 10.0.0.9"))
    assert _json(stored(database)["excluded_ips"]) == ["192.0.2.0/24", "10.0.0.9/32"]
    assert _json(stored(database)["excluded_paths"]) == ["/admin/*"]
    ok(database.invoke(f"sites update {site} --clear-exclusions"))
    assert _json(stored(database)["excluded_ips"]) == []
    assert _json(stored(database)["excluded_paths"]) == []


def test_site_update_keeps_every_hit_again(database: AdminDatabase, site: str) -> None:
    ok(database.invoke(f"sites update {site} --retention-days 30"))
    ok(database.invoke(f"sites update {site} --keep-hits"))
    assert stored(database)["retention_days"] is None


def test_site_update_with_the_same_values_changes_nothing_and_says_so(
    database: AdminDatabase, site: str
) -> None:
    before = database.snapshot()
    output = ok(database.invoke(f"sites update {site} --timezone UTC"))
    assert output.endswith("nothing changed, it was so already\n")
    assert database.snapshot() == before


def test_site_update_as_json(database: AdminDatabase, site: str) -> None:
    answer = json.loads(ok(database.invoke(f"sites update {site} --ignore-do-not-track --json")))
    assert answer["changed"] == ["respect_do_not_track"]
    assert answer["respect_do_not_track"] is False
    assert "data-respect-dnt" not in answer["snippet"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("", "nothing to change"),
        ("--timezone Mars/Base", "unknown time zone 'Mars/Base'"),
        ("--exclude-ip 10.0.0.300", "'10.0.0.300' is not an IP address or network"),
        ("--exclude-path admin", "excluded path 'admin' must start with '/'"),
        ("--retention-days 30 --keep-hits", "--retention-days or --keep-hits, not both"),
        ("--clear-exclusions --exclude-ip 10.0.0.2", "not both"),
    ],
)
def test_bad_site_updates_are_refused_and_change_nothing(
    database: AdminDatabase, site: str, options: str, expected: str
) -> None:
    before = database.snapshot()
    assert expected in refused(database.invoke(f"sites update {site} {options}"), exit_code=2)
    assert database.snapshot() == before


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("--visitor-mode sometimes", "--visitor-mode"),
        ("--retention-days 0", "--retention-days"),
    ],
)
def test_site_update_options_out_of_their_range_are_refused_by_name(
    database: AdminDatabase, site: str, options: str, expected: str
) -> None:
    before = database.snapshot()
    result = database.invoke(f"sites update {site} {options}")
    assert result.exit_code == 2 and result.stdout == ""
    assert expected in result.stderr
    assert database.snapshot() == before


def test_updating_an_unknown_site_is_refused(database: AdminDatabase) -> None:
    line = refused(database.invoke("sites update nowhere.example --timezone UTC"), exit_code=2)
    assert "site 'nowhere.example' does not exist" in line
