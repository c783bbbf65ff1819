"""Class priors of a new city's traffic, re-estimated without labels (Saerens, Latinne & Decaestecker 2002).

A hotline whose callers ask about other things than ours (more 投诉, fewer 咨询; more traffic, less
housing) shifts every head's class priors. Given calibrated probabilities on its unlabelled calls, EM finds
the priors that explain them: the posteriors are re-weighted by new prior / training prior, the new priors
are the mean of the re-weighted posteriors, until they stop moving. Applying the final ratio to each
prediction is Bayes' rule with the local priors; the model's likelihoods are untouched.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from triage.classifiers.compiled import reweight


def _check_proba(proba: object, n_classes: int | None = None) -> np.ndarray:
    array = np.asarray(proba, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"probabilities must be a non-empty (n_rows, n_classes) array, got shape {array.shape}")
    if n_classes is not None and array.shape[1] != n_classes:
        raise ValueError(f"probabilities have {array.shape[1]} classes, expected {n_classes}")
    if not np.all(np.isfinite(array)) or (array < 0).any():
        raise ValueError("probabilities must be finite and non-negative")
    return array


class PriorShift(BaseEstimator):
    """`fit(proba, train_priors)` on unlabelled local rows; `transform(proba)` gives the posteriors under the
    local priors. `priors_` are the local priors found, `ratio_` local / training, `n_iter_` EM's steps."""

    def __init__(self, max_iter: int = 200, tol: float = 1e-6, min_prior: float = 1e-4) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.min_prior = min_prior

    def fit(self, proba: object, train_priors: object) -> PriorShift:
        array = _check_proba(proba)
        base = np.asarray(train_priors, dtype=np.float64)
        if base.shape != (array.shape[1],) or (base <= 0).any() or not np.all(np.isfinite(base)):
            raise ValueError(f"train_priors must be {array.shape[1]} positive numbers, one per class")
        base = base / base.sum()
        priors = base.copy()
        steps = 0
        while steps < self.max_iter:
            steps += 1
            posterior = reweight(array, priors / base)
            updated = np.maximum(posterior.mean(axis=0), self.min_prior)  # a class absent locally stays possible
            updated /= updated.sum()
            moved = float(np.abs(updated - priors).max())
            priors = updated
            if moved < self.tol:
                break
        self.n_iter_ = steps
        self.train_priors_ = base
        self.priors_ = priors
        self.ratio_ = priors / base
        return self

    def transform(self, proba: object) -> np.ndarray:
        check_is_fitted(self, "ratio_")
        return reweight(_check_proba(proba, len(self.ratio_)), self.ratio_)
