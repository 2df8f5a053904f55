"""The registry's tables as SQLAlchemy 2 typed ORM classes; the migrations under ``migrations/`` create them.

``history`` and ``approvals`` are append-only: database triggers (created by the migration, on SQLite and PostgreSQL)
refuse every UPDATE and DELETE, so not even a direct SQL session can rewrite what happened.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    """The registry's declarative base."""


class Role(Base):
    """A named set of permissions."""

    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    permissions: Mapped[list[PermissionRow]] = relationship(secondary="role_permissions")


class PermissionRow(Base):
    """A permission a role may hold (``model.register``, …; see ``vocabulary.Permission``)."""

    __tablename__ = "permissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class RolePermission(Base):
    """A permission held by a role."""

    __tablename__ = "role_permissions"

    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)
    permission_id: Mapped[int] = mapped_column(ForeignKey("permissions.id", ondelete="CASCADE"), primary_key=True)


class User(Base):
    """A principal: a person or a service account."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(64))
    roles: Mapped[list[Role]] = relationship(secondary="user_roles")


class UserRole(Base):
    """A role granted to a user."""

    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="RESTRICT"), primary_key=True)


class ApiToken(Base):
    """An API token: only its SHA-256 is stored; the token itself is shown once, when issued."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    """Public identifier, shown with the token and in listings, used to revoke it."""
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    user: Mapped[User] = relationship()


class TrustedKey(Base):
    """A public key whose package signatures the registry accepts."""

    __tablename__ = "trusted_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    """First 16 hex digits of the SHA-256 of the key's DER form."""
    public_pem: Mapped[str] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class RegisteredModel(Base):
    """A model in the inventory; its versions carry the packages."""

    __tablename__ = "registered_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))
    versions: Mapped[list[ModelVersion]] = relationship(back_populates="model", order_by="ModelVersion.version")


class ModelVersion(Base):
    """One registered package of a model."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"), UniqueConstraint("model_id", "package_digest"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
    package_digest: Mapped[str] = mapped_column(String(71))
    """``sha256:<hex>`` of the package's OCI manifest."""
    signature_digest: Mapped[str] = mapped_column(String(71))
    """``sha256:<hex>`` of the OMS signature file that verified."""
    signer_key_id: Mapped[str] = mapped_column(ForeignKey("trusted_keys.key_id", ondelete="RESTRICT"))
    artifact_uri: Mapped[str] = mapped_column(Text)
    source_run: Mapped[str | None] = mapped_column(String(256))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_card: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(16))
    registered_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    model: Mapped[RegisteredModel] = relationship(back_populates="versions")
    registrant: Mapped[User] = relationship()


class Alias(Base):
    """A movable name for one version of a model (``@champion``)."""

    __tablename__ = "aliases"

    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="RESTRICT"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="RESTRICT"))
    version: Mapped[ModelVersion] = relationship()


class Approval(Base):
    """A decision on a version for a stage (append-only)."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="RESTRICT"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str] = mapped_column(Text, default="")
    user: Mapped[User] = relationship()


class HistoryEvent(Base):
    """One change of a version's status, stage or an alias (append-only)."""

    __tablename__ = "history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="RESTRICT"), index=True)
    version: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    """``registered``, ``status``, ``stage`` or ``alias``."""
    subject: Mapped[str | None] = mapped_column(String(64))
    """The alias's name for ``alias`` events."""
    old_value: Mapped[str | None] = mapped_column(String(64))
    new_value: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str] = mapped_column(Text, default="")


class OutboxEvent(Base):
    """An audit event of a committed change, not yet in the audit log (the transactional outbox).

    Inserted in the change's own transaction, so it exists exactly when the change was committed; appended to the
    log and deleted right after the commit, or by whichever process drains the outbox next after a crash.
    """

    __tablename__ = "audit_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    """Random hex, recorded in the entry's details, so an event already appended is recognised and not appended again."""
    log_size: Mapped[int] = mapped_column(BigInteger)
    """Entries the log held before the change committed: the event's entry, if appended, comes at or after it."""
    action: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Deployment(Base):
    """How a model's traffic is split between its versions (``bastion deploy``): canary, shadow, A/B or bandit."""

    __tablename__ = "deployments"

    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="RESTRICT"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    """``canary``, ``shadow``, ``ab`` or ``bandit``."""
    stable: Mapped[int] = mapped_column(Integer)
    """The version that answers when nothing else does, and takes all traffic after a rollback."""
    candidates: Mapped[list[int]] = mapped_column(JSON)
    """The versions under test (a bandit's other arms)."""
    share: Mapped[float | None] = mapped_column(Float)
    """Canary weight and A/B split in percent, shadow fraction in [0, 1]; None for bandits."""
    sticky_key: Mapped[str | None] = mapped_column(String(128))
    """A/B: where the sticky key comes from, ``header:NAME``."""
    policy: Mapped[str | None] = mapped_column(String(32))
    """Bandits: ``thompson`` or ``epsilon-greedy``."""
    rollback_error_rate: Mapped[float | None] = mapped_column(Float)
    rollback_p99_ms: Mapped[float | None] = mapped_column(Float)
    rolled_back_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    model: Mapped[RegisteredModel] = relationship()


class BanditArm(Base):
    """The rewards a bandit deployment has seen for one version; kept across restarts."""

    __tablename__ = "bandit_arms"

    model_id: Mapped[int] = mapped_column(ForeignKey("deployments.model_id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    rewards: Mapped[int] = mapped_column(Integer, default=0)
    """How many rewards arrived."""
    reward_sum: Mapped[float] = mapped_column(Float, default=0.0)


class RollbackEvent(Base):
    """An automatic rollback: a candidate breached its error-rate or p99 threshold and traffic went back to stable."""

    __tablename__ = "rollback_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="RESTRICT"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    """The candidate rolled back."""
    stable: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    error_rate: Mapped[float] = mapped_column(Float)
    p99_ms: Mapped[float] = mapped_column(Float)
    samples: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


APPEND_ONLY_TABLES = ("history", "approvals")
"""Tables whose rows the database itself refuses to update or delete."""

__all__ = [
    "APPEND_ONLY_TABLES",
    "Alias",
    "ApiToken",
    "Approval",
    "BanditArm",
    "Base",
    "Deployment",
    "HistoryEvent",
    "ModelVersion",
    "OutboxEvent",
    "PermissionRow",
    "RegisteredModel",
    "Role",
    "RolePermission",
    "RollbackEvent",
    "TrustedKey",
    "User",
    "UserRole",
]
