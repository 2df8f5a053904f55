"""What the registry's services hand back: plain frozen records, detached from the database session."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


def iso(when: dt.datetime) -> str:
    """UTC ISO 8601 (SQLite hands datetimes back without their zone; they are stored in UTC)."""
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).isoformat()


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. Every operation re-checks its token, so a revoked token stops working at once."""

    name: str
    """The user's name (the audit log's actor)."""
    roles: tuple[str, ...]
    """The user's roles when authenticated."""
    permissions: frozenset[str]
    """The roles' permissions when authenticated (for display; operations re-read them)."""
    token_id: str
    """The public id of the token used."""
    token_hash: str
    """SHA-256 of the token used (never the token)."""


@dataclass(frozen=True)
class IssuedToken:
    """A token just issued: the only moment the token itself is known."""

    user: str
    """The user the token belongs to."""
    roles: tuple[str, ...]
    """The user's roles."""
    token_id: str
    """Public identifier, for ``bastion tokens revoke``."""
    token: str
    """The token itself: shown now, never again (only its SHA-256 is stored)."""

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "roles": list(self.roles), "token_id": self.token_id, "token": self.token}


@dataclass(frozen=True)
class ApprovalView:
    """A decision on a version."""

    stage: str
    """The stage decided on: ``staging`` or ``prod``."""
    decision: str
    """``approved`` or ``rejected``."""
    by: str
    """Who decided."""
    at: str
    """When (UTC, ISO 8601)."""
    comment: str
    """Why, in the approver's words."""

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "decision": self.decision, "by": self.by, "at": self.at, "comment": self.comment}


@dataclass(frozen=True)
class VersionView:
    """A model version as the registry holds it."""

    name: str
    """The model's name."""
    version: int
    """1, 2, … within the model."""
    status: str
    """``pending``, ``approved`` or ``rejected``: the latest decision."""
    stage: str
    """``dev``, ``staging``, ``prod`` or ``archived``."""
    package_digest: str
    """``sha256:<hex>`` of the package's OCI manifest."""
    signature_digest: str
    """``sha256:<hex>`` of the signature file that verified."""
    signer_key_id: str
    """The trusted key that signed the package."""
    artifact_uri: str
    """Where the package is (``file:///…``), checked against the allowed roots."""
    source_run: str | None
    """The pipeline run that produced it, when given."""
    metrics: dict[str, Any]
    """The ML-BOM's performance metrics."""
    tags: dict[str, Any]
    """Free-form key/value tags given at registration."""
    model_card: dict[str, Any]
    """The ML-BOM's CycloneDX model card."""
    registered_by: str
    """Who registered it (who may not approve it)."""
    registered_at: str
    """When (UTC, ISO 8601)."""
    aliases: tuple[str, ...]
    """The model's aliases pointing at this version."""
    approvals: tuple[ApprovalView, ...]
    """Every decision on it, oldest first."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "stage": self.stage,
            "package_digest": self.package_digest,
            "signature_digest": self.signature_digest,
            "signer_key_id": self.signer_key_id,
            "artifact_uri": self.artifact_uri,
            "source_run": self.source_run,
            "metrics": self.metrics,
            "tags": self.tags,
            "model_card": self.model_card,
            "registered_by": self.registered_by,
            "registered_at": self.registered_at,
            "aliases": list(self.aliases),
            "approvals": [approval.to_dict() for approval in self.approvals],
        }


@dataclass(frozen=True)
class ModelView:
    """A registered model and its versions."""

    name: str
    """The model's name."""
    created_by: str
    """Who registered its first version."""
    created_at: str
    """When (UTC, ISO 8601)."""
    versions: tuple[VersionView, ...]
    """Every version, oldest first."""
    aliases: dict[str, int]
    """Alias name to version number."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "aliases": dict(self.aliases),
            "versions": [version.to_dict() for version in self.versions],
        }


@dataclass(frozen=True)
class HistoryView:
    """One recorded change of a version's status or stage, or of an alias."""

    version: int | None
    """The version changed."""
    kind: str
    """``registered``, ``status``, ``stage`` or ``alias``."""
    subject: str | None
    """The alias's name, for ``alias`` events."""
    old: str | None
    """The value before (None for a new version or alias)."""
    new: str | None
    """The value after (None for a removed alias)."""
    actor: str
    """Who made the change."""
    at: str
    """When (UTC, ISO 8601)."""
    comment: str
    """The comment given with the change."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "kind": self.kind,
            "subject": self.subject,
            "old": self.old,
            "new": self.new,
            "actor": self.actor,
            "at": self.at,
            "comment": self.comment,
        }
