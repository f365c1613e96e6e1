"""Named operators: who may run which `ot-admin` commands.

An operator is an OS login appointed to one or more roles (`OperatorRole`: `admin`, `billing`,
`legal`). Commands find the operator running them (`os_user`, then `operator_for`) and check the
role their act needs (`require_role`); a refusal names who and which role was missing, and is
written to the audit trail before it is raised. So that the trail keeps it, the caller's
transaction must commit on a refusal (`ot.db.transaction(..., keep_refusals=True)`): nothing else
has changed by then.

Bootstrap: while no `admin` is appointed (a new installation, or every admin's appointment ended
by hand in the database), whoever already holds the installation's keys — root, or the OS user
who owns the data folder (`OsUser.may_bootstrap`) — acts as an admin, and only they may appoint,
and only an `admin`: whoever controls the host starts the chain, and from then on only admins
appoint and every command is checked. The last admin cannot be removed, so the chain does not
break by mistake.
"""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.clock import utcnow
from ot.errors import Conflict, Forbidden, InvalidInput, NotFound
from ot.models import OperatorAppointment, OperatorRole
from ot.security import audit
from ot.security.audit import Actor, AuditAction

# A plausible OS login, as Debian's `adduser` accepts by default (NAME_REGEX) and within the
# 32 characters of utmp's field.
LOGIN = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
ROLE_NAMES = ", ".join(role.value for role in OperatorRole)


class OperatorRefused(Forbidden):
    """An OS user who is not an operator, or an operator without the role an act needs."""

    code = "operator_refused"

    def __init__(self, message: str, *, login: str, role: OperatorRole | None) -> None:
        super().__init__(message)
        self.login = login
        self.role = role  # the role the act needed; None where any operator would do


@dataclass(frozen=True)
class OsUser:
    """The person running a command on the host, as the operating system tells."""

    login: str
    uid: int  # effective: 0 for root and for commands run through sudo
    owns_installation: bool = False  # runs as the OS user who owns the data folder
    via_sudo: bool = False  # `login` is the one sudo named, not the process's own

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    @property
    def is_the_service(self) -> bool:
        """The installation's own OS user, running a command itself (the server's systemd unit
        migrating before a start), not an operator through sudo."""
        return self.owns_installation and not self.via_sudo

    @property
    def may_bootstrap(self) -> bool:
        """Whether this user holds the installation's keys already (root, or its owner): who
        may act before any admin is appointed."""
        return self.is_root or self.owns_installation


def os_user(environ: Mapping[str, str] | None = None, *, owner_uid: int | None = None) -> OsUser:
    """Who runs this process. Behind sudo, the login sudo names (`SUDO_USER`); otherwise the
    login of the real user id. Never `USER` or `LOGNAME`: anyone can set those, and cron
    leaves them out. `SUDO_USER` is believed only when running as root or as the
    installation's owner (`owner_uid`, the uid owning the data folder: operators run
    `sudo -u <service user> ot-admin ...`): both hold the keys already, so nothing binds them,
    and sudo, which resets the environment, is what sets the variable for anyone else."""
    environ = os.environ if environ is None else environ
    uid = os.geteuid()
    owner = owner_uid is not None and uid == owner_uid
    sudo_user = environ.get("SUDO_USER")
    if (uid == 0 or owner) and sudo_user:
        return OsUser(sudo_user, uid, owner, via_sudo=True)
    try:
        login = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid without a passwd entry (a container): name it by number
        login = f"uid{os.getuid()}"
    return OsUser(login, uid, owner)


@dataclass(frozen=True)
class Operator:
    """An operator as commands see them: the login and the roles held now. `bootstrap`: no
    admin is appointed yet, and this is root or the installation's owner acting as one.
    `service`: the installation's own OS user running what the service itself runs."""

    login: str
    roles: frozenset[OperatorRole]
    bootstrap: bool = False
    service: bool = False

    @property
    def actor(self) -> Actor:
        return Actor.operator(self.login)


def valid_login(login: str) -> str:
    """The login, if it is one an OS could have; otherwise a refusal naming the rule."""
    if not LOGIN.fullmatch(login):
        raise InvalidInput(
            f'"{login}" is not a plausible login: lower-case letters, digits, "_" and "-", '
            'starting with a letter or "_", at most 32 characters',
            field="login",
        )
    return login


def valid_role(role: str) -> OperatorRole:
    try:
        return OperatorRole(role)
    except ValueError:
        raise InvalidInput(
            f'unknown role "{role}": the roles are {ROLE_NAMES}', field="role"
        ) from None


async def _current(
    session: AsyncSession, *, login: str | None = None, role: OperatorRole | None = None
) -> list[OperatorAppointment]:
    query = select(OperatorAppointment).where(col(OperatorAppointment.ended_at).is_(None))
    if login is not None:
        query = query.where(OperatorAppointment.login == login)
    if role is not None:
        query = query.where(OperatorAppointment.role == role)
    rows = await session.exec(
        query.order_by(col(OperatorAppointment.login), col(OperatorAppointment.role))
    )
    return list(rows.all())


async def _refuse(
    session: AsyncSession, login: str, role: OperatorRole | None, act: str, message: str
) -> OperatorRefused:
    """Record a refusal of `login` and return the error to raise."""
    details: dict[str, str] = {"act": act}
    if role is not None:
        details["needed_role"] = role.value
    await audit.record(
        session, AuditAction.OPERATOR_REFUSED, actor=Actor.operator(login), details=details
    )
    return OperatorRefused(message, login=login, role=role)


