"""A new city simulated: how many local orders, counted how much, move the request type to its conventions.

    python -m training.bench_local [--sizes 0,50,100,200,300,400] [--weights 1,3,5,10] [--repeats 3] [--ceiling] [--out result.json]

The "new city" is tipdm2020c's real messages (../shared/data) filed by another hotline's convention: almost
every problem report is a 投诉, 求助 is not used, and a 举报 its annotator was unsure of is filed as 投诉 too
(the convention a real other city's 12345 was seen to follow). 1,000 of its messages are held out for scoring;
n local rows are drawn (stratified, seeded, repeated) from the rest and trained beside the base data, each
counting `weight` times. For each (n, weight) the benchmark prints the category accuracy and the macro-F1 over
投诉/咨询/建议/举报 on the held-out messages, the majority class's accuracy, and the accuracy on the base's own
frozen test calls (what the adaptation costs at home), each with its n; with n = 0 it also shows the EM prior
shift alone (no labels, `--adapt-priors`). `--ceiling` also trains on all of the new city's pool rows alone: what
its labels allow at all. Only the category head is fitted (no tuning), so that a grid runs in
minutes; `triage train --data LOCAL --local-weight W` runs the whole training with the default it chooses.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import f1_score

from training.datasets import Record, corpus_split, tipdm_split
from training.learning_curve import draw
from training.tuning import wilson_interval
from triage.classifiers import CalibratedLinearClassifier
from triage.classifiers.priors import PriorShift
from triage.features import TextFeaturizer
from triage.normalise import normalise
from triage.units import default_catalogue

HELD_OUT = 1000
SCORED = ("投诉", "咨询", "建议", "举报")
SEED = 0


def other_city(label: str, confidence_low: bool) -> str:
    """The simulated hotline's convention: 求助 filed as 投诉, and so is a 举报 its annotator was unsure of."""
    if label == "求助" or (label == "举报" and confidence_low):
        return "投诉"
    return label


@dataclass(frozen=True)
class Score:
    n: int
    accuracy: float
    interval: tuple[float, float]
    macro_f1: float

    def as_dict(self) -> dict[str, object]:
        return {"n": self.n, "accuracy": round(self.accuracy, 4), "ci95": [round(x, 4) for x in self.interval], "macro_f1": round(self.macro_f1, 4)}


def score(gold: Sequence[str], predicted: Sequence[str]) -> Score:
    hits = sum(g == p for g, p in zip(gold, predicted, strict=True))
    labels = [c for c in SCORED if c in set(gold)]
    return Score(len(gold), hits / len(gold), wilson_interval(hits, len(gold), z=1.96), f1_score(gold, predicted, labels=labels, average="macro", zero_division=0))


def new_city() -> tuple[list[Record], list[str]]:
    """tipdm2020c's labelled training messages and their labels under the other city's convention."""
    train, held = tipdm_split(default_catalogue())
    records = [r for r in [*train.records, *held.records] if r.label("category")]
    labels = [other_city(r.label("category") or "", r.weights.get("category", 1.0) < 1.0) for r in records]
    return records, labels


