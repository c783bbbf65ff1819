"""A linear head with calibrated probabilities: the default classifier of every head.

LinearSVC is the strongest simple model on TF-IDF text; its margins are turned into probabilities by
cross-validated sigmoid calibration, which the auto thresholds and dispatchers' score bars rely on. A
class too rare to cross-validate has its rows repeated so that every fold sees it.

Training runs its own k folds anyway (training/crossval.py), so there the head is fitted in two steps
instead of cross-validating twice: `fit_linear` fits the model on every row, and `calibrate` fits the
sigmoid on the out-of-fold margins the folds gave for the same rows.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from triage.classifiers.compiled import CompiledHead, ScoreMaps
from triage.errors import LabelError


def _columns(coef: object) -> object:
    """Weights as (n_features x n_classes), sparse if the model was sparsified."""
    if sp.issparse(coef):
        return coef.T.tocsr().astype(np.float64)  # type: ignore[union-attr]
    return np.asarray(coef, dtype=np.float64).T.copy()


class Sigmoid:
    """Platt's map from one class's margin to its probability: expit(-(a * margin + b))."""

    def __init__(self, a: float, b: float) -> None:
        self.a_, self.b_ = float(a), float(b)

    def predict(self, margins: np.ndarray) -> np.ndarray:
        return expit(-(self.a_ * np.asarray(margins, dtype=np.float64) + self.b_))


def fit_sigmoid(margins: np.ndarray, positive: np.ndarray, sample_weight: np.ndarray | None = None) -> Sigmoid:
    """Platt scaling of one class: a logistic regression on its margin (scikit-learn's, nearly unregularised)."""
    model = LogisticRegression(C=1e4, max_iter=1000)
    model.fit(np.asarray(margins, dtype=np.float64).reshape(-1, 1), np.asarray(positive, dtype=int), sample_weight=sample_weight)
    return Sigmoid(-float(model.coef_[0, 0]), -float(model.intercept_[0]))


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

    def fit(self, X: object, y: object, sample_weight: object = None) -> CalibratedLinearClassifier:
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=(np.float64, np.float32))
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if weight is not None and (weight.shape != (X.shape[0],) or not np.all(np.isfinite(weight)) or (weight < 0).any()):  # type: ignore[union-attr]
            raise ValueError(f"sample_weight must be {X.shape[0]} finite non-negative numbers, one per row")  # type: ignore[union-attr]
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
            weight = None if weight is None else np.concatenate([weight, weight[extra]])
        for stale in ("linear_", "calibrators_", "compiled_"):  # a refit replaces what a two-step fit left
            self.__dict__.pop(stale, None)
        base = LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state)
        self.estimator_ = CalibratedClassifierCV(base, method=self.calibration, cv=folds, ensemble=False)
        self.estimator_.fit(X, y, sample_weight=weight)
        for model in self._linear_models():
            if sp.issparse(X) and np.mean(model.coef_ != 0) < 0.5:
                model.sparsify()  # heads trained on few rows touch few features: keep bundles small
        self._compile()
        return self

    def fit_linear(self, X: object, y: object, sample_weight: object = None) -> CalibratedLinearClassifier:
        """Fit the linear model alone; `calibrate` must follow with out-of-fold margins before it gives probabilities."""
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=(np.float64, np.float32))
        self.classes_ = unique_labels(y)
        if len(self.classes_) < 2:
            raise LabelError(f"a head needs at least two classes to learn; got one class: {self.classes_[0]!r}")
        for stale in ("estimator_", "calibrators_", "compiled_"):
            self.__dict__.pop(stale, None)
        self.linear_ = LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state)
        self.linear_.fit(X, y, sample_weight=sample_weight)
        return self

    def margins(self, X: object) -> np.ndarray:
        """The linear model's margins, one column per class in `classes_` (one column for two classes)."""
        scores = self._linear().decision_function(X)
        return scores[:, None] if scores.ndim == 1 else scores

    def calibrate(self, margins: np.ndarray, y: object, sample_weight: object = None) -> CalibratedLinearClassifier:
        """Fit the probability calibration on out-of-fold `margins` of the training rows (labels `y`): one map per
        class (one-vs-rest, as scikit-learn's calibration does), and for a class no margin row shows (it was only
        ever in training), the map fitted on every class's margins pooled."""
        check_is_fitted(self, "linear_")
        m = np.asarray(margins, dtype=np.float64)
        y = np.asarray(y)
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        columns = [(m[:, 0], y == self.classes_[1])] if len(self.classes_) == 2 else [(m[:, k], y == c) for k, c in enumerate(self.classes_)]

        def fit(values: np.ndarray, positive: np.ndarray, w: np.ndarray | None) -> object:
            if self.calibration == "isotonic":
                return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(values, positive.astype(float), sample_weight=w)
            return fit_sigmoid(values, positive, w)

        pooled = None
        calibrators = []
        for values, positive in columns:
            if positive.any() and not positive.all():
                calibrators.append(fit(values, positive, weight))
                continue
            if pooled is None:
                pooled = fit(
                    np.concatenate([v for v, _ in columns]),
                    np.concatenate([p for _, p in columns]),
                    None if weight is None else np.tile(weight, len(columns)),
                )
            calibrators.append(pooled)
        self.calibrators_ = calibrators
        model = self.linear_
        if hasattr(self, "n_features_in_") and np.mean(model.coef_ != 0) < 0.5:
            model.sparsify()
        self._compile()
        return self

    def proba_from_margins(self, margins: np.ndarray) -> np.ndarray:
        """Probabilities for given margins (e.g. out-of-fold ones) with this head's calibration: what the served
        head computes, so that what training tunes on is what serving gives."""
        return self.compiled().proba_from_margins(np.asarray(margins, dtype=np.float64))

    def _fitted(self) -> None:
        """Fitted by `fit` (cross-validated calibration) or by `fit_linear` + `calibrate` (out-of-fold margins)."""
        if not hasattr(self, "estimator_") and not hasattr(self, "calibrators_"):
            check_is_fitted(self, "estimator_")

    def _linear(self) -> LinearSVC:
        if hasattr(self, "estimator_"):
            return self.estimator_.calibrated_classifiers_[0].estimator
        check_is_fitted(self, "linear_")
        return self.linear_

    def _calibrators(self) -> list[object]:
        if hasattr(self, "calibrators_"):
            return list(self.calibrators_)
        check_is_fitted(self, "estimator_")
        return list(self.estimator_.calibrated_classifiers_[0].calibrators)

    def _linear_models(self) -> list[LinearSVC]:
        if hasattr(self, "estimator_"):
            return [c.estimator for c in self.estimator_.calibrated_classifiers_]
        return [self.linear_]

    def __getstate__(self) -> dict:  # type: ignore[type-arg]
        state = self.__dict__.copy()
        state.pop("compiled_", None)  # derived from the model and its calibration; rebuilt on load instead of stored twice
        return state

    def __setstate__(self, state: dict) -> None:  # type: ignore[type-arg]
        self.__dict__.update(state)
        if hasattr(self, "estimator_") or hasattr(self, "calibrators_"):
            self._compile()

    def _compile(self) -> None:
        """Keep the fitted model as plain arrays (`compiled()`): sklearn's per-call validation costs more than the maths."""
        self.compiled_: CompiledHead | None = None
        calibrators = self._calibrators()
        svc = self._linear()
        if not np.array_equal(svc.classes_, self.classes_):
            return
        if all(hasattr(c, "a_") for c in calibrators):
            maps = ScoreMaps.sigmoid([c.a_ for c in calibrators], [c.b_ for c in calibrators])
        elif all(isinstance(c, IsotonicRegression) for c in calibrators):
            maps = ScoreMaps.isotonic(calibrators)
        else:
            return
        self.compiled_ = CompiledHead([str(c) for c in self.classes_], _columns(svc.coef_), np.asarray(svc.intercept_, dtype=np.float64), maps)

    def compiled(self) -> CompiledHead:
        """The fitted head as plain arrays (what a bundle stores)."""
        self._fitted()
        compiled = getattr(self, "compiled_", None)
        if compiled is None:
            raise ValueError("this head's calibration has no compiled form")
        return compiled

    def predict_proba(self, X: object) -> np.ndarray:
        self._fitted()
        compiled = getattr(self, "compiled_", None)
        if compiled is not None and (sp.issparse(X) or isinstance(X, np.ndarray)) and X.ndim == 2:  # type: ignore[union-attr]
            if X.dtype.kind in "fiub" and (sp.issparse(X) or np.isfinite(X).all()):  # type: ignore[union-attr]
                return compiled.predict_proba(X)
        X = validate_data(self, X, accept_sparse="csr", reset=False, dtype=(np.float64, np.float32))
        if hasattr(self, "estimator_"):
            return self.estimator_.predict_proba(X)
        return self.proba_from_margins(self.margins(X))

    def predict(self, X: object) -> np.ndarray:
        self._fitted()
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def coefficients(self) -> np.ndarray:
        """Per-class weights of the linear model (n_classes x n_features), for evidence and keywords."""
        self._fitted()
        model = self._linear()
        coef = model.coef_.toarray() if sp.issparse(model.coef_) else model.coef_
        if coef.shape[0] == 1:  # binary: one row for the positive class
            coef = np.vstack([-coef[0], coef[0]])
        return coef