async def operator_for(session: AsyncSession, login: str, *, act: str) -> Operator:
    """The operator `login` is, with their roles; an OS user who is not one is refused (and the
    refusal recorded). `act` names what was attempted ("disclosure approve"), for the trail."""
    appointments = await _current(session, login=login)
    if not appointments:
        raise await _refuse(
            session,
            login,
            None,
            act,
            f"{login} is not an operator: an admin appoints operators with "
            f"`ot-admin operators add {login} --role ROLE` (`ot-admin {act}` refused)",
        )
    return Operator(login, frozenset(each.role for each in appointments))


async def acting_operator(session: AsyncSession, user: OsUser, *, act: str) -> Operator:
    """The operator `user` is (see `operator_for`), or, while no admin is appointed, root or
    the installation's owner acting as an admin (the bootstrap)."""
    if user.may_bootstrap and not await _current(session, role=OperatorRole.ADMIN):
        return Operator(user.login, frozenset({OperatorRole.ADMIN}), bootstrap=True)
    return await operator_for(session, user.login, act=act)


async def require_role(
    session: AsyncSession,
    operator: Operator,
    role: OperatorRole | Collection[OperatorRole],
    *,
    act: str,
) -> None:
    """Refuse (and record) an act by an operator who holds none of the roles it allows."""
    allowed = [role] if isinstance(role, OperatorRole) else sorted(role)
    if operator.roles.isdisjoint(allowed):
        held = ", ".join(sorted(operator.roles)) or "none"
        needed = " or ".join(each.value for each in allowed)
        raise await _refuse(
            session,
            operator.login,
            allowed[0] if len(allowed) == 1 else None,
            act,
            f"{operator.login} may not run `ot-admin {act}`: that needs the {needed} role "
            f"({operator.login} holds: {held})",
        )


async def record_read(
    session: AsyncSession, operator: Operator, command: str, arguments: Mapping[str, str]
) -> None:
    """Write to the trail that `operator` ran a command showing customer data (`accounts list`,
    `stats query`...), with its arguments: in the command's own transaction, so that a command
    refused after all leaves no entry."""
    await audit.record(
        session,
        AuditAction.OPERATOR_READ,
        actor=operator.actor,
        details={"command": command, "arguments": dict(arguments)},
    )


async def _appointer(session: AsyncSession, by: OsUser, act: str) -> tuple[Actor, bool]:
    """Who appoints or removes, checked: an admin, or root while there is none (the
    bootstrap). Also whether this is the bootstrap."""
    if await _current(session, role=OperatorRole.ADMIN):
        operator = await operator_for(session, by.login, act=act)
        await require_role(session, operator, OperatorRole.ADMIN, act=act)
        return operator.actor, False
    if not by.may_bootstrap:
        raise await _refuse(
            session,
            by.login,
            OperatorRole.ADMIN,
            act,
            f"there is no admin yet: the first admin is added by root or by the owner of the "
            f"data folder (`sudo ot-admin operators add LOGIN --role admin`), not by {by.login}",
        )
    return Actor.operator(by.login), True


async def add_operator(
    session: AsyncSession, by: OsUser, login: str, role: str
) -> OperatorAppointment:
    """Appoint `login` to `role`, as `by` (see the bootstrap rule above). A login may hold
    several roles, each appointed on its own; holding one twice is refused."""
    login = valid_login(login)
    wanted = valid_role(role)
    actor, bootstrap = await _appointer(session, by, "operators add")
    if bootstrap and wanted != OperatorRole.ADMIN:
        raise InvalidInput(
            f"the first operator must be an admin (asked: {wanted.value}): "
            f"`ot-admin operators add {login} --role admin`",
            field="role",
        )
    if await _current(session, login=login, role=wanted):
        raise Conflict(f"{login} already holds the {wanted.value} role", field="login")
    appointment = OperatorAppointment(
        login=login, role=wanted, appointed_by=by.login, appointed_at=utcnow()
    )
    session.add(appointment)
    await session.flush()
    await audit.record(
        session,
        AuditAction.OPERATOR_ADDED,
        actor=actor,
        details={"login": login, "role": wanted.value, "bootstrap": bootstrap},
    )
    return appointment


async def remove_operator(
    session: AsyncSession, by: OsUser, login: str, role: str | None = None
) -> list[OperatorAppointment]:
    """End `login`'s appointment to `role`, or to every role they hold; only an admin may. The
    rows stay, ended, as the history of who held which role when."""
    wanted = valid_role(role) if role is not None else None
    actor, _ = await _appointer(session, by, "operators remove")
    ending = await _current(session, login=login, role=wanted)
    if not ending:
        what = f"a {wanted.value} operator" if wanted else "an operator"
        raise NotFound(f"{login} is not {what}", field="login")
    if any(each.role == OperatorRole.ADMIN for each in ending):
        admins = {each.login for each in await _current(session, role=OperatorRole.ADMIN)}
        if admins == {login}:
            raise Conflict(
                f"{login} is the last admin: appoint another admin first, so that someone "
                "can still appoint operators",
                field="login",
            )
    now = utcnow()
    for appointment in ending:
        appointment.ended_at, appointment.ended_by = now, by.login
        session.add(appointment)
        await audit.record(
            session,
            AuditAction.OPERATOR_REMOVED,
            actor=actor,
            details={"login": login, "role": appointment.role.value},
        )
    await session.flush()
    return ending


async def list_operators(
    session: AsyncSession, *, include_ended: bool = False
) -> list[OperatorAppointment]:
    """The appointments, by login and role: the current ones, or every one ever made."""
    if not include_ended:
        return await _current(session)
    query = select(OperatorAppointment).order_by(
        col(OperatorAppointment.login), col(OperatorAppointment.appointed_at)
    )
    return list((await session.exec(query)).all())