def run(sizes: Sequence[int], weights: Sequence[float], repeats: int, ceiling: bool = False) -> dict[str, object]:
    """The base is the default preset's calls (the new city's messages are the only shared source of messages)."""
    catalogue = default_catalogue()
    base_train, base_test = corpus_split(catalogue)
    base_rows = [r for r in base_train.records if r.label("category")]
    base_texts = [normalise(r.text) for r in base_rows]
    base_y = [r.label("category") or "" for r in base_rows]
    base_w = [r.weights.get("category", 1.0) for r in base_rows]
    test_rows = [r for r in base_test.records if r.label("category")]
    test_texts = [normalise(r.text) for r in test_rows]
    test_y = [r.label("category") or "" for r in test_rows]

    records, labels = new_city()
    texts = [normalise(r.text) for r in records]
    order = list(range(len(records)))
    random.Random(SEED).shuffle(order)
    held, pool = order[:HELD_OUT], order[HELD_OUT:]
    held_y = [labels[i] for i in held]
    majority = Counter(held_y).most_common(1)[0][0]
    out: dict[str, object] = {
        "new_city": {"rows": len(records), "held_out": len(held), "pool": len(pool), "labels": dict(Counter(labels))},
        "majority": {"label": majority, **score(held_y, [majority] * len(held)).as_dict()},
        "runs": [],
    }
    print(json.dumps({k: out[k] for k in ("new_city", "majority")}, ensure_ascii=False))
    if ceiling:
        # what the same features and head reach on every pool row of the new city and nothing else: the simulation's
        # labels (one annotator, half of them marked unsure) cap every figure below
        featurizer = TextFeaturizer()
        X = featurizer.fit_transform([texts[i] for i in pool])
        head = CalibratedLinearClassifier().fit(X, np.array([labels[i] for i in pool]))
        out["in_domain_all_pool"] = score(held_y, list(head.predict(featurizer.transform([texts[i] for i in held])))).as_dict()
        print(json.dumps({"in_domain_all_pool": out["in_domain_all_pool"], "rows": len(pool)}, ensure_ascii=False), flush=True)
    for n in sizes:
        for weight in weights if n else [1.0]:
            for repeat in range(repeats if n else 1):
                started = time.perf_counter()
                local = draw(labels, pool, n, random.Random(f"{SEED}:{n}:{repeat}"))
                fit_texts = base_texts + [texts[i] for i in local]
                y = np.array(base_y + [labels[i] for i in local])
                w = np.array(base_w + [weight] * len(local))
                featurizer = TextFeaturizer()
                X = featurizer.fit_transform(fit_texts)
                head = CalibratedLinearClassifier().fit(X, y, sample_weight=w)
                predicted = head.predict(featurizer.transform([texts[i] for i in held]))
                row: dict[str, object] = {
                    "n": n,
                    "weight": weight,
                    "repeat": repeat,
                    "local": score(held_y, list(predicted)).as_dict(),
                    "home": score(test_y, list(head.predict(featurizer.transform(test_texts)))).as_dict(),
                }
                if n == 0:
                    proba = head.predict_proba(featurizer.transform([texts[i] for i in held]))
                    train_priors = np.array([np.sum(w[y == c]) for c in head.classes_])
                    shifted = PriorShift().fit(proba, train_priors).transform(proba)
                    row["prior_shift_alone"] = score(held_y, list(head.classes_[shifted.argmax(axis=1)])).as_dict()
                row["seconds"] = round(time.perf_counter() - started, 1)
                out["runs"].append(row)  # type: ignore[union-attr]
                print(json.dumps(row, ensure_ascii=False), flush=True)
    return out


def summary(result: dict[str, object]) -> list[dict[str, object]]:
    """Per (n, weight): mean local accuracy and macro-F1, and mean home accuracy, over the repeats."""
    groups: dict[tuple[int, float], list[dict[str, object]]] = {}
    for row in result["runs"]:  # type: ignore[union-attr]
        groups.setdefault((row["n"], row["weight"]), []).append(row)  # type: ignore[index]
    out = []
    for (n, weight), rows in sorted(groups.items()):
        out.append({
            "n": n,
            "weight": weight,
            "repeats": len(rows),
            "local_accuracy": round(float(np.mean([r["local"]["accuracy"] for r in rows])), 4),  # type: ignore[index]
            "local_macro_f1": round(float(np.mean([r["local"]["macro_f1"] for r in rows])), 4),  # type: ignore[index]
            "home_accuracy": round(float(np.mean([r["home"]["accuracy"] for r in rows])), 4),  # type: ignore[index]
        })
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,50,100,200,300,400")
    parser.add_argument("--weights", default="1,3,5,10")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="write the whole result as JSON here")
    parser.add_argument("--ceiling", action="store_true", help="also train on every pool row of the new city alone (its labels' cap)")
    args = parser.parse_args(argv)
    result = run([int(x) for x in args.sizes.split(",")], [float(x) for x in args.weights.split(",")], args.repeats, args.ceiling)
    result["summary"] = summary(result)
    for row in result["summary"]:  # type: ignore[union-attr]
        print(json.dumps(row, ensure_ascii=False))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(result, handle, ensure_ascii=False, indent=2)


if __name__ == "__main__":
    main()
