"""the order's draft: summary (and whether the operator edited it), the caller's state; an operator's
correction of district or scope makes an order need review

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-12 10:00:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DISPATCH_FIELDS = {"district", "scope"}


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("summary", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("summary_edited", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("caller_state", sa.String(length=10), nullable=True))
    # orders created with the operator's district or scope correction were shown auto-ready and could be
    # confirmed in bulk to the model's unit: they need a person's decision, as auto-dispatch already held
    connection = op.get_bind()
    events = sa.table("order_events", sa.column("order_id", sa.Integer), sa.column("kind", sa.String), sa.column("detail", sa.JSON))
    orders = sa.table("orders", sa.column("id", sa.Integer), sa.column("needs_review", sa.Boolean))
    corrected = []
    for order_id, detail in connection.execute(sa.select(events.c.order_id, events.c.detail).where(events.c.kind == "created")):
        detail = json.loads(detail) if isinstance(detail, str) else detail or {}
        if DISPATCH_FIELDS & set(detail.get("operator_corrected") or []):
            corrected.append(order_id)
    for start in range(0, len(corrected), 500):
        connection.execute(sa.update(orders).where(orders.c.id.in_(corrected[start : start + 500])).values(needs_review=True))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("caller_state")
        batch_op.drop_column("summary_edited")
        batch_op.drop_column("summary")
