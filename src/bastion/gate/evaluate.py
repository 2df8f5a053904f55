"""Deciding pass or fail from findings, metrics and scan completeness under a policy."""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import re
from collections.abc import Iterable, Mapping

from bastion.core import Artifact, Finding, GateResult, ScanStatus, WaivedFinding
from bastion.gate.policy import Policy, Waiver


class _RuleFailures:
    """The findings of one rule that fail the gate: how many, where, and the first one's words."""

    __slots__ = ("count", "first", "message", "paths", "severity")

    def __init__(self, severity: str, first: str, message: str) -> None:
        self.severity = severity
        self.first = first
        self.message = message
        self.count = 0
        self.paths: set[str] = set()


def evaluate(
    policy: Policy,
    *,
    findings: Iterable[Finding] = (),
    metrics: Mapping[str, float] | None = None,
    scanned: Iterable[Artifact] = (),
    today: dt.date | None = None,
) -> GateResult:
    """Apply ``policy``: one reason per failing rule and metric, each incomplete scan, each expired waiver.

    Metrics named by the policy but absent from ``metrics`` fail (deny by default) when
    ``metrics`` is given; without it, only findings are judged.
    """
    today = today or dt.date.today()
    active = [w for w in policy.waivers if w.expires >= today]
    expired = [w for w in policy.waivers if w.expires < today]
    reasons: list[str] = []
    waived: list[WaivedFinding] = []
    failures: dict[str, _RuleFailures] = {}
    expired_hits: set[int] = set()

    for finding in findings:
        rule, path = finding.rule_id, finding.location.path
        if _matches_any(rule, policy.rules.allow):
            continue
        denied = _matches_any(rule, policy.rules.deny)
        threshold = policy.threshold(finding.category)
        if not denied and (threshold is None or finding.severity < threshold):
            continue
        waiver = next((w for w in active if _waiver_matches(w, rule, path)), None)
        if waiver is not None:
            waived.append(WaivedFinding(rule, path, waiver.reason, waiver.owner, waiver.expires.isoformat()))
            continue
        expired_hits.update(i for i, w in enumerate(expired) if _waiver_matches(w, rule, path))
        entry = failures.setdefault(
            rule, _RuleFailures(finding.severity.value, first=str(finding.location), message=finding.message)
        )
        entry.count += 1
        entry.paths.add(path)
        if denied:
            entry.severity = f"denied, {finding.severity.value}"

    for rule, entry in failures.items():
        many = f"{entry.count} findings in {len(entry.paths)} file(s), first" if entry.count > 1 else "at"
        reasons.append(f"{rule} ({entry.severity}): {entry.message}, {many} {entry.first}")

    violations = sum(entry.count for entry in failures.values())
    if metrics is not None:
        for required in policy.metrics:
            measured = metrics.get(required.metric)
            if measured is None:
                reasons.append(f"metric {required.metric} was not measured; the policy requires {required}")
                violations += 1
            elif not required.holds(measured):
                reasons.append(f"metric {required.metric} = {measured:.4g} fails {required}")
                violations += 1

    incomplete = tuple(a.path for a in scanned if a.status is not ScanStatus.COMPLETE)
    for artifact in scanned:
        if artifact.status is not ScanStatus.COMPLETE:
            reasons.append(f"{artifact.path}: scan {artifact.status.value} ({artifact.error}); an incomplete scan never passes")

    for i, waiver in enumerate(expired):
        hit = " and no longer applies to a finding" if i in expired_hits else ""
        reasons.append(
            f"waiver for {waiver.rule} on {waiver.path} (owner {waiver.owner}) expired on {waiver.expires.isoformat()}{hit}"
        )

    failed = violations > 0 or bool(incomplete)
    return GateResult(
        decision="fail" if failed else "pass",
        reasons=tuple(reasons),
        violations=violations,
        incomplete=incomplete,
        waived=tuple(waived),
    )


def _matches_any(rule_id: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(rule_id, pattern) for pattern in patterns)


def _waiver_matches(waiver: Waiver, rule_id: str, path: str) -> bool:
    return fnmatch.fnmatchcase(rule_id, waiver.rule) and path_glob(waiver.path).fullmatch(path.removeprefix("./")) is not None


@functools.lru_cache(maxsize=256)
def path_glob(pattern: str) -> re.Pattern[str]:
    """A path glob as a regex: ``*`` and ``?`` stay within one directory, ``**`` crosses them."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out).removeprefix(r"\./"))
