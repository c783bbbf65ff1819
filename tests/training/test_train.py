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
    said: list[str] = []
    bundle, _ = train(run, step=said.append)
    assert any("12 labelled rows are too few for 5-fold tuning" in line for line in said)  # the analyst is told why nothing was tuned
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


def test_local_orders_train_beside_the_preset_and_count_local_weight(write_jsonl):
    from training.train import load_training_data
    from triage.units import default_catalogue

    path = write_jsonl([
        {"id": "l1", "text": "小区门口的路灯坏了好几天", "category": "投诉"},  # any subset of the labels
        {"id": "l2", "text": "请问公积金怎么提取", "category": "咨询", "units_ok": ["市住房公积金管理中心"]},
    ])
    data, _, sources = load_training_data(DataArguments(preset="default", data_files=[str(path)], local_weight=3.0), default_catalogue(), 0)
    local = {r.id: r for r in data.records if r.id in ("l1", "l2")}
    assert len(data) > 2000 and set(local) == {"l1", "l2"}  # the preset's calls are still there
    assert local["l1"].weights == {"category": 3.0}
    assert local["l2"].weights == {"category": 3.0, "unit": 3.0}
    assert sources["files"]["local_weight"] == 3.0


def test_a_preset_trains_on_the_development_probes_and_never_on_a_blind_one():
    from training.datasets import corpus_split, probe_files, read_many, same_call_key
    from training.train import load_training_data
    from triage.units import default_catalogue

    data, held, sources = load_training_data(DataArguments(preset="default"), default_catalogue(), 0)
    probes = [r for r in data.records if r.origin == "probes"]
    emergencies = [r for r in probes if r.label("scope") == "emergency"]
    assert len(probes) >= 400 and len(emergencies) >= 200 and all(r.label("redirect") for r in emergencies)
    assert sources["development_probes"]["train"]["rows"] == len(probes)
    blind = read_many(probe_files("blind"))
    assert {"routing_calls.jsonl", "emergency_calls_round5.jsonl"} <= {p.name for p in probe_files("blind")}
    trained = {same_call_key(r.text) for r in data.records}
    assert not any(same_call_key(r.text) in trained for r in blind.records)
    frozen = {same_call_key(r.text) for r in corpus_split(default_catalogue())[1].records}
    assert not any(same_call_key(r.text) in frozen for r in probes) and len(held["test"]) >= 600


def test_a_bad_local_file_stops_training_with_file_line_and_value(write_jsonl):
    from training.train import load_training_data
    from triage.errors import DataFileError
    from triage.units import default_catalogue

    path = write_jsonl([{"id": "l1", "text": "路灯坏了", "category": "投诉"}, {"id": "l2", "text": "噪音扰民", "category": "吐槽"}])
    with pytest.raises(DataFileError, match=r"line 2: unknown category '吐槽'"):
        load_training_data(DataArguments(preset="default", data_files=[str(path)]), default_catalogue(), 0)
    missing = write_jsonl([{"id": "l1", "category": "投诉"}], name="missing.jsonl")
    with pytest.raises(DataFileError, match=r"missing.jsonl, line 1: no `text`"):
        load_training_data(DataArguments(preset="default", data_files=[str(missing)]), default_catalogue(), 0)
    with pytest.raises(ValueError, match="local_weight"):
        DataArguments(preset="default", data_files=[str(path)], local_weight=0)


def test_adapted_priors_follow_a_new_city_s_traffic_and_are_kept_by_the_bundle():
    import numpy as np

    from training.datasets import corpus_split
    from triage.classifiers import MultiHeadClassifier

    train_rows = [r for r in corpus_split()[0].records if r.label("category")][:400]
    classifier = MultiHeadClassifier().fit([r.text for r in train_rows], {"category": [r.label("category") for r in train_rows]})
    calls = ["我要投诉楼下饭店油烟太大", "投诉工地晚上施工噪音", "我要投诉物业不作为", "投诉出租车绕路"] * 10
    X = classifier.transform(calls)
    before = classifier.predict_proba_features(X)["category"][:, list(classifier.classes_["category"]).index("投诉")].mean()
    classes = classifier.classes_["category"]
    report = classifier.adapt_priors(X, {"category": np.full(len(classes), 1 / len(classes))})
    after = classifier.predict_proba_features(X)["category"][:, list(classes).index("投诉")].mean()
    assert report["category"]["priors"]["投诉"]["local"] > report["category"]["priors"]["投诉"]["train"]
    assert after > before
    served = classifier.compiled()  # what a bundle stores: the local priors travel with it
    np.testing.assert_array_equal(served.predict_proba_features(X)["category"], classifier.predict_proba_features(X)["category"])
    assert np.allclose(classifier.predict_proba_features(X, shifted=False)["category"].sum(axis=1), 1.0)
