"""Subcommands imported only when they are run: what makes `ot-admin --help` and every simple
command start fast.

Each command group's module brings its own heavy imports (SQLAlchemy and the tables, the stats
engine, the access-log importer with its User-Agent parser, ...). Importing all of them to run
one command, or to print the list of commands, cost over a second. So the root
group knows each subcommand by its name and its one-line help alone, and imports its module the
first time the subcommand is resolved (run, or asked for its own `--help`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any, ClassVar

import typer

# typer vendors Click; the types its groups and commands are made of live there.
from typer._click import Command, Context, HelpFormatter
from typer._click.utils import make_default_short_help
from typer.core import TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """A subcommand the root group lists without importing it.

    `help` is the first sentence of the command's help (what `--help` lists beside its name):
    tests/test_startup_imports.py checks it is the loaded command's. `load` imports the module
    and returns the Click command, converted the way `Typer.add_typer` would.
    """

    name: str
    help: str
    load: Callable[[], Command]
    # Other names it answers to, never listed: the singular a group had before (`account`),
    # so operators' scripts and habits keep working.
    aliases: tuple[str, ...] = ()


class LazyCommands(MutableMapping[str, Command]):
    """The root group's name -> command mapping, importing a lazy command on first access.

    Keys are known from the start, so Click's listing, name resolution, shell completion and
    Typer's "Did you mean ...?" suggestions all work without importing anything.
    """

    def __init__(self, lazy: list[LazyCommand], loaded: dict[str, Command]) -> None:
        self._lazy = {command.name: command for command in lazy}
        self._aliases = {alias: command.name for command in lazy for alias in command.aliases}
        self._loaded = dict(loaded)
        self._order = [*loaded, *(name for name in self._lazy if name not in loaded)]

    def __getitem__(self, name: str) -> Command:
        name = self._aliases.get(name, name)
        if name not in self._loaded:
            if name not in self._lazy:
                raise KeyError(name)
            self._loaded[name] = self._lazy[name].load()
        return self._loaded[name]

    def __setitem__(self, name: str, command: Command) -> None:
        if name not in self._order:
            self._order.append(name)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        self._order.remove(name)
        self._loaded.pop(name, None)
        self._lazy.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def short_help(self, name: str, limit: int) -> str | None:
        """What `--help` lists beside the name, from the loaded command if it is loaded already,
        else from the lazy entry; None for a hidden command."""
        if name in self._loaded:
            command = self._loaded[name]
            return None if command.hidden else command.get_short_help_str(limit)
        return make_default_short_help(self._lazy[name].help, limit).strip()


class LazyGroup(TyperGroup):
    """A Typer group whose subcommands in `lazy_commands` are imported only when resolved.

    Typer builds the group itself (`Typer(cls=...)`), passing no arguments of ours, so the list
    is a class attribute of a subclass (`ot.admin.cli.AdminGroup`).
    """

    lazy_commands: ClassVar[list[LazyCommand]] = []

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(self.lazy_commands, dict(self.commands))

    def list_commands(self, ctx: Context) -> list[str]:
        """The names in the order they were given (Typer's own reads `commands.items()`, which
        would import every command)."""
        return list(self.commands)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The "Commands:" section as Click writes it, with the one-line help of the commands
        not loaded taken from their lazy entries instead of importing them."""
        commands = self.commands
        if not isinstance(commands, LazyCommands):  # pragma: no cover - set in __init__
            return super().format_commands(ctx, formatter)
        names = self.list_commands(ctx)
        if not names:
            return None
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [
            (name, help) for name in names if (help := commands.short_help(name, limit)) is not None
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
        return None


def typer_command(name: str, add: Callable[[typer.Typer], object], **settings: Any) -> Command:
    """The Click command `add` registers on a Typer app under `name`, converted exactly as it
    would be on the root app: on a stand-in root with the root's `settings` (Typer passes e.g.
    `rich_markup_mode` down to the groups it converts)."""
    stand_in = typer.Typer(**settings)
    stand_in.callback()(_no_options)  # with a callback, the stand-in converts to a group
    add(stand_in)
    group = typer.main.get_command(stand_in)
    assert isinstance(group, TyperGroup)
    return group.commands[name]


def _no_options() -> None:
    """The stand-in root's callback (never run)."""
