"""Work orders: create, list, read, and the dispatcher's and units' decisions on them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response, status

from api import lifecycle
from api.deps import (
    Dispatcher,
    HotspotsDep,
    KnowledgeDep,
    Operator,
    PipelineDep,
    Reader,
    SessionDep,
    SettingsDep,
    Visitor,
)
from api.errors import responses
from api.queries import SORTS, list_orders, to_out
from api.schemas import (
    BounceRequest,
    Category,
    ConfirmRequest,
    ConfirmResponse,
    ConfirmResult,
    CoordinateRequest,
    DispatchRequest,
    District,
    OrderCreate,
    OrderOut,
    OrderPage,
    ReplyRequest,
    StatusName,
    VisitRequest,
)

router = APIRouter(prefix="/v1/orders", tags=["orders"])
OrderId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the order's id")]
"""Bounded like the column (INTEGER): a larger id is a 422, not an overflow inside the database driver."""
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200, description="a retry with the same key returns the first order"),
]


async def if_match(
    value: Annotated[str | None, Header(alias="If-Match", description='the order\'s version, e.g. "3"')] = None,
) -> int | None:
    """The version from If-Match (`3`, `"3"` or `W/"3"`); unparseable values are a 400."""
    if value is None:
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise lifecycle.LifecycleError(f"If-Match must be the order's version number, got {value!r}")
    return int(raw)


IfMatch = Annotated[int | None, Depends(if_match)]
DECISION_ERRORS = responses(400, 401, 403, 404, 409, 428, 503)


@router.post("", response_model=OrderOut, status_code=201, responses={**responses(401, 403, 413, 503), 200: {"model": OrderOut, "description": "replayed: the order an earlier request with this Idempotency-Key created"}})
def create_order(
    body: OrderCreate,
    response: Response,
    session: SessionDep,
    pipeline: PipelineDep,
    knowledge: KnowledgeDep,
    hotspots: HotspotsDep,
    user: Operator,
    settings: SettingsDep,
    key: IdempotencyKey = None,
) -> OrderOut:
    """Run the pipeline on the transcript and store the order (masked) with its suggestion, linked to the
    incident it repeats if any; with TRIAGE_AUTO_DISPATCH=on a fully auto order is dispatched at once."""
    created = lifecycle.create_order(
        session, pipeline, body, user, key, knowledge=knowledge, hotspots=hotspots, auto_dispatch=settings.auto_dispatch == "on"
    )
    if created.replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/orders/{created.order.id}"
    response.headers["ETag"] = f'"{created.order.version}"'
    return to_out(created.order)


@router.get("", response_model=OrderPage, responses=responses(401, 403, 503))
def get_orders(
    session: SessionDep,
    _: Reader,
    status_: Annotated[list[StatusName] | None, Query(alias="status", description="repeat for several")] = None,
    unit: Annotated[str | None, Query(max_length=100)] = None,
    category: Category | None = None,
    district: District | None = None,
    needs_review: bool | None = None,
    overdue: bool | None = None,
    created_from: dt.datetime | None = None,
    created_to: dt.datetime | None = None,
    incident: Annotated[str | None, Query(max_length=60, description="orders of one incident (hot spot)")] = None,
    auto_ready: Annotated[bool | None, Query(description="accepted with every dispatch field auto: can be confirmed as suggested")] = None,
    sort: Annotated[str, Query(pattern="^(" + "|".join(SORTS) + ")$", description="newest | oldest | due | urgent (紧急优先: deadline class emergency first, then callers 求救, 愤怒, 焦急, then by deadline)")] = "newest",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> OrderPage:
    """Orders, filtered and paged; unit, category and district match the decision, else the suggestion."""
    items, total = list_orders(
        session,
        limit=limit,
        offset=offset,
        sort=sort,
        status=list(status_ or []),
        unit=unit,
        category=category,
        district=district,
        needs_review=needs_review,
        overdue=overdue,
        created_from=created_from,
        created_to=created_to,
        incident=incident,
        auto_ready=auto_ready,
    )
    now = dt.datetime.now(dt.UTC)
    return OrderPage(items=[to_out(o, now) for o in items], total=total, limit=limit, offset=offset)


@router.post("/confirm", response_model=ConfirmResponse, responses=responses(400, 401, 403, 503))
def confirm(body: ConfirmRequest, session: SessionDep, user: Dispatcher, pipeline: PipelineDep) -> ConfirmResponse:
    """Dispatch the auto-ready orders the dispatcher saw, as suggested, in one action: one audit event each. An
    order that needs review, changed since it was read or was already decided is reported, not dispatched."""
    results = lifecycle.confirm_auto_ready(
        session, [(item.id, item.version) for item in body.orders], user,
        catalogue=pipeline.knowledge.catalogue, deadlines=pipeline.deadlines,
    )
    now = dt.datetime.now(dt.UTC)
    out = [ConfirmResult(id=r.id, ok=r.ok, status=r.status, detail=r.detail, order=to_out(r.order, now) if r.order else None) for r in results]
    return ConfirmResponse(confirmed=sum(r.ok for r in out), failed=sum(not r.ok for r in out), results=out)


@router.get("/{order_id}", response_model=OrderOut, responses=responses(401, 403, 404, 503))
def get_order(order_id: OrderId, response: Response, session: SessionDep, _: Reader) -> OrderOut:
    order = lifecycle.get_order(session, order_id)
    response.headers["ETag"] = f'"{order.version}"'
    return to_out(order)


@router.post("/{order_id}/dispatch", response_model=OrderOut, responses=DECISION_ERRORS)
def dispatch(
    order_id: OrderId, body: DispatchRequest, session: SessionDep, user: Dispatcher, pipeline: PipelineDep, version: IfMatch
) -> OrderOut:
    """Confirm or correct the suggestion: category, topic, unit, district and scope (refusing if out of scope)."""
    order = lifecycle.dispatch(
        session, order_id, body, user, if_match=version, catalogue=pipeline.knowledge.catalogue, deadlines=pipeline.deadlines
    )
    return to_out(order)


@router.post("/{order_id}/coordinate", response_model=OrderOut, responses=DECISION_ERRORS)
def coordinate(
    order_id: OrderId, body: CoordinateRequest, session: SessionDep, user: Dispatcher, pipeline: PipelineDep, version: IfMatch
) -> OrderOut:
    """协调: send a pending or difficult order to a lead unit (牵头) and up to four assisting units (配合)."""
    order = lifecycle.coordinate(
        session, order_id, body, user, if_match=version, catalogue=pipeline.knowledge.catalogue, deadlines=pipeline.deadlines
    )
    return to_out(order)


@router.post("/{order_id}/bounce", response_model=OrderOut, responses=DECISION_ERRORS)
def bounce(
    order_id: OrderId, body: BounceRequest, session: SessionDep, user: Dispatcher, settings: SettingsDep, pipeline: PipelineDep, version: IfMatch
) -> OrderOut:
    """退单: the unit says it is not theirs; back to dispatch, or to the difficult queue after too many. An
    assisting unit's bounce takes it off a coordination order, which stays with its lead."""
    order = lifecycle.bounce(
        session, order_id, body, user, if_match=version, limit=settings.bounce_limit, catalogue=pipeline.knowledge.catalogue
    )
    return to_out(order)


