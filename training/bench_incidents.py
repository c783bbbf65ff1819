"""Benchmark of incident linking on a synthetic stream with known incidents (training/incident_stream.py).

Run: `python -m training.bench_incidents [--seed N ...] [--scale K]`. Prints, per seed, pairwise
precision and recall (pairs of orders put in one incident vs pairs truly in one), B-cubed precision
and recall, and orders linked per second. Goal (issue 9): pairwise precision and recall >= 0.90.
The tracker's defaults were tuned on seed 0; seeds 1 and 2 are the honest figures.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence

from training.incident_stream import StreamCall, generate_stream
from triage.incidents import IncidentTracker, default_vectoriser


def _pairs(counts: Counter[tuple[str, str]] | Counter[str]) -> int:
    return sum(n * (n - 1) // 2 for n in counts.values())


def linking_scores(truth: Mapping[str, str], predicted: Mapping[str, str]) -> dict[str, float]:
    """Pairwise and B-cubed precision / recall of a clustering (order id -> cluster) against the truth."""
    ids = sorted(truth)
    both = _pairs(Counter((truth[i], predicted[i]) for i in ids))
    true_pairs = _pairs(Counter(truth[i] for i in ids))
    predicted_pairs = _pairs(Counter(predicted[i] for i in ids))
    by_true: Counter[str] = Counter(truth[i] for i in ids)
    by_pred: Counter[str] = Counter(predicted[i] for i in ids)
    by_both: Counter[tuple[str, str]] = Counter((truth[i], predicted[i]) for i in ids)
    b3_p = sum(by_both[(truth[i], predicted[i])] / by_pred[predicted[i]] for i in ids) / len(ids)
    b3_r = sum(by_both[(truth[i], predicted[i])] / by_true[truth[i]] for i in ids) / len(ids)
    return {
        "pair_precision": both / predicted_pairs if predicted_pairs else 1.0,
        "pair_recall": both / true_pairs if true_pairs else 1.0,
        "bcubed_precision": b3_p,
        "bcubed_recall": b3_r,
        "true_pairs": float(true_pairs),
        "predicted_pairs": float(predicted_pairs),
    }


def run_stream(stream: Sequence[StreamCall], tracker: IncidentTracker | None = None) -> dict[str, float]:
    """Feed the stream one order at a time, as the API would at order creation, and score the result."""
    tracker = IncidentTracker() if tracker is None else tracker
    started = time.perf_counter()
    for call in stream:
        tracker.add(call.order)
    seconds = time.perf_counter() - started
    scores = linking_scores({c.order.id: c.truth for c in stream}, tracker.assignments())
    scores["orders"] = float(len(stream))
    scores["incidents_true"] = float(len({c.truth for c in stream}))
    scores["incidents_found"] = float(len(set(tracker.assignments().values())))
    scores["orders_per_second"] = len(stream) / seconds if seconds else float("inf")
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scale", type=int, default=1, help="multiply incidents, singletons and days (speed at 5,000+ orders, same density)")
    args = parser.parse_args()
    default_vectoriser()  # the background IDF is built once per process, not per stream
    for seed in args.seed:
        stream = generate_stream(seed, incidents=40 * args.scale, singletons=520 * args.scale, days=10 * args.scale)
        scores = run_stream(stream)
        print(json.dumps({"seed": seed, **{k: round(v, 4) for k, v in scores.items()}}, ensure_ascii=False))


if __name__ == "__main__":
    main()
