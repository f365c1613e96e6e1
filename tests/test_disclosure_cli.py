"""`ot-admin disclosure`: a request opened by one legal operator, decided by another, exported as
a signed bundle holding exactly its scope, told to the customer when no gag holds, and counted
in the transparency report.

The customer (account 1: shop.example and blog.example) has hits on three days of November
2026; another customer has stranger.example. The request asks for shop.example's 2 November
alone: everything else is there to prove that it stays out of the bundle."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ot.accounts.store import EMAIL_CONTEXT, email_index, get_account
from ot.db import transaction
from ot.disclosure import bundle as bundle_module
from ot.mailer import outbox
from ot.models import OperatorRole
from ot.security.audit_checkpoints import load_or_create_signing_key, signing_key_path
from ot.security.crypto import Cipher
from ot.security.operators import Operator
from ot.security.secrets import load_secrets_of
from tests import support, test_admin_cli
from tests.test_admin_cli import AdminDatabase, ok, refused
from tests.test_admin_operators import trail
from tests.test_audit_admin import CHECKPOINT_DUE, signed_to_the_end

database = test_admin_cli.database  # a fresh database per backend

CUSTOMER_EMAIL = "owner@shop.example"
AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
# (site, day, IP, path): in the scope only shop.example on 2 November.
IN_SCOPE = [
    ("shop.example", "02", "198.51.100.21", "/in-scope-one"),
    ("shop.example", "02", "198.51.100.22", "/in-scope-two"),
    ("shop.example", "02", "198.51.100.21", "/in-scope-three"),
]
OUT_OF_SCOPE = [
    ("shop.example", "01", "203.0.113.1", "/the-day-before"),
    ("shop.example", "03", "203.0.113.3", "/the-day-after"),
    ("blog.example", "02", "192.0.2.55", "/another-site"),
    ("stranger.example", "02", "192.0.2.77", "/another-customer"),
]


def log_line(day: str, ip: str, path: str) -> str:
    return f'{ip} - - [{day}/Nov/2026:12:00:00 +0000] "GET {path} HTTP/1.1" 200 512 "-" "{AGENT}"\n'


def legal(login: str) -> dict[str, str]:
    return {"SUDO_USER": login}


@pytest.fixture
def office(database: AdminDatabase, tmp_path: Path) -> AdminDatabase:
    """alice (admin and legal) and bob (legal), carol (billing); the two customers' sites,
    storing full IPs, with their hits imported; the customer's e-mail on file."""
    ok(database.invoke("operators add alice --role admin"))
    for login, role in (("alice", "legal"), ("bob", "legal"), ("carol", "billing")):
        ok(database.invoke(f"operators add {login} --role {role}", **legal("alice")))
    for name in ("Test Shop B.V.", "Stranger Ltd"):
        ok(database.invoke(f"accounts create '{name}'", **legal("alice")))
    for account, domain in ((1, "shop.example"), (1, "blog.example"), (2, "stranger.example")):
        ok(
            database.invoke(
                f"sites add --account {account} {domain} --ip-policy full", **legal("alice")
            )
        )
        log = tmp_path / f"{domain}.log"
        log.write_text(
            "".join(
                log_line(day, ip, path)
                for site, day, ip, path in IN_SCOPE + OUT_OF_SCOPE
                if site == domain
            )
        )
        ok(database.invoke(f"import-log {domain} {log}", **legal("alice")))
    support.run_sync(_give_email(database))
    return database


async def _give_email(database: AdminDatabase) -> None:
    cipher = Cipher(load_secrets_of(database.settings))
    async with support.helper_engine(database.settings) as engine, transaction(engine) as session:
        account = await get_account(session, 1)
        account.email_encrypted = cipher.encrypt(CUSTOMER_EMAIL, context=EMAIL_CONTEXT)
        account.email_index = email_index(cipher, CUSTOMER_EMAIL)
        session.add(account)


OPEN = (
    "disclosure open --account 1 --authority 'Politie, team cybercrime' "
    "--legal-basis 'Art. 126nd Sv' --reference PL0900-2026-123 --jurisdiction nl "
    "--from 2026-11-02 --to 2026-11-02 --site shop.example --deadline 2026-12-20 "
    "--category statistics --category raw_hits --category ips --category customer_information"
)


