"""JSON from outside is strict JSON nested no deeper than `MAX_DEPTH` levels, refused otherwise
with a message naming the field; reading it never recurses, however deep it is."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ot.errors import InvalidInput
from ot.json_input import MAX_DEPTH, depth_exceeds, parse_json


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_json_as_deep_as_the_limit_is_read() -> None:
    assert parse_json(nested(MAX_DEPTH), field="body") is not None
    assert parse_json('{"a": ' + nested(MAX_DEPTH - 1) + "}", field="body") == {
        "a": parse_json(nested(MAX_DEPTH - 1), field="body")
    }


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 5_000, 100_000])
def test_json_deeper_than_the_limit_is_refused_naming_the_field(levels: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_json(nested(levels), field="props")
    assert refused.value.field == "props"
    assert refused.value.message == f"props is nested deeper than {MAX_DEPTH} levels"
    with pytest.raises(InvalidInput):
        parse_json(nested(levels).encode(), field="props")


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '{"path": "' + "[" * 500 + '"}'
    assert parse_json(text, field="body") == {"path": "[" * 500}


@pytest.mark.parametrize(
    "text", ["NaN", "[Infinity]", '{"a": -Infinity}', "{", '"unterminated', ""]
)
def test_what_is_not_strict_json_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"^body is not valid JSON"):
        parse_json(text, field="body")


def test_fractions_can_be_read_exactly() -> None:
    assert parse_json('{"amount": 12.34}', field="revenue", exact_decimals=True) == {
        "amount": Decimal("12.34")
    }


def test_the_depth_of_a_value_is_measured_without_recursion() -> None:
    value: list[object] = []
    for _ in range(100_000):
        value = [value]
    assert depth_exceeds(value, MAX_DEPTH)
    assert not depth_exceeds([[1, {"a": [2]}]], 4)
    assert depth_exceeds([[1, {"a": [2]}]], 3)
    assert not depth_exceeds("a scalar", 0)
