"""Trusted packages and denied licences: the policy file, its findings, and the licences of installed packages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bastion.scanners.code.dependencies import Dependency
from bastion.scanners.code.dependencies.licenses import denied_licenses, installed_license
from bastion.scanners.code.dependencies.trust import TrustPolicy, TrustPolicyError, load_trust_policy, untrusted
from tests.code.osv_server import advisory_server
from tests.conftest import RunBastion


def dep(name: str, version: str | None = None) -> Dependency:
    return Dependency(name=name, version=version, specifier=f"=={version}" if version else "", path="requirements.txt", line=1)


def test_packages_off_the_list_or_outside_the_pins_are_findings() -> None:
    policy = TrustPolicy(packages=("numpy", "Torch==2.13.0", "requests>=2.32,<3"))
    findings = untrusted([dep("numpy", "1.0"), dep("torch", "2.12.0"), dep("requests", "2.32.3"), dep("leftpad", "0.1")], policy)
    assert [(f.rule_id, f.extra["package"]) for f in findings] == [
        ("deps.untrusted-version", "torch"),
        ("deps.untrusted-package", "leftpad"),
    ]
    assert "2.12.0 is outside the trusted versions ==2.13.0" in findings[0].message
    assert untrusted([dep("leftpad", "0.1")], TrustPolicy()) == [], "without a list every package is trusted"


def test_the_policy_file_is_validated_with_its_line(tmp_path: Path) -> None:
    good = tmp_path / "trusted.yaml"
    good.write_text("packages:\n  - numpy\n  - torch==2.13.0\nlicenses:\n  deny: [AGPL-3.0]\n")
    policy = load_trust_policy(good)
    assert policy.packages == ("numpy", "torch==2.13.0") and policy.licenses.deny == ("AGPL-3.0",)
    bad = tmp_path / "bad.yaml"
    bad.write_text("packages:\n  - numpy\n  - 'torch>=>1'\n")
    with pytest.raises(TrustPolicyError, match=r"bad.yaml:3: packages.1: not a package name"):
        load_trust_policy(bad)
    bad.write_text("packages: [numpy]\nlicences: {deny: [GPL-3.0]}\n")
    with pytest.raises(TrustPolicyError, match=r"bad.yaml:2: licences: unknown setting"):
        load_trust_policy(bad)


def test_licences_come_from_the_installed_metadata() -> None:
    # Real distributions of this environment: License-Expression (packaging), classifiers (PyYAML, cvss).
    packaging = installed_license("packaging")
    assert packaging is not None and packaging.expression == "Apache-2.0 OR BSD-2-Clause"
    assert installed_license("PyYAML") is not None and installed_license("PyYAML").expression == "MIT"  # type: ignore[union-attr]
    cvss = installed_license("cvss")
    assert cvss is not None and cvss.expression == "LGPL-3.0-or-later"
    assert installed_license("no-such-package-installed") is None


def test_denied_licences_follow_spdx_expressions() -> None:
    def rules(deny: tuple[str, ...], *names: str) -> list[str]:
        return [f"{f.rule_id}:{f.extra['package']}" for f in denied_licenses([dep(n) for n in names], deny)]

    assert rules(("LGPL-3.0",), "cvss", "pyyaml") == ["deps.denied-license:cvss"], "LGPL-3.0 covers -or-later"
    assert rules(("Apache-2.0",), "packaging") == [], "one allowed alternative of an OR is enough"
    assert rules(("Apache-2.0", "BSD-*"), "packaging") == ["deps.denied-license:packaging"]
    assert rules(("MIT",), "numpy") == ["deps.denied-license:numpy"], "every part of an AND must be allowed"
    assert rules(("GPL-3.0",), "cvss") == [], "GPL-3.0 does not cover LGPL-3.0"
    assert rules(("AGPL-3.0",), "no-such-package-installed") == ["deps.license-unknown:no-such-package-installed"]
    assert rules((), "cvss") == [], "no deny list, no licence check"


def test_scan_with_a_trusted_file(tmp_path: Path, run_bastion: RunBastion, scan_schema: dict[str, Any]) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "requirements.txt").write_text("cvss==3.6\npyyaml==6.0.3\nleftpad==0.1\n")
    trusted = tmp_path / "trusted.yaml"
    trusted.write_text("packages: [cvss, pyyaml==6.0.1]\nlicenses:\n  deny: [LGPL-3.0, AGPL-3.0]\n")
    with advisory_server() as (url, _):
        result = run_bastion("scan", str(project), "--trusted", str(trusted), "--format", "json", env={"BASTION_OSV_URL": url})
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, scan_schema)
    assert report["scanned"][0]["status"] == "complete"
    rules = sorted((f["rule_id"], f["location"]["line"]) for f in report["findings"])
    assert rules == [
        ("deps.denied-license", 1),
        ("deps.license-unknown", 3),
        ("deps.untrusted-package", 3),
        ("deps.untrusted-version", 2),
    ]
    denied = next(f for f in report["findings"] if f["rule_id"] == "deps.denied-license")
    assert (denied["category"], denied["severity"], denied["license"]) == ("license", "high", "LGPL-3.0-or-later")
    assert result.returncode == 1


def test_a_broken_trusted_file_is_one_line_and_status_2(tmp_path: Path, run_bastion: RunBastion) -> None:
    (tmp_path / "requirements.txt").write_text("numpy==2.0.0\n")
    (tmp_path / "trusted.yaml").write_text("packages: numpy\n")
    result = run_bastion("scan", str(tmp_path / "requirements.txt"), "--trusted", str(tmp_path / "trusted.yaml"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "trusted.yaml:1: packages" in result.stderr
