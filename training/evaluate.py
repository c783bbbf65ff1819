"""Scores of a pipeline on labelled data: per head, and for the routing knowledge (scope, district, units, deadlines)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, precision_recall_fscore_support

from training.datasets import Dataset, Record
from training.elements_eval import draft_scores
from training.tuning import is_acceptable, register_of, wilson_interval
from triage.classifiers.calibration import expected_calibration_error
from triage.labels import CONSULTATION
from triage.pipeline import TriagePipeline
from triage.rules import ACCEPTED
from triage.schemas import REGISTERS, Suggestion
from triage.suggest import NEVER_AUTO, auto_scores
from triage.units import LOCAL, Catalogue


def head_scores(gold: Sequence[str], predicted: Sequence[str], *, intervals: bool = False) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision/recall/F1 over the gold labels present.

    With `intervals`, each class also gets the n behind its precision (`precision_n`: how often it was predicted)
    and its recall (`recall_n`: its support), each figure with its 95% Wilson interval (`*_interval`): a rare
    class's recall on ten messages is a wide range, not a number.
    """
    labels = sorted(set(gold) | set(predicted))
    p, r, f, s = precision_recall_fscore_support(gold, predicted, labels=labels, zero_division=0)
    gold_labels = sorted(set(gold))
    per_class = {
        label: {"precision": round(float(pi), 4), "recall": round(float(ri), 4), "f1": round(float(fi), 4), "support": int(si)}
        for label, pi, ri, fi, si in zip(labels, p, r, f, s, strict=True)
    }
    if intervals:
        right = Counter(g for g, q in zip(gold, predicted, strict=True) if g == q)
        made = Counter(predicted)
        for label, scores in per_class.items():
            scores.update(
                precision_n=made[label],
                precision_interval=_interval(right[label], made[label]),
                recall_n=scores["support"],
                recall_interval=_interval(right[label], scores["support"]),
            )
    return {
        "n": len(gold),
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1": round(float(f1_score(gold, predicted, labels=gold_labels, average="macro", zero_division=0)), 4),
        "per_class": per_class,
    }


def _interval(successes: int, n: int) -> list[float] | None:
    interval = wilson_interval(successes, n)
    return None if interval is None else list(interval)


def _rate(successes: int, n: int, name: str = "accuracy", count: str = "right") -> dict[str, Any]:
    """A share with its n, its count and its 95% Wilson interval."""
    return {"n": n, count: successes, name: round(successes / n, 4) if n else None, "interval": _interval(successes, n)}


