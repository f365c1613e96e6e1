"""A refused or failed API call, told in words the customer can act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ot.client import (
    ClientError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    NotLoggedIn,
    Throttled,
    Unavailable,
)

Severity = Literal["information", "warning", "error"]


@dataclass(frozen=True)
class Explanation:
    title: str
    message: str
    severity: Severity = "error"


def explain(error: ClientError, server: str) -> Explanation:
    """What happened and what to do about it (never a traceback)."""
    if isinstance(error, Throttled):
        wait = f"wait {_seconds(error.retry_after)} and " if error.retry_after else "wait and "
        return Explanation("Too many attempts", f"{error.message}: {wait}try again.", "warning")
    if isinstance(error, Unavailable):
        if error.status == 0:
            return Explanation(
                "Server unreachable",
                f"{server} does not answer ({error.message}). Check that the server runs and "
                "the address is right; press r to try again.",
            )
        later = f" in {_seconds(error.retry_after)}" if error.retry_after else " in a moment"
        return Explanation("Server busy", f"{error.message} — try again{later}.", "warning")
    if isinstance(error, NotLoggedIn):
        return Explanation("Not logged in", f"{error.message}. Log in again.", "warning")
    if isinstance(error, Forbidden):
        return Explanation("Not allowed", f"{error.message}.")
    if isinstance(error, NotFound):
        return Explanation("Not found", f"{error.message} — it may have been removed.")
    if isinstance(error, Conflict):
        return Explanation("Conflict", f"{error.message}.")
    if isinstance(error, Invalid):
        return Explanation("Please correct", str(error), "warning")
    if error.status == 402:
        # The server's message names the invoice, then says how to pay through the API too;
        # here the customer pays from Billing, so only its first part is kept.
        locked = error.message.split(": pay it", 1)[0]
        return Explanation(
            "Statistics locked",
            f"{locked[:1].upper()}{locked[1:]}. Pay it from Billing: press b on your sites.",
            "warning",
        )
    return Explanation("Request failed", error.message)


def _seconds(seconds: int | None) -> str:
    if seconds is None:
        return "a moment"
    if seconds < 120:
        return f"{seconds} s"
    return f"{(seconds + 59) // 60} min"
