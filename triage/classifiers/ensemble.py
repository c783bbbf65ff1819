"""Mixing the linear heads with a fine-tuned transformer: per head, a weight chosen on validation.

The two models err differently (the linear heads on rare words and spoken register, the transformer on long
letters cut at its window), so a convex mix of their probabilities beats either. The weight is the
transformer's share; 0 keeps the linear model alone, and that is what validation may well choose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

WEIGHT_GRID = tuple(round(w / 10, 1) for w in range(11))
EPS = 1e-9


def align(proba: np.ndarray, classes: Sequence[str], order: Sequence[str]) -> np.ndarray:
    """`proba` with its columns in `order`; a label the model does not know gets 0, then rows are renormalised."""
    out = np.zeros((proba.shape[0], len(order)))
    position = {str(c): k for k, c in enumerate(classes)}
    for j, label in enumerate(order):
        if str(label) in position:
            out[:, j] = proba[:, position[str(label)]]
    total = out.sum(axis=1, keepdims=True)
    return np.divide(out, total, out=np.full_like(out, 1 / max(1, len(order))), where=total > 0)


def mix(
    linear: Mapping[str, np.ndarray],
    linear_classes: Mapping[str, Sequence[str]],
    transformer: Mapping[str, np.ndarray],
    transformer_classes: Mapping[str, Sequence[str]],
    weights: Mapping[str, float],
) -> dict[str, np.ndarray]:
    """Per head, (1 - w) * linear + w * transformer in the linear head's class order; other heads unchanged."""
    out = dict(linear)
    for head, w in weights.items():
        if w <= 0 or head not in linear or head not in transformer:
            continue
        other = align(transformer[head], transformer_classes[head], [str(c) for c in linear_classes[head]])
        out[head] = (1 - w) * linear[head] + w * other
    return out


def log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(np.clip(proba[np.arange(len(y)), y], EPS, 1.0)).mean())


def choose_weights(
    linear: Mapping[str, np.ndarray],
    linear_classes: Mapping[str, Sequence[str]],
    transformer: Mapping[str, np.ndarray],
    transformer_classes: Mapping[str, Sequence[str]],
    labels: Mapping[str, Sequence[str | None]],
    grid: Sequence[float] = WEIGHT_GRID,
    min_rows: int = 20,
) -> tuple[dict[str, float], dict[str, Any]]:
    """The transformer's share per head with the lowest validation log-loss, and the table it was chosen from.

    Log-loss rather than accuracy: on a few hundred rows accuracy moves in steps and picks by chance, while
    log-loss rewards the mix whose probabilities are right, which is what thresholds and score bars read.
    """
    weights: dict[str, float] = {}
    table: dict[str, Any] = {}
    for head, gold in labels.items():
        if head not in linear or head not in transformer:
            continue
        order = [str(c) for c in linear_classes[head]]
        index = {c: k for k, c in enumerate(order)}
        rows = [(i, index[str(g)]) for i, g in enumerate(gold) if g is not None and str(g) in index]
        if len(rows) < min_rows:
            continue
        picked = [i for i, _ in rows]
        y = np.array([k for _, k in rows])
        lin = linear[head][picked]
        other = align(transformer[head], transformer_classes[head], order)[picked]
        scores = {}
        for w in grid:
            p = (1 - w) * lin + w * other
            scores[w] = {"log_loss": round(log_loss(p, y), 5), "accuracy": round(float((p.argmax(axis=1) == y).mean()), 4)}
        best = min(grid, key=lambda w: (scores[w]["log_loss"], w))
        weights[head] = float(best)
        table[head] = {"rows": len(rows), "chosen": float(best), "grid": {str(w): s for w, s in scores.items()}}
    return weights, table
