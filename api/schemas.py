"""Every request and response body of the API, in one place (the OpenAPI schema is generated from these)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, computed_field

from triage.labels import CATEGORIES, DEADLINE_CLASSES, DISTRICTS, SCOPES, TOPICS
from triage.normalise import MAX_CHARS
from triage.rules import EMERGENCY_NUMBERS
from triage.schemas import CallerStateSuggestion, Register, Suggestion
from triage.units import canonical_district

Category = Literal[CATEGORIES]  # type: ignore[valid-type]
Topic = Literal[TOPICS]  # type: ignore[valid-type]
Scope = Literal[SCOPES]  # type: ignore[valid-type]
DeadlineClass = Literal[DEADLINE_CLASSES]  # type: ignore[valid-type]


def _district(value: object) -> object:
    """A former name is read as today's (宁乡县 → 宁乡市, kept among the catalogue's aliases); anything else is
    left for the list of labels to refuse."""
    return (canonical_district(value) or value) if isinstance(value, str) else value


District = Annotated[Literal[DISTRICTS], BeforeValidator(_district)]  # type: ignore[valid-type]
EmergencyNumber = Literal[EMERGENCY_NUMBERS]  # type: ignore[valid-type]
Channel = Literal["phone", "web", "wechat", "app", "letter", "other"]
REGISTER_OF_CHANNEL: dict[str, Register] = {"phone": "spoken", "web": "written", "wechat": "written", "app": "written", "letter": "written", "other": "spoken"}
"""Whose review thresholds a channel's text is decided by: a call's transcript is spoken, what citizens type or write
is written (`triage.schemas.Register`)."""
Satisfaction = Literal["满意", "基本满意", "不满意"]
RoleName = Literal["operator", "dispatcher", "analyst", "admin"]
StatusName = Literal["pending", "difficult", "dispatched", "replied", "closed", "refused"]

BEIJING = ZoneInfo("Asia/Shanghai")


def in_beijing(value: dt.datetime) -> dt.datetime:
    """The same instant in Beijing time. The database hands datetimes back in UTC (SQLite keeps no zone at
    all), so without this one conversion a deadline read back after a dispatch changed from +08:00 to Z."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # the database's convention (api.models.UTCDateTime): naive is UTC
    return value.astimezone(BEIJING)


BeijingTime = Annotated[dt.datetime, AfterValidator(in_beijing)]
"""Every datetime of every response body: ISO 8601 with an explicit +08:00, whatever zone it was stored in."""


def beijing_today() -> dt.date:
    """Today's date on the hotline's calendar (a review date falls due at Beijing midnight, not UTC's)."""
    return dt.datetime.now(BEIJING).date()


SUMMARY_MAX = 60
"""The longest summary (the suggestion's, or the operator's edit of it)."""
MAX_ASSIST_UNITS = 4
"""Assisting units (配合) a coordination order may have besides its lead (牵头)."""

Transcript = Field(min_length=1, max_length=MAX_CHARS, description=f"the call transcript, at most {MAX_CHARS} characters")


class Problem(BaseModel):
    """Every error the API returns on purpose: a sentence saying what went wrong and what to do."""

    detail: str


class SuggestionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Transcript
    address: str | None = Field(default=None, max_length=500, description="address the caller gave, if any")
    channel: Channel = Field(default="phone", description="how the matter came in: a phone call's transcript, or text the citizen wrote (web, wechat, app, letter)")


class OrderCreate(SuggestionRequest):
    """A new order; the optional fields are the operator's corrections of the auto-fill (the dispatcher
    starts from them; the model's own suggestion is kept as it was, for the model's record)."""
    category: Category | None = None
    topic: Topic | None = None
    district: District | None = None
    scope: Scope | None = None
    deadline_class: DeadlineClass | None = None
    refuse: bool = Field(
        default=False,
        description="record the call as refused at once (status `refused`, by the operator), with the reason in `scope` "
        "or else the suggestion's: for a call already redirected or explained to the caller, such as an emergency",
    )
    redirect: EmergencyNumber | None = Field(
        default=None, description="for an emergency (`scope` emergency): the number the caller was told to dial; default the suggestion's"
    )
    override_note: str | None = Field(
        default=None,
        max_length=2000,
        description="why the call is accepted although the suggestion refused it as an emergency (110/119/120/122): "
        "required to create such a call as an ordinary order (`scope` accepted), and recorded in a `scope_overridden` event",
    )
    summary: str | None = Field(
        default=None,
        max_length=SUMMARY_MAX,
        description=f"the order's one line as the operator saved it, at most {SUMMARY_MAX} characters; absent: the suggestion's",
    )


