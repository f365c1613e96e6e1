"""The bundle an approved disclosure request hands over, and its verification.

A bundle is one zip file holding exactly the approved scope (`approved_scope`): the request
record (`request.json`), and per category the account's profile (`customer_information.json`),
daily numbers (`statistics.csv`), the stored hits without IPs (`hits/site-N.csv`) and the IPs
kept with them (`ips/site-N.csv`); only the scope's sites, only hits from `period_start`
(included) to `period_end` (excluded). `manifest.json` lists every other file with its SHA-256
and size, and `manifest.sig` is the manifest's Ed25519 signature by the installation's signing
key (the audit trail's, `ot-admin audit public-key`), so that the recipient can check that
nothing was changed or added (`verify_bundle`, `ot-admin disclosure verify`). The SHA-256 of the
whole file goes into the trail (`disclosure.exported`) and onto the request.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import ColumnElement, func
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from ot.accounts.store import get_account
from ot.clock import as_utc, utcnow
from ot.csv_cells import spreadsheet_safe_row
from ot.db import transaction
from ot.errors import InvalidInput
from ot.models import DataCategory, DisclosureRequest, DisclosureState, Site
from ot.private_files import open_private_for_writing
from ot.rights.erasure import stored_ip
from ot.rights.export import HIT_COLUMNS, account_fields, csv_value
from ot.rights.retention import HIT
from ot.security import audit
from ot.security.audit import AuditAction
from ot.security.audit_checkpoints import public_key_text
from ot.security.crypto import Cipher
from ot.security.operators import Operator

from .requests import DisclosureScope, get_request, is_partial, scope_to_export, texts_of

FORMAT = "opentracker-disclosure/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
HIT_BATCH = 5000
PROGRESS_EVERY_HITS = 500  # hits read between two reports of progress: each costs a little
# The hits file leaves the IP out: IPs are a category of their own.
HIT_FILE_COLUMNS = [name for name in HIT_COLUMNS if name != "ip"]
STATISTICS_COLUMNS = ["site_id", "domain", "day", "pageviews", "events", "visitors", "visits"]


@dataclass(frozen=True)
class BundleReport:
    path: Path
    sha256: str
    files: dict[str, int]  # file name -> bytes, the manifest's list


@dataclass
class _SiteStatistics:
    """One UTC day of one site, counted from the scoped hits alone."""

    pageviews: int = 0
    events: int = 0
    visitors: set[int] = field(default_factory=set)
    visits: set[int] = field(default_factory=set)


async def export_bundle(
    engine: AsyncEngine,
    cipher: Cipher,
    signing_key: Ed25519PrivateKey,
    operator: Operator,
    request_id: int,
    out: Path,
    progress: Callable[[int, int | None], None] | None = None,
) -> BundleReport:
    """Write the bundle of an approved request to `out` (refused, and recorded, for any other
    request), mark the request exported and record the bundle's SHA-256 in the trail.
    `progress` is told the scoped hits read, of those counted first (none when no category
    needs them)."""
    if out.exists():
        raise InvalidInput(f"{out} exists already: choose a new file for the bundle", field="out")
    # Locked from the start: a refusal is recorded after these reads, and on SQLite a transaction
    # that read first cannot write once the running server has committed meanwhile.
    async with transaction(engine, keep_refusals=True) as session:
        request, scope = await scope_to_export(session, operator, request_id)
        record = _request_record(request, cipher)
        account = await get_account(session, scope.account_id)
        profile = account_fields(account, cipher)
        sites = list(
            (await session.exec(select(Site).where(Site.account_id == scope.account_id))).all()
        )
    scoped_sites = [site for site in sites if site.id in scope.site_ids]
    now = utcnow()
    with tempfile.TemporaryDirectory(prefix="ot-disclosure-") as folder:
        work = Path(folder)
        _write_json(work / "request.json", {"format": FORMAT, "request": record})
        if DataCategory.CUSTOMER_INFORMATION in scope.categories:
            _write_json(work / "customer_information.json", profile)
        await _write_hit_files(engine, cipher, scope, scoped_sites, work, progress)
        files = {
            path.relative_to(work).as_posix(): path
            for path in sorted(work.rglob("*"))
            if path.is_file()
        }
        sizes = {name: path.stat().st_size for name, path in files.items()}
        listed = {
            name: {"sha256": _sha256_of(path), "bytes": sizes[name]} for name, path in files.items()
        }
        manifest = {
            "format": FORMAT,
            "request_id": request_id,
            "exported_at": now.isoformat(),
            "exported_by": operator.login,
            "public_key": public_key_text(signing_key),
            "files": listed,
        }
        manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
        signature = base64.b64encode(signing_key.sign(manifest_bytes)) + b"\n"
        partial = out.with_name(f".{out.name}.partial")
        # Readable by its writer alone: it holds customer data, IPs perhaps.
        with (
            open_private_for_writing(partial) as raw,
            zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        ):
            for name, path in files.items():
                archive.write(path, name)
            archive.writestr(MANIFEST, manifest_bytes)
            archive.writestr(SIGNATURE, signature)
        os.replace(partial, out)
    sha256 = _sha256_of(out)
    async with transaction(engine) as session:
        request = await get_request(session, request_id, for_update=True)
        request.state = DisclosureState.EXPORTED
        request.exported_by, request.exported_at, request.bundle_sha256 = (
            operator.login,
            now,
            sha256,
        )
        session.add(request)
        await audit.record(
            session,
            AuditAction.DISCLOSURE_EXPORTED,
            actor=operator.actor,
            details={
                "request_id": request_id,
                "account_id": scope.account_id,
                "bundle_sha256": sha256,
                "files": sorted(sizes),
            },
        )
    return BundleReport(out, sha256, sizes)


def _request_record(request: DisclosureRequest, cipher: Cipher) -> dict[str, Any]:
    """The request as the bundle states it: who asked, on what basis, what was asked and what
    was approved, the decision."""
    texts = texts_of(request, cipher)

    def moment(value: datetime | None) -> str | None:
        return None if value is None else as_utc(value).isoformat()

    return {
        "id": request.id,
        "authority": texts.authority,
        "legal_basis": texts.legal_basis,
        "reference": texts.reference,
        "jurisdiction": request.jurisdiction.value,
        "account_id": request.account_id,
        "period_start": moment(request.period_start),
        "period_end": moment(request.period_end),
        "requested": {"site_ids": request.site_ids, "categories": request.categories},
        "disclosed": {
            "site_ids": request.site_ids
            if request.approved_site_ids is None
            else request.approved_site_ids,
            "categories": request.categories
            if request.approved_categories is None
            else request.approved_categories,
            "partial": is_partial(request),
        },
        "deadline": moment(request.deadline),
        "opened_by": request.opened_by,
        "opened_at": moment(request.opened_at),
        "decided_by": request.decided_by,
        "decided_at": moment(request.decided_at),
        "decision_note": texts.decision_note,
    }


async def _write_hit_files(
    engine: AsyncEngine,
    cipher: Cipher,
    scope: DisclosureScope,
    sites: list[Site],
    work: Path,
    progress: Callable[[int, int | None], None] | None,
) -> None:
    """The files read from the scoped sites' hits of the period: one pass over them per site."""
    wanted = scope.categories
    if not wanted & {DataCategory.STATISTICS, DataCategory.RAW_HITS, DataCategory.IPS}:
        if progress is not None:
            progress(0, 0)
        return
    read = 0
    total = await _count_scoped_hits(engine, sites, scope) if progress is not None else 0
    statistics: list[list[object]] = []
    for site in sites:
        assert site.id is not None
        days: dict[date, _SiteStatistics] = defaultdict(_SiteStatistics)
        with (
            _csv_file(work / "hits" / f"site-{site.id}.csv", wanted, DataCategory.RAW_HITS) as (
                hits
            ),
            _csv_file(work / "ips" / f"site-{site.id}.csv", wanted, DataCategory.IPS) as ips,
        ):
            if hits is not None:
                hits.writerow(HIT_FILE_COLUMNS)
            if ips is not None:
                ips.writerow(["hit_id", "timestamp", "ip"])
            async for row in _scoped_hits(engine, site.id, scope):
                if hits is not None:
                    hits.writerow(
                        spreadsheet_safe_row(csv_value(row[name]) for name in HIT_FILE_COLUMNS)
                    )
                if ips is not None and row["ip_encrypted"]:
                    ip = stored_ip(cipher, row["ip_encrypted"], site.id)
                    ips.writerow([row["id"], csv_value(row["timestamp"]), ip])
                day = days[as_utc(row["timestamp"]).date()]
                if row["name"] == "pageview":
                    day.pageviews += 1
                else:
                    day.events += 1
                day.visitors.add(row["visitor_id"])
                day.visits.add(row["visit_id"])
                read += 1
                if progress is not None and read % PROGRESS_EVERY_HITS == 0:
                    progress(read, max(total, read))
        for day_date, counted in sorted(days.items()):
            statistics.append(
                [site.id, site.domain, day_date.isoformat(), counted.pageviews, counted.events,
                 len(counted.visitors), len(counted.visits)]
            )  # fmt: skip
    if progress is not None:
        progress(read, read)  # the count's, unless hits were stored or deleted meanwhile
    if DataCategory.STATISTICS in wanted:
        with (work / "statistics.csv").open("w", newline="", encoding="utf-8") as raw:
            writer = csv.writer(raw)
            writer.writerow(STATISTICS_COLUMNS)
            writer.writerows(spreadsheet_safe_row(line) for line in statistics)


