"""Out-of-fold predictions: every training row scored by heads that never saw it.

Thresholds, ranking weights, the refusal threshold and the recalibration are all chosen on these, not on
a small fixed dev split, and the own corpus's frozen test split is never among the rows. Folds group
near-identical texts (the same first 40 characters, as re-posted messages are), so a re-post never
scores its twin. The featurizer (vocabulary and IDF, no labels) is fitted once on all training texts
and shared by the folds; the heads are refitted per fold, in parallel processes.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import clone

from triage.classifiers import CalibratedLinearClassifier, MultiHeadClassifier
from triage.classifiers.multihead import HeadLabel, expand_labels
from triage.features import TextFeaturizer

logger = logging.getLogger(__name__)
GROUP_PREFIX = 40
"""Characters (whitespace and `*` removed) that make two texts one group, as in tipdm2020c's own split."""


def group_key(text: str) -> str:
    return re.sub(r"[\s*]+", "", text)[:GROUP_PREFIX]


def assign_folds(texts: Sequence[str], k: int, seed: int) -> np.ndarray:
    """A fold per row, 0..k-1, by a hash of its group: deterministic, and re-posts share a fold."""
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    out = np.empty(len(texts), dtype=int)
    for i, text in enumerate(texts):
        digest = hashlib.sha256(f"{seed}:{group_key(text)}".encode()).digest()
        out[i] = int.from_bytes(digest[:8], "big") % k
    return out


MISSING_MARGIN = -5.0
"""Margin of a class a fold never saw (far below the margins of any class the linear model learned)."""


@dataclass
class OutOfFold:
    """Per head, probabilities of every row from the fold that left it out (columns: `classes`), calibrated
    the way the final head is. A row is NaN for a head when its fold could not fit that head (one class there).
    """

    proba: dict[str, np.ndarray]
    classes: dict[str, np.ndarray]
    folds: np.ndarray

    def scored(self, head: str) -> np.ndarray:
        """Rows that have an out-of-fold prediction for `head`."""
        return ~np.isnan(self.proba[head]).any(axis=1)


def primary(value: HeadLabel) -> str | None:
    """The best of a row's acceptable labels (the label itself when there is one)."""
    if value is None or isinstance(value, str):
        return value
    return next(iter(value), None)


Weights = Mapping[str, Sequence[float]] | None


