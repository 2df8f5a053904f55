"""The registry's fixed vocabulary: stages, statuses, decisions and the permissions the services check.

Which role holds which permission is data (tables ``roles`` and ``role_permissions``, seeded by the first migration
with the shipped roles), so a team can add roles; the permission names themselves are what the code checks.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Stage(StrEnum):
    """Where a version is in its life: ``dev → staging → prod``, or ``archived``."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"
    ARCHIVED = "archived"


class Status(StrEnum):
    """The review status of a version: the latest approval decision, or pending before any."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Decision(StrEnum):
    """An approver's decision on a version."""

    APPROVED = "approved"
    REJECTED = "rejected"


NEXT_STAGE = {Stage.DEV: Stage.STAGING, Stage.STAGING: Stage.PROD}
"""Promotion moves one step forward; any live stage may also be archived."""
GUARDED_STAGES = (Stage.STAGING, Stage.PROD)
"""Stages a version enters only once approved, by someone other than its registrant, for that stage or a later one."""


class Permission(StrEnum):
    """What a role may do. A principal holds the union of its roles' permissions; anything else is denied."""

    MODEL_READ = "model.read"
    MODEL_REGISTER = "model.register"
    APPROVE_STAGING = "model.approve.staging"
    APPROVE_PROD = "model.approve.prod"
    MODEL_PROMOTE = "model.promote"
    MODEL_DEPLOY = "model.deploy"
    MODEL_PREDICT = "model.predict"
    PIPELINE_RUN = "pipeline.run"
    AUDIT_READ = "audit.read"
    USER_MANAGE = "user.manage"
    KEY_TRUST = "key.trust"


MODEL_SCOPED = (Permission.MODEL_PREDICT,)
"""Permissions a role may also hold for one model only, named ``PERMISSION:MODEL`` (``model.predict:churn``)."""
_SCOPED_NAME = re.compile(r"^(?P<permission>[a-z.]+):[A-Za-z0-9][A-Za-z0-9._-]*$")
_NAME_LENGTH = 64  # the permissions table's name column


def is_permission(name: str) -> bool:
    """Whether ``name`` is a permission a role may hold: one of ``Permission``, or a model-scoped one."""
    if name in Permission.__members__.values():
        return True
    match = _SCOPED_NAME.match(name)
    return match is not None and len(name) <= _NAME_LENGTH and match.group("permission") in MODEL_SCOPED


def approve_permission(stage: Stage) -> Permission:
    """The permission to approve (or reject) a version for ``stage``."""
    return Permission.APPROVE_PROD if stage is Stage.PROD else Permission.APPROVE_STAGING
