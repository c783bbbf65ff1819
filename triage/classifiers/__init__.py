"""Classifiers behind one protocol: fit on texts, `predict_proba` columns following `classes_`.

The estimators import scikit-learn, which serving never needs (it loads their `compiled` forms): they are
imported on first use, so that `triage.classifiers.compiled` and `ensemble` load without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from triage.classifiers.linear import CalibratedLinearClassifier
    from triage.classifiers.multihead import MultiHeadClassifier

__all__ = ["CalibratedLinearClassifier", "MultiHeadClassifier"]
_WHERE = {"CalibratedLinearClassifier": "triage.classifiers.linear", "MultiHeadClassifier": "triage.classifiers.multihead"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
