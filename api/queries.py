"""Reading orders: the filtered queue, one order as the API shows it, the hotline's figures, the export."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from api.lifecycle import is_auto_ready, is_overdue
from api.models import ACTIVE_ASSIGNMENT, DECIDED, OPEN_STATUSES, Assignment, AssignmentRole, Order, OrderEvent, Status
from api.schemas import Automation, AutomationRow, DayRecord, HeadRecord, OrderOut, Share, Stats, UnitRoles
from triage.labels import ACCEPTED
from triage.rules import EMERGENCY_NUMBERS

SORTS = {
    "newest": (Order.created_at.desc(), Order.id.desc()),
    "oldest": (Order.created_at.asc(), Order.id.asc()),
    "due": (Order.due_at.asc(), Order.id.asc()),
    "urgent": (
        case(
            (Order.deadline_class == "emergency", 0),
            (Order.caller_state == "求救", 1),
            (Order.caller_state == "愤怒", 2),
            (Order.caller_state == "焦急", 3),
            else_=4,
        ),
        Order.due_at.asc(),
        Order.id.asc(),
    ),
}
"""`due`: the earliest deadline first. `urgent` (紧急优先): every order of deadline class emergency first (an
emergency redirect, or an accepted matter with danger now), then callers crying for help, angry, anxious (the
caller's state raises an order in the queue, never changes its routing), then the others; each by deadline."""


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
            "working": {
                "category": order.suggested_category,
                "topic": order.suggested_topic,
                "unit": order.suggested_unit if order.suggested_scope == ACCEPTED else None,
                "district": order.suggested_district,
                "scope": order.suggested_scope,
            },
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
            "auto_ready": is_auto_ready(order),
            "auto_dispatched": bool(order.auto_dispatched),
            "summary": order.summary,
            "summary_edited": order.summary_edited,
            "caller_state": order.suggestion.get("caller_state"),
            "assist_units": [a.unit for a in order.assignments if a.role == AssignmentRole.assist and a.state in ACTIVE_ASSIGNMENT],
            "assignments": [
                {
                    "unit": a.unit, "role": a.role, "state": a.state, "assigned_at": a.assigned_at, "reply": a.reply,
                    "replied_at": a.replied_at, "reason": a.reason, "bounced_at": a.bounced_at,
                }
                for a in sorted(order.assignments, key=lambda a: (a.role != AssignmentRole.lead, a.id))
            ],
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


def auto_ready_clause() -> Any:
    """The SQL twin of `lifecycle.is_auto_ready`."""
    return and_(Order.needs_review.is_(False), Order.suggested_scope == ACCEPTED, Order.suggested_unit.is_not(None))


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
    auto_ready: bool | None = None,
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
    if auto_ready is not None:
        query = query.where(auto_ready_clause() if auto_ready else ~auto_ready_clause())
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
        automation=_automation(session, window),
        coordinated=session.scalar(
            select(func.count(func.distinct(Assignment.order_id)))
            .join(Order, Order.id == Assignment.order_id)
            .where(*window, Order.status.in_(dispatched_statuses), Assignment.role == AssignmentRole.lead, Assignment.state.in_(ACTIVE_ASSIGNMENT))
        ) or 0,
        units_by_role=_units_by_role(session, window, dispatched_statuses),
    )


def _units_by_role(session: Session, window: list[Any], dispatched_statuses: list[str]) -> list[UnitRoles]:
    """Orders each unit leads (every dispatched order's unit; coordination orders among them) and orders it
    assists (still on the order: an assisting unit that bounced is not counted)."""
    dispatched = Order.status.in_(dispatched_statuses)
    counts: dict[str, dict[str, int]] = {}
    for unit, n in session.execute(select(Order.unit, func.count()).where(*window, dispatched, Order.unit.is_not(None)).group_by(Order.unit)):
        counts.setdefault(unit, {"lead": 0, "coordinated_lead": 0, "assist": 0})["lead"] = n
    parts = (
        select(Assignment.unit, Assignment.role, func.count(func.distinct(Assignment.order_id)))
        .join(Order, Order.id == Assignment.order_id)
        .where(*window, dispatched, Assignment.state.in_(ACTIVE_ASSIGNMENT))
        .group_by(Assignment.unit, Assignment.role)
    )
    for unit, role, n in session.execute(parts):
        row = counts.setdefault(unit, {"lead": 0, "coordinated_lead": 0, "assist": 0})
        row["coordinated_lead" if role == AssignmentRole.lead else "assist"] = n
    ordered = sorted(counts.items(), key=lambda kv: (-(kv[1]["lead"] + kv[1]["assist"]), kv[0]))
    return [UnitRoles(unit=unit, **c) for unit, c in ordered]


BEIJING = dt.timezone(dt.timedelta(hours=8))
DISPATCH_EVENTS = ("auto_dispatched", "dispatched", "bounced")


