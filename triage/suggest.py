"""Assembling a suggestion from the heads' probabilities and the routing knowledge, with review thresholds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from triage.caller_state import EMERGENCY as CRY_FOR_HELP
from triage.caller_state import StateResult
from triage.deadlines import Deadline
from triage.elements import Elements
from triage.places import Location
from triage.routing import RankedUnit
from triage.schemas import (
    Alternative,
    AutoFields,
    CallerStateSuggestion,
    DeadlineSuggestion,
    LabelPrediction,
    OrderElements,
    Register,
    ScopeSuggestion,
    Suggestion,
    UnitSuggestion,
)
from triage.scope import ScopeDecision

MIN_UNITS = 3


@dataclass(frozen=True)
class ReviewThresholds:
    """Per field, the confidence at or above which it is auto (filled and acted on without a check).

    Training chooses each on out-of-fold predictions for a stated precision (`targets`) and keeps what it
    measured there (`measured`: threshold, precision, coverage and rows, pooled and per source), so the model
    card and the report can show why a call was or was not left to the machine.
    """

    category: float = 0.5
    topic: float = 0.5
    """Shown only: the topic never gates review, no dispatch decision depends on it."""
    unit: float = 0.3
    scope: float = 0.5
    """The scope head's probability of "accepted" at or above which the acceptance is auto."""
    rule_refusals_auto: bool = False
    """Whether a refusal by a rule (not by the model) is auto: rules measured at the refusal target precision."""
    target_precision: float | None = None
    chosen_on: str | None = None
    targets: dict[str, float] = field(default_factory=dict)
    measured: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_register: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per register (`triage.schemas.REGISTERS`), the thresholds chosen on that register's own rows, where it had
    enough; the fields above, which suit every register at once, hold for the rest."""

    def for_register(self, register: str) -> ReviewThresholds:
        """The thresholds a suggestion of this register is decided by."""
        own = self.by_register.get(register)
        return replace(self, **own, by_register={}) if own else self


def choose_threshold(scores: Sequence[float], correct: Sequence[bool], target_precision: float, *, z: float = 0.0) -> float:
    """Lowest score threshold whose accepted predictions reach `target_precision` (1.01 if none does).

    With `z` > 0 it is the lower end of the Wilson interval of that precision that must reach the target (z = 1.28:
    90% one-sided), so that a precision measured on a few hundred rows is not taken at its luckiest. Only cuts
    between different scores count: a threshold takes every row of its score. A negative score is a field a gate
    keeps from being auto (`NEVER_AUTO`): it counts in the coverage, never as a threshold.

    >>> choose_threshold([0.9, 0.8, 0.6, 0.4], [True, True, False, True], 0.9)
    0.8
    """
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    s = np.asarray(scores, dtype=float)[order]
    c = np.asarray(correct, dtype=bool)[order]
    if len(s) == 0:
        return 1.01
    n = np.arange(1, len(c) + 1)
    precision = np.cumsum(c) / n
    if z > 0:
        centre = precision + z * z / (2 * n)
        spread = z * np.sqrt(precision * (1 - precision) / n + z * z / (4 * n * n))
        precision = (centre - spread) / (1 + z * z / n)
    cut = np.append(s[1:] < s[:-1], True)  # the last row of each run of equal scores
    ok = np.nonzero((precision >= target_precision) & cut & (s >= 0))[0]
    if len(ok) == 0:
        return 1.01
    return float(s[ok[-1]])


def label_prediction(proba: Mapping[str, float], n_alternatives: int = 3) -> LabelPrediction:
    """The top label of a head's probabilities (label -> p) and its runners-up; ties keep label order."""
    ranked = sorted(proba.items(), key=lambda item: -item[1])
    (label, score), rest = ranked[0], ranked[1 : 1 + n_alternatives]
    return LabelPrediction(
        label=label,
        score=round(score, 4),
        alternatives=[Alternative(label=name, score=round(p, 4)) for name, p in rest],
    )


@dataclass
class SuggestionParts:
    """What the stages produced for one transcript, before assembly."""

    id: str | None
    text: str
    category: LabelPrediction
    topic: LabelPrediction
    units: list[RankedUnit]
    location: Location
    scope: ScopeDecision
    deadline: Deadline
    keywords: list[str] = field(default_factory=list)
    p_accepted: float | None = None
    """The scope head's probability that the call is in scope (None without a scope head)."""
    elements: Elements | None = None
    summary: str = ""
    caller_state: StateResult | None = None


def placed_by_sound(suggestion: Suggestion, unit: UnitSuggestion) -> bool:
    """A district or zone whose place was decided only by names matched by their sound: a person checks it."""
    return unit.placed is True and suggestion.district_by_sound


def placed_as_written(suggestion: Suggestion, unit: UnitSuggestion) -> bool:
    """Whether `unit` can be dispatched without a person placing it: a city department needs no place; a district
    or zone only where a place named as written decided it (not a representative, not a name heard by sound)."""
    return unit.placed is not False and not placed_by_sound(suggestion, unit)


NEVER_AUTO = -1.0
"""The confidence of a field a gate keeps from being auto whatever its score: below every threshold (0 to 1)."""


def cries_for_help(suggestion: Suggestion) -> bool:
    """An accepted call whose caller state is 求救 (a danger to life or body now, as the caller tells it): like a
    possible emergency it is never dispatched unseen. Out of fold, 7 of the corpus pool's 2,398 accepted calls
    (a live wire down with children near, a pole across the road ...) were; 6 of them had been auto."""
    state = suggestion.caller_state
    return suggestion.scope.accepted and state is not None and state.label == CRY_FOR_HELP


