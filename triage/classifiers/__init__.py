"""Classifiers behind one protocol: fit on texts, `predict_proba` columns following `classes_`."""

from triage.classifiers.linear import CalibratedLinearClassifier
from triage.classifiers.multihead import MultiHeadClassifier

__all__ = ["CalibratedLinearClassifier", "MultiHeadClassifier"]
