"""Third-party scanners plug in through the ``bastion.scanners`` entry-point group of a real installed package."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

from bastion.scanners import load_scanners
from tests.conftest import RunBastion

PLUGIN = """
from bastion.core import Category, Finding, Kind, Location, Severity
from bastion.scanners import Scanner, ScanTarget


class ForbiddenWordScanner(Scanner):
    name = "forbidden-word"
    kinds = frozenset({Kind.CODE})

    def scan(self, target: ScanTarget) -> list[Finding]:
        data = target.read_bytes()
        if b"FORBIDDEN-WORD" not in data:
            return []
        line = data[: data.index(b"FORBIDDEN-WORD")].count(b"\\n") + 1
        return [Finding("plugin.forbidden-word", Category.MISCONFIGURATION, Severity.CRITICAL,
                        "the forbidden word", Location(target.display_path, line=line))]
"""


def build_wheel(directory: Path, name: str, module_source: str, entry_point: str) -> Path:
    """A minimal but real wheel: pip installs it like any other."""
    dist = f"{name}-0.1.dist-info"
    wheel = directory / f"{name}-0.1-py3-none-any.whl"
    files = {
        f"{name}/__init__.py": module_source,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: bastion-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": f"[bastion.scanners]\n{entry_point}\n",
    }
    record = "".join(f"{path},,\n" for path in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in {**files, f"{dist}/RECORD": record}.items():
            archive.writestr(path, text)
    return wheel


def pip_install(wheel: Path, target: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )


def test_an_installed_plugin_scanner_runs_beside_the_built_in_ones(tmp_path: Path, run_bastion: RunBastion) -> None:
    site = tmp_path / "site"
    pip_install(
        build_wheel(tmp_path, "bastion_wordplugin", PLUGIN, "forbidden-word = bastion_wordplugin:ForbiddenWordScanner"), site
    )
    (tmp_path / "code.py").write_text("x = 1\ny = 'FORBIDDEN-WORD'\n")

    result = run_bastion("scan", str(tmp_path / "code.py"), "--format", "json", env={"PYTHONPATH": str(site)})
    assert result.returncode == 1, result.stderr
    (finding,) = json.loads(result.stdout)["findings"]
    assert (finding["rule_id"], finding["location"]["line"]) == ("plugin.forbidden-word", 2)

    without = run_bastion("scan", str(tmp_path / "code.py"), "--format", "json")
    assert json.loads(without.stdout)["findings"] == []


def test_a_broken_plugin_stops_the_scan_with_one_line(tmp_path: Path, run_bastion: RunBastion) -> None:
    site = tmp_path / "site"
    broken = "raise ImportError('missing native library')\n"
    pip_install(build_wheel(tmp_path, "bastion_brokenplugin", broken, "broken = bastion_brokenplugin:Nothing"), site)
    (tmp_path / "code.py").write_text("x = 1\n")
    result = run_bastion("scan", str(tmp_path / "code.py"), env={"PYTHONPATH": str(site)})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "bastion: error: scanner 'broken' (bastion_brokenplugin:Nothing) failed to load: "
        "ImportError: missing native library; fix or uninstall the package that provides it"
    ]


def test_a_plugin_that_is_not_a_scanner_is_refused(tmp_path: Path, run_bastion: RunBastion) -> None:
    site = tmp_path / "site"
    source = textwrap.dedent("class NotAScanner:\n    pass\n")
    pip_install(build_wheel(tmp_path, "bastion_oddplugin", source, "odd = bastion_oddplugin:NotAScanner"), site)
    (tmp_path / "code.py").write_text("x = 1\n")
    result = run_bastion("scan", str(tmp_path / "code.py"), env={"PYTHONPATH": str(site)})
    assert result.returncode == 2
    assert "is not a bastion.scanners.Scanner" in result.stderr


def test_built_in_scanners_come_from_the_entry_points_in_name_order() -> None:
    names = [scanner.name for scanner in load_scanners()]
    assert names == sorted(names)
    assert {"models", "secrets"} <= set(names)


def test_entry_points_are_read_as_importlib_metadata_reads_them(tmp_path: Path) -> None:
    import importlib.metadata

    from bastion.scanners.registry import entry_points

    site = tmp_path / "site"
    pip_install(
        build_wheel(tmp_path, "bastion_wordplugin", PLUGIN, "forbidden-word = bastion_wordplugin:ForbiddenWordScanner"), site
    )
    path = [str(site), *sys.path]
    for group in ("console_scripts", "bastion.scanners", "pytest11"):
        expected = sorted(
            (e.name, e.value) for e in importlib.metadata.distributions(path=path) for e in e.entry_points if e.group == group
        )
        names = {d.metadata["Name"].lower().replace("_", "-") for d in importlib.metadata.distributions(path=path)}
        assert names, "the environment has distributions"
        got = sorted((e.name, e.value) for e in entry_points(group, path))
        # importlib.metadata.distributions() does not drop shadowed duplicates; compare as sets.
        assert set(got) == set(expected), group


_HEAVY_MODULES = (
    "duckdb", "numpy", "pyarrow", "pandas", "sklearn", "bandit", "packaging", "cyclonedx", "http.client", "ssl",
    "sqlite3", "h5py", "jinja2", "rich", "pydantic", "yaml", "cryptography", "concurrent.futures", "dask", "logging",
    "bastion.audit.log", "hashlib", "sqlalchemy",
)  # fmt: skip


def test_loading_every_scanner_and_scanning_a_pickle_stays_light(tmp_path: Path) -> None:
    """A scan in a pre-commit hook must start fast: scanner modules import their heavy libraries when they scan."""
    import pickle

    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
    script = textwrap.dedent(
        f"""
        import sys
        from bastion.cli import main
        try:
            main(["scan", "--no-digest", "--format", "json", {str(tmp_path / "model.pkl")!r}])
        except SystemExit as exc:
            assert exc.code == 0, exc.code
        print(" ".join(m for m in {_HEAVY_MODULES!r} if m in sys.modules))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == ""


def test_scanners_option_runs_only_the_named_ones(tmp_path: Path, run_bastion: RunBastion) -> None:
    source = tmp_path / "app.py"
    source.write_text("import pickle\n\n\ndef load(blob):\n    return pickle.loads(blob)\n")
    everything = json.loads(run_bastion("scan", str(source), "--format", "json", "--no-digest").stdout)
    assert any(f["rule_id"].startswith("code.bandit.") for f in everything["findings"])
    only = run_bastion("scan", str(source), "--scanners", "secrets,models", "--format", "json", "--no-digest")
    assert only.returncode == 0 and json.loads(only.stdout)["findings"] == []
    unknown = run_bastion("scan", str(source), "--scanners", "secrets,nosuch")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("bastion: error: no scanner named 'nosuch'; the installed ones are: ")
    assert len(unknown.stderr.strip().splitlines()) == 1
