"""Recalibration of a head's probabilities on held-out data: none, temperature or isotonic, chosen by validation.

The heads' own sigmoid calibration is fitted on folds of the training data, which for the full model is
mostly written messages; the calls a dispatcher sees are spoken and shorter, and their scores drift. The
`needs_review` thresholds and the score bars assume that 0.9 means right nine times in ten, so each head is
recalibrated on the development split, with the method that cross-validates best there (log-loss).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from triage.classifiers.compiled import EPS, Recalibration, ScoreMaps, apply_temperature

Method = Literal["none", "temperature", "isotonic"]
METHODS: tuple[Method, ...] = ("none", "temperature", "isotonic")
N_BINS = 10


def expected_calibration_error(scores: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray, n_bins: int = N_BINS) -> float:
    """Bin-size-weighted |accuracy - confidence| over equal-width confidence bins."""
    s = np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
    c = np.asarray(correct, dtype=float)
    if not len(s):
        return 0.0
    which = np.minimum((s * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in np.unique(which):
        mask = which == b
        ece += mask.mean() * abs(c[mask].mean() - s[mask].mean())
    return float(ece)


def _log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(np.clip(proba[np.arange(len(y)), y], EPS, 1.0)).mean())


def _fit_temperature(proba: np.ndarray, y: np.ndarray) -> float:
    logp = np.log(np.clip(proba, EPS, 1.0))

    def loss(log_t: float) -> float:
        return -float(log_softmax(logp / np.exp(log_t), axis=1)[np.arange(len(y)), y].mean())

    return float(np.exp(minimize_scalar(loss, bounds=(-3.0, 3.0), method="bounded").x))


def _fit_isotonic(proba: np.ndarray, y: np.ndarray) -> list[IsotonicRegression | None]:
    """One increasing map per class (one-vs-rest); a class never seen here keeps its score."""
    maps: list[IsotonicRegression | None] = []
    for k in range(proba.shape[1]):
        target = (y == k).astype(float)
        if target.min() == target.max():
            maps.append(None)
            continue
        maps.append(IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(proba[:, k], target))
    return maps


def _apply_isotonic(proba: np.ndarray, maps: Sequence[IsotonicRegression | None]) -> np.ndarray:
    return Recalibration("isotonic", maps=ScoreMaps.isotonic(maps)).transform(proba)


class ProbabilityCalibrator(BaseEstimator):
    """Maps a head's probabilities (columns in the head's class order) to recalibrated ones.

    `fit(proba, y)` takes class indices. With `method="auto"` every candidate is scored by `cv`-fold
    log-loss on the given rows and the best is refitted on all of them; `scores_` keeps the comparison.
    """

    def __init__(self, method: Method | Literal["auto"] = "auto", cv: int = 5, min_rows: int = 30, random_state: int = 0) -> None:
        self.method = method
        self.cv = cv
        self.min_rows = min_rows
        self.random_state = random_state

    def fit(self, proba: np.ndarray, y: Sequence[int] | np.ndarray) -> ProbabilityCalibrator:
        proba = np.asarray(proba, dtype=float)
        y = np.asarray(y, dtype=int)
        if proba.ndim != 2 or len(proba) != len(y):
            raise ValueError(f"proba must be (n_rows, n_classes) with one label per row; got {proba.shape} and {len(y)} labels")
        if len(y) and (y.min() < 0 or y.max() >= proba.shape[1]):
            raise ValueError("labels must be class indices within the probability columns")
        self.n_classes_ = proba.shape[1]
        self.n_rows_ = len(y)
        candidates = METHODS if self.method == "auto" else ("none", self.method)
        self.scores_: dict[str, dict[str, float]] = {}
        if len(y) < self.min_rows or len(np.unique(y)) < 2:
            self.method_: Method = "none"
        else:
            for method in candidates:
                self.scores_[method] = self._cross_validate(method, proba, y)
            self.method_ = min(candidates, key=lambda m: (self.scores_[m]["log_loss"], METHODS.index(m)))
        self.mapping_ = _fit(self.method_, proba, y)
        return self

    @property
    def temperature_(self) -> float:
        """The fitted temperature (1.0 unless temperature scaling was chosen)."""
        check_is_fitted(self, "method_")
        return float(self.mapping_) if self.method_ == "temperature" else 1.0  # type: ignore[arg-type]

    def _cross_validate(self, method: Method, proba: np.ndarray, y: np.ndarray) -> dict[str, float]:
        out = np.empty_like(proba)
        folds = KFold(n_splits=min(self.cv, len(y)), shuffle=True, random_state=self.random_state)
        for fit_rows, held in folds.split(proba):
            out[held] = _apply(method, _fit(method, proba[fit_rows], y[fit_rows]), proba[held])
        top = out.argmax(axis=1)
        return {
            "log_loss": round(_log_loss(out, y), 5),
            "ece": round(expected_calibration_error(out.max(axis=1), top == y), 5),
        }

    def transform(self, proba: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "method_")
        proba = np.asarray(proba, dtype=float)
        if proba.ndim != 2 or proba.shape[1] != self.n_classes_:
            raise ValueError(f"expected {self.n_classes_} probability columns, got shape {proba.shape}")
        return _apply(self.method_, self.mapping_, proba)

    def compiled(self) -> Recalibration:
        """What `transform` applies, as plain numbers and arrays (what a bundle stores)."""
        check_is_fitted(self, "method_")
        if self.method_ == "isotonic":
            return Recalibration("isotonic", maps=ScoreMaps.isotonic(self.mapping_), info=self.summary())  # type: ignore[arg-type]
        return Recalibration(self.method_, temperature=self.temperature_, info=self.summary())

    def summary(self) -> dict[str, Any]:
        """What was chosen and why, for the bundle's metrics and the model card."""
        check_is_fitted(self, "method_")
        out: dict[str, Any] = {"method": self.method_, "rows": self.n_rows_, "cross_validated": self.scores_}
        if self.method_ == "temperature":
            out["temperature"] = round(self.temperature_, 4)
        return out


def _fit(method: Method, proba: np.ndarray, y: np.ndarray) -> float | list[IsotonicRegression | None] | None:
    """What a method learns from labelled rows: a temperature, per-class isotonic maps, or nothing."""
    if method == "temperature":
        return _fit_temperature(proba, y)
    if method == "isotonic":
        return _fit_isotonic(proba, y)
    return None


def _apply(method: Method, mapping: float | list[IsotonicRegression | None] | None, proba: np.ndarray) -> np.ndarray:
    if method == "temperature":
        return apply_temperature(proba, float(mapping))  # type: ignore[arg-type]
    if method == "isotonic":
        return _apply_isotonic(proba, mapping)  # type: ignore[arg-type]
    return proba
