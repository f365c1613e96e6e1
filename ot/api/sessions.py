"""`/ot/v1/sessions`: the caller's own log-in sessions."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ot.api.common import Model


class SessionOut(Model):
    id: int = Field(description="The session's id, for ending it.")
    current: bool = Field(description="Whether this is the session making the request.")
    created_at: datetime = Field(description="When it logged in.")
    last_seen_at: datetime = Field(description="When it was last used.")
    expires_at: datetime = Field(description="When it ends unless ended sooner.")


class SessionList(Model):
    sessions: list[SessionOut] = Field(description="The account's live sessions.")


class Ended(Model):
    ended: int = Field(description="How many sessions were ended.")
