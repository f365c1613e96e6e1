"""Print the Markdown table of every setting, for docs/operations.md (`tests/test_config.py`
checks that the table there is this one).

Usage: python scripts/settings_table.py
"""

from __future__ import annotations

import json

from pydantic import BaseModel

from ot.config import Settings


def rows(model: type[BaseModel], prefix: str = "OT_") -> list[tuple[str, str, str]]:
    found = []
    defaults = model()  # every section has defaults
    for name, field in model.model_fields.items():
        annotation = field.annotation
        variable = f"{prefix}{name.upper()}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.extend(rows(annotation, variable + "__"))
            continue
        default = getattr(defaults, name)
        if isinstance(default, list) and default and isinstance(default[0], BaseModel):
            # A list of sections (the billing plans): as the JSON the variable takes.
            shown = json.dumps([item.model_dump(mode="json") for item in default])
        else:
            shown = ", ".join(default) if isinstance(default, list) else default
        description = " ".join((field.description or "").split())
        found.append((variable, f"`{shown}`" if shown not in ("", None) else "", description))
    return found


def main() -> None:
    print("| Variable | Default | Meaning |")
    print("|---|---|---|")
    for variable, default, description in rows(Settings):
        print(f"| `{variable}` | {default} | {description} |")


if __name__ == "__main__":
    main()
