"""Manifest parsers: every format, includes and their cycles, direct references, malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.scanners.code.dependencies import MANIFEST_FORMATS, Dependency, ManifestError, parse_manifest
from bastion.scanners.detect import _MANIFESTS


def test_every_manifest_format_detection_names_has_a_parser() -> None:
    assert {manifest_format for _, manifest_format in _MANIFESTS} == MANIFEST_FORMATS


def parse_file(path: Path, format: str, shown: str | None = None) -> tuple[dict[str, Dependency], list[str]]:
    manifest = parse_manifest(format, path.read_bytes(), shown or path.name, file=str(path))
    return {d.name: d for d in manifest.dependencies}, [f"{i.rule}@{i.path}:{i.line}" for i in manifest.issues]


def test_requirements_hashes_extras_markers_continuations_and_comments(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "# pinned with hashes, continued over lines\n"
        "NumPy==2.0.0 \\\n"
        "    --hash=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef \\\n"
        "    --hash=sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\n"
        "requests[socks,security]>=2.31 ; python_version > '3.8'  # trailing comment\n"
        "--index-url https://pypi.org/simple\n"
        "scikit_learn===1.5.2\n"
        "torch==2.*\n"
        "url#fragment==1.0\n"
    )
    found, _ = parse_file(tmp_path / "requirements.txt", "requirements")
    manifest = parse_manifest("requirements", (tmp_path / "requirements.txt").read_bytes(), "requirements.txt")
    (invalid,) = manifest.issues
    assert (invalid.rule, invalid.line, invalid.incomplete) == ("invalid-requirement", 9, True)
    assert invalid.message.startswith("cannot parse 'url#fragment==1.0': ") and "\n" not in invalid.message
    numpy = found["numpy"]
    assert (numpy.version, numpy.line, len(numpy.hashes)) == ("2.0.0", 2, 2)
    assert numpy.hashes[0].startswith("sha256:0123")
    requests = found["requests"]
    assert (requests.version, requests.specifier, requests.extras) == (None, ">=2.31", ("security", "socks"))
    assert requests.marker == 'python_version > "3.8"'
    assert found["scikit-learn"].version == "1.5.2"
    assert found["torch"].version is None, "a wildcard pins no single version"


def test_requirements_includes_are_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "reqs").mkdir()
    (tmp_path / "requirements.txt").write_text("-r reqs/base.txt\n--constraint=reqs/constraints.txt\nflask\n")
    (tmp_path / "reqs" / "base.txt").write_text("-rcommon.txt\nurllib3==1.26.5\n")
    (tmp_path / "reqs" / "common.txt").write_text("jinja2==3.1.2\n")
    (tmp_path / "reqs" / "constraints.txt").write_text("flask==2.0.1\nnot-required==1.0\n")
    found, issues = parse_file(tmp_path / "requirements.txt", "requirements", "proj/requirements.txt")
    assert issues == []
    assert sorted(found) == ["flask", "jinja2", "urllib3"], "constraints pin, they do not add packages"
    assert (found["urllib3"].path, found["urllib3"].line) == ("proj/reqs/base.txt", 2)
    assert found["jinja2"].path == "proj/reqs/common.txt"
    assert found["flask"].version == "2.0.1"


def test_cyclic_includes_are_one_issue_and_every_file_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("-r a.txt\nrequests==2.19.0\n")
    (tmp_path / "a.txt").write_text("-r b.txt\njinja2==3.1.2\n")
    (tmp_path / "b.txt").write_text("-r requirements.txt\n-r a.txt\nurllib3==1.26.5\n")
    manifest = parse_manifest(
        "requirements", (tmp_path / "requirements.txt").read_bytes(), "requirements.txt", file=str(tmp_path / "requirements.txt")
    )
    assert sorted(d.name for d in manifest.dependencies) == ["jinja2", "requests", "urllib3"]
    cycles = [i for i in manifest.issues if i.rule == "cyclic-include"]
    assert [(i.path, i.line) for i in cycles] == [("b.txt", 1), ("b.txt", 2)]
    assert "requirements.txt -> a.txt -> b.txt -> requirements.txt" in cycles[0].message
    assert not any(i.incomplete for i in manifest.issues)


def test_a_file_including_itself_is_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("-r requirements.txt\nnumpy==2.0.0\n")
    found, issues = parse_file(tmp_path / "requirements.txt", "requirements")
    assert list(found) == ["numpy"]
    assert issues == ["cyclic-include@requirements.txt:1"]


def test_missing_and_remote_includes_make_the_manifest_incomplete(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("-r missing.txt\n-c https://example.org/constraints.txt\nnumpy==2.0.0\n")
    manifest = parse_manifest(
        "requirements", (tmp_path / "requirements.txt").read_bytes(), "requirements.txt", file=str(tmp_path / "requirements.txt")
    )
    assert [(i.rule, i.incomplete) for i in manifest.issues] == [("missing-include", True), ("remote-include", True)]


def test_urls_vcs_references_and_paths_are_unpinnable(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "git+https://github.com/psf/requests.git@v2.31.0#egg=requests\n"
        "https://files.example.org/packages/Flask-2.0.1-py3-none-any.whl\n"
        "-e ./libs/mylib\n"
        "torch @ https://download.pytorch.org/whl/cpu/torch-2.3.0%2Bcpu-cp311-cp311-linux_x86_64.whl\n"
    )
    found, _ = parse_file(tmp_path / "requirements.txt", "requirements")
    assert sorted(found) == ["flask", "mylib", "requests", "torch"]
    assert all(d.url is not None and d.version is None for d in found.values())
    (tmp_path / "requirements.txt").write_text("-e .\n-e git+https://github.com/example/Tool_Kit.git\n")
    found, _ = parse_file(tmp_path / "requirements.txt", "requirements")
    assert sorted(found) == [".", "tool-kit"], "a path without a name keeps the path"


def test_pyproject_pep621_optional_groups_and_poetry(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\ndependencies = [\n  "requests==2.19.0",\n  "numpy>=1.26",\n]\n\n'
        "[project.optional-dependencies]\ntrain = [\"torch==2.5.1; platform_system == 'Linux'\"]\n\n"
        '[dependency-groups]\ndev = ["pytest>=8", {include-group = "lint"}]\nlint = ["ruff==0.6.0"]\n\n'
        '[tool.poetry.dependencies]\npython = "^3.11"\njinja2 = "3.1.2"\nurllib3 = "^2.0"\n'
        'mylib = {git = "https://github.com/example/mylib.git", tag = "v1"}\n'
        'pandas = {version = "==2.2.0", extras = ["parquet"]}\n\n'
        '[tool.poetry.group.test.dependencies]\nhypothesis = "~6.100"\njinja2 = "3.1.3"\n'
    )
    found, issues = parse_file(tmp_path / "pyproject.toml", "pyproject")
    assert issues == []
    assert (found["requests"].version, found["requests"].line) == ("2.19.0", 4)
    assert found["numpy"].version is None
    assert (found["torch"].version, found["torch"].group, found["torch"].marker) == (
        "2.5.1",
        "train",
        'platform_system == "Linux"',
    )
    assert (found["pytest"].group, found["ruff"].version) == ("dev", "0.6.0")
    assert found["urllib3"].version is None, "a caret constraint is a range"
    assert found["mylib"].url == "https://github.com/example/mylib.git"
    assert (found["pandas"].version, found["pandas"].extras) == ("2.2.0", ("parquet",))
    assert (found["hypothesis"].group, found["hypothesis"].version) == ("test", None)
    manifest = parse_manifest("pyproject", (tmp_path / "pyproject.toml").read_bytes(), "pyproject.toml")
    assert [(d.group, d.version, d.line) for d in manifest.dependencies if d.name == "jinja2"] == [
        (None, "3.1.2", 17),
        ("test", "3.1.3", 24),
    ], "a bare Poetry version pins it; each entry has the line of its own table"
    assert "python" not in found


POETRY_LOCK = """\
# This file is automatically @generated by Poetry 1.8.3 and should not be changed by hand.

