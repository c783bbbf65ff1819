"""The real, labelled citizen messages under ../shared/data (present on developer machines and in CI)."""

from __future__ import annotations

import pytest

from training.args import DataArguments, ModelArguments, RunArguments, TrainingArguments
from training.datasets import TIPDM_DIR, merge_labels, read_labelled, tipdm_split
from training.evaluate import evaluate
from training.train import train
from triage.bundle import load_bundle

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module", autouse=True)
def _require_shared() -> None:
    if not (TIPDM_DIR / "train.jsonl").is_file():
        pytest.fail(f"shared datasets missing at {TIPDM_DIR}: CI and developers must have ../shared/data")


def test_tipdm_training_split_reads_cleanly_with_its_category_and_unit_annotations():
    data, held_out = tipdm_split()
    assert len(data) + len(held_out) == 6235 and 500 < len(held_out) < 700
    assert not data.problems
    assert len(data.counts("topic")) == 7
    assert sum(data.counts("category").values()) == len(data)  # every message has a request type now
    assert sum(r.weights.get("category") == 0.5 for r in data.records) > 1000  # the annotators' low-confidence ones count half
    assert set(data.counts("scope")) == {"accepted"}
    labelled = [r for r in data.records if r.units_ok]
    assert len(labelled) + len(held_out) == 2977
    assert all(r.units_ok for r in held_out.records)  # held out: only unit-labelled messages, never trained or tuned on
    assert any("属地" in r.units_ok for r in labelled) and all(r.label("unit") == r.units_ok[0] for r in labelled)
    assert not {r.id for r in data.records} & {r.id for r in held_out.records}


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
