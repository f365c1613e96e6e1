"""docs/tui.md, the customer's guide to `ot tui`, against the code: each key table names the
class whose keys it lists (`<!-- keys: module.Class -->`), every key in it is one of that class's
bindings, every binding of the class is in it, and every screen with keys has its table. A key
added, changed or removed in the code without the guide fails here."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

from textual.app import App
from textual.binding import Binding

import ot.tui.screens

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "tui.md"
README = GUIDE.parent.parent / "README.md"
MARK = re.compile(r"^<!-- keys: ([\w.]+)\.(\w+) -->$")
# How the guide writes a key, for the keys whose Textual name a person would not write.
SHOWN_AS = {
    "esc": "escape",
    "/": "slash",
    "?": "question_mark",
    "pgdn": "pagedown",
    "pgup": "pageup",
    "←": "left",
    "→": "right",
    "↑": "up",
    "↓": "down",
}


def key_name(written: str) -> str:
    """`Esc` → `escape`, `shift+Enter` → `shift+enter`: the name Textual binds."""
    if len(written) == 1:  # a letter keeps its case: `x` and `X` are two keys
        return SHOWN_AS.get(written, written)
    lowered = written.lower()
    return SHOWN_AS.get(lowered, lowered)


def key_tables(text: str) -> dict[str, set[str]]:
    """The keys of each marked table, by the class the table names (`module.Class`)."""
    tables: dict[str, set[str]] = {}
    lines = text.splitlines()
    for number, line in enumerate(lines):
        marked = MARK.match(line.strip())
        if marked is None:
            continue
        name = f"{marked[1]}.{marked[2]}"
        assert name not in tables, f"docs/tui.md: two key tables for {name}"
        rows = lines[number + 1 :]
        assert rows[0].startswith("| Key") and rows[1] == "|---|---|", (
            f"docs/tui.md line {number + 2}: a key table (| Key | What it does |) must follow "
            f"the mark for {name}"
        )
        keys: set[str] = set()
        for row in rows[2:]:
            if not row.startswith("|"):
                break
            first_cell = row.split("|")[1]
            written = re.findall(r"`([^`]+)`", first_cell)
            assert written, f"docs/tui.md: a row without a key in {name}'s table: {row}"
            keys.update(key_name(key) for key in written)
        tables[name] = keys
    return tables


def class_named(name: str) -> type:
    module, _, attribute = name.rpartition(".")
    found: type = getattr(importlib.import_module(module), attribute)
    return found


def own_keys(kind: type) -> set[str]:
    """The keys the class binds itself (not those Textual's base classes bind for everyone)."""
    keys: set[str] = set()
    for binding in kind.__dict__.get("BINDINGS", []):
        if isinstance(binding, Binding):
            keys.update(key.strip() for key in binding.key.split(","))
        else:  # a tuple (key, action, description)
            keys.update(key.strip() for key in binding[0].split(","))
    return keys


def documented_keys_of(kind: type) -> set[str]:
    """What the guide may list for the class: its own keys and, for the app, the quit key and
    the command palette's that Textual's App binds."""
    keys = own_keys(kind)
    if issubclass(kind, App):
        keys |= {"ctrl+q", kind.COMMAND_PALETTE_BINDING}
    return keys


def test_every_key_in_the_guide_is_bound_by_its_screen_and_every_binding_is_in_the_guide() -> None:
    tables = key_tables(GUIDE.read_text())
    assert "ot.tui.app.OtApp" in tables
    for name, documented in tables.items():
        bound = documented_keys_of(class_named(name))
        assert documented - bound == set(), f"docs/tui.md lists keys {name} does not bind"
        assert bound - documented == set(), f"docs/tui.md leaves out keys {name} binds"


def test_every_screen_and_pane_with_keys_has_its_table_in_the_guide() -> None:
    tables = key_tables(GUIDE.read_text())
    with_keys = set()
    for module_info in pkgutil.iter_modules(ot.tui.screens.__path__):
        module = importlib.import_module(f"ot.tui.screens.{module_info.name}")
        for _, kind in inspect.getmembers(module, inspect.isclass):
            if kind.__module__ == module.__name__ and own_keys(kind):
                with_keys.add(f"{kind.__module__}.{kind.__qualname__}")
    assert with_keys - tables.keys() == set(), "screens whose keys docs/tui.md does not list"


def test_the_guide_names_the_environment_variables_ot_tui_reads() -> None:
    from typer.main import get_command

    from ot.cli import app as ot_command

    tui = get_command(ot_command).commands["tui"]  # type: ignore[attr-defined]
    variables = {parameter.envvar for parameter in tui.params if parameter.envvar}
    assert variables == {"OPENTRACKER_URL", "OPENTRACKER_API_KEY"}
    guide = GUIDE.read_text()
    for variable in variables:
        assert variable in guide
    assert "OT_URL" not in guide and "OT_API_KEY" not in guide
    assert "docs/tui.md" in README.read_text()