[[package]]
name = "requests"
version = "2.19.0"
description = "Python HTTP for Humans."
optional = false
python-versions = "*"
files = [
    {file = "requests-2.19.0.tar.gz", hash = "sha256:421cfc8d8a3ab3ad49f1e6d7e13ed76f41e4e6a9d0d5cd2e2f6d7e0d28c1e1b0"},
]

[package.dependencies]
urllib3 = ">=1.21.1,<1.24"

[[package]]
name = "mylib"
version = "0.1.0"
description = ""
optional = false
python-versions = "*"
files = []

[package.source]
type = "git"
url = "https://github.com/example/mylib.git"
reference = "HEAD"
resolved_reference = "0f1e2d3c"

[metadata]
lock-version = "2.0"
python-versions = "^3.11"
content-hash = "abc"
"""

UV_LOCK = """\
version = 1
requires-python = ">=3.11"

[[package]]
name = "demo"
version = "0.1.0"
source = { editable = "." }
dependencies = [{ name = "jinja2" }]

[[package]]
name = "jinja2"
version = "3.1.2"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://f.example/j.tar.gz", hash = "sha256:31351a702a408a9e7595a8fc6150fc3f43bb6bf7e319770cbc0db9df9437e852" }
wheels = [
    { url = "https://f.example/j.whl", hash = "sha256:6088930bfe239f0e6710546ab9c19c9ef35e29792895fed6e6e31a023a182a61" },
]

