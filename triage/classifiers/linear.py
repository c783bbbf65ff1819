"""A linear head with calibrated probabilities: the default classifier of every head.

LinearSVC is the strongest simple model on TF-IDF text; its margins are turned into probabilities by
cross-validated sigmoid calibration, which `needs_review` thresholds and dispatchers' score bars rely
on. Heads whose rarest class is too small to cross-validate fall back to logistic regression.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from triage.errors import LabelError


class CalibratedLinearClassifier(ClassifierMixin, BaseEstimator):
    """LinearSVC + sigmoid calibration on any (sparse) feature matrix; `predict_proba` follows `classes_`."""

    def __init__(
        self,
        C: float = 0.7,
        class_weight: str | None = "balanced",
        calibration: str = "sigmoid",
        cv: int = 3,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.calibration = calibration
        self.cv = cv
        self.random_state = random_state

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def fit(self, X: object, y: object) -> CalibratedLinearClassifier:
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=(np.float64, np.float32))
        self.classes_ = unique_labels(y)
        if len(self.classes_) < 2:
            raise LabelError(f"a head needs at least two classes to learn; got one class: {self.classes_[0]!r}")
        counts = np.unique(y, return_counts=True)[1]
        folds = int(min(self.cv, counts.min()))
        if folds >= 2:
            base = LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state)
            self.estimator_ = CalibratedClassifierCV(base, method=self.calibration, cv=folds, ensemble=False)
        else:
            self.estimator_ = LogisticRegression(C=self.C * 20, class_weight=self.class_weight, max_iter=2000)
        self.estimator_.fit(X, y)
        return self

    def predict_proba(self, X: object) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, accept_sparse="csr", reset=False, dtype=(np.float64, np.float32))
        return self.estimator_.predict_proba(X)

    def predict(self, X: object) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def coefficients(self) -> np.ndarray:
        """Per-class weights of the linear model (n_classes x n_features), for evidence and keywords."""
        check_is_fitted(self, "estimator_")
        model = self.estimator_
        if isinstance(model, CalibratedClassifierCV):
            model = model.calibrated_classifiers_[0].estimator
        coef = model.coef_
        if coef.shape[0] == 1:  # binary: one row for the positive class
            coef = np.vstack([-coef[0], coef[0]])
        return coef
