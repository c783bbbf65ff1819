"""The real, labelled citizen messages under ../shared/data (present on developer machines and in CI)."""

from __future__ import annotations

import json

import pytest

from training.args import DataArguments, ModelArguments, RunArguments, TrainingArguments
from training.datasets import TIPDM_DIR, merge_labels, read_labelled, tipdm_split
from training.evaluate import evaluate
from training.train import train
from triage.bundle import load_bundle
from triage.normalise import with_title

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
    assert any(r.weights.get("unit") == 0.5 for r in data.records)  # low-confidence unit labels too
    raw = [json.loads(line) for line in (TIPDM_DIR / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    letter = next(r for r in raw if r["title"] and not r["text"].startswith(r["title"]))
    [record] = [r for r in data.records + held_out.records if r.id == letter["id"]]
    assert record.text == with_title(letter["title"], letter["text"]) != letter["text"]  # a letter's title is read first
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
    bundle, metrics = train(run)
    # the card shows how far the category head is from two annotators of the same test messages (read only to report)
    ceiling = metrics["category_ceiling"]
    assert ceiling["n"] == 400 and ceiling["agreement"]["agreed"] == 357 and ceiling["agreement"]["kappa"] == pytest.approx(0.854, abs=1e-3)
    assert ceiling["gap"] == round(ceiling["agreement"]["rate"] - ceiling["accuracy_first"]["accuracy"], 4)
    card = (bundle / "README.md").read_text(encoding="utf-8")
    assert "## Request type against two annotators" in card
    assert "No row the thresholds were chosen on was" not in card  # calls and letters: each register has its own
    low, high = ceiling["accuracy_agreed"]["interval"]
    assert f"| model accuracy where both annotators agree | 357 | {ceiling['accuracy_agreed']['accuracy']:.3f} | {low:.3f}–{high:.3f} |" in card
    test = read_labelled(TIPDM_DIR / "test.jsonl")
    merge_labels(test, TIPDM_DIR / "category_labels_test.jsonl")
    test.records = test.records[:300]
    metrics = evaluate(load_bundle(bundle), test)
    assert metrics["topic"]["macro_f1"] >= 0.75
    assert metrics["category"]["n"] > 0
