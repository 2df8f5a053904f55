"""The authorization matrix: every service operation, run by every shipped role, on SQLite and PostgreSQL, is allowed
or denied exactly as the permission table says; a sample of CLI commands agrees."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from bastion.audit import AuditLog
from bastion.cli import main
from bastion.registry import Permission, PermissionDenied, Principal, Registry, Stage
from bastion.registry.errors import AccessDenied
from bastion.signing import generate_key_pair
from tests.registry.conftest import ROLES, World

READ = {"list", "show-model", "show-version", "history"}
EXPECTED_ALLOWED = {
    "admin": {
        *READ,
        "register",
        "approve",
        "approve-staging",
        "reject",
        "promote",
        "set-alias",
        "remove-alias",
        "add-user",
        "add-role",
        "revoke-other-token",
        "trust-key",
        "check-deploy",
        "check-run",
        "check-audit",
    },
    "ml-engineer": {*READ, "register", "check-run"},
    "data-scientist": {*READ, "check-run"},
    "approver": {*READ, "approve", "approve-staging", "reject"},
    "mlops": {*READ, "promote", "set-alias", "remove-alias", "check-deploy"},
    "auditor": {*READ, "check-audit"},
}
"""Written from the issue's role list, independently of the migration that seeds the tables."""

SHIPPED_PERMISSIONS = {
    "admin": {
        "model.read",
        "model.register",
        "model.approve.staging",
        "model.approve.prod",
        "model.promote",
        "model.deploy",
        "model.predict",
        "pipeline.run",
        "audit.read",
        "user.manage",
        "key.trust",
    },
    "ml-engineer": {"model.read", "model.register", "pipeline.run"},
    "data-scientist": {"model.read", "pipeline.run"},
    "approver": {"model.read", "model.approve.staging", "model.approve.prod"},
    "mlops": {"model.read", "model.promote", "model.deploy"},
    "auditor": {"model.read", "audit.read"},
}

Operation = Callable[[Registry, Principal, str], object]


class Fixture:
    """Versions in the states the operations need, prepared by the admin and the engineers."""

    def __init__(self, world: World) -> None:
        self.world = world
        registry, p = world.registry, world.principals
        signed = world.packages.signed
        for package in signed[:4]:
            registry.register(p["engineer2"], package, "shared")
        registry.approve(p["approver2"], "shared", 3)
        registry.approve(p["approver2"], "shared", 4)
        self.promotable = iter((3, 4))
        self.spare_package = signed[4]

    def operations(self) -> dict[str, Operation]:
        registry = self.world.registry
        admin = self.world.principals["admin"]

        def promote(r: Registry, who: Principal, role: str) -> object:
            # Each allowed attempt promotes a fresh approved version; denied ones are refused before any state check.
            version = next(self.promotable) if "promote" in EXPECTED_ALLOWED.get(role, ()) else 1
            return r.promote(who, "shared", version, Stage.STAGING)

        def remove_alias(r: Registry, who: Principal, role: str) -> object:
            registry.set_alias(admin, "shared", "gone", 1)
            return r.remove_alias(who, "shared", "gone")

        def revoke_other(r: Registry, who: Principal, role: str) -> object:
            issued = registry.add_user(admin, f"victim-{role.replace('-', '')}", ["auditor"])
            return r.revoke_token(who, issued.token_id)

        def trust(r: Registry, who: Principal, role: str) -> object:
            key = generate_key_pair(Path(tempfile.mkdtemp(dir=self.world.packages.directory)) / "key")
            return r.trust_key(who, key.public_key)

        return {
            "list": lambda r, who, role: r.list_models(who),
            "show-model": lambda r, who, role: r.show_model(who, "shared"),
            "show-version": lambda r, who, role: r.show_version(who, "shared", 1),
            "history": lambda r, who, role: r.history(who, "shared"),
            "register": lambda r, who, role: r.register(who, self.spare_package, f"own-{role}"),
            "approve": lambda r, who, role: r.approve(who, "shared", 1),
            "approve-staging": lambda r, who, role: r.approve(who, "shared", 1, stage=Stage.STAGING),
            "reject": lambda r, who, role: r.reject(who, "shared", 2),
            "promote": promote,
            "set-alias": lambda r, who, role: r.set_alias(who, "shared", "champion", 1),
            "remove-alias": remove_alias,
            "add-user": lambda r, who, role: r.add_user(who, f"new-{role.replace('-', '')}", ["auditor"]),
            "add-role": lambda r, who, role: r.add_role(who, f"role-{role.replace('-', '')}", ["model.read"]),
            "revoke-other-token": revoke_other,
            "trust-key": trust,
            "check-deploy": lambda r, who, role: r.check(who, Permission.MODEL_DEPLOY),
            "check-run": lambda r, who, role: r.check(who, Permission.PIPELINE_RUN),
            "check-audit": lambda r, who, role: r.check(who, Permission.AUDIT_READ),
        }