class Decision(BaseModel):
    """What the dispatcher decided; null until the order is dispatched."""

    category: str | None
    topic: str | None
    unit: str | None
    district: str | None
    scope: str | None


class Held(BaseModel):
    top1: bool
    top3: bool


class Event(BaseModel):
    at: BeijingTime
    kind: str = Field(
        description="created | scope_overridden | dispatched | refused | bounced | difficult | replied | visited | auto_dispatched | ..."
    )
    actor: str | None
    detail: dict[str, Any]


class DeadlineOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    deadline_class: str = Field(alias="class")
    due_at: BeijingTime


class OrderOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: int
    version: int = Field(description="send it back (If-Match or `version`) with a decision; a stale one gets 409")
    status: StatusName
    created_at: BeijingTime
    created_by: str
    channel: str
    text: str = Field(description="the masked, normalised transcript")
    address: str | None
    suggestion: Suggestion
    working: Decision = Field(
        description="what a dispatch without corrections decides: the suggestion with the operator's corrections "
        "(an operator's override of an emergency refusal included)"
    )
    decision: Decision
    held: dict[str, Held] | None = Field(description="per head: whether the suggestion's top-1 / top-3 held")
    dispatched_at: BeijingTime | None
    dispatched_by: str | None
    bounce_count: int
    difficult: bool = Field(description="bounced too often: waits in the difficult-order queue (疑难工单)")
    deadline: DeadlineOut
    overdue: bool = Field(description="past its deadline without a reply, or replied late")
    reply: str | None
    replied_at: BeijingTime | None
    satisfaction: str | None
    visited_at: BeijingTime | None
    incident_id: str | None = Field(description="the incident (hot spot) this order was linked to")
    auto_ready: bool = Field(description="accepted, and every field a dispatch depends on is auto: it may be confirmed as suggested")
    auto_dispatched: bool = Field(description="its current dispatch was made by the system (TRIAGE_AUTO_DISPATCH=on)")
    summary: str | None = Field(description="the order's one line as stored: the suggestion's, or the operator's edit")
    summary_edited: bool | None = Field(description="the operator changed the suggested summary (null for orders before summaries)")
    caller_state: CallerStateSuggestion | None = Field(
        description="the caller's state (平静 | 焦急 | 愤怒 | 求救): raises the order under 紧急优先; never changes its routing"
    )
    assist_units: list[str] = Field(description="a coordination order's assisting units (配合) still on it; the lead is `decision.unit`")
    assignments: list[AssignmentOut] = Field(
        description="a coordination order's units, lead first, each with its own state and reply (bounced and withdrawn ones kept)"
    )
    events: list[Event]


class AssignmentOut(BaseModel):
    unit: str
    role: Literal["lead", "assist"]
    state: Literal["sent", "replied", "bounced", "withdrawn"]
    assigned_at: BeijingTime
    reply: str | None
    replied_at: BeijingTime | None
    reason: str | None = Field(description="why an assisting unit bounced")
    bounced_at: BeijingTime | None


class OrderPage(BaseModel):
    items: list[OrderOut]
    total: int
    limit: int
    offset: int


