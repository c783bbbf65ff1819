"""coordination orders: a lead unit and up to four assisting units, each replying or bouncing on its own

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-12 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("bounced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_order_assignments_order_id", "order_assignments", ["order_id"])
    op.create_index("ix_order_assignments_unit_role", "order_assignments", ["unit", "role"])


def downgrade() -> None:
    op.drop_index("ix_order_assignments_unit_role", table_name="order_assignments")
    op.drop_index("ix_order_assignments_order_id", table_name="order_assignments")
    op.drop_table("order_assignments")
