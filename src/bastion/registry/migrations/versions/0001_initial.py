"""The registry's tables, the append-only triggers, and the shipped roles and permissions.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PERMISSIONS = {
    "model.read": "list and show models, versions and their history",
    "model.register": "register a signed, scanned package as a new version",
    "model.approve.staging": "approve or reject a version for staging",
    "model.approve.prod": "approve or reject a version for production (and so for staging)",
    "model.promote": "move a version between stages, set and remove aliases",
    "model.deploy": "serve a version",
    "pipeline.run": "run pipelines",
    "audit.read": "read the audit log",
    "user.manage": "add users, issue and revoke their tokens",
    "key.trust": "add a signer whose packages the registry accepts",
}
ROLES = {
    "admin": ("everything", tuple(PERMISSIONS)),
    "ml-engineer": ("registers models", ("model.read", "model.register", "pipeline.run")),
    "data-scientist": ("reads models, runs pipelines", ("model.read", "pipeline.run")),
    "approver": ("approves or rejects versions", ("model.read", "model.approve.staging", "model.approve.prod")),
    "mlops": ("promotes and deploys approved versions", ("model.read", "model.promote", "model.deploy")),
    "auditor": ("read-only, with the audit log", ("model.read", "audit.read")),
}
APPEND_ONLY = ("history", "approvals")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    roles = op.create_table(
        "roles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
    )
    permissions = op.create_table(
        "permissions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
    )
    op.create_table(
        "role_permissions",
        sa.Column("role_id", sa.Integer, sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("permission_id", sa.Integer, sa.ForeignKey("permissions.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("created_by", sa.String(64)),
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role_id", sa.Integer, sa.ForeignKey("roles.id", ondelete="RESTRICT"), primary_key=True),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("revoked_at", _time()),
        sa.Column("revoked_by", sa.String(64)),
    )
    op.create_table(
        "trusted_keys",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("public_pem", sa.Text, nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("added_at", _time(), nullable=False),
    )
    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("package_digest", sa.String(71), nullable=False),
        sa.Column("signature_digest", sa.String(71), nullable=False),
        sa.Column("signer_key_id", sa.String(16), sa.ForeignKey("trusted_keys.key_id", ondelete="RESTRICT"), nullable=False),
        sa.Column("artifact_uri", sa.Text, nullable=False),
        sa.Column("source_run", sa.String(256)),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("model_card", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("registered_by", sa.Integer, sa.ForeignKey("users.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("registered_at", _time(), nullable=False),
        sa.UniqueConstraint("model_id", "version"),
        sa.UniqueConstraint("model_id", "package_digest"),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="ck_model_versions_status"),
        sa.CheckConstraint("stage IN ('dev', 'staging', 'prod', 'archived')", name="ck_model_versions_stage"),
    )
    op.create_table(
        "aliases",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id", ondelete="RESTRICT"), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id", ondelete="RESTRICT"), nullable=False),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id", ondelete="RESTRICT"), nullable=False, index=True),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("decided_at", _time(), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.CheckConstraint("decision IN ('approved', 'rejected')", name="ck_approvals_decision"),
        sa.CheckConstraint("stage IN ('staging', 'prod')", name="ck_approvals_stage"),
    )
    op.create_table(
        "history",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id", ondelete="RESTRICT"), nullable=False, index=True),
        sa.Column("version", sa.Integer),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(64)),
        sa.Column("old_value", sa.String(64)),
        sa.Column("new_value", sa.String(64)),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.CheckConstraint("kind IN ('registered', 'status', 'stage', 'alias')", name="ck_history_kind"),
    )
    _append_only_triggers()
    # Without explicit ids, so that PostgreSQL's sequences stay ahead of the seeded rows.
    op.bulk_insert(permissions, [{"name": name, "description": text} for name, text in PERMISSIONS.items()])
    op.bulk_insert(roles, [{"name": name, "description": text} for name, (text, _) in ROLES.items()])
    grant = sa.text(
        "INSERT INTO role_permissions (role_id, permission_id) "
        "SELECT r.id, p.id FROM roles r, permissions p WHERE r.name = :role AND p.name = :permission"
    )
    for role, (_, held) in ROLES.items():
        for permission in held:
            op.execute(grant.bindparams(role=role, permission=permission))


def _append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION bastion_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION bastion_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bastion_append_only()"
            )
        return
    for table in APPEND_ONLY:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
            )


def downgrade() -> None:
    raise NotImplementedError("the registry's first migration has no downgrade: its history is append-only")
