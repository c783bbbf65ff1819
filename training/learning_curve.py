"""How many local orders does a new hotline need? A learning curve: base + n local rows, scored on its other rows.

    triage learning-curve --data LOCAL.jsonl --sizes 50,100,200,400 --out reports/lc

The local file is split once (seeded) into rows to score and a pool; for each n, n rows are drawn from the pool
(stratified by label, seeded, `repeats` times) and trained beside the preset's rows, each counting
`local_weight` times, as `triage train --data` does (a local row outranks a base row with the same text). The
head is fitted alone, without tuning, so that a curve takes minutes: the figures are the head's accuracy and
macro-F1 on the scored rows, with the base alone (n = 0) and the scored rows' majority class beside them, and the
accuracy on the base's own frozen test calls (what adapting costs at home). The report is JSON plus an HTML page
with the plot.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

from training.args import LOCAL_WEIGHT, DataArguments, Preset
from training.datasets import Dataset, call_keys, outrank, read_labelled, same_call_key
from training.train import load_training_data
from training.tuning import wilson_interval
from triage.classifiers import CalibratedLinearClassifier
from triage.errors import LabelError
from triage.features import TextFeaturizer
from triage.normalise import normalise
from triage.units import default_catalogue

HEADS = ("category", "topic", "scope")
"""Heads whose labels are plain classes; the unit head learns acceptable sets and 属地, which a curve cannot draw."""

Step = Callable[[str], None]


@dataclass
class CurveArguments:
    data: str = field(metadata={"help": "the hotline's labelled orders (JSONL/CSV)"})
    head: str = field(default="category", metadata={"help": "category, topic or scope"})
    sizes: list[int] = field(default_factory=lambda: [50, 100, 200, 400], metadata={"help": "local rows trained beside the base"})
    repeats: int = field(default=3, metadata={"help": "draws per size (seeded)"})
    scored_share: float = field(default=0.3, metadata={"help": "share of the local rows held out to score every run"})
    preset: Preset | None = field(default="default", metadata={"help": "the base: default (data/) or full (plus ../shared/data)"})
    local_weight: float = field(default=LOCAL_WEIGHT, metadata={"help": "how much each local row counts beside a base row"})
    seed: int = 0

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"--head {self.head!r}: a learning curve draws one of {', '.join(HEADS)}")
        if not self.sizes or any(n <= 0 for n in self.sizes):
            raise ValueError("--sizes must be positive numbers of rows, e.g. 50,100,200,400")
        if self.repeats < 1:
            raise ValueError("--repeats must be at least 1")
        if not 0.05 <= self.scored_share <= 0.8:
            raise ValueError("--scored-share must be between 0.05 and 0.8")
        if not 0.0 < self.local_weight <= 100.0:
            raise ValueError("--local-weight must be in (0, 100]")


def draw(labels: Sequence[str], pool: Sequence[int], n: int, rng: random.Random) -> list[int]:
    """n rows of `pool`, stratified by label (each label's share kept, at least one of each where possible)."""
    by_label: dict[str, list[int]] = {}
    for i in pool:
        by_label.setdefault(labels[i], []).append(i)
    picked: list[int] = []
    for _label, rows in sorted(by_label.items()):
        k = max(1, round(n * len(rows) / len(pool))) if n else 0
        picked.extend(rng.sample(rows, min(k, len(rows))))
    rng.shuffle(picked)
    return picked[:n]


def score(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy with its 95% interval, and macro-F1 over the classes the gold rows use."""
    hits = sum(g == p for g, p in zip(gold, predicted, strict=True))
    low, high = wilson_interval(hits, len(gold), z=1.96)
    macro = f1_score(gold, predicted, labels=sorted(set(gold)), average="macro", zero_division=0)
    return {"n": len(gold), "accuracy": round(hits / len(gold), 4), "ci95": [round(low, 4), round(high, 4)], "macro_f1": round(float(macro), 4)}


def _split(labels: Sequence[str], share: float, seed: int) -> tuple[list[int], list[int]]:
    """(scored rows, pool), stratified by label so that a rare class is scored at all."""
    rng = random.Random(f"{seed}:scored")
    scored: list[int] = []
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    for _label, rows in sorted(by_label.items()):
        rng.shuffle(rows)
        scored.extend(rows[: max(1, round(share * len(rows)))] if len(rows) > 1 else [])
    chosen = set(scored)
    return sorted(scored), [i for i in range(len(labels)) if i not in chosen]


def learning_curve(args: CurveArguments, *, step: Step | None = None) -> dict[str, Any]:
    """Fit base + n local rows for every size and repeat; return the curve (every run, and per size the means)."""
    say = step or (lambda _m: None)
    catalogue = default_catalogue()
    local = read_labelled(args.data, catalogue=catalogue, unknown_units="error", strict=True)
    rows = [r for r in local.records if r.label(args.head)]
    if len(rows) < 20:
        raise LabelError(f"{args.data}: {len(rows)} rows carry a {args.head} label; a learning curve needs at least 20")
    labels = [r.label(args.head) or "" for r in rows]
    scored, pool = _split(labels, args.scored_share, args.seed)
    sizes = [n for n in args.sizes if n <= len(pool)]
    skipped = [n for n in args.sizes if n > len(pool)]

    say(f"reading the {args.preset or 'no'} preset")
    base, held, _ = load_training_data(DataArguments(preset=args.preset), catalogue, args.seed) if args.preset else (Dataset(), {}, {})
    scored_keys = call_keys(rows[i] for i in scored)  # the new city's scored calls are never in its base
    base = Dataset([r for r in base.records if same_call_key(r.text) not in scored_keys])
    home = [r for r in held.get("test", Dataset()).records if r.label(args.head)]
    clean = {id(r): normalise(r.text) for r in [*base.records, *rows]}  # once: every fit reads the same rows
    scored_texts = [clean[id(rows[i])] for i in scored]
    scored_gold = [labels[i] for i in scored]
    home_texts = [normalise(r.text) for r in home]
    home_gold = [r.label(args.head) or "" for r in home]
    majority = Counter(scored_gold).most_common(1)[0][0]

    runs: list[dict[str, Any]] = []
    plan = [(0, 0)] + [(n, k) for n in sizes for k in range(args.repeats)]
    for i, (n, repeat) in enumerate(plan, 1):
        say(f"fit {i}/{len(plan)}: base + {n} local rows (draw {repeat + 1})")
        started = time.perf_counter()
        picked = draw(labels, pool, n, random.Random(f"{args.seed}:{n}:{repeat}"))
        kept, used, _merge = outrank(Dataset(list(base.records)), Dataset([rows[j] for j in picked]), [rows[j] for j in scored])
        fit = [(clean[id(r)], r.label(args.head), r.weights.get(args.head, 1.0)) for r in kept if r.label(args.head)]
        weight = args.local_weight if args.preset else 1.0
        fit += [(clean[id(r)], r.label(args.head), r.weights.get(args.head, 1.0) * weight) for r in used]
        if len({label for _, label, _ in fit}) < 2:
            raise LabelError(f"base + {n} local rows hold fewer than two {args.head} classes: nothing to learn (use a preset)")
        featurizer = TextFeaturizer()
        X = featurizer.fit_transform([t for t, _, _ in fit])
        head = CalibratedLinearClassifier(random_state=args.seed).fit(X, np.array([y for _, y, _ in fit]), sample_weight=np.array([w for _, _, w in fit]))
        run: dict[str, Any] = {"n": n, "repeat": repeat, "local": score(scored_gold, list(head.predict(featurizer.transform(scored_texts))))}
        if home:
            run["home"] = score(home_gold, list(head.predict(featurizer.transform(home_texts))))
        run["seconds"] = round(time.perf_counter() - started, 2)
        runs.append(run)

    return {
        "arguments": asdict(args),
        "local_rows": len(rows),
        "scored": len(scored),
        "pool": len(pool),
        "sizes_skipped": skipped,
        "labels": dict(Counter(labels)),
        "majority": {"label": majority, **score(scored_gold, [majority] * len(scored_gold))},
        "home_rows": len(home),
        "runs": runs,
        "summary": summary(runs),
    }


def summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size: the mean, lowest and highest local accuracy and macro-F1 over the draws, and the mean home accuracy."""
    out = []
    for n in sorted({r["n"] for r in runs}):
        group = [r for r in runs if r["n"] == n]
        acc = [r["local"]["accuracy"] for r in group]
        f1 = [r["local"]["macro_f1"] for r in group]
        row = {
            "n": n,
            "draws": len(group),
            "accuracy": round(float(np.mean(acc)), 4),
            "accuracy_range": [min(acc), max(acc)],
            "macro_f1": round(float(np.mean(f1)), 4),
            "macro_f1_range": [min(f1), max(f1)],
        }
        if "home" in group[0]:
            row["home_accuracy"] = round(float(np.mean([r["home"]["accuracy"] for r in group])), 4)
        out.append(row)
    return out


def write_curve(curve: dict[str, Any], out_dir: str | Path) -> Path:
    """metrics.json, report.html (the plot embedded) and figures/learning_curve.png; returns the HTML page."""
    from training.report import write_report

    args = curve["arguments"]
    metrics = {
        "model_version": f"{args['preset'] or 'no'} preset + local rows of {Path(args['data']).name}",
        "n": curve["scored"],
        "learning_curve": curve,
    }
    return write_report(metrics, out_dir, title=f"Learning curve: {args['head']} on {Path(args['data']).name}")
