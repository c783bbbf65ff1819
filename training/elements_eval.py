"""Scoring the order draft against the reference elements: spans, the summary and the caller's state.

The reference (`data/corpus/elements/final.jsonl`, see its README) labels 345 corpus calls by two labellers and an
adjudicator: 225 of the frozen test split and 120 of the training pool. Span agreement is scored per call as exact
match and as character-overlap F1 (a null against a null is a match; a null against a span scores 0), averaged
over the calls; the labellers' own agreement, in the README, is the ceiling of these figures.
"""

from __future__ import annotations

import argparse
import json
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

from training.tuning import wilson_interval
from triage.resources import CORPUS_DIR

REFERENCE = CORPUS_DIR / "elements" / "final.jsonl"
STATES_REFERENCE = CORPUS_DIR / "elements" / "caller_state_frozen.jsonl"
"""Caller states alone of the frozen split's calls that have no reference elements, labelled the same way (two
labellers from the guide's caller-state section, an adjudicator where they differ): with `REFERENCE` they cover the
whole split, so that a state as rare as 愤怒 is scored on more than ten calls. Only evaluation reads it."""
SPANS = ("address", "time", "object", "ask")
STATES = ("平静", "焦急", "愤怒", "求救")


def read_reference(path: str | Path = REFERENCE) -> dict[str, dict[str, Any]]:
    """The reference labels by call id."""
    with Path(path).open(encoding="utf-8") as handle:
        return {row["id"]: row for row in map(json.loads, filter(str.strip, handle))}


STATE_LABELLINGS = {
    "frozen split, states alone": ("caller_state_frozen_first.jsonl", "caller_state_frozen_second.jsonl"),
    "training pool, states alone": ("caller_state_pool_2_first.jsonl", "caller_state_pool_2_second.jsonl"),
}
"""The caller-state files labelled twice (first and second labeller, under `data/corpus/elements`), before adjudication."""


def state_agreement(first: str | Path, second: str | Path) -> dict[str, Any]:
    """How often two labellings of the same calls give the same caller state: raw share and Cohen's kappa, over
    the calls both labelled (the ceiling of any caller-state figure measured on their adjudicated labels)."""
    from sklearn.metrics import cohen_kappa_score

    a, b = read_reference(first), read_reference(second)
    ids = sorted(set(a) & set(b))
    x = [str(a[i]["caller_state"]) for i in ids]
    y = [str(b[i]["caller_state"]) for i in ids]
    return {
        "n": len(ids),
        "agreement": round(sum(p == q for p, q in zip(x, y, strict=True)) / len(ids), 4) if ids else None,
        "kappa": round(float(cohen_kappa_score(x, y)), 4) if ids else None,
    }


def reference_states(reference: Mapping[str, Mapping[str, Any]], extra: str | Path | None = STATES_REFERENCE) -> dict[str, str]:
    """Caller state by call id: the element reference's, then the states-only labels of other calls (`extra`, when
    the file is there); a call in both keeps the element reference's."""
    states = {str(k): str(v["caller_state"]) for k, v in reference.items() if v.get("caller_state")}
    if extra is not None and Path(extra).is_file():
        for key, row in read_reference(extra).items():
            states.setdefault(key, str(row["caller_state"]))
    return states


def overlap_f1(predicted: str | None, gold: str | None) -> float:
    """Character-overlap F1 of two spans (multiset of characters); 1 for two nulls, 0 for a null against a span."""
    if not predicted and not gold:
        return 1.0
    if not predicted or not gold:
        return 0.0
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def _plain(span: str | None) -> str | None:
    """A span as the suggestion shows it: full-width punctuation and digits folded (NFKC), as normalising does, so
    that a reference span of the raw transcript and the same words of the normalised text compare equal."""
    return unicodedata.normalize("NFKC", span).strip() or None if span else None


def _interval(hits: int, n: int) -> list[float]:
    low, high = wilson_interval(hits, n, z=1.96)
    return [round(low, 4), round(high, 4)]


