"""Hot spots as the service keeps them: an incident tracker per process, its state stored on the orders.

The database is the record: every order carries its incident id, every dispatcher separation is stored,
so any worker can rebuild the same incidents (`IncidentTracker.from_orders` is deterministic). Linking
happens inside the order's write transaction, one writer at a time (SQLite's write lock; an advisory lock
on PostgreSQL), after catching up with the orders other workers created.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from api.models import Order, OrderEvent, Status
from triage.incidents import Incident, IncidentTracker, Link, OrderSignal, default_vectoriser

logger = logging.getLogger(__name__)
REBUILD_EVENTS = ("unlinked", "incident_merged")
"""Events that change incidents other than by adding an order: other workers rebuild when they see one."""
LOCK_KEY = 12346


def signal(order: Order) -> OrderSignal:
    s = order.suggestion
    return OrderSignal(str(order.id), order.text, order.created_at, s.get("district"), list(s.get("places", [])), s["topic"]["label"])


class HotspotService:
    """One per process; `link` and `unlink` run inside the caller's write transaction."""

    def __init__(self, *, alert_orders: int = 10, window_hours: float = 72, max_age_days: float = 14) -> None:
        self.params: dict[str, Any] = {
            "alert_orders": alert_orders,
            "window": dt.timedelta(hours=window_hours),
            "max_age": dt.timedelta(days=max_age_days),
        }
        self._lock = threading.RLock()
        self._tracker: IncidentTracker | None = None
        self._last_order = 0
        self._last_event = 0
        self._alerted: set[str] = set()

    def warm_up(self) -> threading.Thread:
        """Build the incidents' IDF table (and import scikit-learn's hashing vectoriser, 0.6-1.5 s on 2 cores) in the
        background, so that the service is ready without waiting for it and the first order seldom does.

        Built at most once per process (`default_vectoriser` is cached); an order that comes first builds it
        itself, the same table either way."""
        thread = threading.Thread(target=default_vectoriser, name="hotspots-warm-up", daemon=True)
        thread.start()
        return thread

    def _markers(self, session: Session) -> tuple[int, int]:
        last_event = session.scalar(select(func.coalesce(func.max(OrderEvent.id), 0)).where(OrderEvent.kind.in_(REBUILD_EVENTS)))
        return int(last_event or 0), int(session.scalar(select(func.coalesce(func.max(Order.id), 0))) or 0)

    def _tracked(self, session: Session) -> list[Order]:
        since = dt.datetime.now(dt.UTC) - self.params["max_age"]
        query = select(Order).where(
            Order.created_at >= since, Order.status != Status.refused, Order.incident_id.is_not(None)
        )  # an order without an incident is the one being linked right now
        return list(session.scalars(query.order_by(Order.created_at, Order.id)).unique())

    def sync(self, session: Session) -> IncidentTracker:
        """The tracker, caught up with the database: new orders added as stored, a full rebuild after unlinks."""
        with self._lock:
            last_event, last_order = self._markers(session)
            if self._tracker is None or last_event != self._last_event:
                orders = self._tracked(session)
                self._tracker = IncidentTracker.from_orders(
                    [signal(o) for o in orders],
                    assignments={str(o.id): str(o.incident_id) for o in orders},
                    apart={str(o.id): o.separated_from for o in orders if o.separated_from},
                    **self.params,
                )
                self._last_event, self._last_order = last_event, last_order
            elif last_order > self._last_order:
                new = session.scalars(
                    select(Order).where(Order.id > self._last_order, Order.incident_id.is_not(None)).order_by(Order.id)
                ).unique()
                orders = list(new)
                self._tracker.add_many([signal(o) for o in orders], assignments={str(o.id): str(o.incident_id) for o in orders})
                self._last_order = last_order
            return self._tracker

    def invalidate(self) -> None:
        with self._lock:
            self._tracker = None

    def serialise(self, session: Session) -> None:
        """One linking writer at a time, taken before the new order gets its id, so ids grow in commit order
        and `sync` never skips an order another worker committed late."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))

    def link(self, session: Session, order: Order) -> Link | None:
        """Give a new order (flushed after `serialise`) its incident; merged incidents get the surviving id."""
        with self._lock:
            tracker = self.sync(session)
            try:
                link = tracker.add(signal(order))
            except Exception:
                self.invalidate()
                raise
            incident = tracker.incident_of(str(order.id))
            # a plain UPDATE, not an ORM change: linking is part of creation and must not bump the version
            session.execute(update(Order).where(Order.id == order.id).values(incident_id=incident))
            set_committed_value(order, "incident_id", incident)
            self._last_order = max(self._last_order, order.id)
            if link is not None and link.merged:
                session.execute(
                    update(Order).where(Order.incident_id.in_(link.merged)).values(incident_id=link.incident_id)
                )
        return link

    def unlink(self, session: Session, order: Order) -> tuple[str, tuple[str, ...]]:
        """The dispatcher's override: the order becomes its own incident and never rejoins those orders."""
        self.serialise(session)
        with self._lock:
            tracker = self.sync(session)
            result = tracker.unlink(str(order.id))
            order.incident_id = result.incident_id
            order.separated_from = sorted({*(order.separated_from or []), *result.separated_from})
        return result.from_incident, result.separated_from

    def incidents(self, session: Session, *, min_orders: int = 2) -> list[Incident]:
        now = dt.datetime.now(dt.UTC)
        incidents = self.sync(session).incidents(now, min_orders=min_orders)
        for incident in incidents:
            if incident.alerting and incident.id not in self._alerted:
                self._alerted.add(incident.id)
                logger.warning(
                    "hot spot alert", extra={"incident": incident.id, "orders": incident.count, "district": incident.district}
                )
        return incidents
