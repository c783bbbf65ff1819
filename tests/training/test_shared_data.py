"""The real, labelled citizen messages under ../shared/data (present on developer machines and in CI)."""

from __future__ import annotations

import pytest

from training.args import DataArguments, ModelArguments, RunArguments, TrainingArguments
from training.datasets import TIPDM_DIR, merge_labels, read_labelled, tipdm_train
from training.evaluate import evaluate
from training.train import train
from triage.bundle import load_bundle

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module", autouse=True)
def _require_shared() -> None:
    if not (TIPDM_DIR / "train.jsonl").is_file():
        pytest.fail(f"shared datasets missing at {TIPDM_DIR}: CI and developers must have ../shared/data")


def test_tipdm_training_split_reads_cleanly_with_its_category_annotations():
    data = tipdm_train()
    assert len(data) == 6235
    assert not data.problems
    assert len(data.counts("topic")) == 7
    assert sum(data.counts("category").values()) == 560
    assert set(data.counts("scope")) == {"accepted"}


def test_a_quick_full_preset_model_classifies_real_messages(tmp_path):
    run = RunArguments(
        DataArguments(preset="full", max_train_samples=1500), ModelArguments(), TrainingArguments(output_dir=str(tmp_path / "m"))
    )
    bundle, _ = train(run)
    test = read_labelled(TIPDM_DIR / "test.jsonl")
    merge_labels(test, TIPDM_DIR / "category_labels_test.jsonl")
    test.records = test.records[:300]
    metrics = evaluate(load_bundle(bundle), test)
    assert metrics["topic"]["macro_f1"] >= 0.75
    assert metrics["category"]["n"] > 0