def _fold_margins(
    template: MultiHeadClassifier,
    X: sp.csr_matrix,
    labels: Mapping[str, Sequence[HeadLabel]],
    weights: Weights,
    rows: np.ndarray,
    held: np.ndarray,
    min_df: int = 1,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """Linear heads fitted on `rows`, and their margins on `held` with the classes they have; a head with one
    class there is left out and named. Only the features travel to the worker, not the featurizer.

    The features were fitted on every row, so a feature kept for appearing in `min_df` texts may owe that to a
    held-out text: the fold drops every feature its own rows hold fewer than `min_df` times, as a vocabulary
    fitted on them alone would. Otherwise a word shared by one held-out call and one training call would link
    them out of fold, though a call the final model meets later keeps no word seen once in training."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    skipped: list[str] = []
    Xr = X[rows]
    Xh = X[held]
    if min_df > 1:
        rare = np.bincount(Xr.indices, minlength=X.shape[1]) < min_df
        if rare.any():
            keep = sp.diags((~rare).astype(X.dtype), format="csr")
            Xr, Xh = (Xr @ keep).tocsr(), (Xh @ keep).tocsr()
            Xr.eliminate_zeros()
            Xh.eliminate_zeros()
    for head, values in labels.items():
        part = [values[i] for i in rows]
        if len({primary(v) for v in part} - {None}) < 2:
            skipped.append(head)
            continue
        w = None if weights is None or head not in weights else np.asarray(weights[head], dtype=float)[rows]
        model = template.fit_head(head, Xr, part, w, linear_only=True)
        if len(held):
            out[head] = (model.classes_, model.margins(Xh))
    return out, skipped


def _fit_linear(
    template: MultiHeadClassifier, X: sp.csr_matrix, labels: Mapping[str, Sequence[HeadLabel]], weights: Weights
) -> dict[str, CalibratedLinearClassifier]:
    """The final model's heads on every row, linear part only (calibrated afterwards on out-of-fold margins)."""
    return {
        head: template.fit_head(head, X, values, None if weights is None else weights.get(head), linear_only=True)
        for head, values in labels.items()
    }


def _aligned(classes: np.ndarray, fold_classes: np.ndarray, margins: np.ndarray) -> np.ndarray:
    """A fold's margins in the final head's column layout (one column when the final head has two classes)."""
    if len(classes) == 2:
        if len(fold_classes) == 2 and np.array_equal(fold_classes, classes):
            return margins[:, :1]
        return np.full((len(margins), 1), MISSING_MARGIN)
    full = np.full((len(margins), len(classes)), MISSING_MARGIN)
    position = {str(c): j for j, c in enumerate(classes)}
    columns = np.column_stack([-margins[:, 0], margins[:, 0]]) if margins.shape[1] == 1 else margins
    for k, c in enumerate(fold_classes):
        if str(c) in position:
            full[:, position[str(c)]] = columns[:, k]
    return full


def fit_with_out_of_fold(
    template: MultiHeadClassifier,
    texts: Sequence[str],
    labels: Mapping[str, Sequence[HeadLabel]],
    *,
    k: int,
    seed: int,
    n_jobs: int = 1,
    progress: Callable[[str], None] | None = None,
    always: np.ndarray | None = None,
    weights: Weights = None,
) -> tuple[MultiHeadClassifier, OutOfFold | None, sp.csr_matrix]:
    """The final classifier on every row, calibrated on out-of-fold margins; the out-of-fold probabilities
    (None when the rows are too few for `k` folds); and the features.

    Rows marked in `always` (knowledge, not data) train in every fold and are never held out or scored. The
    final linear fit and the folds run in one pool of processes; each head is fitted k + 1 times in all.
    """
    featurizer = clone(template.featurizer) if template.featurizer is not None else TextFeaturizer()
    if progress:
        progress(f"featurising {len(texts)} rows")
    X = featurizer.fit_transform(list(texts))
    folds = assign_folds(texts, k, seed)
    if always is not None:
        folds[np.asarray(always, dtype=bool)] = -1
    if int((folds >= 0).sum()) < 5 * k or len(np.unique(folds[folds >= 0])) < k:
        return clone(template).fit_features(featurizer, X, labels, weights), None, X
    if progress:
        progress(f"fitting the heads on {len(texts)} rows and on {k} folds ({n_jobs} processes)")
    final_job = delayed(_fit_linear)(template, X, labels, weights)
    min_df = int(getattr(featurizer, "min_df_", 1))
    fold_jobs = [
        delayed(_fold_margins)(template, X, labels, weights, np.flatnonzero(folds != f), np.flatnonzero(folds == f), min_df)
        for f in range(k)
    ]
    heads, *fitted = Parallel(n_jobs=n_jobs)([final_job, *fold_jobs])
    final = clone(template).with_heads(featurizer, heads)
    margins = {head: np.full((X.shape[0], 1 if len(c) == 2 else len(c)), np.nan) for head, c in final.classes_.items()}
    for f, (by_head, skipped) in enumerate(fitted):
        if skipped:
            logger.warning("fold %d: heads %s have fewer than two classes there and get no out-of-fold scores", f, skipped)
        held = np.flatnonzero(folds == f)
        for head, (fold_classes, m) in by_head.items():
            margins[head][held] = _aligned(final.classes_[head], fold_classes, m)
    if progress:
        progress("calibrating the heads on their out-of-fold margins")
    proba: dict[str, np.ndarray] = {}
    for head, m in margins.items():
        # the rows and labels the head trained on (acceptable alternatives too), where a fold scored them
        rows, y, weight = expand_labels(labels[head], final.alternative_weight)
        if weights is not None and head in weights:
            weight = weight * np.asarray(weights[head], dtype=float)[rows]
        keep = ~np.isnan(m[rows]).any(axis=1) & (folds[rows] >= 0)
        if not keep.any():  # no fold could fit it: calibrate on the final model's own margins (optimistic, but usable)
            m[rows] = final.heads_[head].margins(X[rows])
            keep[:] = True
        uniform = bool(np.all(weight[keep] == 1.0))
        final.heads_[head].calibrate(m[rows[keep]], y[keep].astype(str), None if uniform else weight[keep])
        scored = ~np.isnan(m).any(axis=1)
        p = np.full((X.shape[0], len(final.classes_[head])), np.nan)
        p[scored] = final.heads_[head].proba_from_margins(m[scored])
        proba[head] = p
    final.calibrators_ = {}
    return final, OutOfFold(proba, {h: np.asarray(c) for h, c in final.classes_.items()}, folds), X

