"""`ot-admin disclosure`: lawful disclosure requests, from opening to the transparency report
(`ot.disclosure`). Every act needs the `legal` role; deciding needs a second operator."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import typer

from ot.admin.context import AdminContext, context_from, refuse, run
from ot.admin.help import AdminTyper
from ot.admin.output import (
    json_option,
    plural,
    print_fields,
    print_json,
    print_listing,
    progress_bar,
)
from ot.clock import as_utc, utcnow
from ot.disclosure.requests import (
    DisclosureTerms,
    approve_request,
    customer_may_be_told,
    list_requests,
    open_request,
    reject_request,
    review_request,
)
from ot.errors import InvalidInput
from ot.models import DataCategory, DisclosureRequest, DisclosureState, Jurisdiction
from ot.security.operators import Operator
from ot.sites.store import get_site

app = AdminTyper(help="Lawful disclosure requests.")

CATEGORY_NAMES = ", ".join(each.value for each in DataCategory)
JURISDICTION_NAMES = " or ".join(each.value for each in Jurisdiction)
LIST_COLUMNS = [
    "id", "state", "jurisdiction", "account_id", "opened_by", "opened_at", "deadline", "gag",
    "notified_at",
]  # fmt: skip


def _operator(context: AdminContext) -> Operator:
    assert context.operator is not None  # context_from checked it
    return context.operator


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        refuse(f"{option}: {value!r} is not a day (YYYY-MM-DD)")


def _moment(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


def _gag_text(request: DisclosureRequest) -> str:
    if not request.gagged:
        return "none"
    if request.gag_ends_at is None:
        return "until lifted"
    return f"until {as_utc(request.gag_ends_at):%Y-%m-%d}"


def _listed(request: DisclosureRequest) -> dict[str, object]:
    return {
        "id": request.id,
        "state": request.state.value,
        "jurisdiction": request.jurisdiction.value,
        "account_id": request.account_id,
        "opened_by": request.opened_by,
        "opened_at": _moment(request.opened_at),
        "deadline": _moment(request.deadline),
        "gag": _gag_text(request),
        "notified_at": _moment(request.notified_at),
    }


@app.command("open")
def open_command(
    ctx: typer.Context,
    account: int = typer.Option(..., "--account", metavar="ACCOUNT_ID", help="Whose data."),
    authority: str = typer.Option(
        ..., metavar="TEXT", help="The requesting authority, and whom to contact there."
    ),
    legal_basis: str = typer.Option(..., metavar="TEXT", help="The law the request invokes."),
    reference: str = typer.Option(..., metavar="TEXT", help="The authority's case reference."),
    jurisdiction: str = typer.Option(..., metavar="JURISDICTION", help=JURISDICTION_NAMES),
    first_day: str = typer.Option(
        ..., "--from", metavar="DAY", help="First day of the period (UTC, included)."
    ),
    last_day: str = typer.Option(
        ...,
        "--to",
        metavar="DAY",
        help="Last day of the period (UTC, included); today ends the period now.",
    ),
    categories: list[str] = typer.Option(
        ..., "--category", metavar="CATEGORY", help=f"Repeatable: {CATEGORY_NAMES}."
    ),
    deadline: str = typer.Option(..., metavar="DAY", help="The day the answer is due (UTC)."),
    sites: list[str] = typer.Option(
        [],
        "--site",
        metavar="SITE",
        help="A site of the account, by domain or id (repeatable; default: all its sites).",
    ),
    gag: bool = typer.Option(False, "--gag", help="The customer may not be told (for now)."),
    gag_until: str | None = typer.Option(
        None, metavar="DAY", help="The gag ends at the start of this day (UTC); implies --gag."
    ),
    as_json: bool = json_option(),
) -> None:
    """Record an authority's request for one account's data.

    Nothing can be exported until another legal operator approves it.

    \b
    Example:
      ot-admin disclosure open --account 3 --authority "Politie, team cybercrime" \\
        --legal-basis "Art. 126nd Sv" --reference "PL0900-2026-123" --jurisdiction nl \\
        --from 2026-11-01 --to 2026-11-30 --category statistics --category raw_hits \\
        --deadline 2026-12-20 --gag-until 2027-03-01
    """
    context = context_from(ctx)
    now = utcnow()
    start = datetime.combine(_day(first_day, "--from"), time(), UTC)
    end_day = _day(last_day, "--to")
    end = min(datetime.combine(end_day + timedelta(days=1), time(), UTC), now)
    due = datetime.combine(_day(deadline, "--deadline"), time(23, 59, 59), UTC)
    gag_ends = datetime.combine(_day(gag_until, "--gag-until"), time(), UTC) if gag_until else None

    async def action() -> DisclosureRequest:
        async with context.session() as session:
            site_ids = (
                tuple(sorted({(await get_site(session, each)).id or 0 for each in sites}))
                if sites
                else None
            )
            terms = DisclosureTerms(
                authority=authority,
                legal_basis=legal_basis,
                reference=reference,
                jurisdiction=jurisdiction,
                account_id=account,
                period_start=start,
                period_end=end,
                categories=tuple(categories),
                deadline=due,
                site_ids=site_ids,
                gagged=gag or gag_ends is not None,
                gag_ends_at=gag_ends,
            )
            return await open_request(session, context.cipher(), _operator(context), terms)

    request = run(action)
    if as_json:
        print_json(_listed(request))
        return
    typer.echo(
        f"disclosure request {request.id} opened: account {request.account_id}, "
        f"{plural(len(request.site_ids), 'site')}, {as_utc(request.period_start):%Y-%m-%d} to "
        f"{as_utc(request.period_end):%Y-%m-%d %H:%M} UTC, {', '.join(request.categories)}; "
        f"another legal operator decides: ot-admin disclosure show {request.id}"
    )


@app.command("list")
def list_command(
    ctx: typer.Context,
    state: str | None = typer.Option(
        None,
        metavar="STATE",
        help=f"Only requests in this state: {', '.join(s.value for s in DisclosureState)}.",
    ),
    as_json: bool = json_option(),
) -> None:
    """List disclosure requests, oldest first.

    Their texts stay sealed: `show` opens one, and is recorded.

    \b
    Example:
      ot-admin disclosure list --state opened
    """
    context = context_from(ctx)
    try:
        wanted = DisclosureState(state) if state is not None else None
    except ValueError:
        refuse(
            f"--state: unknown state {state!r}; the states are "
            f"{', '.join(s.value for s in DisclosureState)}"
        )

    async def action() -> list[dict[str, object]]:
        async with context.session() as session:
            return [_listed(each) for each in await list_requests(session, state=wanted)]

    print_listing(run(action), LIST_COLUMNS, as_json=as_json)


@app.command("show")
def show_command(
    ctx: typer.Context,
    request_id: int = typer.Argument(..., metavar="REQUEST_ID"),
    as_json: bool = json_option(),
) -> None:
    """Show a request in full, to review it: the reading is recorded.

    \b
    Example:
      ot-admin disclosure show 4
    """
    context = context_from(ctx)

    async def action() -> dict[str, Any]:
        async with context.session() as session:
            request, texts = await review_request(
                session, context.cipher(), _operator(context), request_id
            )
            return {
                **_listed(request),
                **asdict(texts),
                "site_ids": request.site_ids,
                "categories": request.categories,
                "period_start": _moment(request.period_start),
                "period_end": _moment(request.period_end),
                "decided_by": request.decided_by,
                "decided_at": _moment(request.decided_at),
                "approved_site_ids": request.approved_site_ids,
                "approved_categories": request.approved_categories,
                "exported_by": request.exported_by,
                "exported_at": _moment(request.exported_at),
                "bundle_sha256": request.bundle_sha256,
                "notified_by": request.notified_by,
                "may_be_told_now": customer_may_be_told(request, utcnow()),
            }

    shown = run(action)
    if as_json:
        print_json(shown)
        return
    print_fields(shown)


@app.command("approve")
def approve_command(
    ctx: typer.Context,
    request_id: int = typer.Argument(..., metavar="REQUEST_ID"),
    note: str | None = typer.Option(None, metavar="TEXT", help="Why, for the record."),
    sites: list[str] = typer.Option(
        [],
        "--site",
        metavar="SITE",
        help="Disclose only these of the request's sites (repeatable): a partial disclosure.",
    ),
    categories: list[str] = typer.Option(
        [],
        "--category",
        metavar="CATEGORY",
        help="Disclose only these of the request's categories (repeatable).",
    ),
) -> None:
    """Approve a request opened by another legal operator (four eyes).

    \b
    Example:
      ot-admin disclosure approve 4 --category statistics --note "IPs not proportionate"
    """
    context = context_from(ctx)

    async def action() -> DisclosureRequest:
        async with context.session(keep_refusals=True) as session:
            site_ids = (
                tuple(sorted({(await get_site(session, each)).id or 0 for each in sites}))
                if sites
                else None
            )
            return await approve_request(
                session,
                context.cipher(),
                _operator(context),
                request_id,
                note=note,
                site_ids=site_ids,
                categories=tuple(categories) or None,
            )

    request = run(action)
    partial = request.approved_site_ids is not None or request.approved_categories is not None
    typer.echo(
        f"disclosure request {request_id} approved{' in part' if partial else ''}; "
        f"export it: ot-admin disclosure export {request_id} --out FILE"
    )


@app.command("reject")
def reject_command(
    ctx: typer.Context,
    request_id: int = typer.Argument(..., metavar="REQUEST_ID"),
    reason: str = typer.Option(..., metavar="TEXT", help="Why, for the record and the customer."),
) -> None:
    """Reject a request opened by another legal operator (four eyes).

    \b
    Example:
      ot-admin disclosure reject 4 --reason "no legal basis for raw hits"
    """
    context = context_from(ctx)

    async def action() -> DisclosureRequest:
        async with context.session(keep_refusals=True) as session:
            return await reject_request(
                session, context.cipher(), _operator(context), request_id, reason=reason
            )

    run(action)
    typer.echo(f"disclosure request {request_id} rejected")


@app.command("export")
def export_command(
    ctx: typer.Context,
    request_id: int = typer.Argument(..., metavar="REQUEST_ID"),
    out: Path = typer.Option(..., "--out", metavar="FILE", help="The bundle to write (a zip)."),
    as_json: bool = json_option(),
) -> None:
    """Write an approved request's signed bundle: exactly its scope.

    The bundle's SHA-256 goes into the audit trail; the recipient checks it with
    `disclosure verify`.

    \b
    Example:
      ot-admin disclosure export 4 --out /secure/disclosure-4.zip
    """
    from ot.disclosure.bundle import export_bundle
    from ot.security.audit_checkpoints import load_or_create_signing_key, signing_key_path

    context = context_from(ctx)

    async def action() -> Any:
        async with context.engine() as engine:
            key = load_or_create_signing_key(signing_key_path(context.settings))
            # The bar is gone before anything else is said (an error, a warning).
            with progress_bar("reading the hits", unit="hits") as progress:
                return await export_bundle(
                    engine, context.cipher(), key, _operator(context), request_id, out, progress
                )

    report = run(action)
    if as_json:
        print_json({"bundle": str(report.path), "sha256": report.sha256, "files": report.files})
        return
    typer.echo(f"bundle written to {report.path} (sha256 {report.sha256}):")
    for name, size in report.files.items():
        typer.echo(f"  {name}  {plural(size, 'byte')}")


@app.command("verify")
def verify_command(
    ctx: typer.Context,
    bundle: Path = typer.Argument(..., metavar="BUNDLE", help="A bundle made by `export`."),
    public_key: str | None = typer.Option(
        None, metavar="KEY", help="The signer's public key (default: this installation's)."
    ),
    as_json: bool = json_option(),
) -> None:
    """Check a bundle's signature and files.

    Every file is checked against the signed manifest; none may be added.

    \b
    Example:
      ot-admin disclosure verify /secure/disclosure-4.zip
    """
    from ot.disclosure.bundle import verify_bundle
    from ot.security.audit_checkpoints import parse_public_key, public_key_of

    context = context_from(ctx)
    if public_key is not None:
        try:
            key = parse_public_key(public_key)
        except ValueError as error:
            refuse(f"--public-key: {error}")
    else:
        found = public_key_of(context.settings)
        if found is None:
            refuse("this installation has no signing key yet: give the signer's --public-key")
        key = found
    if not bundle.is_file():
        refuse(f"{bundle} does not exist")
    try:
        verification = verify_bundle(bundle, key)
    except InvalidInput as error:
        refuse(error.message)
    if as_json:
        print_json({**asdict(verification), "intact": verification.intact})
    elif verification.intact:
        typer.echo(
            f"{bundle}: intact ({plural(len(verification.files), 'file')}, signature good, "
            f"request {verification.request_id})"
        )
    else:
        for problem in verification.problems:
            typer.echo(f"{bundle}: {problem}")
    if not verification.intact:
        raise typer.Exit(1)


@app.command("notify")
def notify_command(
    ctx: typer.Context,
    request_id: int = typer.Argument(..., metavar="REQUEST_ID"),
) -> None:
    """Tell the customer about a decided request.

    By e-mail to the account's address; refused while a gag holds.

    \b
    Example:
      ot-admin disclosure notify 4
    """
    from ot.disclosure.notices import notify_customer
    from ot.mailer import Mailer

    context = context_from(ctx)
    mailer = Mailer(context.settings.mail, context.settings.data_dir)

    async def action() -> DisclosureRequest:
        async with context.session(keep_refusals=True) as session:
            return await notify_customer(
                session, context.cipher(), mailer, _operator(context), request_id, now=utcnow()
            )

    request = run(action)
    typer.echo(f"the customer of account {request.account_id} was told of request {request_id}")


@app.command("lift-gag")
def lift_gag_command(
    ctx: typer.Context,
    request_id: int = typer.Argument(..., metavar="REQUEST_ID"),
) -> None:
    """End a request's gag now.

    When the authority lifts it: the customer may then be told.

    \b
    Example:
      ot-admin disclosure lift-gag 4
    """
    from ot.disclosure.notices import lift_gag

    context = context_from(ctx)

    async def action() -> DisclosureRequest:
        async with context.session() as session:
            return await lift_gag(session, _operator(context), request_id, now=utcnow())

    run(action)
    typer.echo(f"the gag of request {request_id} is lifted; tell the customer: disclosure notify")


@app.command("due")
def due_command(ctx: typer.Context, as_json: bool = json_option()) -> None:
    """List the requests whose customer is to be told now.

    Decided requests, not told yet, under no gag (any more).

    \b
    Example:
      ot-admin disclosure due
    """
    from ot.disclosure.notices import due_notices

    context = context_from(ctx)

    async def action() -> list[dict[str, object]]:
        async with context.session() as session:
            return [_listed(each) for each in await due_notices(session, now=utcnow())]

    print_listing(run(action), LIST_COLUMNS, as_json=as_json)


@app.command("report")
def report_command(
    ctx: typer.Context,
    year: int = typer.Option(..., metavar="YEAR", help="The year the requests came in."),
    as_json: bool = json_option(),
) -> None:
    """Print the transparency report of a year: counts only, no names.

    \b
    Example:
      ot-admin disclosure report --year 2026
    """
    from ot.disclosure.report import transparency_report

    context = context_from(ctx)

    async def action() -> Any:
        async with context.session() as session:
            return await transparency_report(session, year)

    report = run(action)
    if as_json:
        print_json(asdict(report))
        return
    typer.echo(f"Transparency report {report.year}")
    typer.echo(f"  requests received          {report.received}")
    for name, count in report.by_jurisdiction.items():
        typer.echo(f"    under {name.upper()} law{'':<14}{count}")
    typer.echo("  outcome")
    for name, count in report.by_outcome.items():
        typer.echo(f"    {name:<28}{count}")
    typer.echo(f"  accounts asked about       {report.accounts_asked_about}")
    typer.echo(f"  accounts whose data went   {report.accounts_affected}")
    typer.echo(f"  requests under a gag       {report.gagged}")
    typer.echo(f"  customers told             {report.customers_told}")
