"""Several heads (category, topic, scope, unit) over one shared featurizer.

Features are computed once per transcript and every head reads them: one jieba pass per call, which
is what keeps a suggestion within a few milliseconds. Rows without a label for a head (a tipdm message
has a topic but no unit) still shape the shared vocabulary but do not train that head.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from triage.classifiers.calibration import ProbabilityCalibrator
from triage.classifiers.linear import CalibratedLinearClassifier
from triage.errors import LabelError
from triage.features import TextFeaturizer, check_texts


class MultiHeadClassifier(BaseEstimator):
    """`fit(texts, labels)` with `labels` a mapping head -> labels (None where unknown)."""

    def __init__(
        self,
        featurizer: TextFeaturizer | None = None,
        head: CalibratedLinearClassifier | None = None,
        head_params: Mapping[str, Mapping[str, object]] | None = None,
    ) -> None:
        self.featurizer = featurizer
        self.head = head
        self.head_params = head_params

    def fit(self, texts: Sequence[str], labels: Mapping[str, Sequence[str | None]]) -> MultiHeadClassifier:
        texts = check_texts(texts)
        if not labels:
            raise LabelError("no labels given: pass at least one head's labels")
        for head, values in labels.items():
            if len(values) != len(texts):
                raise LabelError(f"head {head!r} has {len(values)} labels for {len(texts)} texts")
        self.featurizer_ = clone(self.featurizer) if self.featurizer is not None else TextFeaturizer()
        X = self.featurizer_.fit_transform(texts)
        self.heads_: dict[str, CalibratedLinearClassifier] = {}
        for head, values in labels.items():
            rows = np.array([i for i, v in enumerate(values) if v is not None], dtype=int)
            y = np.array([values[i] for i in rows], dtype=object)
            if len(set(y.tolist())) < 2:
                raise LabelError(
                    f"head {head!r} needs at least two classes in the training data; found {sorted(set(y.tolist()))}"
                )
            estimator = clone(self.head) if self.head is not None else CalibratedLinearClassifier()
            estimator.set_params(**dict((self.head_params or {}).get(head, {})))
            self.heads_[head] = estimator.fit(X[rows], y.astype(str))
        self.classes_ = {head: est.classes_ for head, est in self.heads_.items()}
        self.calibrators_: dict[str, ProbabilityCalibrator] = {}
        return self

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

    def predict_proba_features(self, X: sp.csr_matrix) -> dict[str, np.ndarray]:
        check_is_fitted(self, "heads_")
        calibrators = getattr(self, "calibrators_", {})  # bundles saved before recalibration have none
        out = {}
        for head, est in self.heads_.items():
            proba = est.predict_proba(X)
            out[head] = calibrators[head].transform(proba) if head in calibrators else proba
        return out

    def predict_proba(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Per head, probabilities whose columns follow `classes_[head]`."""
        return self.predict_proba_features(self.transform(texts))

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return {head: self.classes_[head][p.argmax(axis=1)] for head, p in self.predict_proba(texts).items()}