def opened(office: AdminDatabase, extra: str = "") -> int:
    line = ok(office.invoke(f"{OPEN} {extra}", **legal("alice")))
    assert line.startswith("disclosure request ")
    return int(line.split()[2].rstrip(":"))


def members(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_an_approved_request_exports_exactly_its_scope_signed(
    office: AdminDatabase, tmp_path: Path
) -> None:
    request = opened(office)
    ok(office.invoke(f"disclosure approve {request}", **legal("bob")))
    bundle = tmp_path / "bundle.zip"
    written = ok(office.invoke(f"disclosure export {request} --out {bundle}", **legal("alice")))
    sha256 = hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert f"sha256 {sha256}" in written
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600, "customer data: its writer's alone"

    files = members(bundle)
    assert sorted(files) == [
        "customer_information.json", "hits/site-1.csv", "ips/site-1.csv", "manifest.json",
        "manifest.sig", "request.json", "statistics.csv",
    ]  # fmt: skip
    # The hits are exactly shop.example's of 2 November: every one, and no other.
    stored = support.run_sync(
        support.rows(
            office.settings,
            "SELECT id FROM hit WHERE site_id = 1 AND pathname LIKE '/in-scope-%' ORDER BY id",
        )
    )
    hit_lines = files["hits/site-1.csv"].decode().splitlines()
    assert "ip" not in hit_lines[0].split(",")  # IPs are their own category
    assert [int(line.split(",")[0]) for line in hit_lines[1:]] == [row["id"] for row in stored]
    ips = [line.split(",")[2] for line in files["ips/site-1.csv"].decode().splitlines()[1:]]
    assert sorted(ips) == sorted(ip for _, _, ip, _ in IN_SCOPE)
    statistics = files["statistics.csv"].decode().splitlines()
    assert statistics == [
        "site_id,domain,day,pageviews,events,visitors,visits",
        "1,shop.example,2026-11-02,3,0,2,2",
    ]
    profile = json.loads(files["customer_information.json"])
    assert profile["name"] == "Test Shop B.V." and profile["email"] == CUSTOMER_EMAIL
    # Nothing outside the scope anywhere in the bundle, under any name.
    everything = b"".join(files.values())
    for _, _, ip, path in OUT_OF_SCOPE:
        assert ip.encode() not in everything and path.encode() not in everything
    assert b"Stranger" not in everything and b"blog.example" not in everything

    record = json.loads(files["request.json"])["request"]
    assert record["authority"] == "Politie, team cybercrime"
    assert record["disclosed"] == {
        "site_ids": [1],
        "categories": ["customer_information", "ips", "raw_hits", "statistics"],
        "partial": False,
    }
    verified = ok(office.invoke(f"disclosure verify {bundle}", **legal("carol")))
    assert verified.strip() == f"{bundle}: intact (5 files, signature good, request {request})"

    exported = [e for e in trail(office) if e["action"] == "disclosure.exported"]
    assert exported[-1]["actor"] == "operator:alice"
    assert exported[-1]["details"]["bundle_sha256"] == sha256
    shown = json.loads(ok(office.invoke(f"disclosure show {request} --json", **legal("bob"))))
    assert (shown["state"], shown["bundle_sha256"]) == ("exported", sha256)


def test_an_export_signs_the_audit_trail_when_a_checkpoint_is_due(
    office: AdminDatabase, tmp_path: Path
) -> None:
    request = opened(office)
    ok(office.invoke(f"disclosure approve {request}", **legal("bob")))
    bundle = tmp_path / "bundle.zip"
    ok(
        office.invoke(
            f"disclosure export {request} --out {bundle}", **legal("alice"), **CHECKPOINT_DUE
        )
    )
    assert trail(office)[-1]["action"] == "disclosure.exported"
    assert signed_to_the_end(office)


def test_an_export_counts_the_scoped_hits_it_reads_up_to_their_total(
    office: AdminDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = opened(office)
    ok(office.invoke(f"disclosure approve {request}", **legal("bob")))
    monkeypatch.setattr(bundle_module, "PROGRESS_EVERY_HITS", 1)
    told: list[tuple[int, int | None]] = []

    async def export() -> None:
        alice = Operator("alice", frozenset({OperatorRole.LEGAL}))
        key = load_or_create_signing_key(signing_key_path(office.settings))
        cipher = Cipher(load_secrets_of(office.settings))
        async with support.helper_engine(office.settings) as engine:
            await bundle_module.export_bundle(
                engine,
                cipher,
                key,
                alice,
                request,
                tmp_path / "bundle.zip",
                lambda done, total: told.append((done, total)),
            )

    support.run_sync(export())
    # The three hits of shop.example on 2 November, one report each, then the end.
    assert told == [(1, 3), (2, 3), (3, 3), (3, 3)]


def test_a_partial_approval_exports_only_what_it_let_through(
    office: AdminDatabase, tmp_path: Path
) -> None:
    request = opened(office)
    approved = ok(
        office.invoke(
            f"disclosure approve {request} --category statistics --note 'IPs not proportionate'",
            **legal("bob"),
        )
    )
    assert "approved in part" in approved
    bundle = tmp_path / "partial.zip"
    ok(office.invoke(f"disclosure export {request} --out {bundle}", **legal("bob")))
    files = members(bundle)
    assert sorted(files) == ["manifest.json", "manifest.sig", "request.json", "statistics.csv"]
    assert json.loads(files["request.json"])["request"]["disclosed"]["partial"] is True

    report = json.loads(ok(office.invoke("disclosure report --year 2026 --json", **legal("bob"))))
    assert report["received"] == 1 and report["by_outcome"]["partially disclosed"] == 1
    assert report["by_jurisdiction"] == {"nl": 1, "us": 0} and report["accounts_affected"] == 1


def test_nothing_is_exported_before_approval_and_the_opener_may_not_approve(
    office: AdminDatabase, tmp_path: Path
) -> None:
    request = opened(office)
    bundle = tmp_path / "early.zip"
    line = refused(office.invoke(f"disclosure export {request} --out {bundle}", **legal("bob")), 2)
    assert line == (
        f"error: disclosure request {request} is opened, not approved: nothing may be exported "
        "for it"
    )
    assert not bundle.exists() and list(tmp_path.glob("*.partial")) == []
    line = refused(office.invoke(f"disclosure approve {request}", **legal("alice")), 2)
    assert "alice opened disclosure request 1 and may not approve it too" in line
    refusals = [e["details"] for e in trail(office) if e["action"] == "disclosure.refused"]
    assert [(each["attempted"], each["reason"]) for each in refusals] == [
        ("exported", "state"),
        ("approved", "four_eyes"),
    ]
    line = refused(office.invoke(OPEN, **legal("carol")), 2)
    assert line == (
        "error: carol may not run `ot-admin disclosure open`: that needs the legal role "
        "(carol holds: billing)"
    )


def test_a_changed_or_added_file_or_another_key_fails_verification(
    office: AdminDatabase, tmp_path: Path
) -> None:
    request = opened(office)
    ok(office.invoke(f"disclosure approve {request}", **legal("bob")))
    bundle = tmp_path / "bundle.zip"
    ok(office.invoke(f"disclosure export {request} --out {bundle}", **legal("alice")))
    files = members(bundle)

    def rewritten(name: str, changes: dict[str, bytes]) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as archive:
            for member, content in {**files, **changes}.items():
                archive.writestr(member, content)
        return path

    changed = rewritten("changed.zip", {"statistics.csv": files["statistics.csv"] + b"1,x\n"})
    result = office.invoke(f"disclosure verify {changed}", **legal("bob"))
    assert result.exit_code == 1
    assert result.stdout == f"{changed}: statistics.csv: its SHA-256 is not the manifest's\n"

    added = rewritten("added.zip", {"extra.csv": b"planted\n"})
    result = office.invoke(f"disclosure verify {added}", **legal("bob"))
    assert result.exit_code == 1 and "extra.csv: not in the manifest" in result.stdout

    manifest = json.loads(files["manifest.json"])
    manifest["request_id"] = 99
    forged = rewritten("forged.zip", {"manifest.json": json.dumps(manifest).encode()})
    result = office.invoke(f"disclosure verify {forged}", **legal("bob"))
    assert result.exit_code == 1 and "the signature does not match" in result.stdout

    other_key = base64.b64encode(
        Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    ).decode()
    result = office.invoke(f"disclosure verify {bundle} --public-key {other_key}", **legal("bob"))
    assert result.exit_code == 1 and "the signature does not match" in result.stdout

    not_a_bundle = tmp_path / "notes.txt"
    not_a_bundle.write_text("hello")
    assert "is not a disclosure bundle" in refused(
        office.invoke(f"disclosure verify {not_a_bundle}", **legal("bob")), 2
    )


def test_a_gagged_request_waits_until_the_gag_is_lifted_then_the_customer_is_told(
    office: AdminDatabase,
) -> None:
    request = opened(office, "--gag")
    ok(office.invoke(f"disclosure approve {request}", **legal("bob")))
    line = refused(office.invoke(f"disclosure notify {request}", **legal("bob")), 2)
    assert "is under a gag until the authority lifts it" in line
    due = ok(office.invoke("disclosure due", **legal("bob"))).splitlines()
    assert due[1:] == []
    assert outbox(office.settings.data_dir) == []

    ok(office.invoke(f"disclosure lift-gag {request}", **legal("bob")))
    due = ok(office.invoke("disclosure due --json", **legal("bob")))
    assert [row["id"] for row in json.loads(due)] == [request]
    ok(office.invoke(f"disclosure notify {request}", **legal("bob")))
    [mail] = outbox(office.settings.data_dir)
    assert mail["To"] == CUSTOMER_EMAIL
    text = mail.get_content()
    assert "Politie, team cybercrime" in text and "PL0900-2026-123" in text
    assert "disclosed what was asked" in text

    again = refused(office.invoke(f"disclosure notify {request}", **legal("bob")), 2)
    assert "was told on" in again and "by bob" in again
    assert json.loads(ok(office.invoke("disclosure due --json", **legal("bob")))) == []
    told = [e for e in trail(office) if e["action"] == "disclosure.notified"]
    assert told[-1]["actor"] == "operator:bob" and told[-1]["account_id"] is None


BAD_REQUESTS = {
    "--category everything": 'unknown categories "everything"',
    "--jurisdiction de": 'unknown jurisdiction "de"',
    "--from 2026-13-01": "--from: '2026-13-01' is not a day (YYYY-MM-DD)",
    "--site stranger.example": "is not a site of account 1",
    "--from 2026-11-05": "period_end must be after period_start",
}


@pytest.mark.parametrize("change", sorted(BAD_REQUESTS))
def test_a_bad_request_is_refused_in_words_and_nothing_is_stored(
    office: AdminDatabase, change: str
) -> None:
    option = change.split()[0]
    words = OPEN.split(" ")
    command_line = OPEN
    if option in words and option not in ("--category", "--site"):
        at = words.index(option)
        command_line = " ".join([*words[:at], *words[at + 2 :]])
    before = office.snapshot()
    line = refused(office.invoke(f"{command_line} {change}", **legal("alice")), 2)
    assert BAD_REQUESTS[change] in line
    assert office.snapshot() == before


def test_an_approval_may_narrow_the_scope_but_never_widen_it(office: AdminDatabase) -> None:
    first = opened(office)
    ok(office.invoke(f"disclosure reject {first} --reason 'start again'", **legal("bob")))
    request = int(
        ok(
            office.invoke(
                OPEN.replace(" --category ips --category customer_information", ""),
                **legal("alice"),
            )
        )
        .split()[2]
        .rstrip(":")
    )
    line = refused(office.invoke(f"disclosure approve {request} --category ips", **legal("bob")), 2)
    assert "ips is not in the request's scope" in line and "never widen it" in line
    line = refused(
        office.invoke(f"disclosure approve {request} --site blog.example", **legal("bob")), 2
    )
    assert "site 2 is not in the request's scope" in line


def _listed(office: AdminDatabase) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        ok(office.invoke("disclosure list --json", **legal("bob")))
    )
    return found


def test_requests_are_listed_without_their_sealed_texts(office: AdminDatabase) -> None:
    opened(office, "--gag-until 2099-01-01")
    [row] = _listed(office)
    assert (row["state"], row["gag"], row["account_id"]) == ("opened", "until 2099-01-01", 1)
    assert "Politie" not in json.dumps(row)
    assert "unknown state 'open'" in refused(
        office.invoke("disclosure list --state open", **legal("bob")), 2
    )