def _automation(session: Session, window: list[Any]) -> Automation:
    """Per day and per unit: orders auto-ready, dispatches by the system and by people, and how often each kind of
    dispatch was bounced (the next dispatch-related event of the order is a bounce)."""
    blank = dict.fromkeys(("orders", "auto_ready", "auto", "human", "auto_bounced", "human_bounced"), 0)
    days: dict[str, dict[str, int]] = {}
    units: dict[str, dict[str, int]] = {}
    total = dict(blank)
    created = select(Order.created_at, Order.suggested_unit, auto_ready_clause()).where(*window).execution_options(yield_per=2000)
    for at, unit, ready in session.execute(created):
        for row in (total, days.setdefault(at.astimezone(BEIJING).date().isoformat(), dict(blank)), units.setdefault(str(unit), dict(blank))):
            row["orders"] += 1
            row["auto_ready"] += bool(ready)
    events = (
        select(OrderEvent.order_id, OrderEvent.kind, OrderEvent.at, OrderEvent.detail)
        .join(Order, Order.id == OrderEvent.order_id)
        .where(*window, OrderEvent.kind.in_(DISPATCH_EVENTS))
        .order_by(OrderEvent.order_id, OrderEvent.at, OrderEvent.id)
        .execution_options(yield_per=2000)
    )
    last: tuple[int, str, str, str] | None = None  # order id, mode, day, unit of the latest dispatch
    for order_id, kind, at, detail in session.execute(events):
        if kind == "bounced":
            if last is not None and last[0] == order_id:
                for row in (total, days.setdefault(last[2], dict(blank)), units.setdefault(last[3], dict(blank))):
                    row[f"{last[1]}_bounced"] += 1
                last = None
            continue
        if kind == "dispatched" and detail.get("scope", ACCEPTED) != ACCEPTED:
            last = None
            continue
        mode = "auto" if kind == "auto_dispatched" else "human"
        day, unit = at.astimezone(BEIJING).date().isoformat(), str(detail.get("unit"))
        for row in (total, days.setdefault(day, dict(blank)), units.setdefault(unit, dict(blank))):
            row[mode] += 1
        last = (order_id, mode, day, unit)

    def out(key: str, c: dict[str, int]) -> AutomationRow:
        return AutomationRow(
            key=key, orders=c["orders"], auto_ready=c["auto_ready"], auto_ready_rate=_rate(c["auto_ready"], c["orders"]),
            auto_dispatched=c["auto"], human_dispatched=c["human"], automation_rate=_rate(c["auto"], c["orders"]),
            auto_bounced=c["auto_bounced"], human_bounced=c["human_bounced"],
            auto_bounce_rate=_rate(c["auto_bounced"], c["auto"]), human_bounce_rate=_rate(c["human_bounced"], c["human"]),
        )

    by_unit = sorted(units.items(), key=lambda kv: (-(kv[1]["auto"] + kv[1]["human"] + kv[1]["orders"]), kv[0]))
    return Automation(
        total=out("all", total),
        by_day=[out(day, c) for day, c in sorted(days.items())],
        by_unit=[out(unit, c) for unit, c in by_unit if unit != "None"],
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


def _redirect(scope: str | None, recorded: str | None, suggested: dict[str, Any]) -> str | None:
    """An emergency refusal's number: the one a person recorded, else the suggestion's emergency number. Other
    refusals have none (their suggestion's `redirect` names a channel, which the training format refuses)."""
    if scope != "emergency":
        return None
    if recorded:
        return recorded
    number = suggested.get("redirect")
    return number if suggested.get("reason") == "emergency" and number in EMERGENCY_NUMBERS else None


def labelled_orders(session: Session, *, since: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
    """Decided orders in the training format of `triage train --data` (what the dispatcher confirmed)."""
    columns = (Order.id, Order.text, Order.category, Order.topic, Order.unit, Order.district, Order.scope, Order.deadline_class)
    decided = Order.status.in_([s.value for s in DECIDED])
    query = select(*columns, Order.suggestion).where(decided).order_by(Order.id)
    bounces = select(OrderEvent.order_id, OrderEvent.detail).join(Order, Order.id == OrderEvent.order_id).where(decided, OrderEvent.kind == "bounced")
    refusals = select(OrderEvent.order_id, OrderEvent.detail).join(Order, Order.id == OrderEvent.order_id).where(decided, OrderEvent.kind == "refused")
    if since:
        query = query.where(Order.dispatched_at >= since)
        bounces = bounces.where(Order.dispatched_at >= since)
        refusals = refusals.where(Order.dispatched_at >= since)
    bounced: dict[int, set[str]] = {}
    for order_id, detail in session.execute(bounces):
        if detail.get("unit"):
            bounced.setdefault(order_id, set()).add(str(detail["unit"]))
    assisting: dict[int, list[str]] = {}  # a coordination order's assisting units still on it, in the order given
    parts = (
        select(Assignment.order_id, Assignment.unit)
        .join(Order, Order.id == Assignment.order_id)
        .where(decided, Assignment.role == AssignmentRole.assist, Assignment.state.in_(ACTIVE_ASSIGNMENT))
        .order_by(Assignment.order_id, Assignment.id)
    )
    if since:
        parts = parts.where(Order.dispatched_at >= since)
    for order_id, unit in session.execute(parts):
        assisting.setdefault(order_id, []).append(unit)
    sent_to: dict[int, str] = {}  # the number a person recorded with an emergency refusal (the latest one)
    for order_id, detail in session.execute(refusals.order_by(OrderEvent.id)):
        if detail.get("redirect"):
            sent_to[order_id] = str(detail["redirect"])
    for row in session.execute(query.execution_options(yield_per=500)):
        # the confirmed unit (a coordination order's lead) is the label, its assisting units acceptable
        # alternatives after it; a unit that bounced the order never is acceptable
        refused_by = bounced.get(row.id, set())
        units_ok = [u for u in dict.fromkeys([row.unit, *assisting.get(row.id, [])]) if u and u not in refused_by]
        yield {
            "id": f"order-{row.id}",
            "text": row.text,
            "category": row.category,
            "topic": row.topic,
            "unit": row.unit,
            "units_ok": units_ok,
            "district": row.district,
            "scope": row.scope,
            "deadline": row.deadline_class,
            "redirect": _redirect(row.scope, sent_to.get(row.id), row.suggestion["scope"]),
        }


__all__ = ["OPEN_STATUSES", "SORTS", "labelled_orders", "list_orders", "stats", "to_out"]
