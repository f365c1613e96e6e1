"""Rate limits: a token bucket per key (a client IP, a credential), kept in memory.

Each process keeps its own buckets, so with N workers a client may get up to N times the rate
through different workers; the limit is a guard against floods and scripted abuse, not a quota.
The number of buckets is bounded: the least recently used are forgotten first.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

MAX_KEYS = 50_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """`rate_per_minute` requests per minute on average per key, `burst` at once."""

    def __init__(self, rate_per_minute: int, burst: int, *, max_keys: int = MAX_KEYS) -> None:
        self._rate = rate_per_minute / 60.0
        self._burst = float(burst)
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def take(self, key: str, now: float) -> int | None:
        """Spend one token of `key`'s bucket: None when allowed, otherwise the whole seconds to
        wait before a token is there again (for Retry-After)."""
        if not self.enabled:
            return None
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self._burst, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / self._rate))
