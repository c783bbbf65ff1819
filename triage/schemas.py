"""The suggestion: what every transcript becomes, in the CLI's JSONL and the API's responses alike."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Register = Literal["spoken", "written"]
"""How the text was made: a call's transcript (电话: fillers, repeats, homophone slips) or written by the citizen
(来信、网络留言、微信: long, punctuated). How sure the heads may be before a field is left to the machine differs
between the two, so each register has its own review thresholds."""
REGISTERS: tuple[str, ...] = ("spoken", "written")


class Alternative(BaseModel):
    label: str
    score: float


class LabelPrediction(BaseModel):
    """A head's top label, its probability and the runners-up."""

    label: str
    score: float
    alternatives: list[Alternative] = Field(default_factory=list)


class UnitSuggestion(BaseModel):
    name: str
    score: float
    why: list[str]
    placed: bool | None = Field(
        default=None,
        description="for a district or zone (属地): whether the place of the problem decided it; false: the district is still to be found",
    )


class ScopeSuggestion(BaseModel):
    accepted: bool
    reason: str | None = Field(description="out-of-scope code, or null when accepted")
    redirect: str | None = Field(description="emergency number or channel the caller should use instead")
    explanation: str = Field(description="what the operator reads to the caller")
    by_rule: bool = Field(default=False, description="refused by a rule of data/rules.yaml, not by the scope model")
    why: str | None = Field(default=None, description="what a refusal rests on: the rule's words, the model's confidence, or a call too short")
    too_short: bool = Field(default=False, description="nothing to act on yet (喂？喂？): reviewed, never refused alone")
    p_accepted: float | None = Field(default=None, description="the scope model's probability that the call is in scope")
    possible_emergency: str | None = Field(
        default=None,
        description="an accepted call the scope model gives some chance of being an emergency: the number it would be for (always reviewed)",
    )


class DeadlineSuggestion(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    deadline_class: str = Field(alias="class", description="emergency | simple | help | standard")
    due_at: str = Field(description="ISO-8601 with +08:00")
    explanation: str


class AutoFields(BaseModel):
    """Per field: does its confidence clear the threshold chosen, on calls the model never trained on, for the
    field's stated precision? An auto field can be filled, and acted on, without a person checking it."""

    category: bool = False
    unit: bool = Field(default=False, description="the top unit, which for a local matter needs the district too")
    district: bool = False
    scope: bool = Field(default=False, description="acceptance; a refusal by the model is never auto")
    deadline: bool = False


class KnowledgeAnswer(BaseModel):
    """A standard answer (信息库标准答案) the operator can read out for a consultation."""

    model_config = ConfigDict(frozen=True)

    id: str
    question: str
    answer: str
    unit: str
    score: float = Field(ge=0.0, le=1.0, description="0-1, comparable across queries")
    valid_until: date | None = Field(default=None, description="the answer's review date")
    overdue: bool = Field(default=False, description="past its review date (Beijing): check the answer before reading it out")


class ElementSpan(BaseModel):
    text: str
    start: int = Field(description="offset into the suggestion's `text`: text[start:end] is the span")
    end: int


class OrderElements(BaseModel):
    """The work order's elements (工单要素), each a span of the transcript or null: nothing is invented."""

    address: ElementSpan | None = Field(default=None, description="the most specific place said")
    time: ElementSpan | None = Field(default=None, description="when it happens or since when")
    object: ElementSpan | None = Field(default=None, description="who or what it is about")
    ask: ElementSpan | None = Field(default=None, description="what the caller wants done")
    contact_ok: bool | None = Field(default=None, description="the caller agreed to (true) or refused (false) a call back, if said")


class CallerStateSuggestion(BaseModel):
    label: str = Field(description="平静 | 焦急 | 愤怒 | 求救; never changes a category, unit or scope")
    score: float
    cues: list[str] = Field(default_factory=list, description="the cues that spoke for it")


class Suggestion(BaseModel):
    """One transcript's dispatch suggestion."""

    model_config = ConfigDict(populate_by_name=True)

    id: str | None
    text: str = Field(description="the normalised, PII-masked transcript the suggestion was made from")
    register_: Register = Field(
        default="spoken", alias="register", description="spoken (a call's transcript) or written: whose review thresholds decided `auto`"
    )  # `register` is taken by BaseModel (abc)
    category: LabelPrediction
    topic: LabelPrediction
    units: list[UnitSuggestion]
    district: str | None
    places: list[str] = Field(default_factory=list, description="place names that decided the district")
    district_by_sound: bool = Field(
        default=False, description="only places matched by their sound (a misheard or mistyped name) decided the district: a person checks it"
    )
    scope: ScopeSuggestion
    deadline: DeadlineSuggestion
    keywords: list[str]
    auto: AutoFields = Field(default_factory=AutoFields)
    needs_review: bool = Field(description="a field dispatch depends on (scope, unit, district of a local matter) is not auto")
    review_reasons: list[str] = Field(default_factory=list)
    model_version: str
    answers: list[KnowledgeAnswer] = Field(
        default_factory=list, description="for consultations: the best standard answers of the knowledge base"
    )
    elements: OrderElements = Field(default_factory=OrderElements)
    summary: str = Field(default="", description="the order's one line, at most 60 characters: 来电人反映：…；诉求：…")
    caller_state: CallerStateSuggestion | None = None

    def to_json_dict(self) -> dict[str, object]:
        return self.model_dump(by_alias=True, mode="json")
