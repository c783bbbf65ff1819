"""Several heads (category, topic, scope, unit) over one shared featurizer.

Features are computed once per transcript and every head reads them: one jieba pass per call, which
is what keeps a suggestion within a few milliseconds. Rows without a label for a head (a tipdm message
has a topic but no unit) still shape the shared vocabulary but do not train that head.

A row's label may also be a sequence of acceptable labels, best first (a matter the district or a city
department would both take): each acceptable label then trains as a row of its own, the first with
weight 1 and the others with `alternative_weight`, so the head learns every answer a dispatcher accepts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from triage.classifiers.calibration import ProbabilityCalibrator
from triage.classifiers.compiled import CompiledClassifier
from triage.classifiers.linear import CalibratedLinearClassifier
from triage.classifiers.priors import PriorShift
from triage.errors import LabelError
from triage.features import TextFeaturizer, check_texts

HeadLabel = Union[str, Sequence[str], None]  # noqa: UP007 (a runtime alias)
"""One row's label for a head: a label, the acceptable labels best first, or None when unknown."""


def expand_labels(values: Sequence[HeadLabel], alternative_weight: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row index, label, weight) for every labelled row; a row with several acceptable labels gives one each."""
    rows, y, weight = [], [], []
    for i, value in enumerate(values):
        if value is None:
            continue
        options = [value] if isinstance(value, str) else list(dict.fromkeys(str(v) for v in value))
        for k, label in enumerate(options):
            if k and alternative_weight <= 0:
                break
            rows.append(i)
            y.append(label)
            weight.append(1.0 if k == 0 else alternative_weight)
    return np.array(rows, dtype=int), np.array(y, dtype=object), np.array(weight, dtype=float)


class MultiHeadClassifier(BaseEstimator):
    """`fit(texts, labels)` with `labels` a mapping head -> labels (None where unknown, or acceptable labels best first)."""

    def __init__(
        self,
        featurizer: TextFeaturizer | None = None,
        head: CalibratedLinearClassifier | None = None,
        head_params: Mapping[str, Mapping[str, object]] | None = None,
        alternative_weight: float = 0.0,
    ) -> None:
        self.featurizer = featurizer
        self.head = head
        self.head_params = head_params
        self.alternative_weight = alternative_weight

    def fit(
        self, texts: Sequence[str], labels: Mapping[str, Sequence[HeadLabel]], sample_weight: Mapping[str, Sequence[float]] | None = None
    ) -> MultiHeadClassifier:
        """`sample_weight`: per head, how much each row's label counts (1 where not given)."""
        texts = check_texts(texts)
        self._check_labels(labels, len(texts))
        featurizer = clone(self.featurizer) if self.featurizer is not None else TextFeaturizer()
        X = featurizer.fit_transform(texts)
        return self.fit_features(featurizer, X, labels, sample_weight)

    def fit_features(
        self,
        featurizer: TextFeaturizer,
        X: sp.csr_matrix,
        labels: Mapping[str, Sequence[HeadLabel]],
        sample_weight: Mapping[str, Sequence[float]] | None = None,
        *,
        linear_only: bool = False,
    ) -> MultiHeadClassifier:
        """Fit the heads on features an already fitted featurizer made: cross-validation folds share one.

        With `linear_only` the heads' linear models are fitted but not calibrated: `margins` then gives what the
        folds need, and each head's `calibrate` finishes the final model with out-of-fold margins.
        """
        check_is_fitted(featurizer)
        self._check_labels(labels, X.shape[0])
        heads = {
            head: self.fit_head(head, X, values, None if sample_weight is None else sample_weight.get(head), linear_only=linear_only)
            for head, values in labels.items()
        }
        return self.with_heads(featurizer, heads)

    def fit_head(
        self, head: str, X: sp.csr_matrix, values: Sequence[HeadLabel], sample_weight: Sequence[float] | None = None, *, linear_only: bool = False
    ) -> CalibratedLinearClassifier:
        """One head on the rows that have its label (folds fit heads alone, without the featurizer)."""
        if not 0.0 <= self.alternative_weight <= 1.0:
            raise ValueError(f"alternative_weight must be in [0, 1], got {self.alternative_weight}")
        rows, y, weight = expand_labels(values, self.alternative_weight)
        if sample_weight is not None:
            weight = weight * np.asarray(sample_weight, dtype=float)[rows]
        if len(set(y.tolist())) < 2:
            raise LabelError(f"head {head!r} needs at least two classes in the training data; found {sorted(set(y.tolist()))}")
        estimator = clone(self.head) if self.head is not None else CalibratedLinearClassifier()
        estimator.set_params(**dict((self.head_params or {}).get(head, {})))
        uniform = bool(np.all(weight == 1.0))
        fit = estimator.fit_linear if linear_only else estimator.fit
        return fit(X[rows], y.astype(str), sample_weight=None if uniform else weight)

    def with_heads(self, featurizer: TextFeaturizer, heads: Mapping[str, CalibratedLinearClassifier]) -> MultiHeadClassifier:
        """This classifier made of a fitted featurizer and fitted heads."""
        self.featurizer_ = featurizer
        self.heads_: dict[str, CalibratedLinearClassifier] = dict(heads)
        self.classes_ = {head: est.classes_ for head, est in self.heads_.items()}
        self.calibrators_: dict[str, ProbabilityCalibrator] = {}
        self.prior_shifts_: dict[str, PriorShift] = {}
        return self

    def margins(self, X: sp.csr_matrix) -> dict[str, np.ndarray]:
        """Per head, the linear model's margins (columns follow `classes_`; one column for a two-class head)."""
        check_is_fitted(self, "heads_")
        return {head: est.margins(X) for head, est in self.heads_.items()}

    @staticmethod
    def _check_labels(labels: Mapping[str, Sequence[HeadLabel]], n: int) -> None:
        if not labels:
            raise LabelError("no labels given: pass at least one head's labels")
        for head, values in labels.items():
            if len(values) != n:
                raise LabelError(f"head {head!r} has {len(values)} labels for {n} texts")

    def recalibrate(
        self, texts: Sequence[str], labels: Mapping[str, Sequence[str | None]], calibrator: ProbabilityCalibrator | None = None
    ) -> dict[str, dict[str, object]]:
        """Fit one calibrator per given head on held-out rows (never the training rows); returns what each chose.

        Rows whose label the head does not know are left out: no calibration can make them right.
        """
        check_is_fitted(self, "heads_")
        texts = check_texts(texts)
        X = self.transform(texts)
        raw = {head: est.predict_proba(X) for head, est in self.heads_.items() if head in labels}
        return self.recalibrate_from(raw, labels, calibrator)

    def recalibrate_from(
        self,
        raw: Mapping[str, np.ndarray],
        labels: Mapping[str, Sequence[str | None]],
        calibrator: ProbabilityCalibrator | None = None,
    ) -> dict[str, dict[str, object]]:
        """Fit the calibrators on given uncalibrated probabilities of held-out rows (e.g. out-of-fold ones),
        columns in `classes_` order; returns what each head chose."""
        check_is_fitted(self, "heads_")
        self.calibrators_ = {}
        for head, proba in raw.items():
            index = {str(c): k for k, c in enumerate(self.classes_[head])}
            rows = [(i, index[str(v)]) for i, v in enumerate(labels[head]) if v is not None and str(v) in index]
            if not rows:
                continue
            picked, y = zip(*rows, strict=True)
            estimator = clone(calibrator) if calibrator is not None else ProbabilityCalibrator()
            self.calibrators_[head] = estimator.fit(proba[list(picked)], np.array(y))
        return {head: cal.summary() for head, cal in self.calibrators_.items()}

    @property
    def head_names(self) -> list[str]:
        check_is_fitted(self, "heads_")
        return list(self.heads_)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Shared features of normalised texts."""
        check_is_fitted(self, "featurizer_")
        return self.featurizer_.transform(texts)

    def predict_proba_features(self, X: sp.csr_matrix, *, shifted: bool = True) -> dict[str, np.ndarray]:
        """Calibrated probabilities; with `shifted`, under the local priors where `adapt_priors` found them."""
        check_is_fitted(self, "heads_")
        calibrators = getattr(self, "calibrators_", {})  # bundles saved before recalibration have none
        shifts = getattr(self, "prior_shifts_", {}) if shifted else {}
        out = {}
        for head, est in self.heads_.items():
            proba = est.predict_proba(X)
            proba = calibrators[head].transform(proba) if head in calibrators else proba
            out[head] = shifts[head].transform(proba) if head in shifts else proba
        return out

    def adapt_priors(self, X: sp.csr_matrix, train_priors: Mapping[str, Sequence[float]]) -> dict[str, dict[str, Any]]:
        """Re-estimate the given heads' class priors on unlabelled local rows (EM on the calibrated probabilities,
        `PriorShift`); predictions then use them. `train_priors`: per head, the priors its probabilities assume
        (columns follow `classes_`). Returns per head the training and local prior of each class."""
        check_is_fitted(self, "heads_")
        unknown = sorted(set(train_priors) - set(self.heads_))
        if unknown:
            raise ValueError(f"no such head: {', '.join(unknown)}")
        proba = self.predict_proba_features(X, shifted=False)
        self.prior_shifts_ = {head: PriorShift().fit(proba[head], priors) for head, priors in train_priors.items()}
        return {
            head: {
                "rows": int(X.shape[0]),
                "iterations": shift.n_iter_,
                "priors": {
                    str(c): {"train": round(float(t), 4), "local": round(float(p), 4)}
                    for c, t, p in zip(self.classes_[head], shift.train_priors_, shift.priors_, strict=True)
                },
            }
            for head, shift in self.prior_shifts_.items()
        }

    def compiled(self) -> CompiledClassifier:
        """The fitted classifier as plain arrays, without scikit-learn: what a bundle stores and serving runs."""
        check_is_fitted(self, "heads_")
        return CompiledClassifier(
            self.featurizer_.compiled(),
            {head: est.compiled() for head, est in self.heads_.items()},
            {head: cal.compiled() for head, cal in getattr(self, "calibrators_", {}).items()},
            {head: np.asarray(shift.ratio_, dtype=np.float64) for head, shift in getattr(self, "prior_shifts_", {}).items()},
        )

    def predict_proba(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Per head, probabilities whose columns follow `classes_[head]`."""
        return self.predict_proba_features(self.transform(texts))

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return {head: self.classes_[head][p.argmax(axis=1)] for head, p in self.predict_proba(texts).items()}
