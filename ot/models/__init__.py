"""The database tables, one module per noun. Queries live with their noun (`ot.sites.store`,
`ot.ingest.visits`, ...), not here.

Every table is re-exported here, so `from ot.models import Site` works and `import ot.models`
registers every table on `SQLModel.metadata` (Alembic's `env.py` and key rotation rely on it).
"""

from ot.models.accounts import (
    ACCOUNT_ADDRESS,
    ACCOUNT_COMPANY,
    ACCOUNT_EMAIL,
    ACCOUNT_NAME,
    ACCOUNT_PHONE,
    ACCOUNT_TOTP_SECRET,
    PROFILE_OLD_VALUES,
    Account,
    AccountDeletion,
    ApiToken,
    Consent,
    EmailVerification,
    LoginSession,
    LoginThrottle,
    MailQuota,
    ProfileChange,
    RecoveryCode,
)
from ot.models.audit import AuditCheckpoint, AuditEntry
from ot.models.grants import GRANT_GRANTEE, GRANT_PURPOSE, GRANT_READ_QUERY, Grant, GrantRead
from ot.models.hits import HIT_IP, DroppedHits, Hit, Visit, VisitorOrdinal, VisitorSalt
from ot.models.imports import LogImport
from ot.models.rollups import RollupBitmap, RollupDay, RollupPendingDay, RollupProgress
from ot.models.sites import Goal, GoalKind, Site
from ot.models.teams import INVITATION_EMAIL, Invitation, MemberRole, Membership

__all__ = [
    "ACCOUNT_ADDRESS",
    "ACCOUNT_COMPANY",
    "ACCOUNT_EMAIL",
    "ACCOUNT_NAME",
    "ACCOUNT_PHONE",
    "ACCOUNT_TOTP_SECRET",
    "GRANT_GRANTEE",
    "GRANT_PURPOSE",
    "GRANT_READ_QUERY",
    "HIT_IP",
    "INVITATION_EMAIL",
    "PROFILE_OLD_VALUES",
    "Account",
    "AccountDeletion",
    "ApiToken",
    "AuditCheckpoint",
    "AuditEntry",
    "Consent",
    "DroppedHits",
    "EmailVerification",
    "Goal",
    "GoalKind",
    "Grant",
    "GrantRead",
    "Hit",
    "Invitation",
    "LogImport",
    "LoginSession",
    "LoginThrottle",
    "MailQuota",
    "MemberRole",
    "Membership",
    "ProfileChange",
    "RecoveryCode",
    "RollupBitmap",
    "RollupDay",
    "RollupPendingDay",
    "RollupProgress",
    "Site",
    "Visit",
    "VisitorOrdinal",
    "VisitorSalt",
]
