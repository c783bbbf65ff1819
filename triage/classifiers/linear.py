"""A linear head with calibrated probabilities: the default classifier of every head.

LinearSVC is the strongest simple model on TF-IDF text; its margins are turned into probabilities by
cross-validated sigmoid calibration, which `needs_review` thresholds and dispatchers' score bars rely
on. A class too rare to cross-validate has its rows repeated so that every fold sees it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import LinearSVC
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from triage.errors import LabelError


def _columns(coef: object) -> object:
    """Weights as (n_features x n_classes), sparse if the model was sparsified."""
    if sp.issparse(coef):
        return coef.T.tocsr().astype(np.float64)  # type: ignore[union-attr]
    return np.asarray(coef, dtype=np.float64).T.copy()


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
        labels, counts = np.unique(y, return_counts=True)
        folds = max(2, min(self.cv, int(counts.max())))
        rare = labels[counts < folds]
        if len(rare):
            # a class seen once or twice (a unit with one confirmed order) cannot be cross-validated:
            # repeat its rows so calibration has one in every fold, rather than drop the unit
            extra = np.concatenate([np.repeat(np.flatnonzero(y == label), folds) for label in rare])
            X = sp.vstack([X, X[extra]], format="csr") if sp.issparse(X) else np.vstack([X, X[extra]])
            y = np.concatenate([y, y[extra]])
        base = LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state)
        self.estimator_ = CalibratedClassifierCV(base, method=self.calibration, cv=folds, ensemble=False)
        self.estimator_.fit(X, y)
        for model in self._linear_models():
            if sp.issparse(X) and np.mean(model.coef_ != 0) < 0.5:
                model.sparsify()  # heads trained on few rows touch few features: keep bundles small
        self._compile()
        return self

    def _linear_models(self) -> list[LinearSVC]:
        return [c.estimator for c in self.estimator_.calibrated_classifiers_]

    def __getstate__(self) -> dict:  # type: ignore[type-arg]
        state = self.__dict__.copy()
        state.pop("fast_", None)  # derived from estimator_; rebuilt on load instead of stored twice
        return state

    def __setstate__(self, state: dict) -> None:  # type: ignore[type-arg]
        self.__dict__.update(state)
        if hasattr(self, "estimator_"):
            self._compile()

    def _compile(self) -> None:
        """Keep the fitted model as plain arrays: sklearn's per-call validation costs more than the maths."""
        model = self.estimator_
        self.fast_ = None
        if isinstance(model, CalibratedClassifierCV) and self.calibration == "sigmoid":
            calibrated = model.calibrated_classifiers_[0]
            svc = calibrated.estimator
            if not np.array_equal(svc.classes_, self.classes_):
                return
            a = np.array([c.a_ for c in calibrated.calibrators], dtype=np.float64)
            b = np.array([c.b_ for c in calibrated.calibrators], dtype=np.float64)
            self.fast_ = (_columns(svc.coef_), np.asarray(svc.intercept_, dtype=np.float64), a, b)

    def _fast_proba(self, X: object) -> np.ndarray | None:
        fast = getattr(self, "fast_", None)
        if fast is None or not (sp.issparse(X) or isinstance(X, np.ndarray)) or X.ndim != 2:  # type: ignore[union-attr]
            return None
        if X.dtype.kind not in "fiub" or (isinstance(X, np.ndarray) and not np.isfinite(X).all()):  # type: ignore[union-attr]
            return None
        if X.shape[1] != self.n_features_in_:  # type: ignore[union-attr]
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} features as input")  # type: ignore[union-attr]
        weights, intercept, a, b = fast
        product = X @ weights
        scores = (product.toarray() if sp.issparse(product) else np.asarray(product)) + intercept
        if len(self.classes_) == 2:  # one margin, calibrated as the positive class
            positive = expit(-(a[0] * scores[:, 0] + b[0]))
            return np.column_stack([1 - positive, positive])
        proba = expit(-(a * scores + b))
        total = proba.sum(axis=1, keepdims=True)
        uniform = np.full_like(proba, 1 / proba.shape[1])
        return np.divide(proba, total, out=uniform, where=total != 0)

    def predict_proba(self, X: object) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        fast = self._fast_proba(X)
        if fast is not None:
            return fast
        X = validate_data(self, X, accept_sparse="csr", reset=False, dtype=(np.float64, np.float32))
        return self.estimator_.predict_proba(X)

    def predict(self, X: object) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def coefficients(self) -> np.ndarray:
        """Per-class weights of the linear model (n_classes x n_features), for evidence and keywords."""
        check_is_fitted(self, "estimator_")
        model = self.estimator_.calibrated_classifiers_[0].estimator
        coef = model.coef_.toarray() if sp.issparse(model.coef_) else model.coef_
        if coef.shape[0] == 1:  # binary: one row for the positive class
            coef = np.vstack([-coef[0], coef[0]])
        return coef
