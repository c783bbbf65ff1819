"""The tables: users with hashed tokens, orders with their suggestion and decisions, and every event on an order."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Role(enum.StrEnum):
    operator = "operator"
    dispatcher = "dispatcher"
    analyst = "analyst"
    admin = "admin"


class Status(enum.StrEnum):
    """An order's place in its life: waiting for dispatch, with a unit, answered, visited; or refused, or difficult."""

    pending = "pending"
    difficult = "difficult"
    dispatched = "dispatched"
    replied = "replied"
    closed = "closed"
    refused = "refused"


OPEN_STATUSES = (Status.pending, Status.difficult, Status.dispatched)
DISPATCHABLE = (Status.pending, Status.difficult)
DECIDED = (Status.dispatched, Status.replied, Status.closed, Status.refused)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Order(Base):
    """A work order (工单). Text and address are stored masked; `version` guards concurrent decisions."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("created_by_id", "idempotency_key", name="uq_orders_idempotency"),
        Index("ix_orders_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    suggestion: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(100))
    needs_review: Mapped[bool] = mapped_column(Boolean)
    suggested_category: Mapped[str] = mapped_column(String(20))
    suggested_topic: Mapped[str] = mapped_column(String(20))
    suggested_unit: Mapped[str | None] = mapped_column(String(100))
    suggested_district: Mapped[str | None] = mapped_column(String(20))
    suggested_scope: Mapped[str] = mapped_column(String(30))
    deadline_class: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[dt.datetime] = mapped_column(index=True)

    status: Mapped[str] = mapped_column(String(20), default=Status.pending, index=True)
    category: Mapped[str | None] = mapped_column(String(20))
    topic: Mapped[str | None] = mapped_column(String(20))
    unit: Mapped[str | None] = mapped_column(String(100), index=True)
    district: Mapped[str | None] = mapped_column(String(20))
    scope: Mapped[str | None] = mapped_column(String(30))
    dispatched_at: Mapped[dt.datetime | None]
    dispatched_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    held: Mapped[dict[str, Any] | None] = mapped_column(JSON, doc="per head: did the suggestion's top-1 / top-3 hold")
    auto_dispatched: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), doc="the current dispatch was made by the system (TRIAGE_AUTO_DISPATCH)"
    )
    bounce_count: Mapped[int] = mapped_column(Integer, default=0)
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[dt.datetime | None]
    satisfaction: Mapped[str | None] = mapped_column(String(10))
    visited_at: Mapped[dt.datetime | None]
    incident_id: Mapped[str | None] = mapped_column(String(60), index=True, doc="the incident (hot spot) it belongs to")
    separated_from: Mapped[list[str] | None] = mapped_column(JSON, doc="orders a dispatcher unlinked it from")
    summary: Mapped[str | None] = mapped_column(Text, doc="the order's one line as the operator saved it (the suggestion's, or edited)")
    summary_edited: Mapped[bool | None] = mapped_column(Boolean, doc="the operator changed the suggested summary (null: before summaries)")
    caller_state: Mapped[str | None] = mapped_column(String(10), doc="平静 | 焦急 | 愤怒 | 求救: orders the queue under 紧急优先")

    creator: Mapped[User] = relationship(foreign_keys=[created_by_id], lazy="joined")
    dispatcher: Mapped[User | None] = relationship(foreign_keys=[dispatched_by_id], lazy="joined")
    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", order_by="OrderEvent.id", cascade="all, delete-orphan", lazy="selectin"
    )
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="order", order_by="Assignment.id", cascade="all, delete-orphan", lazy="selectin"
    )

    __mapper_args__ = {"version_id_col": version}


class KnowledgeVersion(Base):
    """One version of a standard answer written through the API; the newest per entry overrides data/."""

    __tablename__ = "knowledge_versions"
    __table_args__ = (UniqueConstraint("entry_id", "version", name="uq_knowledge_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    author: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OrderEvent(Base):
    """What happened to an order, by whom and when: the audit trail and the bounce history."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    order: Mapped[Order] = relationship(back_populates="events")


class AssignmentRole(enum.StrEnum):
    lead = "lead"
    assist = "assist"


class AssignmentState(enum.StrEnum):
    """sent: waiting for the unit; replied; bounced (an assisting unit took itself off the order); withdrawn (the
    lead bounced the order, so the whole coordination ended)."""

    sent = "sent"
    replied = "replied"
    bounced = "bounced"
    withdrawn = "withdrawn"


ACTIVE_ASSIGNMENT = (AssignmentState.sent, AssignmentState.replied)


class Assignment(Base):
    """One unit's part in a coordination order (协调工单): the lead (牵头) or an assisting unit (配合), each
    replying or bouncing on its own. Orders sent to one unit have none."""

    __tablename__ = "order_assignments"
    __table_args__ = (Index("ix_order_assignments_unit_role", "unit", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    unit: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20), default=AssignmentState.sent)
    assigned_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[dt.datetime | None]
    reason: Mapped[str | None] = mapped_column(Text, doc="why an assisting unit bounced")
    bounced_at: Mapped[dt.datetime | None]

    order: Mapped[Order] = relationship(back_populates="assignments")
