"""Assembling a suggestion from the heads' probabilities and the routing knowledge, with review thresholds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from triage.deadlines import Deadline
from triage.places import Location
from triage.routing import RankedUnit
from triage.schemas import (
    Alternative,
    DeadlineSuggestion,
    LabelPrediction,
    ScopeSuggestion,
    Suggestion,
    UnitSuggestion,
)
from triage.scope import ScopeDecision

MIN_UNITS = 3


@dataclass(frozen=True)
class ReviewThresholds:
    """Below these scores a head's answer is not auto-filled; chosen on held-out data for a target precision."""

    category: float = 0.5
    topic: float = 0.5
    unit: float = 0.3
    target_precision: float | None = None
    chosen_on: str | None = None

    def failing(self, scores: Mapping[str, float]) -> list[str]:
        limits = {"category": self.category, "topic": self.topic, "unit": self.unit}
        return [head for head, limit in limits.items() if head in scores and scores[head] < limit]


def choose_threshold(scores: Sequence[float], correct: Sequence[bool], target_precision: float) -> float:
    """Lowest score threshold whose accepted predictions reach `target_precision` (1.01 if none does).

    >>> choose_threshold([0.9, 0.8, 0.6, 0.4], [True, True, False, True], 0.9)
    0.8
    """
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    s = np.asarray(scores, dtype=float)[order]
    c = np.asarray(correct, dtype=bool)[order]
    if len(s) == 0:
        return 1.01
    precision = np.cumsum(c) / np.arange(1, len(c) + 1)
    ok = np.nonzero(precision >= target_precision)[0]
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


def assemble(parts: SuggestionParts, thresholds: ReviewThresholds, model_version: str) -> Suggestion:
    scores = {"category": parts.category.score, "topic": parts.topic.score}
    if parts.units:
        scores["unit"] = parts.units[0].score
    reasons = [f"{head}置信度低" for head in thresholds.failing(scores)]
    if not parts.scope.accepted and not parts.scope.by_rule:
        reasons.append("模型建议不予受理，请人工确认")
    units = parts.units if parts.scope.accepted else []
    return Suggestion(
        id=parts.id,
        text=parts.text,
        category=parts.category,
        topic=parts.topic,
        units=[UnitSuggestion(name=u.name, score=round(u.score, 4), why=u.why) for u in units],
        district=parts.location.district,
        places=list(dict.fromkeys(parts.location.places)),
        scope=ScopeSuggestion(**parts.scope.as_dict()),  # type: ignore[arg-type]
        deadline=DeadlineSuggestion.model_validate(parts.deadline.as_dict()),
        keywords=parts.keywords,
        needs_review=bool(reasons),
        review_reasons=reasons,
        model_version=model_version,
    )
