"""The secrets file (`ot.security.secrets`): made once with fresh keys, private to its owner, stable
across starts, never echoed in errors, and never written to the server's logs."""

from __future__ import annotations

import base64
import json
import logging
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ot import paths
from ot.config import Settings
from ot.logs import JsonFormatter
from ot.security.secrets import (
    Secrets,
    add_encryption_key,
    load_or_create_secrets,
    remove_encryption_key,
)
from ot.server import create_app
from tests.support import event, make_site, rows, store_hits

# Planted in damaged files: an error message must never repeat what the file holds.
MARKER = "c2VjcmV0LWtleS1tYXRlcmlhbA"


def all_keys(found: Secrets) -> list[bytes]:
    return [*found.encryption_keys.values(), found.blind_index_key, found.visitor_key]


def test_the_first_call_creates_a_private_secrets_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "there" / "yet"
    found = load_or_create_secrets(data_dir)
    path = data_dir / "secrets.json"
    assert path == paths.secrets_path(data_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert found.current_key_id in found.encryption_keys
    assert all(len(key) == 32 for key in all_keys(found))
    assert len(set(all_keys(found))) == 3, "every key is drawn separately"


def test_the_secrets_file_is_json_with_base64_keys(tmp_path: Path) -> None:
    found = load_or_create_secrets(tmp_path)
    stored = json.loads((tmp_path / "secrets.json").read_text())
    assert stored["current_key_id"] == found.current_key_id
    assert base64.urlsafe_b64decode(stored["blind_index_key"]) == found.blind_index_key


def test_the_second_call_returns_the_same_secrets(tmp_path: Path) -> None:
    first = load_or_create_secrets(tmp_path)
    before = (tmp_path / "secrets.json").read_bytes()
    assert load_or_create_secrets(tmp_path) == first
    assert (tmp_path / "secrets.json").read_bytes() == before


def test_processes_starting_at_once_agree_on_the_secrets(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(lambda _: load_or_create_secrets(tmp_path), range(16)))
    assert all(each == found[0] for each in found)


def test_two_data_folders_get_different_keys(tmp_path: Path) -> None:
    one = load_or_create_secrets(tmp_path / "one")
    other = load_or_create_secrets(tmp_path / "other")
    assert not set(all_keys(one)) & set(all_keys(other))


def _valid_document() -> dict[str, Any]:
    key = base64.urlsafe_b64encode(bytes(range(32))).decode()
    return {
        "encryption_keys": {"k1": key},
        "current_key_id": "k1",
        "blind_index_key": key,
        "visitor_key": key,
    }


def _with(**changes: Any) -> str:
    return json.dumps({**_valid_document(), **changes})


DAMAGED_FILES = [
    pytest.param(f"{MARKER} this is not JSON", id="not-json"),
    pytest.param(json.dumps([MARKER]), id="not-an-object"),
    pytest.param(json.dumps({"encryption_keys": {"k1": MARKER}}), id="keys-missing"),
    pytest.param(_with(blind_index_key=f"{MARKER}!!"), id="bad-base64"),
    pytest.param(_with(current_key_id=MARKER), id="current-key-unknown"),
    pytest.param(_with(current_key_id=[MARKER]), id="current-key-not-text"),
]


@pytest.mark.parametrize("content", DAMAGED_FILES)
def test_a_damaged_file_is_refused_without_repeating_its_content(
    tmp_path: Path, content: str
) -> None:
    (tmp_path / "secrets.json").write_text(content)
    with pytest.raises(RuntimeError, match="damaged") as caught:
        load_or_create_secrets(tmp_path)
    _assert_quiet(caught.value)


def test_an_empty_file_is_refused_as_damaged(tmp_path: Path) -> None:
    (tmp_path / "secrets.json").write_text("")
    with pytest.raises(RuntimeError, match="damaged"):
        load_or_create_secrets(tmp_path)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(_with(encryption_keys=[MARKER]), id="keys-a-list"),
        pytest.param(_with(encryption_keys={"k1": 12345}), id="key-a-number"),
        pytest.param(_with(visitor_key=None), id="key-null"),
    ],
)
def test_a_file_with_values_of_the_wrong_type_is_refused_as_damaged(
    tmp_path: Path, content: str
) -> None:
    (tmp_path / "secrets.json").write_text(content)
    with pytest.raises(RuntimeError, match="damaged") as caught:
        load_or_create_secrets(tmp_path)
    _assert_quiet(caught.value)


