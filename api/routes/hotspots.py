"""Hot spots: incidents of several orders about one problem, fastest-growing and alerting first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import HotspotsDep, SessionDep, StatsReader
from api.errors import responses
from api.schemas import IncidentOut

router = APIRouter(prefix="/v1", tags=["hotspots"])


@router.get("/hotspots", response_model=list[IncidentOut], responses=responses(401, 403, 503))
def hotspots(
    session: SessionDep,
    service: HotspotsDep,
    _: StatsReader,
    min_orders: Annotated[int, Query(ge=1, le=1000, description="smallest incident to list")] = 2,
) -> list[IncidentOut]:
    """Open incidents with their order counts, growth over the last days, place and topic."""
    return [
        IncidentOut(
            id=i.id,
            order_ids=[int(o) for o in i.order_ids],
            count=i.count,
            first_seen=i.first_seen,
            last_seen=i.last_seen,
            last_24h=i.last_24h,
            previous_24h=i.previous_24h,
            daily=list(i.daily),
            district=i.district,
            place=i.place,
            places=list(i.places),
            topic=i.topic,
            alerting=i.alerting,
        )
        for i in service.incidents(session, min_orders=min_orders)
    ]
