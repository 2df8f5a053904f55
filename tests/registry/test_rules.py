"""The registry's rules on SQLite and PostgreSQL: separation of duties, admission of packages (trusted signature,
unchanged files, clean model scan, allowed root), token revocation, and the append-only history."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from bastion.audit import AuditLog
from bastion.registry import AuthenticationFailed, PermissionDenied, Registry, RegistryError, Stage
from tests.registry.conftest import World


def test_registrant_cannot_approve_even_as_admin(world: World) -> None:
    registry, admin = world.registry, world.principals["admin"]
    registry.register(admin, world.packages.signed[0], "churn")
    with pytest.raises(RegistryError, match="separation of duties: root registered churn:1"):
        registry.approve(admin, "churn", 1)
    with pytest.raises(RegistryError, match="separation of duties"):
        registry.reject(admin, "churn", 1)
    with pytest.raises(RegistryError, match="not approved for staging"):
        registry.promote(world.principals["mlops"], "churn", 1, Stage.STAGING)
    assert registry.show_version(admin, "churn", 1).status == "pending"
    *_, entry = AuditLog.at_home().entries()
    assert (entry.action, entry.outcome, entry.actor) == ("model.promote", "refused", "mlops")


def test_promotion_needs_an_approval_for_the_stage_by_another_principal(world: World) -> None:
    registry, p = world.registry, world.principals
    registry.register(p["ml-engineer"], world.packages.signed[0], "churn")
    registry.approve(p["approver"], "churn", 1, stage=Stage.STAGING, comment="staging only")
    with pytest.raises(RegistryError, match="one stage at a time"):
        registry.promote(p["mlops"], "churn", 1, Stage.PROD)  # dev → prod skips staging
    registry.promote(p["mlops"], "churn", 1, Stage.STAGING)
    with pytest.raises(RegistryError, match="not approved for prod"):
        registry.promote(p["mlops"], "churn", 1, Stage.PROD)  # an approval for staging does not cover prod
    registry.approve(p["approver2"], "churn", 1, stage=Stage.PROD)
    registry.promote(p["mlops"], "churn", 1, Stage.PROD, comment="release 1")
    shown = registry.show_version(p["auditor"], "churn", 1)
    assert (shown.stage, shown.status) == ("prod", "approved")
    assert [(a.stage, a.decision, a.by) for a in shown.approvals] == [
        ("staging", "approved", "approver"),
        ("prod", "approved", "approver2"),
    ]


def test_a_later_rejection_blocks_promotion(world: World) -> None:
    registry, p = world.registry, world.principals
    registry.register(p["ml-engineer"], world.packages.signed[0], "churn")
    registry.approve(p["approver"], "churn", 1)
    registry.reject(p["approver2"], "churn", 1, comment="bias in segment B")
    with pytest.raises(RegistryError, match=r"not approved for staging \(status rejected\)"):
        registry.promote(p["mlops"], "churn", 1, Stage.STAGING)
    registry.promote(p["mlops"], "churn", 1, Stage.ARCHIVED)  # archiving needs no approval
    with pytest.raises(RegistryError, match="archived"):
        registry.approve(p["approver"], "churn", 1)


def test_history_records_every_change_in_order(world: World) -> None:
    registry, p = world.registry, world.principals
    registry.register(p["ml-engineer"], world.packages.signed[0], "churn")
    registry.register(p["engineer2"], world.packages.signed[1], "churn")
    registry.approve(p["approver"], "churn", 1, comment="ok")
    registry.promote(p["mlops"], "churn", 1, Stage.STAGING)
    registry.set_alias(p["mlops"], "churn", "@champion", 1)
    registry.set_alias(p["mlops"], "churn", "champion", 2)
    registry.remove_alias(p["mlops"], "churn", "champion")
    events = [(e.version, e.kind, e.subject, e.old, e.new, e.actor) for e in registry.history(p["auditor"], "churn")]
    assert events == [
        (1, "registered", None, None, "pending", "mlengineer"),
        (2, "registered", None, None, "pending", "engineer2"),
        (1, "status", None, "pending", "approved", "approver"),
        (1, "stage", None, "dev", "staging", "mlops"),
        (1, "alias", "champion", None, "1", "mlops"),
        (2, "alias", "champion", "1", "2", "mlops"),
        (2, "alias", "champion", "2", None, "mlops"),
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE history SET new_value = 'prod'",
        "DELETE FROM history",
        "UPDATE approvals SET decision = 'approved'",
        "DELETE FROM approvals",
    ],
)
def test_history_and_approvals_are_immutable_in_the_database(world: World, statement: str) -> None:
    registry, p = world.registry, world.principals
    registry.register(p["ml-engineer"], world.packages.signed[0], "churn")
    registry.reject(p["approver"], "churn", 1)
    count = "SELECT (SELECT count(*) FROM history), (SELECT count(*) FROM approvals)"
    with registry.engine.connect() as connection:
        before = connection.execute(text(count)).one()
    with pytest.raises(DatabaseError, match="append-only"), registry.engine.begin() as connection:
        connection.execute(text(statement))
    with registry.engine.connect() as connection:
        assert connection.execute(text(count)).one() == before
        decision = connection.execute(text("SELECT decision FROM approvals")).scalar_one()
    assert decision == "rejected"
    assert [e.new for e in registry.history(p["auditor"], "churn")] == ["pending", "rejected"]


def test_revoked_token_stops_working_at_once(world: World) -> None:
    registry, p = world.registry, world.principals
    engineer = p["ml-engineer"]
    registry.list_models(engineer)
    registry.revoke_token(engineer, engineer.token_id)  # one's own token: no permission needed
    with pytest.raises(AuthenticationFailed, match="revoked"):
        registry.list_models(engineer)  # the principal authenticated before the revocation
    with pytest.raises(AuthenticationFailed, match="revoked token"):
        registry.authenticate(world.tokens["ml-engineer"])
    with pytest.raises(AuthenticationFailed, match="unknown token"):
        registry.authenticate("bst_000000000000_" + "x" * 43)
    with pytest.raises(PermissionDenied, match=r"user\.manage"):
        registry.revoke_token(p["mlops"], p["approver"].token_id)  # someone else's needs user.manage
    registry.revoke_token(p["admin"], p["approver"].token_id)
    with pytest.raises(AuthenticationFailed):
        registry.approve(p["approver"], "churn", 1)
    with pytest.raises(RegistryError, match="already revoked"):
        registry.revoke_token(p["admin"], p["approver"].token_id)
    failures = [e for e in AuditLog.at_home().entries() if e.action == "login.failed"]
    assert [e.details.get("token_id") for e in failures] == [
        engineer.token_id,
        engineer.token_id,
        "000000000000",
        p["approver"].token_id,
    ]
    log_text = b"".join(segment.read_bytes() for segment in AuditLog.at_home().segments())
    assert world.tokens["ml-engineer"].encode() not in log_text


def test_tokens_are_stored_hashed(world: World) -> None:
    with world.registry.engine.connect() as connection:
        rows = [tuple(str(value) for value in row) for row in connection.execute(text("SELECT * FROM api_tokens"))]
    stored = " ".join(" ".join(row) for row in rows)
    assert len(rows) == len(world.tokens)
    for token in world.tokens.values():
        assert token not in stored
        assert token.removeprefix("bst_").partition("_")[2] not in stored  # the secret part alone


def test_register_refuses_unsigned_untrusted_changed_and_malicious_packages(world: World, tmp_path: Path) -> None:
    registry, engineer = world.registry, world.principals["ml-engineer"]
    packages = world.packages
    with pytest.raises(RegistryError, match="not signed by a trusted key"):
        registry.register(engineer, packages.untrusted, "churn")
    with pytest.raises(RegistryError, match=r"model file model/model\.pkl: (high|critical) finding"):
        registry.register(engineer, packages.malicious, "churn")
    copy = packages.directory / f"copy-{tmp_path.name}"
    shutil.copytree(packages.signed[0], copy)
    with pytest.raises(RegistryError, match="no signature"):
        registry.register(engineer, copy, "churn")
    shutil.copy(f"{packages.signed[0]}.sig", f"{copy}.sig")
    (copy / "index.json").write_bytes((copy / "index.json").read_bytes().replace(b'"latest"', b'"evil"'))
    with pytest.raises(RegistryError, match=r"changed since it was signed.*index\.json"):
        registry.register(engineer, copy, "churn")
    with pytest.raises(RegistryError, match="model name"):
        registry.register(engineer, packages.signed[0], "../etc")
    with pytest.raises(RegistryError, match="no model 'churn'"):
        registry.show_model(engineer, "churn")  # nothing was registered by any refused attempt
    refusals = [e for e in AuditLog.at_home().entries() if e.action == "model.register"]
    assert [e.outcome for e in refusals] == ["refused"] * 4


def test_register_refuses_a_package_outside_the_allowed_roots(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASTION_ARTIFACT_ROOTS", str(tmp_path / "elsewhere"))
    with pytest.raises(RegistryError, match="outside the allowed roots"):
        world.registry.register(world.principals["ml-engineer"], world.packages.signed[0], "churn")
    link = tmp_path / "elsewhere" / "package"
    link.parent.mkdir()
    link.symlink_to(world.packages.signed[0])  # a link inside the root to a package outside it
    with pytest.raises(RegistryError, match="outside the allowed roots"):
        world.registry.register(world.principals["ml-engineer"], link, "churn")


def test_registered_version_records_the_package(world: World) -> None:
    registry, p = world.registry, world.principals
    package = world.packages.signed[0]
    version = registry.register(p["ml-engineer"], package, "churn", source_run="run-42", tags={"team": "risk"})
    assert (version.name, version.version, version.status, version.stage) == ("churn", 1, "pending", "dev")
    assert version.package_digest.startswith("sha256:") and version.signature_digest.startswith("sha256:")
    assert version.artifact_uri == package.resolve().as_uri()
    assert (version.source_run, version.tags) == ("run-42", {"team": "risk"})
    assert version.model_card.get("bom-ref")
    again = Registry.open(
        None
        if world.registry.engine.dialect.name == "sqlite"
        else world.registry.engine.url.render_as_string(hide_password=False)
    )
    try:
        assert again.show_version(p["auditor"], "churn", 1) == version  # re-opening migrates nothing and loses nothing
    finally:
        again.close()