class _csv_file:  # a context manager, named like open
    """A CSV writer on `path` when `category` is wanted, else None."""

    def __init__(self, path: Path, wanted: frozenset[DataCategory], category: DataCategory):
        self._path = path if category in wanted else None
        self._raw: IO[str] | None = None

    def __enter__(self) -> Any:
        if self._path is None:
            return None
        self._path.parent.mkdir(exist_ok=True)
        self._raw = self._path.open("w", newline="", encoding="utf-8")
        return csv.writer(self._raw)

    def __exit__(self, *_: object) -> None:
        if self._raw is not None:
            self._raw.close()


def _in_scope(site_ids: list[int], scope: DisclosureScope) -> tuple[ColumnElement[bool], ...]:
    return (
        HIT.c.site_id.in_(site_ids),
        HIT.c.timestamp >= scope.period_start,
        HIT.c.timestamp < scope.period_end,
    )


async def _count_scoped_hits(engine: AsyncEngine, sites: list[Site], scope: DisclosureScope) -> int:
    site_ids = [site.id for site in sites if site.id is not None]
    async with engine.connect() as connection:
        query = sa_select(func.count()).select_from(HIT).where(*_in_scope(site_ids, scope))
        return int((await connection.execute(query)).scalar_one())


async def _scoped_hits(engine: AsyncEngine, site_id: int, scope: DisclosureScope) -> Any:
    """The site's hits from the period's start (included) to its end (excluded), by id."""
    last_id = 0
    while True:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa_select(HIT)
                    .where(*_in_scope([site_id], scope), HIT.c.id > last_id)
                    .order_by(HIT.c.id)
                    .limit(HIT_BATCH)
                )
            ).all()
        if not rows:
            return
        for row in rows:
            last_id = row.id
            yield row._mapping


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Verification:
    """What `verify_bundle` found: no problems means the bundle is as it was signed."""

    request_id: int | None
    files: dict[str, int]
    problems: list[str]

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_bundle(path: Path, public_key: Ed25519PublicKey) -> Verification:
    """Check a bundle against the public key: the manifest's signature, then every file's
    SHA-256 and size, and that no file was added or taken away."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise InvalidInput(f"{path} is not a disclosure bundle ({error})", field="bundle") from None
    with archive:
        names = set(archive.namelist())
        if MANIFEST not in names or SIGNATURE not in names:
            raise InvalidInput(
                f"{path} is not a disclosure bundle: it has no {MANIFEST} and {SIGNATURE}",
                field="bundle",
            )
        manifest_bytes = archive.read(MANIFEST)
        problems: list[str] = []
        try:
            public_key.verify(base64.b64decode(archive.read(SIGNATURE).strip()), manifest_bytes)
        except (InvalidSignature, ValueError):
            problems.append(f"{MANIFEST}: the signature does not match this public key")
        try:
            manifest = json.loads(manifest_bytes)
            listed: dict[str, dict[str, Any]] = manifest["files"]
        except (ValueError, KeyError, TypeError):
            return Verification(None, {}, [*problems, f"{MANIFEST} cannot be read"])
        for name, expected in sorted(listed.items()):
            if name not in names:
                problems.append(f"{name}: listed in the manifest but missing")
                continue
            digest = hashlib.sha256(archive.read(name)).hexdigest()
            if digest != expected.get("sha256"):
                problems.append(f"{name}: its SHA-256 is not the manifest's")
        for name in sorted(names - set(listed) - {MANIFEST, SIGNATURE}):
            problems.append(f"{name}: not in the manifest (added after signing)")
    sizes = {name: int(entry.get("bytes", 0)) for name, entry in listed.items()}
    request_id = manifest.get("request_id")
    return Verification(request_id if isinstance(request_id, int) else None, sizes, problems)
