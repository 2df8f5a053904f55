"""Advisory sources: the offline mirror built by `bastion vulndb update`, the OSV API, and failing closed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bastion.scanners.code.advisories import MirrorSource, OsvApiSource, Package, SourceError, update_mirror
from tests.code.osv_server import advisory_server, closed_port, osv_archive, pypa_archive
from tests.conftest import RunBastion

ARCHIVES = {"/PyPI/all.zip": osv_archive(), "/pypa/advisory-database/archive/main.zip": pypa_archive()}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[str]]]:
    with advisory_server(ARCHIVES) as running:
        yield running


@pytest.fixture
def mirror_home(tmp_path: Path, run_bastion: RunBastion, server: tuple[str, list[str]]) -> Path:
    """A BASTION_HOME whose mirror `bastion vulndb update` downloaded from the local server."""
    url, _ = server
    home = tmp_path / "home"
    archives = ("--osv-archive", f"{url}/PyPI/all.zip", "--pypa-archive", f"{url}/pypa/advisory-database/archive/main.zip")
    result = run_bastion("vulndb", "update", *archives, "--format", "json", env={"BASTION_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["advisories"] == 6, "five OSV records and the PyPA one, which only PyPA holds"
    assert summary["newest_modified"] == "2025-04-18T20:02:58.000000Z"
    return home


def scan(run_bastion: RunBastion, schema: dict[str, Any], *args: str, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    result = run_bastion("scan", *args, "--format", "json", env=env)
    assert "Traceback" not in result.stderr, result.stderr
    document = json.loads(result.stdout)
    jsonschema.validate(document, schema)
    return result.returncode, document


def write_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text("requests==2.19.0\njinja2==3.1.3\nurllib3==2.0.5\ntorch==2.6.0rc1\nnumpy>=2\n")
    return root


def test_update_writes_the_mirror_with_its_snapshot_date(mirror_home: Path, run_bastion: RunBastion) -> None:
    database = mirror_home / "vulndb" / "osv.sqlite"
    with sqlite3.connect(database) as connection:
        ids = sorted(row[0] for row in connection.execute("SELECT id FROM packages WHERE package = 'requests'"))
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    connection.close()
    assert ids == ["GHSA-x84v-xcm2-53pg", "PYSEC-2018-28"], "the YAML record of the PyPA database is read too"
    assert meta["snapshot"].endswith("Z") and meta["schema_version"] == "2"
    status = run_bastion("vulndb", "status", "--format", "json", env={"BASTION_HOME": str(mirror_home)})
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["snapshot"] == meta["snapshot"]
    assert [p.name for p in database.parent.iterdir()] == ["osv.sqlite"], "no temporary file is left behind"


def test_offline_scan_reports_advisories_with_aliases_fixes_and_snapshot(
    mirror_home: Path, tmp_path: Path, run_bastion: RunBastion, scan_schema: dict[str, Any]
) -> None:
    project = write_project(tmp_path / "proj")
    status, report = scan(run_bastion, scan_schema, str(project), "--offline", env={"BASTION_HOME": str(mirror_home)})
    assert status == 1, "critical and high vulnerabilities fail the default gate"
    (manifest,) = report["scanned"]
    assert (manifest["kind"], manifest["status"]) == ("dependencies", "complete")
    vulnerable = {f["package"]: f for f in report["findings"] if f["rule_id"] == "deps.vulnerable-package"}
    assert sorted(vulnerable) == ["requests", "torch", "urllib3"], "jinja2 3.1.3 is the fixed release"
    requests = vulnerable["requests"]
    assert requests["category"] == "vulnerability" and requests["severity"] == "high"
    assert requests["location"]["line"] == 1
    assert "GHSA-x84v-xcm2-53pg" in requests["message"] and "CVE-2018-18074" in requests["message"]
    assert requests["advisory"]["aliases"] == ["CVE-2018-18074", "PYSEC-2018-28"], "GHSA and PYSEC are one finding"
    assert requests["advisory"]["fixed_versions"] == ["2.20.0"]
    assert "2.20.0" in requests["remediation"]
    assert (vulnerable["torch"]["severity"], vulnerable["torch"]["advisory"]["cvss_score"]) == ("critical", 9.3)
    assert vulnerable["urllib3"]["severity"] == "medium"
    (note,) = [f for f in report["findings"] if f["rule_id"] == "deps.advisory-snapshot"]
    snapshot = json.loads((run_bastion("vulndb", "status", "--format", "json", env={"BASTION_HOME": str(mirror_home)})).stdout)[
        "snapshot"
    ]
    assert snapshot in note["message"] and requests["advisory"]["database"]["snapshot"] == snapshot
    (unpinned,) = [f for f in report["findings"] if f["rule_id"] == "deps.unpinned"]
    assert "numpy" in unpinned["message"]


def test_a_missing_mirror_fails_closed(tmp_path: Path, run_bastion: RunBastion, scan_schema: dict[str, Any]) -> None:
    project = write_project(tmp_path / "proj")
    status, report = scan(run_bastion, scan_schema, str(project), "--offline", env={"BASTION_HOME": str(tmp_path / "empty")})
    assert status == 2, "an unchecked manifest is never clean"
    (manifest,) = report["scanned"]
    assert manifest["status"] == "partial"
    assert "no offline advisory database" in manifest["error"] and "bastion vulndb update" in manifest["error"]
    assert not any(f["category"] == "vulnerability" for f in report["findings"])


def test_an_unreachable_osv_api_fails_closed(tmp_path: Path, run_bastion: RunBastion, scan_schema: dict[str, Any]) -> None:
    project = write_project(tmp_path / "proj")
    env = {"BASTION_OSV_URL": f"http://127.0.0.1:{closed_port()}", "BASTION_HOME": str(tmp_path / "home")}
    status, report = scan(run_bastion, scan_schema, str(project), env=env)
    assert status == 2
    (manifest,) = report["scanned"]
    assert manifest["status"] == "partial"
    assert manifest["error"].startswith("dependencies: advisories not checked: OSV API at http://127.0.0.1:")
    assert "\n" not in manifest["error"]


def test_osv_api_batch_then_records_and_its_own_range_check(server: tuple[str, list[str]]) -> None:
    url, requests = server
    source = OsvApiSource(url)
    found = source.query_all([Package("requests", "2.19.0"), Package("requests", "2.31.0"), Package("torch", "2.6.0rc1")])
    assert [a.id for a in found[Package("requests", "2.19.0")]] == ["GHSA-x84v-xcm2-53pg"]
    assert found[Package("requests", "2.31.0")] == [], "the server lists the record; the client's range check drops it"
    assert [a.id for a in found[Package("torch", "2.6.0rc1")]] == ["GHSA-53q9-r3pm-6pq6"]
    assert "POST /v1/querybatch" in requests and "GET /v1/vulns/GHSA-x84v-xcm2-53pg" in requests
    assert source.info.snapshot is None


def test_osv_api_errors_are_source_errors(server: tuple[str, list[str]]) -> None:
    url, _ = server
    with pytest.raises(SourceError, match="HTTP 404"):
        OsvApiSource(url + "/missing").query_all([Package("requests", "2.19.0")])
    with pytest.raises(SourceError, match=r"could not be queried \(.*Connection refused"):
        OsvApiSource(f"http://127.0.0.1:{closed_port()}").query(Package("requests", "2.19.0"))


def test_a_failed_update_keeps_the_previous_mirror(tmp_path: Path, server: tuple[str, list[str]]) -> None:
    url, _ = server
    database = tmp_path / "vulndb" / "osv.sqlite"
    first = update_mirror(database, osv_url=f"{url}/PyPI/all.zip", pypa_url=f"{url}/pypa/advisory-database/archive/main.zip")
    before = database.read_bytes()
    from bastion.scanners.code.advisories import MirrorUpdateError

    with pytest.raises(MirrorUpdateError, match="HTTP 404"):
        update_mirror(database, osv_url=f"{url}/PyPI/all.zip", pypa_url=f"{url}/gone.zip")
    with pytest.raises(MirrorUpdateError, match="not a readable zip"):
        update_mirror(database, osv_url=f"{url}/v1/vulns/GHSA-x84v-xcm2-53pg", pypa_url=f"{url}/PyPI/all.zip")
    assert database.read_bytes() == before
    assert sorted(p.name for p in database.parent.iterdir()) == ["osv.sqlite"]
    assert MirrorSource(database).info.snapshot == first.snapshot


def test_an_air_gapped_update_reads_archives_from_file_urls(tmp_path: Path) -> None:
    archive = tmp_path / "media" / "all zip.zip"
    archive.parent.mkdir()
    archive.write_bytes(osv_archive())
    database = tmp_path / "vulndb" / "osv.sqlite"
    summary = update_mirror(database, osv_url=archive.as_uri(), pypa_url=None)
    assert summary.advisories > 0
    advisories = MirrorSource(database).query(Package("requests", "2.19.0"))
    assert "GHSA-x84v-xcm2-53pg" in {advisory.id for advisory in advisories}
    from bastion.scanners.code.advisories import MirrorUpdateError

    with pytest.raises(MirrorUpdateError, match="a file URL names a path on this machine"):
        update_mirror(database, osv_url="file://elsewhere/all.zip", pypa_url=None)
    with pytest.raises(MirrorUpdateError, match="No such file"):
        update_mirror(database, osv_url=(tmp_path / "missing.zip").as_uri(), pypa_url=None)


def test_a_damaged_mirror_fails_closed(tmp_path: Path) -> None:
    database = tmp_path / "osv.sqlite"
    database.write_bytes(b"not a database at all" * 100)
    with pytest.raises(SourceError, match="not an advisory database"):
        MirrorSource(database).query(Package("requests", "2.19.0"))


def test_scanner_reports_cycles_unpinnable_and_malformed_manifests(
    mirror_home: Path, tmp_path: Path, run_bastion: RunBastion, scan_schema: dict[str, Any]
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "requirements.txt").write_text("-r requirements-dev.txt\nrequests==2.31.0\n")
    (project / "requirements-dev.txt").write_text("-r requirements.txt\ngit+https://github.com/example/tool.git#egg=tool\n")
    (project / "poetry.lock").write_text("[[package]]\nname = 'broken\n")
    status, report = scan(run_bastion, scan_schema, str(project), "--offline", env={"BASTION_HOME": str(mirror_home)})
    statuses = {a["path"].rsplit("/", 1)[1]: (a["status"], a["error"]) for a in report["scanned"]}
    assert statuses["requirements.txt"] == ("complete", None)
    lock_status, lock_error = statuses["poetry.lock"]
    assert lock_status == "error" and lock_error.startswith("dependencies: not valid TOML") and "\n" not in lock_error
    assert status == 2
    seen = sorted(
        (f["rule_id"], f["location"]["path"].rsplit("/", 1)[1], f["location"]["line"])
        for f in report["findings"]
        if f["rule_id"] in ("deps.cyclic-include", "deps.unpinnable")
    )
    # Each manifest is scanned on its own, so each reports the cycle it closes and the reference it reads.
    assert seen == [
        ("deps.cyclic-include", "requirements-dev.txt", 1),
        ("deps.cyclic-include", "requirements.txt", 1),
        ("deps.unpinnable", "requirements-dev.txt", 2),
        ("deps.unpinnable", "requirements-dev.txt", 2),
    ]


def test_the_later_modified_record_of_an_id_wins(tmp_path: Path) -> None:
    import io
    import zipfile

    from tests.code.osv_server import pypa_archive

    def osv_zip(modified: str, fixed: str) -> bytes:
        record = {
            "id": "PYSEC-2018-28",
            "modified": modified,
            "aliases": ["CVE-2018-18074"],
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": "requests"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                }
            ],
        }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("PYSEC-2018-28.json", json.dumps(record))
        return buffer.getvalue()

    files = {"/newer.zip": osv_zip("2030-01-01T00:00:00Z", "2.19.1"), "/older.zip": osv_zip("2001-01-01T00:00:00Z", "2.19.1")}
    files["/pypa.zip"] = pypa_archive()  # holds PYSEC-2018-28 modified 2021, fixed in 2.20.0
    with advisory_server(files) as (url, _):
        newer = tmp_path / "newer.sqlite"
        update_mirror(newer, osv_url=f"{url}/newer.zip", pypa_url=f"{url}/pypa.zip")
        older = tmp_path / "older.sqlite"
        update_mirror(older, osv_url=f"{url}/older.zip", pypa_url=f"{url}/pypa.zip")
    package = Package("requests", "2.19.1")
    assert MirrorSource(newer).query(package) == [], "the 2030 record says 2.19.1 is fixed"
    assert [a.fixed for a in MirrorSource(older).query(package)] == [("2.20.0",)], "the 2021 PyPA record is newer"


def test_an_incomplete_manifest_and_an_unavailable_source_are_both_reported(
    tmp_path: Path, run_bastion: RunBastion, scan_schema: dict[str, Any]
) -> None:
    (tmp_path / "requirements.txt").write_text("-r missing.txt\nrequests==2.19.0\n")
    status, report = scan(run_bastion, scan_schema, str(tmp_path), "--offline", env={"BASTION_HOME": str(tmp_path / "none")})
    assert status == 2
    error = report["scanned"][0]["error"]
    assert error.startswith("dependencies: advisories not checked: no offline advisory database at ")
    assert error.endswith("requirements.txt:1: included requirements file missing.txt cannot be read (No such file or directory)")
