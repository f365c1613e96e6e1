"""`ot-admin db check`: an installation checked whole — schema, storage, keys, audit trail —
each check in words, exit code 1 naming what failed, nothing changed."""

from __future__ import annotations

import base64
import json
import re
import secrets

from ot.clock import utcnow
from ot.paths import secrets_path
from ot.rights.account_deletion import purge_account
from tests import support, test_admin_cli
from tests.test_admin_cli import AdminDatabase, ok
from tests.test_audit_admin import _execute

database = test_admin_cli.database  # a fresh database per backend


def _checked(database: AdminDatabase) -> tuple[int, dict[str, tuple[bool, str]]]:
    result = database.invoke("db check --json")
    found = {c["check"]: (c["ok"], c["said"]) for c in json.loads(result.stdout)}
    return result.exit_code, found


def test_a_whole_installation_passes_every_check(database: AdminDatabase) -> None:
    ok(database.invoke("accounts create 'Jane Doe Consulting'"))
    lines = ok(database.invoke("db check")).splitlines()
    assert [line.split()[0:2] for line in lines] == [
        ["schema", "ok"], ["storage", "ok"], ["keys", "ok"], ["audit", "trail"],
    ]  # fmt: skip
    code, found = _checked(database)
    assert code == 0 and all(passed for passed, _ in found.values())
    assert re.fullmatch(
        r"\d+ encrypted values, each under a key at hand; \d+ newest of them decrypted",
        found["keys"][1],
    )
    assert found["audit trail"][1].startswith("intact (")


def test_a_purged_accounts_tombstone_is_no_false_alarm(database: AdminDatabase) -> None:
    ok(database.invoke("accounts create 'Jane Doe Consulting'"))
    support.run_sync(_purge(database, 1))
    code, found = _checked(database)
    assert code == 0, found


async def _purge(database: AdminDatabase, account_id: int) -> None:
    async with support.helper_engine(database.settings) as engine:
        await purge_account(engine, account_id, now=utcnow(), batch_size=100)


def test_a_value_not_encrypted_and_a_broken_trail_are_named(database: AdminDatabase) -> None:
    ok(database.invoke("accounts create 'Jane Doe Consulting'"))
    before = database.snapshot()
    _execute(database, "UPDATE account SET name_encrypted = 'Jane in clear'")
    _execute(database, "UPDATE audit_entry SET action = 'x'")
    code, found = _checked(database)
    assert code == 1
    assert found["keys"] == (False, "0 values under a key not in the secrets file, 1 not "
                             "encrypted (see ot-admin keys status)")  # fmt: skip
    assert found["audit trail"] == (False, "does not verify: ot-admin audit verify says where")
    assert found["schema"][0] and found["storage"][0]
    assert set(database.snapshot()) == set(before)


def test_a_secrets_file_whose_keys_do_not_read_the_values_is_named(
    database: AdminDatabase,
) -> None:
    """Same key ids, other keys (another installation's file, a restore gone wrong): the ids
    match, the values do not decrypt."""
    ok(database.invoke("accounts create 'Jane Doe Consulting'"))
    path = secrets_path(database.settings.data_dir)
    written = json.loads(path.read_text())
    for key_id in written["encryption_keys"]:
        written["encryption_keys"][key_id] = base64.urlsafe_b64encode(
            secrets.token_bytes(32)
        ).decode()
    path.write_text(json.dumps(written))
    code, found = _checked(database)
    assert code == 1
    passed, said = found["keys"]
    assert not passed
    assert re.fullmatch(
        r"\d+ of \d+ sampled values do not decrypt with the secrets file's keys: "
        r".*account\.name_encrypted \(1\).* \(is it this installation's secrets file\?\)",
        said,
    ), said


def test_a_schema_behind_is_told_first_with_the_command_to_run(database: AdminDatabase) -> None:
    _execute(database, "UPDATE alembic_version SET version_num = '5b8e2f1c4d07'")
    result = database.invoke("db check")
    assert result.exit_code == 1
    [line] = result.stdout.splitlines()
    assert line.startswith("schema       FAILED  at 5b8e2f1c4d07, expected ")
    assert line.endswith(": ot-admin db upgrade")