class DispatchRequest(BaseModel):
    """Each field absent takes the suggestion's value; present, it is the dispatcher's correction."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, description="the order's version (or send If-Match)")
    category: Category | None = None
    topic: Topic | None = None
    unit: str | None = Field(default=None, max_length=100, description="a unit of GET /v1/units")
    district: District | None = None
    scope: Scope | None = Field(default=None, description="accepted, or the out-of-scope reason to refuse with")
    deadline_class: DeadlineClass | None = None
    redirect: EmergencyNumber | None = Field(default=None, description="refusing as an emergency: the number the caller was told to dial")
    note: str | None = Field(
        default=None,
        max_length=2000,
        description="free text; required to accept an order whose working scope is an emergency refusal (recorded as `scope_overridden`)",
    )


class ConfirmItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1, le=2**31 - 1)
    version: int = Field(ge=1, description="the version the dispatcher saw: a changed order is not confirmed")


class ConfirmRequest(BaseModel):
    """Auto-ready orders the dispatcher saw, to dispatch as suggested in one action."""

    model_config = ConfigDict(extra="forbid")

    orders: list[ConfirmItem] = Field(min_length=1, max_length=200)


class ConfirmResult(BaseModel):
    id: int
    ok: bool
    status: int = Field(description="200, or the status a single dispatch would have had (404, 409 ...)")
    detail: str | None = None
    order: OrderOut | None = None


class ConfirmResponse(BaseModel):
    confirmed: int
    failed: int
    results: list[ConfirmResult]


class CoordinateRequest(BaseModel):
    """A difficult order sent to a lead unit (牵头) and the units that must help (配合)."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, description="the order's version (or send If-Match)")
    unit: str = Field(min_length=1, max_length=100, description="the lead unit (牵头), a unit of GET /v1/units")
    assist_units: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=MAX_ASSIST_UNITS, description=f"1 to {MAX_ASSIST_UNITS} assisting units (配合), each a unit of GET /v1/units"
    )
    category: Category | None = None
    topic: Topic | None = None
    district: District | None = None
    deadline_class: DeadlineClass | None = None
    note: str | None = Field(default=None, max_length=2000, description="e.g. the coordination meeting's decision")


class BounceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000, description="why the unit says the order is not theirs")
    unit: str | None = Field(
        default=None,
        max_length=100,
        description="the bouncing unit (default: the order's). An assisting unit of a coordination order takes only itself off the order",
    )
    version: int | None = None


class ReplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_CHARS, description="the unit's reply to the caller")
    unit: str | None = Field(
        default=None,
        max_length=100,
        description="the replying unit (default: the order's, the lead). An assisting unit's reply is listed on the order; "
        "the lead's replies the order",
    )
    version: int | None = None


class VisitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    satisfaction: Satisfaction
    note: str | None = Field(default=None, max_length=2000)
    version: int | None = None


class Share(BaseModel):
    label: str
    count: int
    share: float


class HeadRecord(BaseModel):
    decided: int = Field(description="dispatched orders with a decision for this head")
    top1: float | None
    top3: float | None


class DayRecord(BaseModel):
    day: dt.date
    dispatched: int
    unit_top1: float | None
    unit_top3: float | None


class AutomationRow(BaseModel):
    """One day (`key` YYYY-MM-DD, Beijing time) or one unit: what the machine did alone, and how it held up."""

    key: str
    orders: int = Field(description="orders created (by unit: with this unit suggested)")
    auto_ready: int = Field(description="of them, suggestions accepted with every dispatch field auto")
    auto_ready_rate: float | None
    auto_dispatched: int = Field(description="dispatches made by the system")
    human_dispatched: int = Field(description="dispatches made by a dispatcher (bulk confirmations included)")
    automation_rate: float | None = Field(description="system dispatches over orders created")
    auto_bounced: int
    human_bounced: int
    auto_bounce_rate: float | None = Field(description="system dispatches bounced by the unit: the live precision signal")
    human_bounce_rate: float | None


class Automation(BaseModel):
    total: AutomationRow
    by_day: list[AutomationRow]
    by_unit: list[AutomationRow]


class UnitRoles(BaseModel):
    """One unit's dispatched orders by its part in them."""

    unit: str
    lead: int = Field(description="orders it leads: sent to it alone, or as the lead (牵头) of a coordination order")
    coordinated_lead: int = Field(description="of them, coordination orders")
    assist: int = Field(description="coordination orders it assists (配合), not counting ones it bounced")


class Stats(BaseModel):
    orders: int
    by_status: dict[str, int]
    calls_by_category: list[Share] = Field(description="the dispatcher's category where decided, else the suggestion's")
    dispatched: int
    orders_by_unit: list[Share] = Field(description="shares of all dispatched orders")
    orders_by_district: list[Share]
    refused: int
    refused_by_reason: list[Share]
    visited: int
    satisfaction: list[Share]
    satisfaction_rate: float | None = Field(description="满意 + 基本满意 over all return visits")
    difficult: int = Field(description="orders waiting in the difficult queue")
    ever_difficult: int
    overdue: int = Field(description="open orders past their deadline plus orders replied late")
    model: dict[str, HeadRecord] = Field(description="per head: share of decisions where the suggestion's top-1 / top-3 held")
    model_by_day: list[DayRecord]
    automation: Automation = Field(description="auto-ready and auto-dispatched orders, and bounces of system against human dispatches")
    coordinated: int = Field(description="dispatched coordination orders (a lead unit and assisting units)")
    units_by_role: list[UnitRoles] = Field(description="per unit: orders it leads and orders it assists, counted separately")


