"""Scores of a pipeline on labelled data: per head, and for the routing knowledge (scope, district, units, deadlines)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from training.datasets import Dataset
from triage.pipeline import TriagePipeline
from triage.rules import ACCEPTED
from triage.schemas import Suggestion


def head_scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision/recall/F1 over the gold labels present."""
    labels = sorted(set(gold) | set(predicted))
    p, r, f, s = precision_recall_fscore_support(gold, predicted, labels=labels, zero_division=0)
    gold_labels = sorted(set(gold))
    return {
        "n": len(gold),
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1": round(float(f1_score(gold, predicted, labels=gold_labels, average="macro", zero_division=0)), 4),
        "per_class": {
            label: {"precision": round(float(pi), 4), "recall": round(float(ri), 4), "f1": round(float(fi), 4), "support": int(si)}
            for label, pi, ri, fi, si in zip(labels, p, r, f, s, strict=True)
        },
    }


def predict_all(pipeline: TriagePipeline, data: Dataset, batch_size: int = 256) -> list[Suggestion]:
    out: list[Suggestion] = []
    texts, ids = data.texts(), [r.id for r in data.records]
    for start in range(0, len(texts), batch_size):
        out.extend(pipeline.suggest_many(texts[start : start + batch_size], ids=ids[start : start + batch_size]))
    return out


def evaluate(pipeline: TriagePipeline, data: Dataset, suggestions: list[Suggestion] | None = None) -> dict[str, Any]:
    """Every metric the labels in `data` allow; heads without gold labels are left out."""
    suggestions = suggestions if suggestions is not None else predict_all(pipeline, data)
    records = data.records
    metrics: dict[str, Any] = {"n": len(records), "model_version": pipeline.version}

    for head in ("category", "topic"):
        pairs = [(r.label(head), getattr(s, head).label) for r, s in zip(records, suggestions, strict=True) if r.label(head)]
        if pairs:
            gold, pred = zip(*pairs, strict=True)
            metrics[head] = head_scores(gold, pred)  # type: ignore[arg-type]

    scope_pairs = [(r.label("scope"), s) for r, s in zip(records, suggestions, strict=True) if r.label("scope")]
    if scope_pairs:
        metrics["scope"] = scope_scores(scope_pairs, [r for r in records if r.label("scope")])

    unit_pairs = [(r.label("unit"), s) for r, s in zip(records, suggestions, strict=True) if r.label("unit")]
    if unit_pairs:
        metrics["unit"] = unit_scores(unit_pairs)

    district_pairs = [(r.label("district"), s.district) for r, s in zip(records, suggestions, strict=True) if "district" in r.labels or r.label("scope")]
    said = [(g, p) for g, p in district_pairs if g is not None]
    if said:
        gold, pred = zip(*said, strict=True)
        metrics["district"] = {
            "n_place_said": len(said),
            "accuracy_where_place_said": round(float(np.mean([g == p for g, p in said])), 4),
            "resolved_share": round(float(np.mean([p is not None for p in pred])), 4),
            "wrong_district_share": round(float(np.mean([p is not None and p != g for g, p in said])), 4),
        }
        unsaid = [p for g, p in district_pairs if g is None]
        if unsaid:
            metrics["district"]["null_when_no_place"] = round(float(np.mean([p is None for p in unsaid])), 4)

    deadline_pairs = [(r.label("deadline"), s.deadline.deadline_class) for r, s in zip(records, suggestions, strict=True) if r.label("deadline")]
    if deadline_pairs:
        gold, pred = zip(*deadline_pairs, strict=True)
        metrics["deadline"] = head_scores(gold, pred)  # type: ignore[arg-type]

    reviewed = [s.needs_review for s in suggestions]
    metrics["needs_review_share"] = round(float(np.mean(reviewed)), 4) if reviewed else 0.0
    auto = [(r, s) for r, s in zip(records, suggestions, strict=True) if not s.needs_review and r.label("category")]
    if auto:
        metrics["auto_filled_category_accuracy"] = round(float(np.mean([r.label("category") == s.category.label for r, s in auto])), 4)
    return metrics


def scope_scores(pairs: list[tuple[str | None, Suggestion]], records: list[Any]) -> dict[str, Any]:
    gold = [g for g, _ in pairs]
    decided = [ACCEPTED if s.scope.accepted else str(s.scope.reason) for _, s in pairs]
    in_scope = [g == ACCEPTED for g in gold]
    accepted = [d == ACCEPTED for d in decided]
    n_in = sum(in_scope)
    n_out = len(gold) - n_in
    false_refusals = sum(1 for i, a in zip(in_scope, accepted, strict=True) if i and not a)
    missed = sum(1 for i, a in zip(in_scope, accepted, strict=True) if not i and a)
    accepted_total = sum(accepted)
    scores = head_scores(gold, decided)  # type: ignore[arg-type]
    scores.update(
        {
            "false_refusal_rate": round(false_refusals / n_in, 4) if n_in else None,
            "missed_refusal_rate": round(missed / n_out, 4) if n_out else None,
            "out_of_scope_recall": round(1 - missed / n_out, 4) if n_out else None,
            "in_scope_precision": round(sum(1 for i, a in zip(in_scope, accepted, strict=True) if i and a) / accepted_total, 4)
            if accepted_total
            else None,
        }
    )
    emergencies = [(r.label("redirect"), s) for r, (g, s) in zip(records, pairs, strict=True) if g == "emergency" and r.label("redirect")]
    if emergencies:
        scores["emergency_redirect_accuracy"] = round(
            float(np.mean([(not s.scope.accepted) and s.scope.redirect == number for number, s in emergencies])), 4
        )
        scores["n_emergencies"] = len(emergencies)
    return scores


def unit_scores(pairs: list[tuple[str | None, Suggestion]]) -> dict[str, Any]:
    ranks = []
    for gold, suggestion in pairs:
        names = [u.name for u in suggestion.units]
        ranks.append(names.index(gold) + 1 if gold in names else None)
    n = len(ranks)
    gold = [g for g, _ in pairs]
    top1 = [s.units[0].name if s.units else "" for _, s in pairs]
    out = head_scores(gold, top1)  # type: ignore[arg-type]
    out.update({f"top{k}_accuracy": round(sum(1 for r in ranks if r is not None and r <= k) / n, 4) for k in (1, 3, 5)})
    return out