def category_ceiling(first: Sequence[str], second: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """How far the category head is from what people agree on, over the messages two annotators labelled
    independently: their agreement (raw, and Cohen's kappa), the model's accuracy against the first, against
    the second and on the messages both agree on, and the gap (agreement minus accuracy against the first).
    Every share comes with its n and 95% Wilson interval."""
    n = len(first)
    agreed = [a == b for a, b in zip(first, second, strict=True)]
    k = sum(agreed)
    agreement = _rate(k, n, "rate", "agreed")
    agreement["kappa"] = round(float(cohen_kappa_score(first, second)), 4) if n and len(set(first) | set(second)) > 1 else None
    against_first = _rate(sum(a == p for a, p in zip(first, predicted, strict=True)), n)
    out = {
        "n": n,
        "agreement": agreement,
        "accuracy_first": against_first,
        "accuracy_second": _rate(sum(b == p for b, p in zip(second, predicted, strict=True)), n),
        "accuracy_agreed": _rate(sum(a == p for a, p, same in zip(first, predicted, agreed, strict=True) if same), k),
        "gap": None if not n else round(agreement["rate"] - against_first["accuracy"], 4),
    }
    return out


CEILING_ROWS = (
    ("agreement between the two annotators", "agreement", "rate"),
    ("Cohen's kappa between them", "agreement", "kappa"),
    ("model accuracy against the first annotator", "accuracy_first", "accuracy"),
    ("model accuracy against the second annotator", "accuracy_second", "accuracy"),
    ("model accuracy where both annotators agree", "accuracy_agreed", "accuracy"),
)
"""The ceiling's rows as the report and the model card show them: (label, block, figure)."""


def ceiling_rows(ceiling: dict[str, Any]) -> list[tuple[str, str, int | None, float | None, list[float] | None]]:
    """(label, key in `category_ceiling`, n, figure, 95% interval) per row of the ceiling table, the gap last."""
    rows: list[tuple[str, str, int | None, float | None, list[float] | None]] = []
    for label, block, figure in CEILING_ROWS:
        part = ceiling.get(block) or {}
        rows.append((label, f"{block}|{figure}", part.get("n"), part.get(figure), part.get("interval") if figure != "kappa" else None))
    rows.append(("gap: agreement minus accuracy against the first", "gap", ceiling.get("n"), ceiling.get("gap"), None))
    return rows


def ceiling_scores(data: Dataset, suggestions: Sequence[Suggestion], second: dict[str, str]) -> dict[str, Any] | None:
    """`category_ceiling` over the records with a category from both annotators (the first's in the records,
    the second's by id); None when none has both."""
    rows = [
        (r.label("category"), second[r.id], s.category.label)
        for r, s in zip(data.records, suggestions, strict=True)
        if r.label("category") and r.id in second
    ]
    if not rows:
        return None
    first, other, predicted = zip(*rows, strict=True)
    return category_ceiling(first, other, predicted)  # type: ignore[arg-type]


def predict_all(pipeline: TriagePipeline, data: Dataset, batch_size: int = 256) -> list[Suggestion]:
    """Suggestions for every record, each in its register: real messages are written, the rest spoken (calls)."""
    out: list[Suggestion | None] = [None] * len(data.records)
    texts = data.texts()
    for register in REGISTERS:
        index = [i for i, r in enumerate(data.records) if register_of(r.origin) == register]
        for start in range(0, len(index), batch_size):
            part = index[start : start + batch_size]
            made = pipeline.suggest_many([texts[i] for i in part], ids=[data.records[i].id for i in part], register=register)  # type: ignore[arg-type]
            for i, suggestion in zip(part, made, strict=True):
                out[i] = suggestion
    return out  # type: ignore[return-value]


def evaluate(
    pipeline: TriagePipeline,
    data: Dataset,
    suggestions: list[Suggestion] | None = None,
    *,
    catalogue: Catalogue | None = None,
    second: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Every metric the labels in `data` allow; heads without gold labels are left out.

    A suggested unit counts as right when a dispatcher would accept it (`units_ok`; a district or zone where the
    labels say `属地`); `exact_*` figures count only the primary unit. With `second` (a second annotator's
    categories by id) also `category_ceiling` (see `category_ceiling`).
    """
    suggestions = suggestions if suggestions is not None else predict_all(pipeline, data)
    catalogue = catalogue or pipeline.knowledge.catalogue
    records = data.records
    metrics: dict[str, Any] = {"n": len(records), "model_version": pipeline.version}

    for head in ("category", "topic"):
        pairs = [(r.label(head), getattr(s, head).label) for r, s in zip(records, suggestions, strict=True) if r.label(head)]
        if pairs:
            gold, pred = zip(*pairs, strict=True)
            metrics[head] = head_scores(gold, pred, intervals=head == "category")  # type: ignore[arg-type]
    if second is not None:
        ceiling = ceiling_scores(data, suggestions, second)
        if ceiling is not None:
            metrics["category_ceiling"] = ceiling

    scope_pairs = [(r.label("scope"), s) for r, s in zip(records, suggestions, strict=True) if r.label("scope")]
    if scope_pairs:
        metrics["scope"] = scope_scores(scope_pairs, [r for r in records if r.label("scope")])

    unit_pairs = [(r, s) for r, s in zip(records, suggestions, strict=True) if r.acceptable_units()]
    if unit_pairs:
        metrics["unit"] = unit_scores(unit_pairs, catalogue)

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

    draft = draft_scores([r.id for r in records], suggestions)
    if draft is not None:
        metrics["order_draft"] = draft

    answers = answer_scores(records, suggestions, catalogue)
    if answers is not None:
        metrics["answers"] = answers

    reviewed = [s.needs_review for s in suggestions]
    metrics["needs_review_share"] = round(float(np.mean(reviewed)), 4) if reviewed else 0.0
    metrics["automation"] = automation_scores(records, suggestions, catalogue)
    return metrics


def answer_scores(records: Sequence[Record], suggestions: Sequence[Suggestion], catalogue: Catalogue) -> dict[str, Any] | None:
    """Consultations answered on the call: of the accepted calls labelled 咨询, how many get standard answers (the
    same ones the API and `predict` give, through `training.batch.answered`) and how many get one from a unit a
    dispatcher would accept for the call among the top three. None when no such call is labelled."""
    rows = [
        (r, s) for r, s in zip(records, suggestions, strict=True)
        if r.label("category") == CONSULTATION and r.label("scope") in (None, ACCEPTED) and r.acceptable_units()
    ]
    if not rows:
        return None
    from training.batch import answered  # the knowledge base loads here, only when consultations are scored

    n = len(rows)
    got = [answered(s).answers for _, s in rows]
    right = [any(is_acceptable(a.unit, r.acceptable_units(), catalogue) for a in answers[:3]) for (r, _), answers in zip(rows, got, strict=True)]
    answered_n, right_n = sum(bool(a) for a in got), sum(right)
    low, high = wilson_interval(right_n, n, z=1.96)
    return {
        "n": n,
        "right": right_n,
        "answered": round(answered_n / n, 4),
        "right_unit_top3": round(right_n / n, 4),
        "right_unit_top3_ci95": [round(low, 4), round(high, 4)],
        "right_unit_top3_where_answered": round(right_n / answered_n, 4) if answered_n else None,
    }


def _share(flags: Sequence[bool]) -> float | None:
    return round(float(np.mean(flags)), 4) if len(flags) else None


def automation_scores(records: Sequence[Record], suggestions: Sequence[Suggestion], catalogue: Catalogue) -> dict[str, Any]:
    """What the machine may do alone: per field, the share auto and the precision of what is auto; and the joint
    decision (accepted, unit and district auto: the order could be dispatched with nobody checking it)."""
    out: dict[str, Any] = {"n": len(suggestions), "needs_review_share": _share([s.needs_review for s in suggestions])}
    cat = [(r.label("category") == s.category.label, s.auto.category) for r, s in zip(records, suggestions, strict=True) if r.label("category")]
    if cat:
        out["category"] = {"n": len(cat), "coverage": _share([a for _, a in cat]), "precision": _share([c for c, a in cat if a])}
    accepted = [(r, s) for r, s in zip(records, suggestions, strict=True) if r.label("scope") in (None, ACCEPTED) and r.acceptable_units()]
    if accepted:
        dispatch = [(is_acceptable(s.units[0].name if s.units else None, r.acceptable_units(), catalogue), not s.needs_review and s.scope.accepted) for r, s in accepted]
        units = [(c, s.auto.unit) for (c, _), (_, s) in zip(dispatch, accepted, strict=True)]
        out["unit"] = {"n": len(units), "coverage": _share([a for _, a in units]), "precision": _share([c for c, a in units if a])}
        out["dispatch"] = {"n": len(dispatch), "coverage": _share([a for _, a in dispatch]), "precision": _share([c for c, a in dispatch if a])}
    scoped = [(r.label("scope") == ACCEPTED if s.scope.accepted else r.label("scope") != ACCEPTED, s.auto.scope) for r, s in zip(records, suggestions, strict=True) if r.label("scope")]
    if scoped:
        out["scope"] = {"n": len(scoped), "coverage": _share([a for _, a in scoped]), "precision": _share([c for c, a in scoped if a])}
    return out


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
    refusals = [(g, d) for g, d in zip(gold, decided, strict=True) if g != ACCEPTED]
    if refusals:
        # the right reason for a call to refuse: what the operator reads to the caller depends on it
        scores["reason_accuracy"] = round(sum(g == d for g, d in refusals) / len(refusals), 4)
        scores["n_to_refuse"] = len(refusals)
    emergencies = [(r.label("redirect"), s) for r, (g, s) in zip(records, pairs, strict=True) if g == "emergency" and r.label("redirect")]
    if emergencies:
        scores["emergency_redirect_accuracy"] = round(
            float(np.mean([(not s.scope.accepted) and s.scope.redirect == number for number, s in emergencies])), 4
        )
        scores["n_emergencies"] = len(emergencies)
        scores["redirect_by_number"] = {
            number: {
                "n": sum(1 for g, _ in emergencies if g == number),
                "right": sum(1 for g, s in emergencies if g == number and not s.scope.accepted and s.scope.redirect == number),
            }
            for number in sorted({g for g, _ in emergencies})
        }
        scores["emergency_deadline_share"] = round(float(np.mean([s.deadline.deadline_class == "emergency" for _, s in emergencies])), 4)
        # an emergency the scope decision missed but marked as possible is still put in front of a person
        scores["emergency_refused_or_flagged"] = round(
            float(np.mean([s.scope.reason == "emergency" or bool(s.scope.possible_emergency) for _, s in emergencies])), 4
        )
    flagged = [bool(s.scope.possible_emergency) for g, s in pairs if g != "emergency" and s.scope.accepted]
    if flagged:
        scores["possible_emergency_share_of_other_accepted"] = round(float(np.mean(flagged)), 4)
    return scores


def scope_misses(data: Dataset, suggestions: Sequence[Suggestion]) -> list[dict[str, Any]]:
    """Every scope mistake, for the report: a call wrongly refused, a refusal missed, the wrong reason or number."""
    out = []
    for r, s in zip(data.records, suggestions, strict=True):
        gold = r.label("scope")
        if gold is None:
            continue
        decided = ACCEPTED if s.scope.accepted else str(s.scope.reason)
        number, redirect = r.label("redirect"), s.scope.redirect
        if gold == ACCEPTED and decided != ACCEPTED:
            kind = "wrongly refused"
        elif gold != ACCEPTED and decided == ACCEPTED:
            kind = "refusal missed"
        elif gold != decided:
            kind = "wrong reason"
        elif gold == "emergency" and number and redirect != number:
            kind = "wrong number"
        else:
            continue
        out.append({
            "id": r.id, "kind": kind, "gold": gold if gold != "emergency" else f"emergency {number or ''}".strip(),
            "decided": decided if decided != "emergency" else f"emergency {redirect}", "why": s.scope.why or "", "text": s.text,
        })
    order = {"wrongly refused": 0, "refusal missed": 1, "wrong number": 2, "wrong reason": 3}
    return sorted(out, key=lambda row: order[row["kind"]])


def unit_scores(pairs: list[tuple[Record, Suggestion]], catalogue: Catalogue) -> dict[str, Any]:
    """Top-k acceptable (`topK_accuracy`: any unit a dispatcher would accept) and top-k of the primary unit alone
    (`exact_topK`); a primary `属地` is matched by any district or zone."""
    acceptable_rank, exact_rank = [], []
    for record, suggestion in pairs:
        names = [u.name for u in suggestion.units]
        ok = [k for k, name in enumerate(names, start=1) if is_acceptable(name, record.acceptable_units(), catalogue)]
        acceptable_rank.append(ok[0] if ok else None)
        primary = record.acceptable_units()[0]
        exact = [k for k, name in enumerate(names, start=1) if is_acceptable(name, (primary,), catalogue)]
        exact_rank.append(exact[0] if exact else None)
    n = len(pairs)
    gold = [record.acceptable_units()[0] for record, _ in pairs]
    top1 = [s.units[0].name if s.units else "" for _, s in pairs]
    top1 = [LOCAL if g == LOCAL and catalogue.is_local(p) else p for g, p in zip(gold, top1, strict=True)]
    out = head_scores(gold, top1)  # type: ignore[arg-type]
    out["accuracy_exact"] = out.pop("accuracy")
    for k in (1, 3, 5):
        out[f"top{k}_accuracy"] = round(sum(1 for r in acceptable_rank if r is not None and r <= k) / n, 4)
        out[f"exact_top{k}"] = round(sum(1 for r in exact_rank if r is not None and r <= k) / n, 4)
    out["n_several_acceptable"] = sum(1 for record, _ in pairs if len(record.acceptable_units()) > 1)
    return out


# --- the evaluator's report: the figures behind each plot, kept in metrics.json so the plots can be checked ---

CONFIDENCE_HEADS = ("category", "topic", "unit")
"""Heads whose top answer carries a probability: reliability diagrams and the worst mistakes."""
AUTO_FIELDS = ("category", "unit", "scope", "dispatch")
"""Decisions the machine may take alone, each with a risk-coverage curve: the three fields and the joint one."""
REPORT_PRECISIONS = (0.90, 0.95, 0.98)
N_BINS = 10
N_WORST = 25
MAX_CONFUSION_LABELS = 30


def _predicted(head: str, suggestion: Suggestion) -> tuple[str, float | None]:
    """A head's top answer and its score, as the evaluator sees it (scope: accepted or the refusal reason)."""
    if head in ("category", "topic"):
        prediction = getattr(suggestion, head)
        return prediction.label, float(prediction.score)
    if head == "unit":
        return (suggestion.units[0].name, float(suggestion.units[0].score)) if suggestion.units else ("", 0.0)
    if head == "scope":
        return (ACCEPTED if suggestion.scope.accepted else str(suggestion.scope.reason)), None
    if head == "deadline":
        return suggestion.deadline.deadline_class, None
    raise KeyError(head)


def head_rows(
    data: Dataset, suggestions: Sequence[Suggestion], head: str, catalogue: Catalogue | None = None
) -> list[tuple[int, str, str, float | None]]:
    """(row index, gold, predicted, score) for every row with a gold label for `head`. For the unit, gold is the
    acceptable unit the prediction matched when it matched one, else the best acceptable unit."""
    rows = []
    for i, (record, suggestion) in enumerate(zip(data.records, suggestions, strict=True)):
        if head == "unit":
            acceptable = record.acceptable_units()
            if not acceptable or catalogue is None:
                continue
            label, score = _predicted(head, suggestion)
            gold = label if is_acceptable(label, acceptable, catalogue) else acceptable[0]
            rows.append((i, gold, label, score))
            continue
        gold = record.label(head)
        if gold:
            label, score = _predicted(head, suggestion)
            rows.append((i, gold, label, score))
    return rows


def auto_rows(data: Dataset, suggestions: Sequence[Suggestion], field: str, thresholds: Any, catalogue: Catalogue) -> list[tuple[float, bool]]:
    """(confidence, right) for every row where the field's decision can be judged, confidence as `auto_scores`
    gives it (the scale its threshold reads, gates included); for `dispatch` (accepted, unit and district of a local
    matter together) the smaller ratio of the unit's and the acceptance's confidence to their thresholds, so that 1
    is the operating point."""
    rows = []
    for record, s in zip(data.records, suggestions, strict=True):
        scores = auto_scores(s)
        if field == "category" and record.label("category"):
            rows.append((scores.category, s.category.label == record.label("category")))
        elif field == "scope" and record.label("scope") and scores.scope is not None and s.scope.p_accepted is not None:
            rows.append((scores.scope, record.label("scope") == ACCEPTED))
        elif field in ("unit", "dispatch") and record.acceptable_units() and record.label("scope") in (None, ACCEPTED):
            top = s.units[0] if s.units and s.scope.accepted else None
            right = top is not None and is_acceptable(top.name, record.acceptable_units(), catalogue)
            score = NEVER_AUTO if scores.unit is None else scores.unit
            if field == "dispatch" and score >= 0 and scores.scope is not None:
                score = min(score / max(thresholds.unit, 1e-9), scores.scope / max(thresholds.scope, 1e-9))
            rows.append((score, right))
    return rows


def confusion(gold: Sequence[str], predicted: Sequence[str], max_labels: int = MAX_CONFUSION_LABELS) -> dict[str, Any]:
    """Counts of (gold, predicted); with many classes only the most frequent gold labels, the rest as 其他."""
    counts = Counter(gold)
    labels = sorted(set(gold) | set(predicted), key=lambda label: (-counts.get(label, 0), label))
    other = None
    if len(labels) > max_labels:
        labels, other = labels[: max_labels - 1], "(其余)"
    index = {label: i for i, label in enumerate(labels)}
    size = len(labels) + (other is not None)
    matrix = np.zeros((size, size), dtype=int)
    for g, p in zip(gold, predicted, strict=True):
        matrix[index.get(g, size - 1), index.get(p, size - 1)] += 1
    return {"labels": labels + ([other] if other else []), "matrix": matrix.tolist()}


def reliability(scores: Sequence[float], correct: Sequence[bool], n_bins: int = N_BINS) -> dict[str, Any]:
    """Equal-width confidence bins and the expected calibration error (bin-size-weighted |accuracy - confidence|)."""
    s = np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
    c = np.asarray(correct, dtype=float)
    which = np.minimum((s * n_bins).astype(int), n_bins - 1)
    bins = []
    for b in range(n_bins):
        mask = which == b
        n = int(mask.sum())
        confidence = float(s[mask].mean()) if n else None
        accuracy = float(c[mask].mean()) if n else None
        bins.append({
            "lower": round(b / n_bins, 4),
            "upper": round((b + 1) / n_bins, 4),
            "n": n,
            "confidence": None if confidence is None else round(confidence, 4),
            "accuracy": None if accuracy is None else round(accuracy, 4),
        })
    return {"n": len(s), "ece": round(expected_calibration_error(s, c, n_bins), 4), "bins": bins}


def coverage_curve(
    scores: Sequence[float], correct: Sequence[bool], threshold: float | None = None, precisions: Sequence[float] = REPORT_PRECISIONS
) -> dict[str, Any]:
    """Share auto-filled (score at or above a threshold) against the accuracy of what is auto-filled.

    `at_precision` is the largest share whose answers reach each precision on this data (the best threshold
    in hindsight); `at_model_threshold` is what the bundle's stored threshold actually does here.
    """
    s = np.asarray(scores, dtype=float)
    c = np.asarray(correct, dtype=bool)
    order = np.argsort(-s, kind="stable")
    s, c = s[order], c[order]
    n = len(s)
    # only the last row of a run of equal scores is a reachable cut
    cuts = [i for i in range(n) if i == n - 1 or s[i + 1] < s[i]]
    accuracy = np.cumsum(c) / np.arange(1, n + 1)
    points = [{"threshold": round(float(s[i]), 4), "coverage": round((i + 1) / n, 4), "accuracy": round(float(accuracy[i]), 4)} for i in cuts]
    if len(points) > 200:  # enough to draw; keeps metrics.json small
        step = len(points) / 200
        points = [points[int(k * step)] for k in range(200)] + [points[-1]]
    out: dict[str, Any] = {"n": n, "overall_accuracy": round(float(c.mean()), 4) if n else None, "curve": points}
    at: dict[str, Any] = {}
    for target in precisions:
        ok = [i for i in cuts if accuracy[i] >= target]
        best = max(ok) if ok else None
        at[f"{target:.2f}"] = {
            "threshold": round(float(s[best]), 4) if best is not None else None,
            "coverage": round((best + 1) / n, 4) if best is not None else 0.0,
            "accuracy": round(float(accuracy[best]), 4) if best is not None else None,
        }
    out["at_precision"] = at
    if threshold is not None:
        kept = s >= threshold
        out["at_model_threshold"] = {
            "threshold": round(float(threshold), 4),
            "coverage": round(float(kept.mean()), 4) if n else 0.0,
            "accuracy": round(float(c[kept].mean()), 4) if kept.any() else None,
        }
    return out


def worst_examples(data: Dataset, suggestions: Sequence[Suggestion], catalogue: Catalogue, n: int = N_WORST) -> list[dict[str, Any]]:
    """The most confident mistakes of the scored heads: what a reviewer should read first. Text is the masked one."""
    mistakes = []
    for head in CONFIDENCE_HEADS:
        for i, gold, label, score in head_rows(data, suggestions, head, catalogue):
            if gold != label:
                mistakes.append({
                    "id": data.records[i].id,
                    "head": head,
                    "gold": gold,
                    "predicted": label,
                    "score": round(float(score or 0.0), 4),
                    "text": suggestions[i].text[:300],  # the pipeline's normalised, PII-masked text
                })
    mistakes.sort(key=lambda m: (-m["score"], m["head"], m["id"]))
    return mistakes[:n]


def evaluate_report(
    pipeline: TriagePipeline, data: Dataset, suggestions: list[Suggestion] | None = None, *, second: dict[str, str] | None = None
) -> dict[str, Any]:
    """`evaluate` plus what the report draws: confusion matrices, reliability, coverage and the worst mistakes."""
    suggestions = suggestions if suggestions is not None else predict_all(pipeline, data)
    metrics = evaluate(pipeline, data, suggestions, second=second)
    # the operating points drawn are those of the data's register (of most of its rows, where it mixes the two)
    register = Counter(s.register_ for s in suggestions).most_common(1)[0][0] if suggestions else "spoken"
    t = pipeline.thresholds.for_register(register)
    thresholds = {"category": t.category, "topic": t.topic, "unit": t.unit, "scope": t.scope, "dispatch": 1.0}
    metrics["thresholds"] = {
        **{k: v for k, v in thresholds.items() if k != "dispatch"},
        "register": register, "by_register": pipeline.thresholds.by_register,
        "targets": t.targets, "target_precision": t.target_precision, "chosen_on": t.chosen_on, "measured_when_chosen": t.measured,
    }
    calibrators = getattr(pipeline.classifier, "calibrators_", {})
    metrics["recalibration"] = {head: cal.summary() for head, cal in calibrators.items()}
    metrics["confusion"], metrics["calibration"], metrics["coverage"] = {}, {}, {}
    for head in ("category", "topic", "scope", "deadline", "unit"):
        rows = head_rows(data, suggestions, head, pipeline.knowledge.catalogue)
        if not rows:
            continue
        _, gold, predicted, scores = zip(*rows, strict=True)
        metrics["confusion"][head] = confusion(gold, predicted)
        if head in CONFIDENCE_HEADS:
            correct = [g == p for g, p in zip(gold, predicted, strict=True)]
            metrics["calibration"][head] = reliability(scores, correct)  # type: ignore[arg-type]
    # risk-coverage: what each auto decision buys at each confidence, and where the bundle's threshold puts it
    for field in AUTO_FIELDS:
        rows = auto_rows(data, suggestions, field, t, pipeline.knowledge.catalogue)
        if rows:
            scores, correct = zip(*rows, strict=True)
            metrics["coverage"][field] = coverage_curve(scores, correct, thresholds[field])  # type: ignore[arg-type]
    metrics["worst"] = worst_examples(data, suggestions, pipeline.knowledge.catalogue)
    metrics["scope_misses"] = scope_misses(data, suggestions)
    return metrics
