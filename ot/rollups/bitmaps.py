"""Sets of visitor ordinals and visit ids as compressed bitmaps (Roaring), and their unions."""

from __future__ import annotations

from collections.abc import Iterable

from pyroaring import BitMap, BitMap64


def visitors_blob(ordinals: Iterable[int]) -> bytes:
    return BitMap(ordinals).serialize()


def visits_blob(visit_ids: Iterable[int]) -> bytes:
    return BitMap64(visit_ids).serialize()


def union_of(blobs: Iterable[bytes], *, visits: bool = False) -> BitMap | BitMap64:
    """The union of serialized bitmaps: visitor ordinals, or visit ids with `visits`. An empty
    blob holds no one: a day row with visits but no hits has one (`rolling.day_rows`)."""
    if visits:
        found64 = [BitMap64.deserialize(blob) for blob in blobs if blob]
        return BitMap64.union(*found64) if len(found64) > 1 else (found64 or [BitMap64()])[0]
    found = [BitMap.deserialize(blob) for blob in blobs if blob]
    return BitMap.union(*found) if len(found) > 1 else (found or [BitMap()])[0]


def visitor_union(blobs: Iterable[bytes]) -> BitMap:
    """The visitor ordinals of serialized visitor bitmaps, together."""
    found = union_of(blobs)
    assert isinstance(found, BitMap)
    return found


def visit_union(blobs: Iterable[bytes]) -> BitMap64:
    """The visit ids of serialized visit bitmaps, together."""
    found = union_of(blobs, visits=True)
    assert isinstance(found, BitMap64)
    return found


def union_size(blobs: Iterable[bytes], *, visits: bool = False) -> int:
    """How many distinct members the bitmaps hold together."""
    return len(union_of(blobs, visits=visits))
