"""The registry's commands as a user runs them: ``bastion init`` prints the first admin's token once, and the token
carries a package from build and sign to registration, approval, promotion and an alias."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bastion.cli import main
from tests.conftest import RunBastion
from tests.registry.conftest import Packages


def _json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_init_then_a_package_through_the_registry(
    home: Path, packages: Packages, run_bastion: RunBastion, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def in_process(*args: str) -> subprocess.CompletedProcess[str]:
        """The same ``main`` in this process: the subprocesses above cost a second or two each on a loaded machine."""
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, int(exit_info.value.code or 0), out, err)

    monkeypatch.setenv("BASTION_ARTIFACT_ROOTS", str(packages.directory))
    init = _json(run_bastion("init", "--format", "json"))
    admin = str(init["token"])
    assert admin.startswith("bst_") and init["admin"] == "admin"
    assert stat.S_IMODE((home / "registry.db").stat().st_mode) == 0o600
    again = _json(run_bastion("init", "--format", "json"))
    assert again["token"] is None  # shown once: a second init creates no admin and prints no token

    issued = _json(run_bastion("users", "add", "eve", "--role", "ml-engineer", "--format", "json", env={"BASTION_TOKEN": admin}))
    assert (issued["user"], issued["roles"]) == ("eve", ["ml-engineer"])
    users = {"eve": str(issued["token"])}
    for name, role in (("ann", "approver"), ("oli", "mlops")):
        users[name] = str(_json(in_process("users", "add", name, "--role", role, "--token", admin, "--format", "json"))["token"])
    trusted = _json(in_process("keys", "trust", str(packages.key.public_key), "--token", admin, "--format", "json"))
    assert trusted["trusted"] is True

    package = str(packages.signed[0])
    registered = _json(run_bastion("models", "register", package, "--name", "churn", "--token", users["eve"], "--format", "json"))
    assert {key: registered[key] for key in ("name", "version", "status")} == {"name": "churn", "version": 1, "status": "pending"}
    own = run_bastion("models", "approve", "churn", "1", "--token", users["eve"])
    assert own.returncode == 3 and "lacks the permission model.approve.prod" in own.stderr

    _json(in_process("models", "approve", "churn", "1", "--comment", "ok", "--token", users["ann"], "--format", "json"))
    for stage in ("staging", "prod"):
        _json(in_process("models", "promote", "churn", "1", "--to", stage, "--token", users["oli"], "--format", "json"))
    _json(in_process("models", "alias", "churn", "@champion", "1", "--token", users["oli"], "--format", "json"))
    shown = _json(in_process("models", "show", "churn@champion", "--token", users["eve"], "--format", "json"))
    assert (shown["stage"], shown["status"], shown["aliases"]) == ("prod", "approved", ["champion"])
    history = _json(in_process("models", "history", "churn", "--token", users["eve"], "--format", "json"))
    assert [event["kind"] for event in history["history"]] == ["registered", "status", "stage", "stage", "alias"]
    revoked = _json(in_process("tokens", "revoke", users["oli"].split("_")[1], "--token", admin, "--format", "json"))
    assert revoked["revoked"] is True

    refused = run_bastion("models", "list", "--token", users["oli"])
    assert refused.returncode == 3 and "revoked token" in refused.stderr and "Traceback" not in refused.stderr
    audit = run_bastion("audit", "verify")
    assert audit.returncode == 0, audit.stdout


def test_head_revision_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from bastion.registry import database

    config = Config()
    config.set_main_option("script_location", str(Path(database.__file__).with_name("migrations")))
    assert ScriptDirectory.from_config(config).get_heads() == [database.HEAD_REVISION]


def test_migrations_create_exactly_the_mapped_schema(database_url: str | None) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bastion.registry import open_engine
    from bastion.registry.schema import Base

    engine = open_engine(database_url, create=True)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://alice:hunter2@127.0.0.1:1/registry", "cannot open the registry database"),
        ("mysql://alice:hunter2@127.0.0.1/registry", "Bastion supports sqlite:// and postgresql://"),
        ("not a url", "not a database URL"),
    ],
)
def test_an_unusable_database_url_is_one_line_without_the_password(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, message: str
) -> None:
    monkeypatch.setenv("BASTION_DB_URL", url)
    with pytest.raises(SystemExit) as exit_info:
        main(["models", "list", "--token", "bst_000000000000_x"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert message in err and err.count("\n") == 1 and "hunter2" not in err
    assert not home.exists()  # nothing created for a registry that could not be opened
