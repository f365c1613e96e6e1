"""`POST /ot/v1/login`: e-mail and password (and the second factor's code where it is on) for a
new session."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ot.api.accounts import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH
from ot.api.common import Model, Strict


class LoginIn(Strict):
    email: str = Field(max_length=MAX_EMAIL_LENGTH, description="The account's login address.")
    password: str = Field(max_length=MAX_PASSWORD_LENGTH, description="The account's password.")
    totp_code: str | None = Field(
        default=None,
        max_length=16,
        description="With the second factor on: the authenticator app's current code.",
    )
    recovery_code: str | None = Field(
        default=None,
        max_length=64,
        description="With the second factor on: one of the recovery codes, instead of a code.",
    )


class LoggedIn(Model):
    account_id: int = Field(description="The account logged in.")
    token: str = Field(
        description="The session token (`ots_...`): send it as `Authorization: Bearer`."
    )
    csrf_token: str = Field(
        description="For browsers using the ot_session cookie: send it in `X-CSRF-Token`."
    )
    expires_at: datetime = Field(description="When the session ends at the latest.")
