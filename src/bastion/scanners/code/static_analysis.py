"""Static analysis of Python files with Bandit, run as a library: its results become Bastion findings.

Bandit parses the file into an AST and walks it; nothing is imported or executed. Its hard-coded
password tests (B105–B107) are left out: they print the password in their message, and the
secrets scanner covers them with redacted evidence.
"""

from __future__ import annotations

import warnings
from pathlib import PurePosixPath
from typing import Any

from bastion.core import Category, Finding, Kind, Location, Severity
from bastion.scanners.interface import ScanError, Scanner, ScanTarget

SECRET_RULES = frozenset({"B105", "B106", "B107"})
"""Hard-coded password rules, left to the secrets scanner (Bandit would print the password)."""
ALLOWED_IN_TEST_CODE = frozenset({"B101"})
"""Rules that do not apply to test code: pytest is built on ``assert``."""
_SEVERITY = {"LOW": Severity.LOW, "MEDIUM": Severity.MEDIUM, "HIGH": Severity.HIGH}
_CONFIDENCE = {"LOW": 0.3, "MEDIUM": 0.6, "HIGH": 0.9}


class BanditScanner(Scanner):
    """Insecure calls, imports and settings in Python source (Bandit's rules)."""

    name = "bandit"
    kinds = frozenset({Kind.CODE})

    def __init__(self) -> None:
        self._config: Any = None

    def handles(self, target: ScanTarget) -> bool:
        return target.kind is Kind.CODE and target.format == "python"

    def scan(self, target: ScanTarget) -> list[Finding]:
        # Imported here: Bandit and its plug-ins cost a third of a second, paid only when Python is scanned.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # stevedore's, raised as Bandit loads its plug-ins
            from bandit.core import config, manager

        if self._config is None:
            _quiet_bandit_logging()
            _linear_nosec_lookup()
            self._config = config.BanditConfig()
        bandit = manager.BanditManager(self._config, "file", profile={"exclude": sorted(SECRET_RULES)})
        bandit.discover_files([str(target.path)])
        bandit.run_tests()
        issues = bandit.get_issue_list()
        if _is_test_file(target.display_path):
            issues = [issue for issue in issues if issue.test_id not in ALLOWED_IN_TEST_CODE]
        findings = [_finding(issue, target.display_path) for issue in issues]
        if bandit.skipped:
            raise ScanError(_why_skipped(target, bandit.skipped[0][1]), findings=findings)
        return findings


def _is_test_file(path: str) -> bool:
    parts = PurePosixPath(path.replace("\\", "/")).parts
    name = parts[-1] if parts else ""
    return (
        name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
        or bool({"tests", "test"} & set(parts[:-1]))
    )


def _finding(issue: Any, path: str) -> Finding:
    cwe = issue.cwe.id if issue.cwe is not None and issue.cwe.id else None
    return Finding(
        rule_id=f"code.bandit.{issue.test_id.lower()}",
        category=Category.UNSAFE_CODE,
        severity=_SEVERITY.get(issue.severity, Severity.MEDIUM),
        message=f"{issue.text} ({issue.test_id} {issue.test})",
        location=Location(path=path, line=issue.lineno or None, column=(issue.col_offset or 0) + 1),
        confidence=_CONFIDENCE.get(issue.confidence),
        remediation=f"See https://bandit.readthedocs.io/en/latest/plugins/index.html ({issue.test_id}); "
        "fix the code, or mark a reviewed line with '# nosec " + issue.test_id + "'.",
        extra={"cwe": f"CWE-{cwe}" if cwe else None, "bandit": {"test_id": issue.test_id, "test": issue.test}},
    )


def _why_skipped(target: ScanTarget, reason: str) -> str:
    """Bandit's reason, with the syntax error's line when that is what stopped it."""
    import ast

    try:
        ast.parse(target.read_bytes(), target.display_path)
    except SyntaxError as exc:
        return f"not valid Python 3 (line {exc.lineno}: {exc.msg}); static analysis skipped"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"not valid Python 3 ({exc}); static analysis skipped"
    return f"Bandit could not analyse the file ({reason})"


def _quiet_bandit_logging() -> None:
    """Bandit logs its own errors to stderr; Bastion reports them as the file's scan status instead."""
    import logging

    log = logging.getLogger("bandit")
    log.addHandler(logging.NullHandler())
    log.propagate = False


def _linear_nosec_lookup() -> None:
    """Make Bandit's ``# nosec`` lookup cost the file's comments, not the lines of the enclosing node.

    For every string, Bandit looks up ``# nosec`` on each line of the node around it, so a large
    literal (a 3,600-line dict of 7,000 strings) costs some 80 million lookups: minutes on one
    file. The answer is the same: the ``# nosec`` of the first commented line in the range.
    """
    from bandit.core import utils

    original = utils.get_nosec
    if hasattr(original, "_bastion_original"):
        return

    def get_nosec(nosec_lines: dict[int, Any], context: dict[str, Any]) -> Any:
        lines = context["linerange"]
        if not lines or len(nosec_lines) >= len(lines) or lines[-1] - lines[0] + 1 != len(lines):
            return original(nosec_lines, context)  # few lines, or not a plain run of them
        first, last = lines[0], lines[-1]
        marked = [number for number, tests in nosec_lines.items() if tests is not None and first <= number <= last]
        return nosec_lines[min(marked)] if marked else None

    get_nosec._bastion_original = original  # type: ignore[attr-defined]  # kept for the equivalence test
    utils.get_nosec = get_nosec
