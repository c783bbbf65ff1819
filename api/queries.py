"""Reading orders: the filtered queue, one order as the API shows it, the hotline's figures, the export."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from api.lifecycle import is_overdue
from api.models import DECIDED, OPEN_STATUSES, Order, OrderEvent, Status
from api.schemas import DayRecord, HeadRecord, OrderOut, Share, Stats
from triage.labels import ACCEPTED

SORTS = {
    "newest": (Order.created_at.desc(), Order.id.desc()),
    "oldest": (Order.created_at.asc(), Order.id.asc()),
    "due": (Order.due_at.asc(), Order.id.asc()),
}
"""`due` puts the most urgent first: emergencies fall due within 24 hours."""


def to_out(order: Order, now: dt.datetime | None = None) -> OrderOut:
    now = now or dt.datetime.now(dt.UTC)
    return OrderOut.model_validate(
        {
            "id": order.id,
            "version": order.version,
            "status": order.status,
            "created_at": order.created_at,
            "created_by": order.creator.name,
            "channel": order.channel,
            "text": order.text,
            "address": order.address,
            "suggestion": order.suggestion,
            "decision": {
                "category": order.category,
                "topic": order.topic,
                "unit": order.unit,
                "district": order.district,
                "scope": order.scope,
            },
            "held": order.held,
            "dispatched_at": order.dispatched_at,
            "dispatched_by": order.dispatcher.name if order.dispatcher else None,
            "bounce_count": order.bounce_count,
            "difficult": order.status == Status.difficult,
            "deadline": {"class": order.deadline_class, "due_at": order.due_at},
            "overdue": is_overdue(order, now),
            "reply": order.reply,
            "replied_at": order.replied_at,
            "satisfaction": order.satisfaction,
            "visited_at": order.visited_at,
            "incident_id": order.incident_id,
            "events": [{"at": e.at, "kind": e.kind, "actor": e.actor, "detail": e.detail} for e in order.events],
        }
    )


def overdue_clause(now: dt.datetime) -> Any:
    """Open and past due, or replied after the due time (the SQL twin of `lifecycle.is_overdue`)."""
    return and_(
        Order.status != Status.refused,
        or_(
            and_(Order.replied_at.is_(None), Order.due_at < now),
            and_(Order.replied_at.is_not(None), Order.replied_at > Order.due_at),
        ),
    )


def order_filter(
    query: Select[Any],
    *,
    status: list[str] | None = None,
    unit: str | None = None,
    category: str | None = None,
    district: str | None = None,
    needs_review: bool | None = None,
    overdue: bool | None = None,
    created_from: dt.datetime | None = None,
    created_to: dt.datetime | None = None,
    incident: str | None = None,
    now: dt.datetime,
) -> Select[Any]:
    """Unit, category and district match the dispatcher's decision where there is one, else the suggestion."""
    if status:
        query = query.where(Order.status.in_(status))
    if unit:
        query = query.where(func.coalesce(Order.unit, Order.suggested_unit) == unit)
    if category:
        query = query.where(func.coalesce(Order.category, Order.suggested_category) == category)
    if district:
        query = query.where(func.coalesce(Order.district, Order.suggested_district) == district)
    if needs_review is not None:
        query = query.where(Order.needs_review.is_(needs_review))
    if overdue is not None:
        clause = overdue_clause(now)
        query = query.where(clause if overdue else ~clause)
    if incident:
        query = query.where(Order.incident_id == incident)
    if created_from:
        query = query.where(Order.created_at >= created_from)
    if created_to:
        query = query.where(Order.created_at < created_to)
    return query


def list_orders(session: Session, *, limit: int, offset: int, sort: str, **filters: Any) -> tuple[list[Order], int]:
    now = dt.datetime.now(dt.UTC)
    total = session.scalar(order_filter(select(func.count()).select_from(Order), now=now, **filters)) or 0
    query = order_filter(select(Order), now=now, **filters).order_by(*SORTS[sort]).limit(limit).offset(offset)
    return list(session.scalars(query).unique()), total


def _shares(rows: list[tuple[Any, int]], total: int | None = None) -> list[Share]:
    total = total if total is not None else sum(n for _, n in rows)
    ordered = sorted(((str(label), n) for label, n in rows if label is not None), key=lambda r: (-r[1], r[0]))
    return [Share(label=label, count=n, share=round(n / total, 4) if total else 0.0) for label, n in ordered]


def _rate(hits: int | None, total: int) -> float | None:
    return round((hits or 0) / total, 4) if total else None


