"""The order's life: created with a suggestion, dispatched (or refused), bounced, replied, visited.

Routes stay thin: each function here is one step, validated against the order's state and version, and
written in one transaction together with its event, so an order is never half-changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from api.db import begin_write
from api.hotspots import HotspotService
from api.knowledge import KnowledgeService
from api.models import (
    ACTIVE_ASSIGNMENT,
    DISPATCHABLE,
    Assignment,
    AssignmentRole,
    AssignmentState,
    Order,
    OrderEvent,
    Status,
    User,
    utcnow,
)
from api.schemas import (
    REGISTER_OF_CHANNEL,
    BounceRequest,
    CoordinateRequest,
    DispatchRequest,
    OrderCreate,
    ReplyRequest,
    VisitRequest,
)
from triage.deadlines import DeadlinePolicy
from triage.labels import ACCEPTED, SCOPE_CODES
from triage.normalise import mask_pii as _mask_numbers
from triage.pipeline import TriagePipeline
from triage.schemas import Suggestion
from triage.units import Catalogue


class LifecycleError(Exception):
    """A request the order's state refuses; `status` is the HTTP status it maps to."""

    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(LifecycleError):
    status = 404


class Conflict(LifecycleError):
    status = 409


class Invalid(LifecycleError):
    status = 422


class PreconditionRequired(LifecycleError):
    status = 428


def mask_pii(text: str) -> str:
    """Free text stored as given (address, reasons, notes, replies): personal numbers masked, and NUL
    characters dropped, which PostgreSQL text cannot hold (they made such requests fail with a 500)."""
    return _mask_numbers(text.replace("\x00", ""))


