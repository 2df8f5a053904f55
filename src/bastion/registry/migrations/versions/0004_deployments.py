"""Rollouts: each model's deployment (canary, shadow, A/B, bandit), its bandit rewards, and automatic rollbacks.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id", ondelete="RESTRICT"), primary_key=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("stable", sa.Integer, nullable=False),
        sa.Column("candidates", sa.JSON, nullable=False),
        sa.Column("share", sa.Float),
        sa.Column("sticky_key", sa.String(128)),
        sa.Column("policy", sa.String(32)),
        sa.Column("rollback_error_rate", sa.Float),
        sa.Column("rollback_p99_ms", sa.Float),
        sa.Column("rolled_back_at", _time()),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.CheckConstraint("mode IN ('canary', 'shadow', 'ab', 'bandit')", name="ck_deployments_mode"),
    )
    op.create_table(
        "bandit_arms",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("deployments.model_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("rewards", sa.Integer, nullable=False),
        sa.Column("reward_sum", sa.Float, nullable=False),
    )
    op.create_table(
        "rollback_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id", ondelete="RESTRICT"), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("stable", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("error_rate", sa.Float, nullable=False),
        sa.Column("p99_ms", sa.Float, nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("at", _time(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rollback_events")
    op.drop_table("bandit_arms")
    op.drop_table("deployments")