def stats(session: Session, *, since: dt.datetime | None = None, until: dt.datetime | None = None) -> Stats:
    """The figures a hotline reports, and the model's own record on dispatched orders."""
    now = dt.datetime.now(dt.UTC)
    window = []
    if since:
        window.append(Order.created_at >= since)
    if until:
        window.append(Order.created_at < until)

    def grouped(column: Any, *where: Any) -> list[tuple[Any, int]]:
        query = select(column, func.count()).where(*window, *where).group_by(column)
        return [(label, n) for label, n in session.execute(query).all()]

    by_status = dict(grouped(Order.status))
    total = sum(by_status.values())
    dispatched_statuses = [s.value for s in DECIDED if s != Status.refused]
    dispatched = sum(by_status.get(s, 0) for s in dispatched_statuses)
    satisfaction = grouped(Order.satisfaction, Order.satisfaction.is_not(None))
    visited = sum(n for _, n in satisfaction)
    satisfied = sum(n for label, n in satisfaction if label in ("满意", "基本满意"))
    ever_difficult = session.scalar(
        select(func.count(func.distinct(OrderEvent.order_id)))
        .join(Order, Order.id == OrderEvent.order_id)
        .where(*window, OrderEvent.kind == "difficult")
    )
    overdue = session.scalar(select(func.count()).select_from(Order).where(*window, overdue_clause(now))) or 0
    return Stats(
        orders=total,
        by_status=by_status,
        calls_by_category=_shares(grouped(func.coalesce(Order.category, Order.suggested_category)), total),
        dispatched=dispatched,
        orders_by_unit=_shares(grouped(Order.unit, Order.status.in_(dispatched_statuses)), dispatched),
        orders_by_district=_shares(grouped(Order.district, Order.status.in_(dispatched_statuses)), dispatched),
        refused=by_status.get(Status.refused, 0),
        refused_by_reason=_shares(grouped(Order.scope, Order.status == Status.refused)),
        visited=visited,
        satisfaction=_shares(satisfaction, visited),
        satisfaction_rate=_rate(satisfied, visited),
        difficult=by_status.get(Status.difficult, 0),
        ever_difficult=ever_difficult or 0,
        overdue=overdue,
        model=_model_record(session, window),
        model_by_day=_model_by_day(session, window),
    )


def _decided_rows(session: Session, window: list[Any]) -> Iterator[tuple[dt.datetime, dict[str, Any]]]:
    query = select(Order.dispatched_at, Order.held).where(*window, Order.held.is_not(None)).execution_options(yield_per=2000)
    yield from session.execute(query)


def _model_record(session: Session, window: list[Any]) -> dict[str, HeadRecord]:
    counts: dict[str, list[int]] = {}
    for _, held in _decided_rows(session, window):
        for head, record in held.items():
            c = counts.setdefault(head, [0, 0, 0])
            c[0] += 1
            c[1] += bool(record["top1"])
            c[2] += bool(record["top3"])
    return {head: HeadRecord(decided=n, top1=_rate(t1, n), top3=_rate(t3, n)) for head, (n, t1, t3) in sorted(counts.items())}


def _model_by_day(session: Session, window: list[Any]) -> list[DayRecord]:
    days: dict[dt.date, list[int]] = {}
    for at, held in _decided_rows(session, window):
        c = days.setdefault(at.astimezone(dt.timezone(dt.timedelta(hours=8))).date(), [0, 0, 0, 0])
        c[0] += 1
        if "unit" in held:
            c[1] += 1
            c[2] += bool(held["unit"]["top1"])
            c[3] += bool(held["unit"]["top3"])
    return [
        DayRecord(day=day, dispatched=n, unit_top1=_rate(t1, u), unit_top3=_rate(t3, u))
        for day, (n, u, t1, t3) in sorted(days.items())
    ]


def labelled_orders(session: Session, *, since: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
    """Decided orders in the training format of `triage train --data` (what the dispatcher confirmed)."""
    columns = (Order.id, Order.text, Order.category, Order.topic, Order.unit, Order.district, Order.scope, Order.deadline_class)
    query = select(*columns, Order.suggestion).where(Order.status.in_([s.value for s in DECIDED])).order_by(Order.id)
    if since:
        query = query.where(Order.dispatched_at >= since)
    for row in session.execute(query.execution_options(yield_per=500)):
        yield {
            "id": f"order-{row.id}",
            "text": row.text,
            "category": row.category,
            "topic": row.topic,
            "unit": row.unit,
            "district": row.district,
            "scope": row.scope,
            "deadline": row.deadline_class,
            "redirect": row.suggestion["scope"].get("redirect") if row.scope != ACCEPTED else None,
        }


__all__ = ["OPEN_STATUSES", "SORTS", "labelled_orders", "list_orders", "stats", "to_out"]
