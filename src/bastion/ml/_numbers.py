"""Ratios that are ``None`` where a denominator is zero, and floats ready for JSON."""

from __future__ import annotations

import math


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or ``None`` when the denominator is zero (a rate of nothing is undefined)."""
    return float(numerator) / float(denominator) if denominator else None


def json_number(value: float | None) -> float | None:
    """``value`` as a plain float, ``None`` for ``None``, NaN and ±infinity (which JSON cannot carry)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
