"""`/ot/v1/team`: members and invitations of the caller's team (or of another team it may
manage, named by `team_id`).

Inviting, withdrawing, changing roles and removing members need `team:write` and a role that
allows it (owners); everyone in a team may read it; a member may always leave. Accepting an
invitation takes a logged-in session of the invited address and the mailed token; the mailed
link itself (a GET) only says what the invitation is and how to accept it."""

from __future__ import annotations

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.accounts import mail_quota
from ot.accounts.permissions import Scope
from ot.accounts.store import account_name, get_account
from ot.accounts.team import (
    ACCEPT_PATH,
    accept_invitation,
    change_role,
    invitation_email,
    invitation_mail,
    invite,
    is_expired,
    live_invitation,
    members,
    my_memberships,
    open_invitations,
    remove_member,
    withdraw_invitation,
)
from ot.api.team import (
    Acceptance,
    InvitationIn,
    InvitationLink,
    InvitationList,
    InvitationOut,
    Left,
    MemberList,
    MemberOut,
    Memberships,
    RoleChange,
    Withdrawn,
)
from ot.clock import as_utc, utcnow
from ot.mailer import Mail
from ot.models import Invitation, MemberRole, Membership
from ot.server.accounts_api import send_mails
from ot.server.answers import json_answer
from ot.server.app_keys import CIPHER, SETTINGS
from ot.server.auth import BODY, PRINCIPAL, RouteNeeds, endpoint
from ot.server.database import engine_for, transaction
from ot.server.ids import path_id, query_id
from ot.sites.snippet import collector_url


def _invitation_out(request: web.Request, invitation: Invitation) -> InvitationOut:
    return InvitationOut(
        id=invitation.id or 0,
        team_id=invitation.account_id,
        email=invitation_email(invitation, request.app[CIPHER]),
        role=invitation.role,
        created_at=as_utc(invitation.created_at),
        expires_at=as_utc(invitation.expires_at),
        expired=is_expired(invitation, utcnow()),
    )


async def _member_out(
    request: web.Request, session: AsyncSession, membership: Membership
) -> MemberOut:
    account = await get_account(session, membership.member_account_id)
    return MemberOut(
        id=membership.id or 0,
        team_id=membership.account_id,
        account_id=membership.member_account_id,
        name=account_name(account, request.app[CIPHER]),
        role=membership.role,
        created_at=as_utc(membership.created_at),
    )


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.TEAM_WRITE,
    summary="Invite someone to my team by e-mail, with a role",
    body=InvitationIn,
    answers=InvitationOut,
    status=201,
)
async def create_invitation(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, InvitationIn)
    cipher = request.app[CIPHER]
    settings = request.app[SETTINGS]
    mails: list[Mail] = []
    async with transaction(request, locked=False) as session:
        role = MemberRole(body.role.value)  # the contract's role, as the core's
        new = await invite(session, cipher, principal, body.email, role, body.team_id)
        team = new.invitation.account_id
        team_name = account_name(await get_account(session, team), cipher)
        # Any address can be invited: past its daily share the invitation is made, not mailed.
        await mail_quota.queue(
            session,
            cipher,
            mails,
            invitation_mail(new, cipher, team_name, collector_url(settings)),
            settings.accounts,
            kind="invitation",
            actor=principal.actor,
            account_id=team,
        )
    await send_mails(request, mails)
    return json_answer(_invitation_out(request, new.invitation), status=201)


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.TEAM_READ,
    summary="List my team's open invitations",
    answers=InvitationList,
)
async def list_invitations(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    async with AsyncSession(engine_for(request)) as session:
        rows = await open_invitations(session, principal, query_id(request, "team_id"))
        return json_answer(InvitationList(invitations=[_invitation_out(request, i) for i in rows]))


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.TEAM_WRITE,
    summary="Withdraw an invitation: its token no longer works",
    answers=Withdrawn,
)
async def delete_invitation(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    invitation_id = path_id(request, "invitation_id")
    async with transaction(request, locked=False) as session:
        await withdraw_invitation(session, principal, invitation_id)
    return json_answer(Withdrawn(withdrawn=1))


@endpoint(
    RouteNeeds.SESSION,
    scope=Scope.ACCOUNT_WRITE,
    summary="Accept an invitation with its token and join the team",
    body=Acceptance,
    answers=MemberOut,
    status=201,
)
async def accept(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, Acceptance)
    # A refused token is kept in the caller's trail: `transaction` commits refusals too.
    async with transaction(request, locked=False) as session:
        membership = await accept_invitation(session, request.app[CIPHER], principal, body.token)
        answer = await _member_out(request, session, membership)
    return json_answer(answer, status=201)


@endpoint(
    RouteNeeds.PUBLIC,
    summary="The mailed invitation link (`?token=`): what the invitation is and how to accept "
    "it; opening it accepts nothing",
    answers=InvitationLink,
)
async def invitation_link(request: web.Request) -> web.Response:
    """A link opened from a mail program carries no session (the session cookie is SameSite=
    Strict) and may be fetched by mail scanners, and accepting changes who sees a team's data:
    so this GET only describes the invitation; accepting is the POST, with a session."""
    token = request.query.get("token", "")
    async with AsyncSession(engine_for(request)) as session:
        invitation = await live_invitation(session, token)
    return json_answer(
        InvitationLink(
            team_id=invitation.account_id,
            role=invitation.role,
            expires_at=as_utc(invitation.expires_at),
            how_to_accept=(
                "log in with the account of the address this invitation was sent to (register "
                f"with it first if you have none), then send POST {ACCEPT_PATH} with "
                '{"token": "<the token of this link>"}'
            ),
        )
    )


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.TEAM_READ,
    summary="List my team's members and their roles",
    answers=MemberList,
)
async def list_members(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    async with AsyncSession(engine_for(request)) as session:
        team, rows = await members(session, principal, query_id(request, "team_id"))
        listing = MemberList(
            team_id=team,
            owner_account_id=team,
            members=[await _member_out(request, session, row) for row in rows],
        )
    return json_answer(listing)


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.TEAM_READ,
    summary="List the other teams I belong to",
    answers=Memberships,
)
async def list_my_memberships(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    async with AsyncSession(engine_for(request)) as session:
        rows = await my_memberships(session, principal)
        listing = Memberships(memberships=[await _member_out(request, session, r) for r in rows])
    return json_answer(listing)


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.TEAM_WRITE,
    summary="Change a member's role",
    body=RoleChange,
    answers=MemberOut,
)
async def patch_member(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    body = request[BODY]
    assert isinstance(body, RoleChange)
    member_id = path_id(request, "member_id")
    async with transaction(request, locked=False) as session:
        role = MemberRole(body.role.value) if body.role is not None else None
        membership, _ = await change_role(session, principal, member_id, role)
        answer = await _member_out(request, session, membership)
    return json_answer(answer)


@endpoint(
    RouteNeeds.ACCOUNT,
    scope=Scope.TEAM_WRITE,
    summary="Remove a member from a team (or leave it), effective at once",
    answers=Left,
)
async def delete_member(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    member_id = path_id(request, "member_id")
    async with transaction(request, locked=False) as session:
        _, leaving = await remove_member(session, principal, member_id)
    return json_answer(Left(removed=1, left=leaving))
