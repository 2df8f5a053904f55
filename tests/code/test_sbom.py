"""`bastion sbom`: CycloneDX 1.6 JSON of declared and resolved dependencies, with vulnerabilities, schema-valid."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.code.osv_server import advisory_server, closed_port
from tests.code.test_manifests import POETRY_LOCK
from tests.conftest import RunBastion


@pytest.fixture(scope="module")
def osv_url() -> Iterator[str]:
    with advisory_server() as (url, _):
        yield url


def write_project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "fraud-model"\ndependencies = ["requests>=2.19", "torch==2.6.0rc1"]\n'
    )
    (root / "poetry.lock").write_text(POETRY_LOCK)
    (root / "requirements.txt").write_text(
        "jinja2==3.1.2 --hash=sha256:6088930bfe239f0e6710546ab9c19c9ef35e29792895fed6e6e31a023a182a61\n"
        "git+https://github.com/example/mylib.git#egg=mylib\n"
    )
    (root / "train.py").write_text("print('not a manifest')\n")
    return root


def validate(text: str) -> dict[str, Any]:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    document: dict[str, Any] = json.loads(text)
    return document


def test_sbom_lists_declared_and_resolved_components_with_vulnerabilities(
    tmp_path: Path, run_bastion: RunBastion, osv_url: str
) -> None:
    project = write_project(tmp_path / "proj")
    out = tmp_path / "bom.json"
    result = run_bastion("sbom", str(project), "-o", str(out), env={"BASTION_OSV_URL": osv_url})
    assert result.returncode == 0, result.stderr
    bom = validate(out.read_text())
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.6")
    assert bom["metadata"]["component"]["name"] == "fraud-model"
    purls = sorted(c["purl"] for c in bom["components"])
    assert purls == [
        "pkg:pypi/jinja2@3.1.2",
        "pkg:pypi/mylib",  # from git, in requirements.txt and in poetry.lock: not PyPI's release, so no version
        "pkg:pypi/mylib",
        "pkg:pypi/requests",
        "pkg:pypi/requests@2.19.0",
        "pkg:pypi/torch@2.6.0rc1",
    ]
    jinja = next(c for c in bom["components"] if c["name"] == "jinja2")
    assert jinja["hashes"] == [{"alg": "SHA-256", "content": "6088930bfe239f0e6710546ab9c19c9ef35e29792895fed6e6e31a023a182a61"}]
    vulnerabilities = {v["id"]: v for v in bom["vulnerabilities"]}
    assert sorted(vulnerabilities) == ["GHSA-53q9-r3pm-6pq6", "GHSA-h5c8-rqwp-cp95", "GHSA-x84v-xcm2-53pg"]
    requests = vulnerabilities["GHSA-x84v-xcm2-53pg"]
    assert [a["ref"] for a in requests["affects"]] == ["pkg:pypi/requests@2.19.0"]
    assert [r["id"] for r in requests["references"]] == ["CVE-2018-18074"]
    (rating,) = requests["ratings"]
    assert (rating["score"], rating["severity"], rating["method"]) == (7.5, "high", "CVSSv31")
    assert "2.20.0" in requests["recommendation"]
    properties = {p["name"]: p["value"] for p in bom["metadata"]["properties"]}
    assert properties["bastion:advisory-database"] == f"OSV API {osv_url}"
    assert "bastion" in [tool["name"] for tool in bom["metadata"]["tools"]["components"]]


def test_offline_sbom_records_the_snapshot(tmp_path: Path, run_bastion: RunBastion, osv_url: str) -> None:
    from tests.code.osv_server import osv_archive, pypa_archive

    project = write_project(tmp_path / "proj")
    home = tmp_path / "home"
    files = {"/all.zip": osv_archive(), "/pypa.zip": pypa_archive()}
    with advisory_server(files) as (url, _):
        archives = ("--osv-archive", f"{url}/all.zip", "--pypa-archive", f"{url}/pypa.zip")
        update = run_bastion("vulndb", "update", *archives, env={"BASTION_HOME": str(home)})
    assert update.returncode == 0, update.stderr
    result = run_bastion("sbom", str(project), "--offline", env={"BASTION_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    bom = validate(result.stdout)
    properties = {p["name"]: p["value"] for p in bom["metadata"]["properties"]}
    assert properties["bastion:advisory-snapshot"].endswith("Z")
    requests = next(v for v in bom["vulnerabilities"] if v["id"] == "GHSA-x84v-xcm2-53pg")
    assert [r["id"] for r in requests["references"]] == ["CVE-2018-18074", "PYSEC-2018-28"]


def test_sbom_fails_closed_and_writes_nothing(tmp_path: Path, run_bastion: RunBastion) -> None:
    project = write_project(tmp_path / "proj")
    out = tmp_path / "bom.json"
    result = run_bastion("sbom", str(project), "-o", str(out), env={"BASTION_OSV_URL": f"http://127.0.0.1:{closed_port()}"})
    assert result.returncode == 2
    assert result.stderr.startswith("bastion: error: advisories not checked, SBOM not written: OSV API at")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["proj"]
    components_only = run_bastion("sbom", str(project), "--no-vulnerabilities", "-o", str(out))
    assert components_only.returncode == 0, components_only.stderr
    assert "vulnerabilities" not in validate(out.read_text())


def test_sbom_of_a_malformed_or_missing_manifest_is_one_line(tmp_path: Path, run_bastion: RunBastion) -> None:
    project = write_project(tmp_path / "proj")
    (project / "poetry.lock").write_text("[[package]]\nname = \n")
    result = run_bastion("sbom", str(project), "--no-vulnerabilities")
    assert result.returncode == 2 and result.stdout == ""
    assert "poetry.lock: not valid TOML" in result.stderr and result.stderr.count("\n") == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_bastion("sbom", str(empty), "--no-vulnerabilities")
    assert result.returncode == 2 and "no dependency manifest" in result.stderr
