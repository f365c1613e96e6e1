"""The two error shapes: ours, `{"error": {"code", "message", "field"}}`, answered under `/ot/v1`
and by the operations endpoints, and Plausible's, `{"error": "..."}`, answered under `/api/`."""

from __future__ import annotations

from pydantic import Field

from ot.api.common import Model


class ErrorDetail(Model):
    code: str = Field(description="Stable and machine-readable, such as `invalid_input`.")
    message: str = Field(description="For people: what is wrong.")
    field: str | None = Field(description="The part of the request at fault, if any.")


class ErrorAnswer(Model):
    """Every refusal and failure of our own API."""

    error: ErrorDetail = Field(description="What went wrong.")


class PlausibleError(Model):
    """Every refusal of the Plausible-compatible routes, as Plausible answers them."""

    error: str = Field(description="What went wrong, for people.")
