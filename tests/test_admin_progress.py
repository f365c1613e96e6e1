"""Long work tells how far it is: the core's long functions call their `progress` with the units
done, counting up to the total, and `ot-admin` draws that as a bar on a terminal's standard
error (`ot.admin.output.progress_bar`), never into a pipe and never on standard output.

The commands' bars through CliRunner: tests/test_billing_cli.py; the disclosure bundle's count:
tests/test_disclosure_cli.py."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from ot import paths
from ot.admin import output
from ot.backups import back_up, restore
from ot.billing.invoices import issue_invoices
from ot.billing.plans import Period
from ot.config import Settings
from ot.db import create_engine, transaction
from ot.rights.retention import run_retention
from ot.security.crypto import Cipher
from ot.security.key_rotation import rotate
from ot.security.secrets import load_secrets_of
from tests.support import TEST_OPERATOR, helper_engine, make_site

Told = list[tuple[int, int | None]]


def counts_up_to_the_total(told: Told) -> bool:
    """What every progress report must be: counts that never go back, never past the total,
    the last one the total."""
    done = [count for count, _ in told]
    return (
        bool(told)
        and done == sorted(done)
        and all(total is None or count <= total for count, total in told)
        and told[-1][0] == told[-1][1]
    )


def recorder(told: Told) -> output.ProgressCallback:
    return lambda done, total: told.append((done, total))


async def _sites(settings: Settings, count: int) -> None:
    for number in range(count):
        await make_site(settings, f"shop{number}.example")


async def test_a_key_rotation_counts_the_values_it_re_encrypts_up_to_their_total(
    settings: Settings,
) -> None:
    await _sites(settings, 3)  # three accounts, each a name encrypted
    told: Told = []
    engine = create_engine(settings)
    try:
        secrets_file = settings.secrets_file or paths.secrets_path(settings.data_dir)
        await rotate(
            engine, secrets_file, actor=TEST_OPERATOR, batch_size=1, progress=recorder(told)
        )
    finally:
        await engine.dispose()
    assert counts_up_to_the_total(told), told
    assert told[0] == (1, 3) and told[-1] == (3, 3)


async def test_a_backup_and_its_restore_count_up_to_their_total(
    settings: Settings, tmp_path: Path
) -> None:
    await _sites(settings, 2)
    backed_up: Told = []
    backup = tmp_path / "ot.db"
    await back_up(settings, backup, actor=TEST_OPERATOR, progress=recorder(backed_up))
    assert counts_up_to_the_total(backed_up), backed_up

    restored: Told = []
    await restore(settings, backup, actor=TEST_OPERATOR, progress=recorder(restored))
    assert counts_up_to_the_total(restored), restored
    if settings.is_embedded_database:  # the file's bytes; pg_restore says nothing until done
        assert restored[-1] == (backup.stat().st_size, backup.stat().st_size)


async def test_a_billing_run_counts_the_accounts_done_of_all(settings: Settings) -> None:
    await _sites(settings, 3)
    told: Told = []
    async with helper_engine(settings) as engine, transaction(engine, locked=True) as session:
        await issue_invoices(
            session,
            Cipher(load_secrets_of(settings)),
            settings.billing,
            Period(2026, 11),
            now=datetime(2026, 12, 2, tzinfo=UTC),
            actor=TEST_OPERATOR,
            progress=recorder(told),
        )
    assert told == [(0, 3), (1, 3), (2, 3), (3, 3)]


async def test_a_retention_run_counts_the_sites_done_of_those_with_a_retention(
    settings: Settings,
) -> None:
    await _sites(settings, 3)
    async with helper_engine(settings) as engine, engine.begin() as connection:
        await connection.execute(text("UPDATE site SET retention_days = 30 WHERE id <= 2"))
    told: Told = []
    async with helper_engine(settings) as engine:
        await run_retention(engine, datetime.now(UTC), 100, recorder(told))
    assert told == [(0, 2), (1, 2), (2, 2)]


# --- the bar --------------------------------------------------------------------------------


def _drawn(monkeypatch: pytest.MonkeyPatch, terminal: bool, work: Told) -> str:
    """What a bar drawn on standard error showed of this work, without its colours."""
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    monkeypatch.setattr(output, "progress_shown", lambda: terminal)
    with output.progress_bar("counting", unit="things") as progress:
        if progress is not None:
            for done, total in work:
                progress(done, total)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stderr.getvalue())


def test_the_bar_on_a_terminal_shows_the_count_reach_its_total(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn = _drawn(monkeypatch, True, [(0, 40), (12, 40), (40, 40)])
    assert "counting" in drawn and "40/40 things" in drawn, drawn


def test_nothing_is_drawn_when_standard_error_is_no_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _drawn(monkeypatch, False, [(0, 40), (40, 40)]) == ""


def test_the_bar_is_redrawn_at_most_every_tenth_of_a_second_and_always_at_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moments = iter([100.0, 100.01, 100.02, 100.03])  # one report each, all in a tenth
    monkeypatch.setattr(output, "time", SimpleNamespace(monotonic=lambda: next(moments)))
    drawn = _drawn(monkeypatch, True, [(1, 4), (2, 4), (3, 4), (4, 4)])
    assert "1/4 things" in drawn and "4/4 things" in drawn, drawn
    assert "2/4 things" not in drawn and "3/4 things" not in drawn, drawn
