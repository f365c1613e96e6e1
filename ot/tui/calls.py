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
from typing import Any, Protocol, TypeVar, cast
from weakref import WeakKeyDictionary

from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget

from ot.api.stats import QueryAnswer, StatsQuery
from ot.client import ClientError, OtClient
from ot.tui.batches import StatsBatches

Answer = TypeVar("Answer")


class ClientApp(Protocol):
    """What screens need of `OtApp` (a protocol, so screens need not import the app)."""

    client: OtClient
    now: Callable[[], datetime]
    stats_batches: StatsBatches  # the stats queries asked together go out together
    saves_files: bool  # False over SSH

    def report(self, error: ClientError) -> None: ...

    def show_login(self) -> None: ...

    def show_sites(self) -> None: ...

    def show_profile(self) -> None: ...

    def show_access(self) -> None: ...

    def show_billing(self) -> None: ...


def may_save_files(node: DOMNode) -> bool:
    """Whether the app may write a file (an export); if not, say why and what to do instead."""
    if app_of(node).saves_files:
        return True
    node.app.notify(
        "Over SSH this app runs on our server, so a file would be saved there, not on your "
        "machine. Run ot tui on your own machine to export, or use the API "
        "(POST /ot/v1/account/export).",
        title="Not saved",
        severity="warning",
    )
    return False


def app_of(node: DOMNode) -> ClientApp:
    return cast(ClientApp, node.app)


def client_of(node: DOMNode) -> OtClient:
    return app_of(node).client


async def ask_stats(node: DOMNode, query: StatsQuery) -> QueryAnswer:
    """The answer to a stats query, sent with the others asked at the same moment."""
    return await app_of(node).stats_batches.ask(query)


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
            if _focus_once_loaded.get(busy.screen) is busy:
                del _focus_once_loaded[busy.screen]
                busy.focus()


# The widget each screen last asked to focus while it was loading, which Textual cannot do (it
# ignores the request): `attempt` gives it the focus once its answer is in.
_focus_once_loaded: WeakKeyDictionary[Screen[Any], Widget] = WeakKeyDictionary()


def focus_once_loaded(widget: Widget) -> None:
    """Focus `widget` now, or as soon as its call is answered if it is loading. A screen that
    opens while its table loads (a busy machine, a slow server) would otherwise leave the focus
    elsewhere, and the table's keys would do nothing until the person tabbed into it. The last
    request of a screen wins: choosing another tab meanwhile cancels this one."""
    # Decided when the focus would be given, not now: Textual gives it a moment later, and a
    # call that starts loading in between (a pane's first load, just mounted) makes it ignore it.
    widget.app.call_later(_focus_or_wait, widget)


def _focus_or_wait(widget: Widget) -> None:
    if not widget.is_attached:
        return
    screen = widget.screen
    if widget.loading:
        _focus_once_loaded[screen] = widget
        return
    _focus_once_loaded.pop(screen, None)
    screen.set_focus(widget)
