"""Recalibration: overconfident heads are brought back to honest scores, chosen and stored with the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest

from triage.classifiers import MultiHeadClassifier
from triage.classifiers.calibration import ProbabilityCalibrator, expected_calibration_error


def overconfident(n: int, seed: int, n_classes: int = 4, accuracy: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Scores that claim about 0.95 on the top class while the top class is right only `accuracy` of the time."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    top = np.where(rng.random(n) < accuracy, y, (y + rng.integers(1, n_classes, n)) % n_classes)
    logits = rng.normal(0.0, 0.3, (n, n_classes))
    logits[np.arange(n), top] += 4.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return proba, y


def held_out_ece(calibrator: ProbabilityCalibrator, proba: np.ndarray, y: np.ndarray) -> float:
    out = calibrator.transform(proba)
    return expected_calibration_error(out.max(axis=1), out.argmax(axis=1) == y)


def test_an_overconfident_head_is_recalibrated_and_stays_honest_on_new_rows() -> None:
    proba, y = overconfident(400, seed=1)
    fresh, fresh_y = overconfident(400, seed=2)
    before = expected_calibration_error(fresh.max(axis=1), fresh.argmax(axis=1) == fresh_y)
    calibrator = ProbabilityCalibrator().fit(proba, y)
    assert calibrator.method_ != "none"
    assert before > 0.25
    assert held_out_ece(calibrator, fresh, fresh_y) < 0.06
    assert np.allclose(calibrator.transform(fresh).sum(axis=1), 1.0)
    summary = calibrator.summary()
    assert summary["cross_validated"][summary["method"]]["log_loss"] < summary["cross_validated"]["none"]["log_loss"]


def test_temperature_keeps_every_top_label() -> None:
    proba, y = overconfident(300, seed=3)
    calibrator = ProbabilityCalibrator(method="temperature").fit(proba, y)
    assert calibrator.method_ == "temperature"
    assert calibrator.temperature_ > 1.5  # overconfident scores are softened
    assert (calibrator.transform(proba).argmax(axis=1) == proba.argmax(axis=1)).all()


def test_honest_scores_are_left_alone() -> None:
    rng = np.random.default_rng(4)
    n = 600
    confidence = rng.uniform(0.3, 1.0, n)
    correct = rng.random(n) < confidence
    y = np.where(correct, 0, 1)  # the top class (0) is right exactly as often as it claims
    proba = np.column_stack([confidence, 1 - confidence])
    calibrator = ProbabilityCalibrator().fit(proba, y)
    assert held_out_ece(calibrator, proba, y) < 0.05
    if calibrator.method_ == "temperature":
        assert calibrator.temperature_ == pytest.approx(1.0, abs=0.15)


def test_too_few_rows_means_no_recalibration() -> None:
    proba, y = overconfident(12, seed=5)
    calibrator = ProbabilityCalibrator().fit(proba, y)
    assert calibrator.method_ == "none"
    assert np.array_equal(calibrator.transform(proba), proba)


def test_bad_shapes_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="one label per row"):
        ProbabilityCalibrator().fit(np.ones((3, 2)) / 2, [0, 1])
    with pytest.raises(ValueError, match="class indices"):
        ProbabilityCalibrator().fit(np.ones((3, 2)) / 2, [0, 1, 2])
    calibrator = ProbabilityCalibrator().fit(*overconfident(60, seed=6))
    with pytest.raises(ValueError, match="expected 4 probability columns"):
        calibrator.transform(np.ones((2, 3)) / 3)


def test_a_recalibrated_classifier_applies_it_after_a_save_and_load(tmp_path: Path) -> None:
    texts = ["小区门口占道经营摆摊", "工地晚上施工噪音太大", "拖欠工资三个月", "公交车甩站", "油烟扰民", "社保断缴怎么补"] * 8
    topics = ["城乡建设", "环境保护", "劳动和社会保障", "交通运输", "环境保护", "劳动和社会保障"] * 8
    model = MultiHeadClassifier().fit(texts, {"topic": topics})
    raw = model.predict_proba(texts)["topic"]
    chosen = model.recalibrate(texts, {"topic": topics}, ProbabilityCalibrator(method="temperature", min_rows=10))
    assert chosen["topic"]["method"] == "temperature"
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    after = loaded.predict_proba(texts)["topic"]
    assert not np.allclose(after, raw)
    assert (after.argmax(axis=1) == raw.argmax(axis=1)).all()


def test_the_trained_bundle_says_how_it_was_recalibrated(default_bundle: Path) -> None:
    manifest = json.loads((default_bundle / "manifest.json").read_text(encoding="utf-8"))
    chosen = manifest["training"]["recalibration"]
    assert set(chosen) == {"category", "topic", "scope"}
    for info in chosen.values():
        assert info["method"] in {"none", "temperature", "isotonic"}
        assert info["rows"] > 100
    assert "recalibration (chosen by 5-fold log-loss on out-of-fold probabilities)" in (default_bundle / "README.md").read_text(encoding="utf-8")
