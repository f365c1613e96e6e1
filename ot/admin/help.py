"""The help of `ot-admin`'s commands, in words: `sites summary [OPTIONS] SITE` and `--limit ROWS`
where Typer would print `{site}`, `site <str>` and `--limit <int>`. Every group makes its
commands through `AdminTyper`, so each command is an `AdminCommand`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from typer._click import Context, HelpFormatter
from typer.core import TyperArgument, TyperCommand, TyperOption


class AdminCommand(TyperCommand):
    """A Typer command whose arguments and option values are named by a word in capitals (the
    metavar given, else the parameter's name) and never by their Python type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.metavar is not None:
                continue
            if isinstance(param, TyperArgument):
                param.metavar = (param.name or "value").upper()
            elif isinstance(param, TyperOption) and not (param.is_flag or param.count):
                param.metavar = _value_word(param)

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                word = _argument_word(param)
                pieces.append(word if param.required else f"[{word}]")
        return pieces

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if isinstance(param, TyperArgument):
                arguments.append((_argument_word(param), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _argument_word(param: TyperArgument) -> str:
    word = param.metavar or (param.name or "value").upper()
    return word if param.nargs == 1 else f"{word}..."


def _value_word(param: TyperOption) -> str:
    """`[cookie|cookieless]` for a choice, else the option's name in capitals."""
    choices = param.type_descriptor.choices
    if choices:
        return "[" + "|".join(str(getattr(choice, "value", choice)) for choice in choices) + "]"
    return (param.name or "value").upper()


class AdminTyper(typer.Typer):
    """A Typer app whose commands are `AdminCommand`s."""

    def command(self, name: str | None = None, **options: Any) -> Callable[[Any], Any]:
        options.setdefault("cls", AdminCommand)
        return super().command(name, **options)
