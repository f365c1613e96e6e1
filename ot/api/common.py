"""What every part of the contract shares: bodies that refuse unknown fields, and the bounds of
an object id."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

# Our ids are 32-bit on PostgreSQL: anything larger names nothing (and must not reach the driver).
MAX_ID = 2**31 - 1

ObjectId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]


class Model(BaseModel):
    """Every shape of the contract. Its validators are built when it is first used, not when
    it is imported: `ot tui` imports the whole contract with its client and uses a few shapes
    for its first screen (~100 ms sooner), and each process of the server builds only those
    of the routes it serves."""

    model_config = ConfigDict(defer_build=True)


class Strict(Model):
    """A request body: a field the route does not know is refused, not silently ignored (a typo
    would otherwise change nothing and answer success)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