@dataclass(frozen=True)
class AutoScores:
    """Each auto decision's confidence on the scale its threshold reads, the gates folded in (`NEVER_AUTO`: a
    possible emergency's or a cry for help's acceptance, a local unit not placed by a place said as written). `unit` and `scope` are
    None for a refused call, which has no acceptance to trust and no unit to send it to. The field is auto when its
    score reaches the threshold: `auto_fields` decides by it, and training (thresholds) and evaluation
    (risk-coverage curves) read the same numbers, so the three cannot drift apart."""

    category: float
    unit: float | None
    scope: float | None


def auto_scores(suggestion: Suggestion) -> AutoScores:
    scope_ = suggestion.scope
    if not scope_.accepted:
        return AutoScores(suggestion.category.score, None, None)
    gated = scope_.possible_emergency or cries_for_help(suggestion)
    scope = NEVER_AUTO if gated else 1.0 if scope_.p_accepted is None else float(scope_.p_accepted)
    top = suggestion.units[0] if suggestion.units else None
    unit = None if top is None else top.score if placed_as_written(suggestion, top) else NEVER_AUTO
    return AutoScores(suggestion.category.score, unit, scope)


def auto_fields(suggestion: Suggestion, thresholds: ReviewThresholds) -> tuple[AutoFields, list[str]]:
    """Which fields are auto, and why the others are not (in the words the console shows). It reads only the
    suggestion, so training can apply thresholds it has just chosen to suggestions already made."""
    reasons: list[str] = []
    scores = auto_scores(suggestion)
    scope_ = suggestion.scope
    if scope_.accepted:
        scope = scores.scope is not None and scores.scope >= thresholds.scope
        if scope_.possible_emergency:
            reasons.append(f"可能为紧急警情（{scope_.possible_emergency}），请确认")
        elif cries_for_help(suggestion):
            cues = "、".join(suggestion.caller_state.cues[:3]) if suggestion.caller_state else ""
            reasons.append(f"来电人求救（{cues}），请确认是否为紧急警情" if cues else "来电人求救，请确认是否为紧急警情")
        elif not scope:
            reasons.append("scope置信度低")
    else:
        scope = scope_.by_rule and thresholds.rule_refusals_auto
        if not scope:
            if scope_.by_rule:
                reasons.append("规则建议不予受理，请人工确认")
            elif scope_.too_short:
                reasons.append("内容过短，请人工确认")
            else:
                reasons.append("模型建议不予受理，请人工确认")
    district = suggestion.district is not None and not suggestion.district_by_sound
    unit = False
    top = suggestion.units[0] if scope_.accepted and suggestion.units else None
    if top is not None:
        unit = scores.unit is not None and scores.unit >= thresholds.unit
        if top.placed is False:
            reasons.append("属地事项未定位区县")
        elif placed_by_sound(suggestion, top):
            reasons.append("属地按读音匹配，请核实地点")
        elif not unit:
            reasons.append("unit置信度低")
    category = scores.category >= thresholds.category
    deadline = suggestion.deadline.deadline_class == "emergency" or category
    return AutoFields(category=category, unit=unit, district=district, scope=scope, deadline=deadline), reasons


def apply_thresholds(suggestion: Suggestion, thresholds: ReviewThresholds) -> Suggestion:
    """The suggestion with `auto`, `needs_review` and `review_reasons` as these thresholds decide them (those of
    its register)."""
    auto, reasons = auto_fields(suggestion, thresholds.for_register(suggestion.register_))
    return suggestion.model_copy(update={"auto": auto, "needs_review": bool(reasons), "review_reasons": reasons})


def assemble(parts: SuggestionParts, thresholds: ReviewThresholds, model_version: str, register: Register = "spoken") -> Suggestion:
    # a refused call keeps its ranking: a dispatcher who accepts it after all (a written complaint that only
    # recounts an old fire, say) sees who would take it; the refusal and its redirect still come first
    units = parts.units
    suggestion = Suggestion(
        id=parts.id,
        text=parts.text,
        register=register,
        category=parts.category,
        topic=parts.topic,
        units=[UnitSuggestion(name=u.name, score=round(u.score, 4), why=u.why, placed=u.placed) for u in units],
        district=parts.location.district,
        district_by_sound=parts.location.district is not None and parts.location.confidence < 1.0,
        places=list(dict.fromkeys(parts.location.places)),
        scope=ScopeSuggestion(
            **parts.scope.as_dict(),  # type: ignore[arg-type]
            by_rule=parts.scope.by_rule,
            p_accepted=None if parts.p_accepted is None else round(parts.p_accepted, 4),
        ),
        deadline=DeadlineSuggestion.model_validate(parts.deadline.as_dict()),
        keywords=parts.keywords,
        elements=OrderElements.model_validate(parts.elements.as_dict()) if parts.elements else OrderElements(),
        summary=parts.summary,
        caller_state=None
        if parts.caller_state is None
        else CallerStateSuggestion(label=parts.caller_state.state, score=round(parts.caller_state.score, 4), cues=list(parts.caller_state.cues)),
        needs_review=True,
        model_version=model_version,
    )
    return apply_thresholds(suggestion, thresholds)
