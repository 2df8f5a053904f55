"""Token-bucket rate limits, one bucket per key (a principal, a model)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from bastion.serve.config import Rate

_MAX_KEYS = 100_000  # buckets kept; the least recently used go first (a full bucket forgotten is a full bucket)


class RateLimiter:
    """Per-key token buckets: each key may spend ``rate.burst`` requests at once, refilled at ``rate.per_second``."""

    def __init__(self, rate: Rate) -> None:
        self._rate = rate
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, updated at)
        self._lock = threading.Lock()

    def wait(self, key: str) -> float | None:
        """The seconds until ``key`` has a token, without taking one; None when it has one now."""
        now = time.monotonic()
        with self._lock:
            tokens, updated = self._buckets.get(key, (self._rate.burst, now))
        tokens = min(self._rate.burst, tokens + (now - updated) * self._rate.per_second)
        return None if tokens >= 1.0 else (1.0 - tokens) / self._rate.per_second

    def acquire(self, key: str) -> float | None:
        """Take one token for ``key``: None when granted, else the seconds until one is available (Retry-After)."""
        now = time.monotonic()
        rate, burst = self._rate.per_second, self._rate.burst
        with self._lock:
            tokens, updated = self._buckets.pop(key, (burst, now))
            tokens = min(burst, tokens + (now - updated) * rate)
            granted = tokens >= 1.0
            if granted:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > _MAX_KEYS:
                self._buckets.popitem(last=False)
        return None if granted else (1.0 - tokens) / rate