[[package]]
name = "torch"
version = "2.6.0rc1"
source = { registry = "https://download.pytorch.org/whl/test" }
"""


def test_poetry_lock(tmp_path: Path) -> None:
    (tmp_path / "poetry.lock").write_text(POETRY_LOCK)
    found, _ = parse_file(tmp_path / "poetry.lock", "poetry-lock")
    assert (found["requests"].version, found["requests"].line, found["requests"].resolved) == ("2.19.0", 3, True)
    assert found["requests"].hashes == ("sha256:421cfc8d8a3ab3ad49f1e6d7e13ed76f41e4e6a9d0d5cd2e2f6d7e0d28c1e1b0",)
    assert (found["mylib"].version, found["mylib"].url, found["mylib"].line) == (None, "https://github.com/example/mylib.git", 16)


def test_uv_lock_skips_the_project_itself(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    found, _ = parse_file(tmp_path / "uv.lock", "uv-lock")
    assert sorted(found) == ["jinja2", "torch"]
    assert (found["jinja2"].version, found["jinja2"].line, len(found["jinja2"].hashes)) == ("3.1.2", 10, 2)
    assert found["torch"].version == "2.6.0rc1"


def test_pipfile_lock_and_pipfile(tmp_path: Path) -> None:
    lock = {
        "_meta": {"hash": {"sha256": "0" * 64}, "pipfile-spec": 6, "requires": {"python_version": "3.11"}, "sources": []},
        "default": {
            "urllib3": {"hashes": ["sha256:" + "a" * 64], "markers": "python_version >= '3.7'", "version": "==2.0.5"},
            "mylib": {"git": "https://github.com/example/mylib.git", "ref": "0f1e2d3c"},
        },
        "develop": {"jinja2": {"hashes": [], "version": "==3.1.2"}},
    }
    (tmp_path / "Pipfile.lock").write_text(json.dumps(lock, indent=4))
    found, _ = parse_file(tmp_path / "Pipfile.lock", "pipfile-lock")
    assert (found["urllib3"].version, found["urllib3"].marker, found["urllib3"].group) == (
        "2.0.5",
        "python_version >= '3.7'",
        None,
    )
    assert found["urllib3"].line == 13
    assert (found["jinja2"].group, found["mylib"].url) == ("develop", "https://github.com/example/mylib.git")
    (tmp_path / "Pipfile").write_text(
        '[[source]]\nurl = "https://pypi.org/simple"\nverify_ssl = true\nname = "pypi"\n\n'
        '[packages]\nrequests = "==2.19.0"\nnumpy = "*"\nflask = {version = ">=2", extras = ["async"]}\n\n'
        '[dev-packages]\npytest = "*"\n'
    )
    found, _ = parse_file(tmp_path / "Pipfile", "pipfile")
    assert (found["requests"].version, found["requests"].line) == ("2.19.0", 7)
    assert (found["numpy"].version, found["numpy"].specifier) == (None, "")
    assert (found["flask"].extras, found["pytest"].group) == (("async",), "dev-packages")


@pytest.mark.parametrize(
    ("format", "content", "expected"),
    [
        ("pyproject", b'[project\nname = "x"\n', "not valid TOML"),
        ("poetry-lock", b"[[package]]\nversion = 1\n", "has no name"),
        ("uv-lock", b"\xff\xfe[[package]]\n", "not UTF-8"),
        ("pipfile-lock", b'{"_meta": {}, "default": [1, 2]}', '"default" must be an object'),
        ("pipfile-lock", b'{"_meta": ', "not valid JSON"),
        ("requirements", b"numpy==1.0\n\xff\n", "not UTF-8"),
        ("pyproject", b'[project]\ndependencies = "numpy"\n', "must be a list of strings"),
        ("pyproject", b"a = " + b"[" * 100_000, "nested too deeply"),
        ("pipfile-lock", b'{"_meta": ' + b"[" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_manifests_are_one_clear_error(format: str, content: bytes, expected: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(format, content, "m")
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_garbage_lines_become_short_issues(tmp_path: Path) -> None:
    # Megabytes of extras or specifiers on one line: reported as one short issue (packaging's parser is never fed them).
    text = "a[" + "b," * 1_000_000 + "\nnumpy" + ">=1," * 500_000 + "\nrequests==2.19.0\n"
    manifest = parse_manifest("requirements", text.encode(), "requirements.txt")
    assert [d.name for d in manifest.dependencies] == ["requests"]
    assert [(i.rule, i.line) for i in manifest.issues] == [("invalid-requirement", 1), ("invalid-requirement", 2)]
    assert all(len(i.message) < 150 and i.message.endswith("longer than 4096 characters") for i in manifest.issues)
    (tmp_path / "requirements.txt").write_text("-r /dev/zero\nnumpy==2.0.0\n")
    _, issues = parse_file(tmp_path / "requirements.txt", "requirements")
    assert issues == ["missing-include@requirements.txt:1"], "a device is never read"


_TOKENS = st.sampled_from(
    ["numpy", "==", ">=", "1.0", "[", "]", ",", ";", "python_version", "'3.8'", "@", "https://x/y.whl", "-r", "-c",
     "-e", "--hash=sha256:ab", "\\\n", "\n", " ", "#", "[[package]]", "name", "=", '"', "{", "}", "version", "[project]",
     "dependencies", "[tool.poetry.dependencies]", '"_meta"', ":", "default", "\x00", "\xff", "é"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(format=st.sampled_from(sorted(MANIFEST_FORMATS)), tokens=st.lists(_TOKENS, max_size=40), raw=st.binary(max_size=64))
def test_any_input_is_a_manifest_or_one_clear_error(format: str, tokens: list[str], raw: bytes) -> None:
    data = "".join(tokens).encode("utf-8", "surrogatepass") + raw
    try:
        manifest = parse_manifest(format, data, "m")
    except ManifestError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert all("\n" not in issue.message for issue in manifest.issues)


def test_a_manifest_larger_than_any_real_one_is_refused() -> None:
    from bastion.scanners.code.dependencies.interface import MAX_MANIFEST

    with pytest.raises(ManifestError, match="larger than 16 MiB"):
        parse_manifest("requirements", b"numpy==1.0\n" * (MAX_MANIFEST // 11 + 1), "requirements.txt")