@router.post("/{order_id}/reply", response_model=OrderOut, responses=DECISION_ERRORS)
def reply(order_id: OrderId, body: ReplyRequest, session: SessionDep, user: Dispatcher, pipeline: PipelineDep, version: IfMatch) -> OrderOut:
    """The unit's reply (entered by the unit's dispatcher account); on a coordination order the lead's replies
    the order and each assisting unit's is listed on it."""
    return to_out(lifecycle.reply(session, order_id, body, user, if_match=version, catalogue=pipeline.knowledge.catalogue))


@router.post("/{order_id}/visit", response_model=OrderOut, responses=DECISION_ERRORS)
def visit(order_id: OrderId, body: VisitRequest, session: SessionDep, user: Visitor, version: IfMatch) -> OrderOut:
    """The return visit (回访): the caller's satisfaction closes the order."""
    return to_out(lifecycle.visit(session, order_id, body, user, if_match=version))


@router.post("/{order_id}/unlink", response_model=OrderOut, responses=responses(401, 403, 404, 409, 503))
def unlink(order_id: OrderId, session: SessionDep, user: Dispatcher, hotspots: HotspotsDep) -> OrderOut:
    """Take the order out of its incident: it is a different problem, and will not be linked back."""
    return to_out(lifecycle.unlink(session, order_id, user, hotspots))