def test_shipped_permission_table(world: World) -> None:
    query = text(
        "SELECT r.name, p.name FROM roles r JOIN role_permissions rp ON rp.role_id = r.id "
        "JOIN permissions p ON p.id = rp.permission_id"
    )
    with world.registry.engine.connect() as connection:
        table: dict[str, set[str]] = {}
        for role, permission in connection.execute(query):
            table.setdefault(role, set()).add(permission)
    assert table == SHIPPED_PERMISSIONS


def test_every_operation_against_every_role(world: World) -> None:
    fixture = Fixture(world)
    operations = fixture.operations()
    assert set(operations) == set().union(*EXPECTED_ALLOWED.values())
    log = AuditLog.at_home()
    outcomes: dict[tuple[str, str], str] = {}
    for role in ROLES:
        who = world.principals[role]
        for name, operation in operations.items():
            try:
                operation(world.registry, who, role)
            except PermissionDenied as exc:
                outcomes[role, name] = "deny"
                assert exc.permission in str(exc)  # the error names the missing permission
                assert exc.permission not in SHIPPED_PERMISSIONS[role]
                *_, denial = log.entries()  # the last entry: preparations by the admin come before it
                assert (denial.action, denial.outcome, denial.actor) == ("permission.denied", "deny", who.name)
                assert denial.details["permission"] == exc.permission
            else:
                outcomes[role, name] = "allow"
    expected = {(role, name): "allow" if name in EXPECTED_ALLOWED[role] else "deny" for role in ROLES for name in operations}
    assert outcomes == expected


def test_a_role_without_permissions_is_denied_everything(world: World) -> None:
    registry, admin = world.registry, world.principals["admin"]
    registry.add_role(admin, "nobody", [])
    who = registry.authenticate(registry.add_user(admin, "nemo", ["nobody"]).token)
    for operation in Fixture(world).operations().values():
        with pytest.raises(PermissionDenied):
            operation(registry, who, "nobody")


def test_a_team_role_holds_exactly_its_permissions(world: World) -> None:
    registry, admin = world.registry, world.principals["admin"]
    registry.add_role(admin, "release-manager", ["model.read", "model.promote", "model.approve.staging"])
    who = registry.authenticate(registry.add_user(admin, "rita", ["release-manager"]).token)
    assert who.permissions == {"model.read", "model.promote", "model.approve.staging"}
    fixture = Fixture(world)
    registry.approve(who, "shared", 1, stage=Stage.STAGING)
    with pytest.raises(PermissionDenied, match=r"model\.approve\.prod"):
        registry.approve(who, "shared", 1, stage=Stage.PROD)
    with pytest.raises(PermissionDenied, match=r"model\.register"):
        registry.register(who, fixture.spare_package, "rita-model")


CLI_SAMPLE: dict[str, tuple[Callable[[str], list[str]], str]] = {
    "models list": (lambda role: ["models", "list"], "model.read"),
    "models approve": (lambda role: ["models", "approve", "shared", "1"], "model.approve.prod"),
    "users add": (lambda role: ["users", "add", f"cli-{role.replace('-', '')}", "--role", "auditor"], "user.manage"),
    # Each role archives its own version: an allowed attempt must not fail for a reason other than permission.
    "models promote": (
        lambda role: ["models", "promote", "shared", {"admin": "2", "mlops": "3"}.get(role, "4"), "--to", "archived"],
        "model.promote",
    ),
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_sample_against_every_role(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    Fixture(world)
    for command, (argv, permission) in CLI_SAMPLE.items():
        for role in ROLES:
            with pytest.raises(SystemExit) as exit_info:
                main([*argv(role), "--token", world.tokens[role], "--format", "json"])
            out, err = capsys.readouterr()
            if permission in SHIPPED_PERMISSIONS[role]:
                assert exit_info.value.code == 0, (command, role, err)
                json.loads(out)
            else:
                assert exit_info.value.code == AccessDenied.exit_code, (command, role, err)
                assert err.startswith("bastion: error: permission denied:")
                assert f"lacks the permission {permission}" in err


def test_cli_without_registry_or_token_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["models", "list"])
    assert exit_info.value.code == 2
    assert "no registry here; run 'bastion init' first" in capsys.readouterr().err
    assert not (home / "registry.db").exists()  # a command run in the wrong place leaves nothing behind
    Registry.open(create=True).close()
    with pytest.raises(SystemExit) as exit_info:
        main(["models", "list"])
    assert exit_info.value.code == AccessDenied.exit_code
    assert "no token given" in capsys.readouterr().err
    *_, entry = AuditLog.at_home().entries()
    assert (entry.action, entry.actor, entry.outcome) == ("login.failed", "anonymous", "deny")
