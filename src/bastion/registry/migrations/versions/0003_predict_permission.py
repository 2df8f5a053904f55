"""The permission to call served models (``bastion serve``): ``model.predict``, held by the admin role.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PERMISSION = "model.predict"


def upgrade() -> None:
    op.execute(
        sa.text("INSERT INTO permissions (name, description) VALUES (:name, :description)").bindparams(
            name=PERMISSION, description="call predict, explain and feedback on served models"
        )
    )
    op.execute(
        sa.text(
            "INSERT INTO role_permissions (role_id, permission_id) "
            "SELECT r.id, p.id FROM roles r, permissions p WHERE r.name = 'admin' AND p.name = :name"
        ).bindparams(name=PERMISSION)
    )


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM role_permissions WHERE permission_id IN (SELECT id FROM permissions WHERE name = :name)").bindparams(
            name=PERMISSION
        )
    )
    op.execute(sa.text("DELETE FROM permissions WHERE name = :name").bindparams(name=PERMISSION))
