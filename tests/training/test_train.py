import json

import pytest

from training.args import DataArguments, ModelArguments, RunArguments, TrainingArguments
from training.train import train
from triage.errors import LabelError


def test_default_model_is_useful_on_held_out_calls(default_bundle):
    """Smoke test with floors: the default model must beat these on the own corpus's frozen test split."""
    metrics = json.loads((default_bundle / "manifest.json").read_text(encoding="utf-8"))["metrics"]["test"]
    assert metrics["n"] >= 600
    assert metrics["category"]["accuracy"] >= 0.7
    assert metrics["topic"]["accuracy"] >= 0.6
    assert metrics["unit"]["top1_accuracy"] >= 0.75
    assert metrics["unit"]["top3_accuracy"] >= 0.9
    assert metrics["unit"]["top1_accuracy"] >= metrics["unit"]["exact_top1"]  # any acceptable unit counts, so never less
    assert metrics["scope"]["false_refusal_rate"] <= 0.03
    assert metrics["district"]["accuracy_where_place_said"] >= 0.85
    assert metrics["scope"]["per_class"]["emergency"]["recall"] >= 0.85  # emergencies are refused ...
    assert metrics["scope"]["emergency_redirect_accuracy"] >= 0.5  # ... but the model's own refusals fall back to 110 (issue 16)
    automation = metrics["automation"]
    assert automation["dispatch"]["coverage"] >= 0.5 and automation["dispatch"]["precision"] >= 0.9
    assert metrics["needs_review_share"] <= 0.6


def test_an_analyst_file_trains_a_bundle(write_jsonl, tmp_path):
    rows = []
    for i in range(6):
        rows.append({"id": f"w{i}", "text": f"老板拖欠工资第{i}个月了", "category": "求助", "topic": "劳动和社会保障", "unit": "市人社局"})
        rows.append({"id": f"b{i}", "text": f"公交车第{i}路司机甩站", "category": "投诉", "topic": "交通运输", "unit": "长沙公交集团"})
    path = write_jsonl(rows)
    run = RunArguments(DataArguments(preset=None, data_files=[str(path)]), ModelArguments(), TrainingArguments(output_dir=str(tmp_path / "m")))
    bundle, _ = train(run)
    saved = json.loads((bundle / "training_args.json").read_text(encoding="utf-8"))
    assert saved["data"]["data_files"] == [str(path)]
    assert RunArguments.load(bundle / "training_args.json") == run


def test_training_without_two_classes_names_the_head(write_jsonl, tmp_path):
    path = write_jsonl([{"text": f"路灯坏了{i}", "category": "求助", "topic": "城乡建设"} for i in range(5)])
    run = RunArguments(DataArguments(preset=None, data_files=[str(path)]), ModelArguments(), TrainingArguments(output_dir=str(tmp_path / "m")))
    with pytest.raises(LabelError, match="'category' needs at least two classes"):
        train(run)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="folds must be at least 2"):
        TrainingArguments(folds=1)
    with pytest.raises(ValueError, match="unit_precision"):
        TrainingArguments(unit_precision=1.0)
    with pytest.raises(ValueError, match="preset or at least one data file"):
        DataArguments(preset=None)
    with pytest.raises(ValueError, match="C must be positive"):
        ModelArguments(C=0)
