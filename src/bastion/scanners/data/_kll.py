"""A KLL quantile sketch (Karnin, Lang, Liberty 2016), as SageMaker Model Monitor's statistics.json holds.

Items at level h stand for 2**h values each. A level above its capacity is sorted and every
other item (from a random offset, so the rank error has no bias) moves up a level; capacities
shrink by ``c`` per level below the top, which holds ``k``. Memory is O(k) whatever the count,
and two sketches merge by concatenating their levels and compacting again, so sketches of
partitions or windows combine. The offsets come from a seeded generator: the same values in the
same order give the same sketch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

K = 2048
C = 0.64
_SEED = 20261122


class KLLSketch:
    def __init__(self, k: int = K, c: float = C, seed: int = _SEED) -> None:
        self.k, self.c = k, c
        self.count = 0
        self._levels: list[Any] = [np.empty(0)]
        self._random = np.random.default_rng(seed)

    @classmethod
    def from_levels(cls, levels: list[list[float]], k: int = K, c: float = C) -> KLLSketch:
        """A sketch from statistics.json's ``sketch.data``, to merge with or query."""
        sketch = cls(k, c)
        sketch._levels = [np.asarray(level, dtype=np.float64) for level in levels] or [np.empty(0)]
        sketch.count = sum(len(level) * 2**height for height, level in enumerate(levels))
        return sketch

    def update(self, values: Any) -> None:
        """Add an array of finite floats."""
        values = np.asarray(values, dtype=np.float64)
        if not values.size:
            return
        self.count += int(values.size)
        self._levels[0] = np.concatenate((self._levels[0], values))
        self._compact()

    def merge(self, other: KLLSketch) -> None:
        for height, items in enumerate(other._levels):
            while height >= len(self._levels):
                self._levels.append(np.empty(0))
            self._levels[height] = np.concatenate((self._levels[height], items))
        self.count += other.count
        self._compact()

    def levels(self) -> list[list[float]]:
        """The items of each level, sorted, lowest level first (statistics.json's ``sketch.data``)."""
        return [sorted(float(item) for item in items) for items in self._levels]

    def quantile(self, rank: float) -> float | None:
        """The value at ``rank`` (0 to 1) of the values seen, within the sketch's error."""
        if not self.count:
            return None
        items = np.concatenate(self._levels)
        weights = np.concatenate([np.full(len(level), 2.0**height) for height, level in enumerate(self._levels)])
        order = np.argsort(items, kind="stable")
        cumulative = np.cumsum(weights[order])
        position = int(np.searchsorted(cumulative, rank * cumulative[-1], side="left"))
        return float(items[order][min(position, len(order) - 1)])

    def _capacity(self, height: int) -> int:
        depth = len(self._levels) - 1 - height
        return max(2, math.ceil(self.k * self.c**depth))

    def _compact(self) -> None:
        height = 0
        while height < len(self._levels):
            items = self._levels[height]
            if len(items) <= self._capacity(height):
                height += 1
                continue
            grown = height + 1 == len(self._levels)
            if grown:
                self._levels.append(np.empty(0))
            items = np.sort(items)
            kept = items[-1:] if len(items) % 2 else items[:0]  # an odd item stays, so weights still sum to the count
            pairs = items[: len(items) - len(kept)]
            offset = int(self._random.integers(2))
            self._levels[height + 1] = np.concatenate((self._levels[height + 1], pairs[offset::2]))
            self._levels[height] = kept
            height = 0 if grown else height + 1  # a new top level shrinks every capacity below it
