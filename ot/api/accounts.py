"""`/ot/v1/accounts` (registration, e-mail verification) and `/ot/v1/account` (the caller's
profile, its history, its login e-mail address, password and second factor)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, StrictBool, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from ot.api.common import Model, Strict

# Kept equal to the core's (`ot.accounts.store`, `ot.accounts.passwords`): the contract imports
# no core noun, and tests/test_client.py checks they agree.
MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254
MAX_PASSWORD_LENGTH = 1024
CONTACT_LIMITS = {"company": 200, "address": 500, "phone": 40}

Region = Literal["nl", "us"]

# --- registration -------------------------------------------------------------------------


class NewAccount(Strict):
    name: str = Field(
        min_length=1, max_length=MAX_NAME_LENGTH, description="The account holder's name."
    )
    email: str = Field(
        min_length=3, max_length=MAX_EMAIL_LENGTH, description="The login address, verified."
    )
    password: str = Field(max_length=MAX_PASSWORD_LENGTH, description="The new password.")
    company: str = Field(
        default="", max_length=CONTACT_LIMITS["company"], description="Company, if any."
    )
    address: str = Field(
        default="", max_length=CONTACT_LIMITS["address"], description="Postal address, if any."
    )
    phone: str = Field(
        default="", max_length=CONTACT_LIMITS["phone"], description="Phone number, if any."
    )
    region: Region = Field(description="Where the account's data is hosted.")
    consent: StrictBool = Field(
        description="Express consent to hosting and transfer of the account's data in `region`"
    )


class Accepted(Model):
    message: str = Field(description="What happens next.")


class VerificationIn(Strict):
    token: str = Field(
        min_length=1, max_length=200, description="The token of the mailed one-time link."
    )


class Verified(Model):
    verified: bool = Field(default=True, description="Always true: the address is confirmed.")
    account_id: int = Field(description="The account whose address was confirmed.")


# --- profile ------------------------------------------------------------------------------


class ConsentOut(Model):
    region: str = Field(description="The region consented to.")
    statement_version: str = Field(description="The version of the statement agreed to.")
    given_at: datetime = Field(description="When consent was given.")


class ProfileOut(Model):
    id: int = Field(description="The account's id.")
    name: str = Field(description="The account holder's name.")
    email: str | None = Field(description="The login address.")
    email_verified: bool = Field(description="Whether the login address is confirmed.")
    pending_email: str | None = Field(description="A new address waiting for its confirmation.")
    company: str = Field(description="Company, or empty.")
    address: str = Field(description="Postal address, or empty.")
    phone: str = Field(description="Phone number, or empty.")
    region: str | None = Field(description="Where the account's data is hosted.")
    second_factor: bool = Field(description="Whether log-in needs a second factor.")
    created_at: datetime = Field(description="When the account was registered.")
    consents: list[ConsentOut] = Field(description="Every consent given, oldest first.")


# How the account logs in is changed only with a session that proves itself again, never here
# (where an API key with account:write may write): these fields are refused naming the route.
CREDENTIAL_ROUTES = {
    "email": "POST /ot/v1/account/email",
    "password": "POST /ot/v1/account/password",
}


class ProfileIn(Strict):
    name: str | None = Field(
        default=None, max_length=MAX_NAME_LENGTH, description="A new name; absent: unchanged."
    )
    # Refused, naming the route that changes them (left out of the document).
    email: SkipJsonSchema[Any] = Field(default=None, description="Refused: see CREDENTIAL_ROUTES.")
    password: SkipJsonSchema[Any] = Field(
        default=None, description="Refused: see CREDENTIAL_ROUTES."
    )
    company: str | None = Field(
        default=None, max_length=CONTACT_LIMITS["company"], description="A new company."
    )
    address: str | None = Field(
        default=None, max_length=CONTACT_LIMITS["address"], description="A new postal address."
    )
    phone: str | None = Field(
        default=None, max_length=CONTACT_LIMITS["phone"], description="A new phone number."
    )
    region: Region | None = Field(default=None, description="A new hosting region.")
    consent: StrictBool | None = Field(
        default=None, description="Needed with a new region: consent to hosting there"
    )

    @field_validator("email", "password", mode="before")
    @classmethod
    def _credentials_elsewhere(cls, value: Any, info: Any) -> None:
        raise PydanticCustomError(
            "credential_elsewhere",
            "the login {field} is changed with {route}, by a logged-in session with the current "
            "password (and the second factor when it is on)",
            {"field": info.field_name, "route": CREDENTIAL_ROUTES[info.field_name]},
        )


class ProfileUpdated(Model):
    changed: list[str] = Field(description="The fields that changed.")
    profile: ProfileOut = Field(description="The profile as it is now.")


CODE_DESCRIPTION = "With the second factor on: a code from the authenticator app or a recovery code"


class PasswordIn(Strict):
    current_password: str = Field(
        max_length=MAX_PASSWORD_LENGTH, description="The password now, entered again."
    )
    new_password: str = Field(max_length=MAX_PASSWORD_LENGTH, description="The new password.")
    code: str | None = Field(
        default=None, min_length=1, max_length=64, description=CODE_DESCRIPTION
    )


class EmailChangeIn(Strict):
    email: str = Field(
        min_length=3, max_length=MAX_EMAIL_LENGTH, description="The new login address."
    )
    current_password: str = Field(
        max_length=MAX_PASSWORD_LENGTH, description="The password, entered again."
    )
    code: str | None = Field(
        default=None, min_length=1, max_length=64, description=CODE_DESCRIPTION
    )


class EmailChangeRequested(Model):
    pending_email: str | None = Field(
        description="The address waiting for confirmation; null: it already was the account's."
    )
    message: str = Field(description="What happens next.")


class PasswordChanged(Model):
    other_sessions_ended: int = Field(description="How many other sessions were ended.")


class ChangeOut(Model):
    at: datetime = Field(description="When the profile changed.")
    actor: str = Field(description="Who changed it.")
    fields: list[str] = Field(description="The fields changed.")
    old_values: dict[str, str | None] = Field(description="Each changed field's former value.")


class History(Model):
    changes: list[ChangeOut] = Field(description="The profile's changes.")


# --- second factor ------------------------------------------------------------------------


class EnrolmentOut(Model):
    secret: str = Field(description="The TOTP secret, for the authenticator app.")
    provisioning_uri: str = Field(description="The same as an `otpauth://` URI (a QR code).")


class EnableIn(Strict):
    password: str = Field(max_length=MAX_PASSWORD_LENGTH, description="The account's password.")
    code: str = Field(min_length=1, max_length=64, description="A code from the authenticator app.")


class RecoveryCodes(Model):
    recovery_codes: list[str] = Field(
        description="One-time codes for when the app is lost: shown this once."
    )


class DisableIn(Strict):
    password: str = Field(max_length=MAX_PASSWORD_LENGTH, description="The account's password.")
    code: str = Field(min_length=1, max_length=64, description=CODE_DESCRIPTION)


class SecondFactorState(Model):
    second_factor: bool = Field(description="Whether log-in needs a second factor now.")