def request_hash(body: OrderCreate) -> str:
    fields = body.model_dump()
    if fields.get("summary") is None:
        fields.pop("summary")  # a request without one hashes as before summaries existed: retries across an upgrade replay
    payload = json.dumps(fields, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class Created:
    order: Order
    replayed: bool
    """True when an earlier request with the same Idempotency-Key created it."""


SYSTEM = "system"
"""The actor of what the service does by itself (auto-dispatch)."""
logger = logging.getLogger(__name__)


def _event(order: Order, kind: str, user: User | None, *, system: bool = False, **detail: Any) -> None:
    actor = user.name if user else (SYSTEM if system else None)
    order.events.append(OrderEvent(kind=kind, actor_id=user.id if user else None, actor=actor, detail=detail))


def _existing(session: Session, user: User, key: str, digest: str) -> Order | None:
    order = session.scalar(select(Order).where(Order.created_by_id == user.id, Order.idempotency_key == key))
    if order is not None and order.request_hash != digest:
        raise Invalid("this Idempotency-Key was already used for a different request; use a new key for a new order")
    return order


def create_order(
    session: Session,
    pipeline: TriagePipeline,
    body: OrderCreate,
    user: User,
    idempotency_key: str | None,
    *,
    knowledge: KnowledgeService | None = None,
    hotspots: HotspotService | None = None,
    auto_dispatch: bool = False,
) -> Created:
    """Run the pipeline and store the order, linked to its incident; a retry with the same key returns the
    first order instead.

    With `auto_dispatch`, an order whose suggestion is fully auto (accepted, no field a dispatch depends on
    left for review) is dispatched to the suggested unit in the same transaction, by the system.
    """
    digest = request_hash(body)
    if idempotency_key:
        found = _existing(session, user, idempotency_key, digest)
        if found is not None:
            return Created(found, True)
        session.rollback()  # the pipeline runs outside any transaction
    now = utcnow()
    suggestion = pipeline.suggest(body.text, address=body.address, created_at=now, register=REGISTER_OF_CHANNEL[body.channel])
    if knowledge is not None:
        suggestion = knowledge.answer(session, suggestion)
    order = _new_order(suggestion, body, user, idempotency_key, digest, now)
    edited = _operator_edits(order, body, pipeline)
    if DISPATCH_FIELDS & set(edited):
        order.needs_review = True  # the model's unit was chosen for the model's district and scope: a person decides
    summary_edited = _operator_summary(order, suggestion, body)
    override, redirect = _operator_scope(order, suggestion, body, pipeline.deadlines)
    extra: dict[str, Any] = {"redirect": body.redirect} if body.redirect else {}
    extra["summary_edited"] = summary_edited
    if body.override_note and override is None:
        extra["note"] = mask_pii(body.override_note)  # nothing to override (the suggestion changed): kept, not lost
    begin_write(session)
    session.add(order)
    _event(order, "created", user, model_version=suggestion.model_version, operator_corrected=edited, **extra)
    if override is not None:
        _event(order, "scope_overridden", user, **override)
    if body.refuse:
        decision = _working_decision(order, unit=None)
        _record_dispatch(order, decision, now, dispatcher=user)
        order.dispatched_by_id = user.id
        _event(order, "refused", user, **decision, redirect=redirect, corrected=_corrected(order.suggestion, decision), by_operator=True)
    try:
        if hotspots is not None:
            hotspots.serialise(session)
        session.flush()
        if hotspots is not None:
            link = hotspots.link(session, order)
            if link is not None:
                unit = session.scalar(
                    select(Order.unit)
                    .where(Order.incident_id == link.incident_id, Order.unit.is_not(None), Order.id != order.id)
                    .order_by(Order.dispatched_at)
                    .limit(1)
                )
                _event(
                    order,
                    "linked",
                    None,
                    incident=link.incident_id,
                    score=round(link.score, 3),
                    place=link.shared_place,
                    unit=unit,  # where the incident's earlier orders went: dispatch it there too
                )
                if link.merged:
                    _event(order, "incident_merged", None, incident=link.incident_id, merged=list(link.merged))
        if auto_dispatch and not body.refuse:
            _auto_dispatch(session, order, suggestion, edited, pipeline.knowledge.catalogue, now)
        session.commit()
    except Exception as exc:
        session.rollback()
        if hotspots is not None:
            hotspots.invalidate()  # its memory may hold an order the database never got
        if not (idempotency_key and isinstance(exc, IntegrityError)):
            raise
        found = _existing(session, user, idempotency_key, digest)
        if found is None:
            raise
        return Created(found, True)
    return Created(order, False)


DISPATCH_FIELDS = frozenset({"scope", "district"})
"""The operator's corrections that make an order need a person's dispatch: the suggested unit was chosen for
the model's scope and district (auto-dispatch, `is_auto_ready` and bulk confirmation all hold to this)."""


def _operator_summary(order: Order, suggestion: Suggestion, body: OrderCreate) -> bool:
    """Store the summary the operator saved (absent: the suggestion's); returns whether it differs from the
    suggestion's. A blank one is stored as none."""
    if body.summary is None:
        order.summary, order.summary_edited = suggestion.summary or None, False
        return False
    text = mask_pii(body.summary.strip())
    order.summary = text or None
    order.summary_edited = text != (suggestion.summary or "")
    return order.summary_edited


def _new_order(
    suggestion: Suggestion, body: OrderCreate, user: User, key: str | None, digest: str, now: dt.datetime
) -> Order:
    scope = suggestion.scope
    return Order(
        created_at=now,
        created_by_id=user.id,
        idempotency_key=key,
        request_hash=digest,
        channel=body.channel,
        text=suggestion.text,
        address=mask_pii(body.address) if body.address else None,
        suggestion=suggestion.to_json_dict(),
        model_version=suggestion.model_version,
        needs_review=suggestion.needs_review,
        suggested_category=suggestion.category.label,
        suggested_topic=suggestion.topic.label,
        suggested_unit=suggestion.units[0].name if suggestion.units else None,
        suggested_district=suggestion.district,
        suggested_scope=ACCEPTED if scope.accepted else str(scope.reason),
        deadline_class=suggestion.deadline.deadline_class,
        due_at=dt.datetime.fromisoformat(suggestion.deadline.due_at),
        status=Status.pending,
        caller_state=suggestion.caller_state.label if suggestion.caller_state else None,
    )


EMERGENCY = "emergency"
"""The out-of-scope reason of calls sent to 110/119/120/122; it always carries the deadline class of the same name."""


def _judged_emergency(scope: dict[str, Any]) -> bool:
    return not scope["accepted"] and scope["reason"] == EMERGENCY


def _override_required(redirect: str | None, source: str, field: str) -> str:
    """The 422's sentence when an emergency would become an ordinary order without a note."""
    number = redirect or "an emergency number"
    return (
        f"this call was judged an emergency for {number} ({source}): the caller should dial {number} now. "
        f"To create it as an ordinary order anyway, give `{field}` saying why; it is recorded with your name"
    )


def _source(scope: dict[str, Any]) -> str:
    return "by an explicit rule" if scope.get("by_rule") else "by the scope model"


def _hold_emergency_class(order: Order, requested: str | None, deadlines: DeadlinePolicy) -> None:
    """An emergency redirect is always 应急类: 24 hours from the call."""
    if requested is not None and requested != EMERGENCY:
        raise Invalid(f"a call refused as an emergency keeps deadline class emergency (24 hours), not {requested!r}")
    if order.deadline_class != EMERGENCY:
        order.deadline_class = EMERGENCY
        order.due_at = deadlines.due(EMERGENCY, order.created_at).due_at


def _operator_scope(
    order: Order, suggestion: Suggestion, body: OrderCreate, deadlines: DeadlinePolicy
) -> tuple[dict[str, Any] | None, str | None]:
    """Check the operator's scope against the suggestion's emergency refusal, before anything is written.

    Accepting a call the suggestion refused as an emergency (by rule or by the scope model) needs an
    `override_note`; returns the `scope_overridden` event's detail then. A call whose working scope is an
    emergency gets the emergency deadline class; returns the number the caller was sent to.
    """
    scope = suggestion.scope.model_dump()
    override = None
    if _judged_emergency(scope) and order.suggested_scope == ACCEPTED:
        note = (body.override_note or "").strip()
        if not note:
            raise Invalid(_override_required(scope["redirect"], _source(scope), "override_note"))
        override = {"suggested": EMERGENCY, "redirect": scope["redirect"], "by_rule": bool(scope["by_rule"]), "note": mask_pii(note)}
        order.needs_review = True  # a person decides where it goes: never auto-ready
    redirect = None
    if order.suggested_scope == EMERGENCY:
        _hold_emergency_class(order, body.deadline_class, deadlines)
        redirect = body.redirect or (scope["redirect"] if _judged_emergency(scope) else None)
    elif body.redirect:
        raise Invalid("`redirect` is the number a caller refused as an emergency was sent to: give it with `scope` emergency")
    if body.refuse and order.suggested_scope == ACCEPTED:
        raise Invalid(f"a refused order needs its reason: give `scope`, one of {', '.join(SCOPE_CODES)}")
    return override, redirect


def _working_decision(order: Order, *, unit: str | None) -> dict[str, str | None]:
    """The order's working values (the suggestion with the operator's corrections) as a decision."""
    return {
        "category": order.suggested_category,
        "topic": order.suggested_topic,
        "unit": unit,
        "district": order.suggested_district,
        "scope": order.suggested_scope,
    }


def _corrected(suggestion: dict[str, Any], decision: dict[str, str | None]) -> list[str]:
    """The heads where a decision differs from the suggestion's first choice."""
    return sorted(h for h, v in decision.items() if v != next(iter(_ranked(suggestion, h)), None))


def _operator_redirect(order: Order) -> str | None:
    """The emergency number the operator recorded at creation, else the suggestion's for an emergency."""
    for event in order.events:
        if event.kind == "created" and event.detail.get("redirect"):
            return str(event.detail["redirect"])
    scope = order.suggestion["scope"]
    return scope.get("redirect") if _judged_emergency(scope) else None


def auto_ready(suggestion: Suggestion) -> bool:
    """Accepted, with every field a dispatch depends on auto: the machine may dispatch it alone."""
    return suggestion.scope.accepted and not suggestion.needs_review and bool(suggestion.units)


def _auto_dispatch(session: Session, order: Order, suggestion: Suggestion, edited: list[str], catalogue: Catalogue, now: dt.datetime) -> None:
    """Dispatch a fully auto order to its suggested unit, inside the creation's transaction (a savepoint).

    It stays pending, with an `auto_dispatch_failed` event saying why, when the operator corrected a field the
    dispatch depends on, when the unit is not in the service's catalogue (an error: model and catalogue
    disagree), or when writing the dispatch fails; it is never half-dispatched.
    """
    if not auto_ready(suggestion):
        return
    if DISPATCH_FIELDS & set(edited):
        _event(order, "auto_dispatch_failed", None, system=True, reason="operator corrected " + "/".join(sorted(DISPATCH_FIELDS & set(edited))))
        return
    unit = suggestion.units[0].name
    if unit not in catalogue:
        logger.error("auto-dispatch refused for order %s: unit %r is not in the service's catalogue", order.id, unit)
        _event(order, "auto_dispatch_failed", None, system=True, reason=f"unit {unit!r} is not in the catalogue")
        return
    decision = {
        "category": order.suggested_category,
        "topic": order.suggested_topic,
        "unit": unit,
        "district": order.suggested_district,
        "scope": ACCEPTED,
    }
    try:
        with session.begin_nested():
            _record_dispatch(order, decision, now, dispatcher=None)
            order.auto_dispatched = True
            _event(order, "auto_dispatched", None, system=True, **decision, model_version=suggestion.model_version)
            session.flush()
    except SQLAlchemyError as exc:
        logger.error("auto-dispatch of order %s failed (%s); it stays pending", order.id, type(exc).__name__)
        session.expire(order)  # back to what the savepoint's start had: pending
        _event(order, "auto_dispatch_failed", None, system=True, reason=f"writing the dispatch failed ({type(exc).__name__})")


def _record_dispatch(order: Order, decision: dict[str, str | None], now: dt.datetime, *, dispatcher: User | None) -> None:
    """The decided routing on the order: its fields, status and time (one place for people and the system)."""
    order.category, order.topic, order.unit = decision["category"], decision["topic"], decision["unit"]
    order.district, order.scope = decision["district"], decision["scope"]
    order.dispatched_at = now
    order.status = Status.dispatched if decision["scope"] == ACCEPTED else Status.refused
    if dispatcher is not None:
        # the model's record counts people's decisions only: a system dispatch agrees with itself by definition
        order.held = held(order.suggestion, decision)


def _operator_edits(order: Order, body: OrderCreate, pipeline: TriagePipeline) -> list[str]:
    """Apply the operator's corrections of the auto-fill to the order's working values; returns their names."""
    edited = []
    for field, column in (
        ("category", "suggested_category"),
        ("topic", "suggested_topic"),
        ("district", "suggested_district"),
        ("scope", "suggested_scope"),
    ):
        value = getattr(body, field)
        if value is not None and value != getattr(order, column):
            setattr(order, column, value)
            edited.append(field)
    if body.deadline_class and body.deadline_class != order.deadline_class:
        order.deadline_class = body.deadline_class
        order.due_at = pipeline.deadlines.due(body.deadline_class, order.created_at).due_at
        edited.append("deadline_class")
    return edited


def get_order(session: Session, order_id: int) -> Order:
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(f"no order {order_id}")
    return order


def _for_change(
    session: Session,
    order_id: int,
    version: int | None,
    allowed: tuple[str, ...],
    refusal: str,
    *,
    required: bool = False,
    lock: bool = False,
) -> Order:
    """Start a write transaction on an order whose version (when given, or `required`) matches and whose
    state allows the step; anything else is a 404, 428 or 409 with nothing changed.

    With `lock`, the order's row is locked first (PostgreSQL; SQLite's write transaction already serialises):
    the units of a coordination order reply without a version, each on its own, and concurrent replies must
    queue rather than turn into a 409 that loses one of them."""
    begin_write(session)
    if lock:
        session.execute(select(Order.id).where(Order.id == order_id).with_for_update())
    order = get_order(session, order_id)
    if version is None and required:
        raise PreconditionRequired("send the order's version (If-Match header or `version` field) with a decision")
    if version is not None and order.version != version:
        raise Conflict(f"order {order.id} changed since you read it (version {version}, now {order.version}); reload it")
    if order.status not in allowed:
        raise Conflict(f"order {order.id} is {order.status}: {refusal}")
    return order


def _commit(session: Session, order: Order) -> Order:
    """Commit; a concurrent writer that got there first turns into a 409, with nothing written."""
    try:
        session.commit()
    except StaleDataError as exc:
        session.rollback()
        raise Conflict(f"order {order.id} was changed by someone else at the same time; reload it") from exc
    return order


def _ranked(suggestion: dict[str, Any], head: str) -> list[str | None]:
    if head == "unit":
        return [u["name"] for u in suggestion["units"]]
    if head in ("category", "topic"):
        part = suggestion[head]
        return [part["label"], *(a["label"] for a in part["alternatives"])]
    if head == "district":
        return [suggestion["district"]]
    scope = suggestion["scope"]
    return [ACCEPTED if scope["accepted"] else scope["reason"]]


def held(suggestion: dict[str, Any], decision: dict[str, str | None]) -> dict[str, dict[str, bool]]:
    """For each head the dispatcher decided: was it the suggestion's first choice, or among its first three?"""
    record = {}
    for head, value in decision.items():
        if head == "unit" and value is None:
            continue
        ranked = _ranked(suggestion, head)
        record[head] = {"top1": bool(ranked) and ranked[0] == value, "top3": value in ranked[:3]}
    return record


def dispatch(
    session: Session,
    order_id: int,
    body: DispatchRequest,
    user: User,
    *,
    if_match: int | None,
    catalogue: Catalogue,
    deadlines: DeadlinePolicy,
    bulk: bool = False,
) -> Order:
    """Record the final routing; an out-of-scope decision refuses the order instead of sending it anywhere."""
    order = _dispatch(session, order_id, body, user, if_match=if_match, catalogue=catalogue, deadlines=deadlines, bulk=bulk)
    return _commit(session, order)


def _dispatch(
    session: Session,
    order_id: int,
    body: DispatchRequest,
    user: User,
    *,
    if_match: int | None,
    catalogue: Catalogue,
    deadlines: DeadlinePolicy,
    bulk: bool = False,
    extra: dict[str, Any] | None = None,
) -> Order:
    """`dispatch` up to its commit, so that a coordination writes its units in the same transaction."""
    version = body.version if body.version is not None else if_match
    refusal = "only pending or difficult orders can be dispatched"
    order = _for_change(session, order_id, version, DISPATCHABLE, refusal, required=True)
    given = body.model_fields_set
    s = order.suggestion
    scope = body.scope if "scope" in given and body.scope else order.suggested_scope
    unit = body.unit if "unit" in given else order.suggested_unit
    override = None
    if scope == ACCEPTED and order.suggested_scope == EMERGENCY:
        note = (body.note or "").strip()
        judged = _judged_emergency(s["scope"])
        if not note:
            source = _source(s["scope"]) if judged else "by the operator"
            raise Invalid(_override_required(_operator_redirect(order), source, "note"))
        override = {
            "suggested": EMERGENCY,
            "redirect": _operator_redirect(order),
            "by_rule": bool(s["scope"].get("by_rule")) if judged else False,
            "note": mask_pii(note),
        }
    redirect = None
    if scope == EMERGENCY:
        _hold_emergency_class(order, body.deadline_class, deadlines)
        redirect = body.redirect or _operator_redirect(order)
    elif body.redirect:
        raise Invalid("`redirect` is the number a caller refused as an emergency was sent to: give it with `scope` emergency")
    if scope == ACCEPTED:
        if not unit:
            raise Invalid("an accepted order needs a unit: give `unit`")
        if unit not in catalogue:
            resolved = catalogue.resolve(unit)
            if resolved is None:
                raise Invalid(f"unknown unit {unit!r}; valid units: {', '.join(catalogue.names)}")
            unit = resolved
    else:
        unit = None
    decision = {
        "category": body.category if "category" in given and body.category else order.suggested_category,
        "topic": body.topic if "topic" in given and body.topic else order.suggested_topic,
        "unit": unit,
        "district": body.district if "district" in given else order.suggested_district,
        "scope": scope,
    }
    corrected = _corrected(s, decision)
    _record_dispatch(order, decision, utcnow(), dispatcher=user)
    order.dispatcher = session.merge(user, load=False)
    order.auto_dispatched = False
    if body.deadline_class and body.deadline_class != order.deadline_class:
        order.deadline_class = body.deadline_class
        order.due_at = deadlines.due(body.deadline_class, order.created_at).due_at
    extra = dict(extra or {})
    if bulk:
        extra["confirmed_in_bulk"] = True
    if scope == EMERGENCY:
        extra["redirect"] = redirect
    if override is not None:
        order.suggested_scope = ACCEPTED  # settled: a dispatch after a bounce does not ask again
        _event(order, "scope_overridden", user, **override)
    _event(
        order,
        "dispatched" if scope == ACCEPTED else "refused",
        user,
        **decision,
        corrected=corrected,
        note=mask_pii(body.note) if body.note else None,
        **extra,
    )
    return order


@dataclass(frozen=True)
class Confirmation:
    id: int
    ok: bool
    status: int
    detail: str | None = None
    order: Order | None = None


def confirm_auto_ready(
    session: Session, items: list[tuple[int, int]], user: User, *, catalogue: Catalogue, deadlines: DeadlinePolicy
) -> list[Confirmation]:
    """Dispatch each (order id, version) as suggested, in one action: each in its own transaction with its own
    audit event. An order that is not auto-ready, changed since it was read, or already decided is left as it
    is and reported; the others are dispatched."""
    out = []
    for order_id, version in items:
        try:
            if not is_auto_ready(get_order(session, order_id)):
                raise Conflict(f"order {order_id} needs review: open it and decide it on its own")
            order = dispatch(session, order_id, DispatchRequest(version=version), user, if_match=None, catalogue=catalogue, deadlines=deadlines, bulk=True)
            out.append(Confirmation(order_id, True, 200, order=order))
        except LifecycleError as exc:
            session.rollback()
            out.append(Confirmation(order_id, False, exc.status, exc.detail))
    return out


def _unit_name(unit: str, catalogue: Catalogue) -> str:
    """A unit as the catalogue names it (an alias read as its name); an unknown one is a 422 naming it."""
    resolved = catalogue.resolve(unit)
    if resolved is None:
        raise Invalid(f"unknown unit {unit!r}: not in the catalogue (GET /v1/units)")
    return resolved


def _assist_units(lead: str, assist_units: list[str], catalogue: Catalogue) -> list[str]:
    """The assisting units by their catalogue names: none unknown, none the lead, none twice (422 naming it)."""
    lead_name = _unit_name(lead, catalogue)
    out: list[str] = []
    for given in assist_units:
        resolved = catalogue.resolve(given)
        if resolved is None:
            raise Invalid(f"unknown assisting unit {given!r}: not in the catalogue (GET /v1/units)")
        if resolved == lead_name:
            raise Invalid(f"assisting unit {given!r} is the lead unit: a unit either leads or assists")
        if resolved in out:
            raise Invalid(f"assisting unit {given!r} is given twice")
        out.append(resolved)
    return out


def coordinate(
    session: Session,
    order_id: int,
    body: CoordinateRequest,
    user: User,
    *,
    if_match: int | None,
    catalogue: Catalogue,
    deadlines: DeadlinePolicy,
) -> Order:
    """协调: dispatch the order to a lead unit (牵头), with up to four assisting units (配合) that each reply or
    bounce on their own; one transaction, with a `dispatched` and a `coordinated` event."""
    assists = _assist_units(body.unit, body.assist_units, catalogue)  # before anything is read or written
    request = DispatchRequest(
        version=body.version, unit=body.unit, scope=ACCEPTED, note=body.note,
        **{f: getattr(body, f) for f in ("category", "topic", "district", "deadline_class") if getattr(body, f) is not None},
    )
    order = _dispatch(
        session, order_id, request, user, if_match=if_match, catalogue=catalogue, deadlines=deadlines, extra={"assist_units": assists}
    )
    now = order.dispatched_at or utcnow()
    lead = str(order.unit)
    order.assignments.append(Assignment(unit=lead, role=AssignmentRole.lead, state=AssignmentState.sent, assigned_at=now))
    for unit in assists:
        order.assignments.append(Assignment(unit=unit, role=AssignmentRole.assist, state=AssignmentState.sent, assigned_at=now))
    _event(order, "coordinated", user, lead=lead, assist_units=assists)
    return _commit(session, order)


def _active(order: Order, role: str) -> list[Assignment]:
    return [a for a in order.assignments if a.role == role and a.state in ACTIVE_ASSIGNMENT]


def _part(order: Order, unit: str | None, catalogue: Catalogue | None, action: str) -> Assignment | None:
    """The assisting unit's assignment a reply or bounce comes from; None for the lead (or the only unit). A
    unit that is neither is a 409."""
    if unit is None:
        return None
    name = (catalogue.resolve(unit) if catalogue is not None else None) or unit.strip()
    if name == order.unit:
        return None
    for assignment in _active(order, AssignmentRole.assist):
        if assignment.unit == name:
            return assignment
    role = "neither its lead nor one of its assisting units" if order.assignments else "not the unit it was sent to"
    raise Conflict(f"{unit!r} is {role} (order {order.id} is with {order.unit}): it cannot {action} this order")


def bounce(
    session: Session, order_id: int, body: BounceRequest, user: User, *, if_match: int | None, limit: int, catalogue: Catalogue | None = None
) -> Order:
    """退单: back to the dispatch queue; after `limit` bounces into the difficult queue (疑难工单). An assisting
    unit of a coordination order takes only itself off the order, which stays with the lead."""
    version = body.version if body.version is not None else if_match
    refusal = "only a dispatched order, not yet replied, can be bounced"
    order = _for_change(session, order_id, version, (Status.dispatched,), refusal, lock=True)
    coordinated = bool(_active(order, AssignmentRole.lead))
    part = _part(order, body.unit, catalogue, "bounce") if coordinated else None
    if part is not None:
        if part.state != AssignmentState.sent:
            raise Conflict(f"{part.unit} already replied to order {order.id}: it can no longer bounce it")
        part.state, part.reason, part.bounced_at = AssignmentState.bounced, mask_pii(body.reason), utcnow()
        flag_modified(order, "status")  # the order changed (its units): a new version
        _event(order, "assist_bounced", user, unit=part.unit, reason=part.reason, assist_units=[a.unit for a in _active(order, AssignmentRole.assist)])
        return _commit(session, order)
    unit = body.unit or order.unit
    order.bounce_count += 1
    order.status = Status.difficult if order.bounce_count >= limit else Status.pending
    order.unit = None
    withdrawn = [a.unit for a in order.assignments if a.role == AssignmentRole.assist and a.state in ACTIVE_ASSIGNMENT]
    for assignment in order.assignments:
        if assignment.state in ACTIVE_ASSIGNMENT:
            assignment.state = AssignmentState.withdrawn  # the lead bounced: the coordination ends with it
    extra = {"withdrawn": withdrawn} if withdrawn else {}
    _event(order, "bounced", user, unit=unit, reason=mask_pii(body.reason), count=order.bounce_count, **extra)
    if order.status == Status.difficult:
        _event(order, "difficult", user, bounces=order.bounce_count, limit=limit)
    return _commit(session, order)


def reply(
    session: Session, order_id: int, body: ReplyRequest, user: User, *, if_match: int | None, catalogue: Catalogue | None = None
) -> Order:
    """The unit's answer; a reply after the deadline stays visible as overdue. The lead's reply replies a
    coordination order; an assisting unit's is listed on it, before or after the lead's."""
    version = body.version if body.version is not None else if_match
    refusal = "only a dispatched order can be replied to"
    order = _for_change(session, order_id, version, (Status.dispatched, Status.replied), refusal, lock=True)
    now = utcnow()
    part = _part(order, body.unit, catalogue, "reply to")
    if part is not None:
        if part.state == AssignmentState.replied:
            raise Conflict(f"{part.unit} already replied to order {order.id}")
        part.reply, part.replied_at, part.state = mask_pii(body.text), now, AssignmentState.replied
        flag_modified(order, "status")  # the order changed (a reply listed): a new version
        _event(order, "assist_replied", user, unit=part.unit, late=now > order.due_at)
        return _commit(session, order)
    if order.status != Status.dispatched:
        raise Conflict(f"order {order.id} is {order.status}: {refusal}")
    order.reply, order.replied_at, order.status = mask_pii(body.text), now, Status.replied
    for lead in _active(order, AssignmentRole.lead):
        lead.reply, lead.replied_at, lead.state = order.reply, now, AssignmentState.replied
    _event(order, "replied", user, unit=order.unit, late=now > order.due_at)
    return _commit(session, order)


def visit(session: Session, order_id: int, body: VisitRequest, user: User, *, if_match: int | None) -> Order:
    """The return visit (回访) closes the order with the caller's satisfaction."""
    version = body.version if body.version is not None else if_match
    order = _for_change(session, order_id, version, (Status.replied,), "a return visit follows the unit's reply")
    order.satisfaction, order.visited_at, order.status = body.satisfaction, utcnow(), Status.closed
    _event(order, "visited", user, satisfaction=body.satisfaction, note=mask_pii(body.note) if body.note else None)
    return _commit(session, order)


def unlink(session: Session, order_id: int, user: User, hotspots: HotspotService) -> Order:
    """The dispatcher says this order is not the same problem as the others of its incident."""
    begin_write(session)
    order = get_order(session, order_id)
    if order.incident_id is None:
        raise Conflict(f"order {order.id} belongs to no incident")
    try:
        former, separated = hotspots.unlink(session, order)
        _event(order, "unlinked", user, incident=former, now=order.incident_id, separated_from=list(separated))
        return _commit(session, order)
    except Exception:
        session.rollback()
        hotspots.invalidate()
        raise


def is_auto_ready(order: Order) -> bool:
    """The stored twin of `auto_ready`: the suggestion accepted the call with every dispatch field auto."""
    return not order.needs_review and order.suggested_scope == ACCEPTED and order.suggested_unit is not None


def is_overdue(order: Order, now: dt.datetime) -> bool:
    if order.status == Status.refused:
        return False
    return (order.replied_at or now) > order.due_at
