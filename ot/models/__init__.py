"""The database tables, one module per noun. Queries live with their noun (`ot.sites.store`,
`ot.ingest.visits`, ...), not here.

`from ot.models import Site` works for every table, but imports only the module that defines it
(and, through it, the tables its foreign keys point to): building the table classes is most of
what a simple `ot-admin` command costs, and `sites list` needs no hit, grant or rollup table.
Code that needs *every* table (Alembic's `env.py`, key rotation, removing everything stored for a
site or an account) calls `every_table()` first, so no table is missed because nothing had
imported its module yet.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table
from sqlmodel import SQLModel

if TYPE_CHECKING:
    from ot.models.accounts import (
        ACCOUNT_ADDRESS,
        ACCOUNT_COMPANY,
        ACCOUNT_EMAIL,
        ACCOUNT_NAME,
        ACCOUNT_PHONE,
        ACCOUNT_TOTP_SECRET,
        PROFILE_OLD_VALUES,
        SSH_KEY_NAME,
        SSH_KEY_PUBLIC_KEY,
        SUSPENSION_REASON,
        Account,
        AccountDeletion,
        AccountSuspension,
        ApiToken,
        Consent,
        EmailVerification,
        LoginSession,
        LoginThrottle,
        MailQuota,
        ProfileChange,
        RecoveryCode,
        SshKey,
    )
    from ot.models.audit import AuditCheckpoint, AuditEntry
    from ot.models.billing import (
        INVOICE_PAYER_EMAIL,
        INVOICE_PAYER_ID,
        INVOICE_RENDERING,
        BillingCounter,
        DeletedPageviews,
        Invoice,
        InvoiceState,
        PayPalEvent,
        Subscription,
    )
    from ot.models.disclosure import (
        DISCLOSURE_AUTHORITY,
        DISCLOSURE_DECISION_NOTE,
        DISCLOSURE_LEGAL_BASIS,
        DISCLOSURE_REFERENCE,
        DataCategory,
        DisclosureRequest,
        DisclosureState,
        Jurisdiction,
    )
    from ot.models.grants import GRANT_GRANTEE, GRANT_PURPOSE, GRANT_READ_QUERY, Grant, GrantRead
    from ot.models.hits import HIT_IP, DroppedHits, Hit, Visit, VisitorOrdinal, VisitorSalt
    from ot.models.imports import LogImport
    from ot.models.operators import OperatorAppointment, OperatorRole
    from ot.models.rollups import RollupBitmap, RollupDay, RollupPendingDay, RollupProgress
    from ot.models.sites import Goal, GoalKind, Site
    from ot.models.teams import INVITATION_EMAIL, Invitation, MemberRole, Membership

# Each name, and the module of `ot.models` that defines it.
_HOME = {
    "ACCOUNT_ADDRESS": "accounts",
    "ACCOUNT_COMPANY": "accounts",
    "ACCOUNT_EMAIL": "accounts",
    "ACCOUNT_NAME": "accounts",
    "ACCOUNT_PHONE": "accounts",
    "ACCOUNT_TOTP_SECRET": "accounts",
    "Account": "accounts",
    "AccountDeletion": "accounts",
    "AccountSuspension": "accounts",
    "SUSPENSION_REASON": "accounts",
    "ApiToken": "accounts",
    "AuditCheckpoint": "audit",
    "AuditEntry": "audit",
    "BillingCounter": "billing",
    "DeletedPageviews": "billing",
    "INVOICE_PAYER_EMAIL": "billing",
    "INVOICE_PAYER_ID": "billing",
    "INVOICE_RENDERING": "billing",
    "Invoice": "billing",
    "InvoiceState": "billing",
    "PayPalEvent": "billing",
    "Subscription": "billing",
    "Consent": "accounts",
    "DISCLOSURE_AUTHORITY": "disclosure",
    "DISCLOSURE_DECISION_NOTE": "disclosure",
    "DISCLOSURE_LEGAL_BASIS": "disclosure",
    "DISCLOSURE_REFERENCE": "disclosure",
    "DataCategory": "disclosure",
    "DisclosureRequest": "disclosure",
    "DisclosureState": "disclosure",
    "DroppedHits": "hits",
    "EmailVerification": "accounts",
    "GRANT_GRANTEE": "grants",
    "GRANT_PURPOSE": "grants",
    "GRANT_READ_QUERY": "grants",
    "Goal": "sites",
    "GoalKind": "sites",
    "Grant": "grants",
    "GrantRead": "grants",
    "HIT_IP": "hits",
    "Hit": "hits",
    "INVITATION_EMAIL": "teams",
    "Invitation": "teams",
    "Jurisdiction": "disclosure",
    "LogImport": "imports",
    "LoginSession": "accounts",
    "LoginThrottle": "accounts",
    "MailQuota": "accounts",
    "MemberRole": "teams",
    "Membership": "teams",
    "OperatorAppointment": "operators",
    "OperatorRole": "operators",
    "PROFILE_OLD_VALUES": "accounts",
    "ProfileChange": "accounts",
    "RecoveryCode": "accounts",
    "RollupBitmap": "rollups",
    "RollupDay": "rollups",
    "RollupPendingDay": "rollups",
    "RollupProgress": "rollups",
    "SSH_KEY_NAME": "accounts",
    "SSH_KEY_PUBLIC_KEY": "accounts",
    "Site": "sites",
    "SshKey": "accounts",
    "Visit": "hits",
    "VisitorOrdinal": "hits",
    "VisitorSalt": "hits",
}
_MODULES = sorted(set(_HOME.values()))


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'ot.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ot.models.{_HOME[name]}"), name)


def every_table() -> list[Table]:
    """Every table, parents before children, after importing every module that defines one."""
    for module in _MODULES:
        importlib.import_module(f"ot.models.{module}")
    return list(SQLModel.metadata.sorted_tables)


__all__ = [
    "ACCOUNT_ADDRESS",
    "ACCOUNT_COMPANY",
    "ACCOUNT_EMAIL",
    "ACCOUNT_NAME",
    "ACCOUNT_PHONE",
    "ACCOUNT_TOTP_SECRET",
    "DISCLOSURE_AUTHORITY",
    "DISCLOSURE_DECISION_NOTE",
    "DISCLOSURE_LEGAL_BASIS",
    "DISCLOSURE_REFERENCE",
    "GRANT_GRANTEE",
    "GRANT_PURPOSE",
    "GRANT_READ_QUERY",
    "HIT_IP",
    "INVITATION_EMAIL",
    "INVOICE_PAYER_EMAIL",
    "INVOICE_PAYER_ID",
    "INVOICE_RENDERING",
    "PROFILE_OLD_VALUES",
    "SSH_KEY_NAME",
    "SSH_KEY_PUBLIC_KEY",
    "SUSPENSION_REASON",
    "Account",
    "AccountDeletion",
    "AccountSuspension",
    "ApiToken",
    "AuditCheckpoint",
    "AuditEntry",
    "BillingCounter",
    "Consent",
    "DataCategory",
    "DeletedPageviews",
    "DisclosureRequest",
    "DisclosureState",
    "DroppedHits",
    "EmailVerification",
    "Goal",
    "GoalKind",
    "Grant",
    "GrantRead",
    "Hit",
    "Invitation",
    "Invoice",
    "InvoiceState",
    "Jurisdiction",
    "LogImport",
    "LoginSession",
    "LoginThrottle",
    "MailQuota",
    "MemberRole",
    "Membership",
    "OperatorAppointment",
    "OperatorRole",
    "PayPalEvent",
    "ProfileChange",
    "RecoveryCode",
    "RollupBitmap",
    "RollupDay",
    "RollupPendingDay",
    "RollupProgress",
    "Site",
    "SshKey",
    "Subscription",
    "Visit",
    "VisitorOrdinal",
    "VisitorSalt",
]