def score_spans(predicted: Sequence[Mapping[str, str | None]], gold: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per element: exact match (with its 95% interval), mean overlap F1, and how often each side is null."""
    out: dict[str, Any] = {}
    for name in SPANS:
        pairs = [(_plain(p.get(name)), _plain(g.get(name))) for p, g in zip(predicted, gold, strict=True)]
        exact = sum(p == g for p, g in pairs)
        f1 = [overlap_f1(p, g) for p, g in pairs]
        present = [(p, g) for p, g in pairs if g]
        out[name] = {
            "n": len(pairs),
            "exact": round(exact / len(pairs), 4),
            "exact_ci95": _interval(exact, len(pairs)),
            "overlap_f1": round(sum(f1) / len(f1), 4),
            "overlap_f1_where_said": round(sum(overlap_f1(p, g) for p, g in present) / len(present), 4) if present else None,
            "said": len(present),
            "found_where_said": round(sum(1 for p, _ in present if p) / len(present), 4) if present else None,
            "found_where_not_said": sum(1 for p, g in pairs if p and not g),
        }
    return out


def summary_coverage(summaries: Sequence[str], gold: Sequence[Mapping[str, Any]], *, limit: int = 60) -> dict[str, Any]:
    """How often the summary holds the reference address and ask (each at least half its characters, in order
    of appearance not required), and how many summaries keep to the length limit."""
    out: dict[str, Any] = {"n": len(summaries), "within_limit": sum(len(s) <= limit for s in summaries)}
    for name in ("address", "ask"):
        rows = [(s, g[name]) for s, g in zip(summaries, gold, strict=True) if g.get(name)]
        held = sum(1 for s, span in rows if sum((Counter(span) & Counter(s)).values()) >= len(span) / 2)
        out[name] = {"n": len(rows), "covered": round(held / len(rows), 4) if rows else None, "ci95": _interval(held, len(rows)) if rows else None}
    return out


BOOTSTRAP_RESAMPLES = 2000


def macro_f1_interval(predicted: Sequence[str], gold: Sequence[str], labels: Sequence[str] = STATES, *, seed: int = 0) -> list[float]:
    """95% percentile-bootstrap interval of macro-F1 (calls resampled with replacement, seeded): with a state as rare
    as 愤怒 (10 of the 225 reference calls) one call more or less moves the figure by points, and a figure without
    its interval would hide that."""
    index = {label: k for k, label in enumerate(labels)}
    g = np.array([index.get(x, -1) for x in gold])
    p = np.array([index.get(x, -1) for x in predicted])
    rows = np.random.default_rng(seed).integers(0, len(g), size=(BOOTSTRAP_RESAMPLES, len(g)))
    gs, ps = g[rows], p[rows]
    scores = []
    for k in range(len(labels)):
        tp = ((gs == k) & (ps == k)).sum(axis=1)
        fp = ((gs != k) & (ps == k)).sum(axis=1)
        fn = ((gs == k) & (ps != k)).sum(axis=1)
        denominator = 2 * tp + fp + fn
        scores.append(np.divide(2 * tp, denominator, out=np.zeros(len(rows)), where=denominator > 0))
    macro = np.mean(scores, axis=0)
    return [round(float(np.percentile(macro, 2.5)), 4), round(float(np.percentile(macro, 97.5)), 4)]


def score_states(predicted: Sequence[str], gold: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 over the four states, recall of 求救 (the one that must not be missed), and the confusion,
    each share with its 95% interval."""
    n = len(gold)
    hits = sum(p == g for p, g in zip(predicted, gold, strict=True))
    rescue = [p for p, g in zip(predicted, gold, strict=True) if g == "求救"]
    confusion: dict[str, dict[str, int]] = {}
    for p, g in zip(predicted, gold, strict=True):
        confusion.setdefault(g, {}).setdefault(p, 0)
        confusion[g][p] += 1
    return {
        "n": n,
        "accuracy": round(hits / n, 4),
        "accuracy_ci95": _interval(hits, n),
        "macro_f1": round(float(f1_score(gold, predicted, labels=list(STATES), average="macro", zero_division=0)), 4),
        "macro_f1_ci95": macro_f1_interval(predicted, gold),
        "rescue_recall": round(sum(p == "求救" for p in rescue) / len(rescue), 4) if rescue else None,
        "rescue_recall_ci95": _interval(sum(p == "求救" for p in rescue), len(rescue)) if rescue else None,
        "rescue_n": len(rescue),
        "confusion": confusion,
    }


def draft_scores(
    ids: Sequence[str | None],
    suggestions: Sequence[Any],
    reference: Mapping[str, Mapping[str, Any]] | None = None,
    states_reference: str | Path | None = STATES_REFERENCE,
) -> dict[str, Any] | None:
    """The order draft of the suggestions whose call has reference elements (by id); None when none has.
    `caller_state` scores the calls with reference elements; `caller_state_all` every call with a reference state,
    the states-only file's too (`reference_states`)."""
    reference = read_reference() if reference is None and REFERENCE.is_file() else reference or {}
    pairs = [(reference[i], s) for i, s in zip(ids, suggestions, strict=True) if i is not None and i in reference]
    if not pairs:
        return None
    gold = [g for g, _ in pairs]
    predicted = [{name: (getattr(s.elements, name).text if getattr(s.elements, name) else None) for name in SPANS} for _, s in pairs]
    out: dict[str, Any] = {"n": len(pairs), "elements": score_spans(predicted, gold), "summary": summary_coverage([s.summary for _, s in pairs], gold)}
    states = [(g["caller_state"], s.caller_state.label) for g, s in pairs if g.get("caller_state") and s.caller_state is not None]
    if states:
        out["caller_state"] = score_states([p for _, p in states], [g for g, _ in states])
    every = reference_states(reference, states_reference)
    wide = [(every[i], s.caller_state.label) for i, s in zip(ids, suggestions, strict=True) if i in every and s.caller_state is not None]
    if len(wide) > len(states):
        out["caller_state_all"] = score_states([p for _, p in wide], [g for g, _ in wide])
    return out


def score_state_file(model: str | Path, path: str | Path | None = None) -> dict[str, Any]:
    """A bundle's caller states on a file labelled with states alone (by default the blind one, which never trains:
    `training.datasets.STATES_BLIND`)."""
    from training.datasets import STATES_BLIND, read_states

    return score_state_rows(model, read_states(Path(path) if path is not None else STATES_BLIND))


def blind_probe_states() -> list[dict[str, str]]:
    """The calls of the blind probe files (`data/probes`, never read or trained on) whose writers gave each a caller
    state: the routing and category probes scored for the state too (760 calls, 41 of them 求救)."""
    from training.datasets import probe_files, probe_states

    return [row for path in probe_files("blind") for row in probe_states(path)]


def score_state_rows(model: str | Path, rows: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """A bundle's caller states on rows of {"text", "caller_state"}, scored as `score_states` scores them."""
    from triage.bundle import load_bundle

    pipeline = load_bundle(model)
    predicted = [s.caller_state.label for s in pipeline.suggest_many([r["text"] for r in rows])]
    return score_states(predicted, [r["caller_state"] for r in rows])


RESCUE_GRID = (0.5, 0.4, 0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.06, 0.05, 0.04)
"""Probabilities of 求救 tried as `rescue_threshold` (0.5 and above: the likeliest state alone, for two or more states)."""


def rescue_curve(
    rows: Sequence[Mapping[str, str]],
    *,
    folds: int = 5,
    seed: int = 0,
    target: float = 0.95,
    grid: Sequence[float] = RESCUE_GRID,
    probe_weight: float = 1.0,
) -> dict[str, Any]:
    """The caller-state head out of fold over labelled training calls, at each `rescue_threshold` of `grid`: the
    recall and precision of 求救, macro-F1, and how many accepted calls not 求救 it calls 求救 (each one is reviewed);
    `chosen` is the largest threshold whose recall reaches `target` (None if none does). Only training calls: the
    frozen split and the blind files never choose it. `probe_weight`: how much an outside writer's call (origin
    `probes`) counts in training against a pool call labelled by the guide (1); `by_origin` scores each origin's
    calls apart at the chosen threshold."""
    from sklearn.model_selection import StratifiedKFold

    from triage.classifiers.caller_state import CallerState

    texts = [str(r["text"]) for r in rows]
    gold = np.array([str(r["caller_state"]) for r in rows])
    origins = np.array([str(r.get("origin") or "") for r in rows])
    weights = np.where(origins == "probes", probe_weight, 1.0)
    proba: np.ndarray | None = None
    classes: list[str] = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, gold):
        head = CallerState(rescue_threshold=None).fit([texts[i] for i in train], gold[train], sample_weight=weights[train])
        fold = head.predict_proba([texts[i] for i in test])
        if proba is None:
            proba, classes = np.zeros((len(texts), fold.shape[1])), [str(c) for c in head.classes_]
        proba[test] = fold
    assert proba is not None
    k = classes.index("求救")
    likeliest = np.array(classes)[proba.argmax(axis=1)]
    accepted = np.array([r.get("scope") == "accepted" for r in rows])
    curve: list[dict[str, Any]] = []
    called: dict[float, np.ndarray] = {}  # each threshold's states, for the chosen one's scores by origin
    for threshold in grid:
        predicted = called[threshold] = np.where(proba[:, k] >= threshold, "求救", likeliest)
        said, truth = predicted == "求救", gold == "求救"
        curve.append({
            "threshold": threshold,
            "rescue_recall": round(float((said & truth).sum() / truth.sum()), 4),
            "rescue_precision": round(float((said & truth).sum() / max(said.sum(), 1)), 4),
            "macro_f1": round(float(f1_score(gold, predicted, labels=list(STATES), average="macro", zero_division=0)), 4),
            "accepted_called_rescue": int((said & ~truth & accepted).sum()),
        })
    reaching = [c["threshold"] for c in curve if c["rescue_recall"] >= target]
    chosen = max(reaching) if reaching else None
    at = called[chosen] if chosen is not None else likeliest
    by_origin = {
        origin: {
            "n": int((origins == origin).sum()),
            "macro_f1": round(float(f1_score(gold[origins == origin], at[origins == origin], labels=list(STATES), average="macro", zero_division=0)), 4),
        }
        for origin in sorted(set(origins.tolist()))
    }
    return {
        "n": len(rows), "rescue_n": int((gold == "求救").sum()), "accepted_n": int(accepted.sum()), "folds": folds, "seed": seed,
        "probe_weight": probe_weight, "target": target, "chosen": chosen, "by_origin": by_origin, "curve": curve,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m training.elements_eval --model models/full [--states FILE]`: prints the scores as JSON;
    `--cv`: the head's out-of-fold 求救 curve over the training calls instead (what chose `RESCUE_THRESHOLD`);
    `--agreement`: the labellers' agreement on the files labelled twice (`STATE_LABELLINGS`)."""
    parser = argparse.ArgumentParser(description="Caller states of a state-only file scored with a bundle.")
    parser.add_argument("--model", type=Path, default=Path("models/full"))
    parser.add_argument("--states", type=Path, default=None, help="JSONL of {id, text, caller_state}; default: the blind file")
    parser.add_argument("--cv", action="store_true", help="out-of-fold 求救 recall by rescue threshold over the training calls")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probe-weight", type=float, default=1.0, help="with --cv: weight of outside writers' calls in training")
    parser.add_argument("--blind-probes", action="store_true", help="score the states the blind probe files carry instead")
    parser.add_argument("--agreement", action="store_true", help="the two labellers' caller-state agreement per file labelled twice")
    args = parser.parse_args(argv)
    if args.agreement:
        folder = REFERENCE.parent
        report = {name: state_agreement(folder / a, folder / b) for name, (a, b) in STATE_LABELLINGS.items()}
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    if args.cv:
        from training.datasets import caller_state_rows

        print(json.dumps(rescue_curve(caller_state_rows(), seed=args.seed, probe_weight=args.probe_weight), ensure_ascii=False, indent=2))
        return
    scores = score_state_rows(args.model, blind_probe_states()) if args.blind_probes else score_state_file(args.model, args.states)
    print(json.dumps(scores, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
