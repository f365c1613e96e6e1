"""Which operators may run which `ot-admin` command, and which commands show customer data.

Every command is listed (tests/test_admin_permissions.py holds the table to the app's commands):
`ot.admin.context.context_from` checks the OS user running it against its entry before the
command does anything, and records the reads. Roles do not include one another (see
`ot.models.OperatorRole`): a command open to several roles lists each.
"""

from __future__ import annotations

from dataclasses import dataclass

from ot.models.operators import OperatorRole

ADMIN = frozenset({OperatorRole.ADMIN})
ANY_OPERATOR = frozenset(OperatorRole)
# Billing and legal work starts from finding the account concerned.
CASEWORK = frozenset({OperatorRole.ADMIN, OperatorRole.BILLING, OperatorRole.LEGAL})
AUDITORS = frozenset({OperatorRole.ADMIN, OperatorRole.LEGAL})
LEGAL = frozenset({OperatorRole.LEGAL})
BILLING = frozenset({OperatorRole.BILLING})


@dataclass(frozen=True)
class Permission:
    roles: frozenset[OperatorRole]
    # Whether the command shows customer information or statistics: each run is then written
    # to the audit trail (`operator.read`), as the privacy statement promises. Commands that
    # change data are recorded by the acts they do.
    reads_customer_data: bool = False
    # Arguments that are customer information themselves (an e-mail address searched for): the
    # trail, which is not encrypted, records that they were given, never their value.
    withheld: frozenset[str] = frozenset()
    # Whether the installation's own OS user may run it unappointed: what the service runs by
    # itself (its systemd unit migrates the schema before each start).
    service: bool = False


def _admin(*, reads: bool = False) -> Permission:
    return Permission(ADMIN, reads)


PERMISSIONS: dict[str, Permission] = {
    "accounts create": _admin(),
    "accounts export": _admin(),  # recorded as account.exported
    "accounts delete": _admin(),
    "accounts list": Permission(CASEWORK, reads_customer_data=True),
    "accounts search": Permission(
        CASEWORK, reads_customer_data=True, withheld=frozenset({"email"})
    ),
    "accounts show": Permission(CASEWORK, reads_customer_data=True),
    "accounts suspend": _admin(),
    "accounts unsuspend": _admin(),
    "audit checkpoint": _admin(),
    "audit head": Permission(ANY_OPERATOR),
    "audit public-key": Permission(ANY_OPERATOR),
    "audit show": Permission(AUDITORS, reads_customer_data=True),
    "audit verify": Permission(ANY_OPERATOR),
    "billing dunning": Permission(BILLING),
    "billing invoices": Permission(BILLING, reads_customer_data=True),
    "billing overdue": Permission(BILLING, reads_customer_data=True),
    "billing plan": Permission(BILLING),
    "billing plans": Permission(ANY_OPERATOR),
    "billing refund": Permission(BILLING),
    "billing run": Permission(BILLING),
    "billing show": Permission(BILLING, reads_customer_data=True),
    "billing usage": Permission(BILLING, reads_customer_data=True),
    "db backup": _admin(),
    "db check": _admin(),
    # Disclosure requests are the legal role's alone (an admin holds it too to take part).
    # Their reads are recorded by the acts themselves (disclosure.reviewed, .exported).
    "disclosure approve": Permission(LEGAL),
    "disclosure due": Permission(LEGAL),
    "disclosure export": Permission(LEGAL),
    "disclosure lift-gag": Permission(LEGAL),
    "disclosure list": Permission(LEGAL),
    "disclosure notify": Permission(LEGAL),
    "disclosure open": Permission(LEGAL),
    "disclosure reject": Permission(LEGAL),
    "disclosure report": Permission(AUDITORS),  # counts only, for publishing
    "disclosure show": Permission(LEGAL),
    "disclosure verify": Permission(ANY_OPERATOR),  # reads the bundle, not the database
    "db restore": _admin(),
    "db status": _admin(),
    "db upgrade": Permission(ADMIN, service=True),
    "erase": _admin(),
    "goals add": _admin(),
    "goals list": _admin(reads=True),
    "goals remove": _admin(),
    "import-log": _admin(),
    "keys retire": _admin(),
    "keys rotate": _admin(),
    "keys status": _admin(),
    "operators add": _admin(),
    "operators list": Permission(ANY_OPERATOR),
    "operators remove": _admin(),
    "retention run": _admin(),
    "rollups run": _admin(),
    "sites add": _admin(),
    "sites list": _admin(reads=True),
    "sites remove": _admin(),
    "sites snippet": _admin(),
    "sites summary": _admin(reads=True),
    "sites update": _admin(),
    # sshd runs it as the service's user (AuthorizedKeysCommandUser) for every key offered.
    "ssh authorized-keys": Permission(ADMIN, service=True),
    "stats query": _admin(reads=True),
    "tokens create": _admin(),
    "tokens list": _admin(reads=True),
    "tokens revoke": _admin(),
}


def permission_of(command: str) -> Permission:
    """The entry of a command ("site add"); a command missing from the table is a bug, and
    refused rather than let through."""
    try:
        return PERMISSIONS[command]
    except KeyError:
        raise LookupError(f"ot-admin {command} has no permission entry") from None
