"""The hotline's figures and the labelled-order export."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.deps import Analyst, SessionDep, StatsReader
from api.errors import responses
from api.queries import labelled_orders, stats
from api.schemas import Stats

router = APIRouter(prefix="/v1")


@router.get("/stats", response_model=Stats, tags=["stats"], responses=responses(401, 403, 503))
def get_stats(
    session: SessionDep,
    _: StatsReader,
    since: Annotated[dt.datetime | None, Query(description="orders created at or after")] = None,
    until: Annotated[dt.datetime | None, Query(description="orders created before")] = None,
) -> Stats:
    """Calls by category, orders by unit and district, satisfaction, difficult and overdue orders, model record."""
    return stats(session, since=since, until=until)


@router.get(
    "/exports/labelled-orders",
    tags=["exports"],
    response_class=StreamingResponse,
    responses={**responses(401, 403, 503), 200: {"content": {"application/x-ndjson": {}}, "description": "JSONL"}},
)
def export_labelled(
    request: Request,
    _: Analyst,
    since: Annotated[dt.datetime | None, Query(description="orders dispatched at or after")] = None,
) -> StreamingResponse:
    """Dispatched and refused orders as JSONL in the format of `triage train --data`."""
    factory = request.app.state.sessions

    def lines() -> Iterator[str]:
        with factory() as session:  # its own session: it lives as long as the stream, not the route
            for row in labelled_orders(session, since=since):
                yield json.dumps(row, ensure_ascii=False) + "\n"

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="labelled-orders.jsonl"'},
    )