def test_a_file_that_is_not_text_is_refused_without_repeating_its_content(
    tmp_path: Path,
) -> None:
    (tmp_path / "secrets.json").write_bytes(b"\xff\xfe" + MARKER.encode() + b"\x00")
    with pytest.raises(RuntimeError, match="damaged") as caught:
        load_or_create_secrets(tmp_path)
    _assert_quiet(caught.value)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(_with(blind_index_key=""), id="empty-blind-index-key"),
        pytest.param(_with(visitor_key="AAAA"), id="3-byte-visitor-key"),
        pytest.param(_with(encryption_keys={"k1": "AAAA"}), id="3-byte-encryption-key"),
    ],
)
def test_a_file_with_keys_of_the_wrong_length_is_refused_as_damaged(
    tmp_path: Path, content: str
) -> None:
    (tmp_path / "secrets.json").write_text(content)
    with pytest.raises(RuntimeError, match="damaged"):
        load_or_create_secrets(tmp_path)


def _assert_quiet(error: BaseException) -> None:
    """Neither the message, nor the arguments, nor a chained error repeats the file."""
    assert MARKER not in str(error)
    assert MARKER not in repr(error)
    assert error.__cause__ is None
    assert error.__suppress_context__


def _key_spellings(found: Secrets) -> list[str]:
    """Every way a key could show up in a log line."""
    spellings = []
    for key in all_keys(found):
        spellings += [
            base64.urlsafe_b64encode(key).decode().rstrip("="),
            base64.b64encode(key).decode().rstrip("="),
            key.hex(),
            repr(key),
        ]
    return spellings


async def test_secrets_and_visitor_ips_never_reach_the_log(
    aiohttp_client: Any, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await make_site(settings)
    client = await aiohttp_client(create_app(settings))
    visitor_ip = "203.0.113.77"
    await store_hits(
        client,
        [event(url=f"https://shop.example/page-{n}?utm_source=news") for n in range(5)],
        ip=visitor_ip,
    )
    pixel = await client.get(
        "/pixel.gif",
        params={"d": "shop.example", "u": "https://shop.example/pixel"},
        headers={"X-Forwarded-For": visitor_ip},
    )
    assert pixel.status < 400
    malformed = await client.post(
        "/api/event", data=b"{not json", headers={"X-Forwarded-For": visitor_ip}
    )
    assert malformed.status == 400
    await client.close()  # the writer drains and stops: its log lines are in too

    found = load_or_create_secrets(settings.data_dir)
    salts = [bytes(row["salt"]) for row in await rows(settings, "SELECT salt FROM visitor_salt")]
    assert salts, "cookieless hits made a daily salt"
    forbidden = [
        *_key_spellings(found),
        *(spelling for salt in salts for spelling in (salt.hex(), repr(salt))),
        visitor_ip,
    ]
    formatter = JsonFormatter()
    assert caplog.records, "the server logged nothing at DEBUG: the check would prove nothing"
    for record in caplog.records:
        written = f"{formatter.format(record)}\n{record.getMessage()}\n{record.args!r}"
        for secret in forbidden:
            assert secret not in written, f"{record.name} logged secret material: {written}"


def test_a_new_key_becomes_current_and_the_old_ones_stay(tmp_path: Path) -> None:
    before = load_or_create_secrets(tmp_path)
    path = paths.secrets_path(tmp_path)
    key_id = add_encryption_key(path)
    after = load_or_create_secrets(tmp_path)
    assert after.current_key_id == key_id != before.current_key_id
    assert before.encryption_keys.items() <= after.encryption_keys.items()
    assert (after.blind_index_key, after.visitor_key) == (
        before.blind_index_key,
        before.visitor_key,
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_only_an_old_key_can_be_removed(tmp_path: Path) -> None:
    first = load_or_create_secrets(tmp_path).current_key_id
    path = paths.secrets_path(tmp_path)
    second = add_encryption_key(path)
    with pytest.raises(ValueError):
        remove_encryption_key(path, second)
    remove_encryption_key(path, first)
    assert list(load_or_create_secrets(tmp_path).encryption_keys) == [second]


def test_rotations_at_once_lose_no_key(tmp_path: Path) -> None:
    load_or_create_secrets(tmp_path)
    path = paths.secrets_path(tmp_path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        added = list(pool.map(lambda _: add_encryption_key(path), range(8)))
    assert set(added) <= set(load_or_create_secrets(tmp_path).encryption_keys)


def test_the_secrets_file_can_live_outside_the_data_folder(tmp_path: Path) -> None:
    elsewhere = tmp_path / "mounted" / "keys.json"
    found = load_or_create_secrets(tmp_path / "data", elsewhere)
    assert elsewhere.is_file() and found.source == elsewhere
    assert not paths.secrets_path(tmp_path / "data").exists()
