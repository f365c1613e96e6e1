"""How every API call of the TUI runs: inside a Textual worker (so the screen never freezes),
with a loading state on the widget waiting for it, and a refusal told to the user as a
notification (never a traceback). A screen's worker looks like this:

    @work(exclusive=True, group="sites")
    async def load_sites(self) -> None:
        sites = await attempt(self, client_of(self).list_sites(), busy=self.query_one(SiteTable))
        if sites is not None:
            self.post_message(self.SitesLoaded(sites))
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, TypeVar, cast

from textual.dom import DOMNode
from textual.widget import Widget

from ot.client import ClientError, OtClient

Answer = TypeVar("Answer")


class ClientApp(Protocol):
    """What screens need of `OtApp` (a protocol, so screens need not import the app)."""

    client: OtClient
    now: Callable[[], datetime]

    def report(self, error: ClientError) -> None: ...

    def show_login(self) -> None: ...

    def show_sites(self) -> None: ...

    def show_profile(self) -> None: ...

    def show_access(self) -> None: ...


def app_of(node: DOMNode) -> ClientApp:
    return cast(ClientApp, node.app)


def client_of(node: DOMNode) -> OtClient:
    return app_of(node).client


async def attempt(
    node: DOMNode, call: Awaitable[Answer], *, busy: Widget | None = None
) -> Answer | None:
    """The call's answer, or None when it was refused or failed (the user has been told why;
    an expired session also brings up the log-in screen)."""
    if busy is not None:
        busy.loading = True
    try:
        return await call
    except ClientError as error:
        app_of(node).report(error)
        return None
    finally:
        if busy is not None and busy.is_attached:  # the screen may have closed meanwhile
            busy.loading = False
