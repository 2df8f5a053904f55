"""Artifact URIs are checked after full percent-decoding against the allowed roots."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.registry import RegistryError, validate_artifact_uri


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "artifacts" / "churn").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    return tmp_path / "artifacts"


@pytest.mark.parametrize(
    "suffix",
    [
        "churn/../../secret",
        "churn/%2e%2e/%2e%2e/secret",
        "churn/%2E%2E%2F%2E%2E%2Fsecret",
        "churn/%252e%252e%252f%252e%252e%252fsecret",  # double encoding
        "churn/%25252e%25252e/secret",  # triple encoding
        "churn/..%2f..%2fsecret",
        "churn/.%2e/.%2e/secret",
        "churn/./model",
        "churn/..%5c..%5csecret",  # backslash
        "churn/model%00.txt",  # NUL
        "churn/model%0a",  # newline
    ],
)
def test_traversal_and_control_characters_are_refused(root: Path, suffix: str) -> None:
    for uri in (f"{root}/{suffix}", f"file://{root}/{suffix}"):
        with pytest.raises(RegistryError, match="artifact URI"):
            validate_artifact_uri(uri, (str(root),))


@pytest.mark.parametrize(
    "uri",
    [
        "http://example.com/model",
        "https://example.com{root}/churn",
        "s3://bucket{root}/churn",
        "ftp://host{root}/churn",
        "file://otherhost{root}/churn",
        "{parent}/secret",
        "{root}-sibling/churn",  # shares the root's prefix but is not below it
        "relative/churn",
        "%66ile://otherhost{root}/churn",
    ],
)
def test_other_schemes_hosts_and_places_are_refused(root: Path, uri: str) -> None:
    with pytest.raises(RegistryError):
        validate_artifact_uri(uri.format(root=root, parent=root.parent), (str(root),))


def test_a_symbolic_link_out_of_the_root_is_refused(root: Path) -> None:
    (root / "churn" / "escape").symlink_to(root.parent / "secret")
    with pytest.raises(RegistryError, match="outside the allowed roots"):
        validate_artifact_uri(f"{root}/churn/escape", (str(root),))


def test_paths_below_a_root_are_accepted_in_canonical_form(root: Path) -> None:
    assert validate_artifact_uri(f"{root}/churn", (str(root),)) == (root / "churn").as_uri()
    assert validate_artifact_uri(f"file://{root}/churn%2fv1", (str(root),)) == (root / "churn" / "v1").as_uri()
    assert validate_artifact_uri(f"file://localhost{root}/churn", (str(root),)) == (root / "churn").as_uri()
    assert validate_artifact_uri(str(root), (str(root),)) == root.as_uri()


def test_object_store_roots_admit_only_their_own_prefix() -> None:
    roots = ("s3://models/prod",)
    assert validate_artifact_uri("s3://models/prod/churn/v1", roots) == "s3://models/prod/churn/v1"
    for uri in ("s3://models/prod/../dev/x", "s3://models/production/x", "s3://models/prod/x?versionId=1", "/models/prod/x"):
        with pytest.raises(RegistryError):
            validate_artifact_uri(uri, roots)


def test_bytes_that_are_not_utf8_are_refused(root: Path) -> None:
    with pytest.raises(RegistryError, match="not UTF-8"):
        validate_artifact_uri(f"{root}/churn/%ff%fe", (str(root),))
