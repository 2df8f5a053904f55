"""Severity of an advisory: the CVSS base score where a vector is given, else the database's rating."""

from __future__ import annotations

from typing import Any

from bastion.core import Severity

UNRATED = Severity.HIGH
"""What an advisory without any rating counts as: a known, unrated vulnerability is not a minor one."""

_DATABASE_RATINGS = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
}


def from_score(score: float) -> Severity:
    """The CVSS v3/v4 qualitative rating of a base score (0 is ``info``)."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    return Severity.LOW if score > 0 else Severity.INFO


def cvss_score(vector: str) -> float | None:
    """The base score of a CVSS v2, v3.x or v4.0 vector; None when it does not parse."""
    from cvss import CVSS2, CVSS3, CVSS4, CVSSError

    try:
        if vector.startswith("CVSS:4"):
            return float(CVSS4(vector).base_score)
        if vector.startswith("CVSS:3"):
            return float(CVSS3(vector).base_score)
        return float(CVSS2(vector).base_score)
    except (CVSSError, ValueError, KeyError, IndexError):
        return None


def rate(record: dict[str, Any], affected: dict[str, Any]) -> tuple[Severity, float | None, str | None]:
    """(severity, score, vector) of an OSV record: its highest-version CVSS vector, else ``database_specific.severity``."""
    entries = [*_list(record.get("severity")), *_list(affected.get("severity"))]
    # Prefer the newest scoring system given (v4 over v3 over v2).
    order = {"CVSS_V4": 0, "CVSS_V3": 1, "CVSS_V2": 2}
    for entry in sorted((e for e in entries if isinstance(e, dict)), key=lambda e: order.get(str(e.get("type")), 9)):
        vector = entry.get("score")
        if entry.get("type") in order and isinstance(vector, str):
            score = cvss_score(vector)
            if score is not None:
                return from_score(score), score, vector
    for specific in (record.get("database_specific"), affected.get("database_specific"), affected.get("ecosystem_specific")):
        if isinstance(specific, dict) and isinstance(specific.get("severity"), str):
            rating = _DATABASE_RATINGS.get(specific["severity"].strip().lower())
            if rating is not None:
                return rating, None, None
    return UNRATED, None, None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