class ModelInfo(BaseModel):
    version: str
    heads: list[str]
    labels: dict[str, list[str]]
    members: list[str] = Field(description="`linear`, plus `transformer` where the bundle mixes one in")
    blend: dict[str, float] = Field(description="per head, the transformer's share of the probabilities (chosen on dev)")
    metrics: dict[str, Any]
    created_at: BeijingTime | None = Field(description="when the bundle was trained")
    path: str


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    model: str


class UnitOut(BaseModel):
    name: str
    kind: str
    aliases: list[str]
    topics: list[str]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: RoleName


class UserCreated(BaseModel):
    name: str
    role: RoleName
    token: str = Field(description="shown once; only its hash is stored")


class Me(BaseModel):
    name: str
    role: RoleName


class IncidentOut(BaseModel):
    """One problem reported by several callers: dispatch it once, watch it grow."""

    id: str
    order_ids: list[int]
    count: int
    first_seen: BeijingTime
    last_seen: BeijingTime
    last_24h: int
    previous_24h: int
    daily: list[int] = Field(description="orders per 24 hours, oldest first, the last ending now")
    district: str | None
    place: str | None
    places: list[str]
    topic: str | None
    alerting: bool = Field(description="the incident has reached the alert threshold (TRIAGE_HOTSPOT_ALERT_ORDERS)")


class KnowledgeEdit(BaseModel):
    """A new standard answer (no id), or the fields of an existing one to change (with its id and the version
    the edit was based on: two analysts editing one answer must not silently overwrite each other)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=r"^[a-z]+-\d{4,}$")
    version: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="editing an existing answer: the version you edited (required); if it is no longer the current "
        "one the edit is refused with 409 and the current version",
    )
    question: str | None = Field(default=None, max_length=200)
    variants: list[str] | None = Field(default=None, max_length=20)
    answer: str | None = Field(default=None, max_length=2000)
    unit: str | None = Field(default=None, max_length=100)
    topic: Topic | None = None
    basis: str | None = Field(
        default=None, min_length=4, max_length=300, description="the law, regulation or policy document the answer rests on"
    )
    reviewed: dt.date | None = None
    valid_until: dt.date | None = Field(
        default=None, description="the date the answer must be checked again by; default: the review date plus the answer's review period"
    )


class KnowledgeEntryOut(BaseModel):
    id: str
    question: str
    variants: list[str]
    answer: str
    unit: str
    topic: str
    basis: str | None = Field(default=None, description="the policy document the answer rests on (versions stored before it existed lack it)")
    reviewed: dt.date
    valid_until: dt.date | None = Field(default=None, description="the date the answer must be checked again by")
    version: int

    @computed_field(description="past its valid_until (Beijing date): check the answer before reading it to a caller")  # type: ignore[prop-decorator]
    @property
    def overdue(self) -> bool:
        return self.valid_until is not None and self.valid_until < beijing_today()


class KnowledgeHit(BaseModel):
    """A search hit: the standard answer, how well it matches, and whether its review date has passed."""

    id: str
    question: str
    answer: str
    unit: str
    score: float = Field(ge=0.0, le=1.0, description="0-1, comparable across queries")
    valid_until: dt.date | None
    overdue: bool = Field(description="past its valid_until: check the answer before reading it to a caller")


class KnowledgeConflict(BaseModel):
    """An edit of a version that is no longer current (409), or of an existing answer without its version (428)."""

    detail: str
    current: KnowledgeEntryOut = Field(description="the answer as it is now: merge your change into it and send its version")


class KnowledgeVersionOut(BaseModel):
    version: int
    author: str
    at: BeijingTime
    entry: KnowledgeEntryOut


class KnowledgeDetail(BaseModel):
    entry: KnowledgeEntryOut
    history: list[KnowledgeVersionOut] = Field(description="versions written through the API, oldest first")
