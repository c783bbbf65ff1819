"""The evaluator's report: its figures and the numbers in its HTML agree with metrics.json; compare's paired test."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from typer.testing import CliRunner

from training import cli
from training.compare import compare_suggestions, mcnemar
from training.datasets import corpus_split
from training.evaluate import coverage_curve, evaluate_report, predict_all, reliability
from training.report import _lookup, figures, write_report

runner = CliRunner()


@pytest.fixture(scope="module")
def dev(pipeline):
    """The frozen test split: what the report is for."""
    return corpus_split(pipeline.knowledge.catalogue)[1]


@pytest.fixture(scope="module")
def suggestions(pipeline, dev):
    return predict_all(pipeline, dev)


@pytest.fixture(scope="module")
def report_dir(pipeline, dev, suggestions, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    write_report(evaluate_report(pipeline, dev, suggestions), out)
    return out


def test_report_files_and_sections(report_dir: Path) -> None:
    metrics = json.loads((report_dir / "metrics.json").read_text(encoding="utf-8"))
    assert {"confusion", "calibration", "coverage", "worst", "unit", "scope"} <= set(metrics)
    assert set(metrics["coverage"]) == {"category", "unit", "scope", "dispatch"}  # each auto decision, and the joint one
    for field, curve in metrics["coverage"].items():
        assert set(curve["at_precision"]) == {"0.90", "0.95", "0.98"}
        point = curve["at_model_threshold"]  # the bundle's operating point on this data
        assert point["threshold"] == (1.0 if field == "dispatch" else metrics["thresholds"][field])
    # the joint curve's operating point is what the suggestions did: dispatched alone with no one checking
    assert metrics["coverage"]["dispatch"]["at_model_threshold"]["coverage"] == pytest.approx(metrics["automation"]["dispatch"]["coverage"], abs=1e-3)
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    for name in ("confusion_category", "per_class_topic", "reliability", "coverage", "unit_topk", "scope_errors"):
        assert f"id='{name}'" in page and (report_dir / "figures" / f"{name}.png").stat().st_size > 1000
    assert "13873112345" not in page  # worst examples are the masked text
    chosen = metrics["recalibration"]
    assert set(chosen) == {"category", "topic", "scope"}
    assert f"category {chosen['category']['method']}" in page


def test_every_number_in_the_html_is_the_one_in_metrics_json(report_dir: Path) -> None:
    metrics = json.loads((report_dir / "metrics.json").read_text(encoding="utf-8"))
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    tagged = re.findall(r'<span data-key="([^"]+)">([^<]*)</span>', page)
    assert len(tagged) > 30
    for key, shown in tagged:
        value = _lookup(metrics, key)
        assert shown == ("n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)), key


def test_figures_draw_exactly_the_saved_numbers(report_dir: Path) -> None:
    metrics = json.loads((report_dir / "metrics.json").read_text(encoding="utf-8"))
    plots = figures(metrics)
    heights = [bar.get_height() for bar in plots["unit_topk"].axes[0].patches]
    assert heights == [metrics["unit"][f"top{k}_accuracy"] for k in (1, 3, 5)]
    scope = [bar.get_height() for bar in plots["scope_errors"].axes[0].patches]
    assert scope == [metrics["scope"]["false_refusal_rate"], metrics["scope"]["missed_refusal_rate"]]
    image = plots["confusion_category"].axes[0].images[0].get_array()
    assert np.array_equal(np.asarray(image), np.asarray(metrics["confusion"]["category"]["matrix"]))
    assert int(np.asarray(image).sum()) == metrics["category"]["n"]
    lines = {line.get_label(): line for line in plots["reliability"].axes[0].lines}
    for head, table in metrics["calibration"].items():
        line = next(v for k, v in lines.items() if f"({head})" in k)
        assert f"ECE {table['ece']:.3f}" in line.get_label()
        assert list(line.get_ydata()) == [b["accuracy"] for b in table["bins"] if b["n"]]
    curves = [line for line in plots["coverage"].axes[0].lines if line.get_label().endswith("(category)")]
    assert list(curves[0].get_xdata()) == [p["coverage"] for p in metrics["coverage"]["category"]["curve"]]
    plt.close("all")


def test_ece_and_coverage_are_right_on_a_known_case() -> None:
    table = reliability([0.95, 0.95, 0.55, 0.55], [True, False, True, True])
    assert table["ece"] == pytest.approx(0.5 * 0.45 + 0.5 * 0.45)
    curve = coverage_curve([0.9, 0.8, 0.7, 0.6], [True, True, False, True], threshold=0.75)
    assert curve["at_precision"]["0.95"] == {"threshold": 0.8, "coverage": 0.5, "accuracy": 1.0}
    assert curve["at_model_threshold"] == {"threshold": 0.75, "coverage": 0.5, "accuracy": 1.0}


def test_evaluate_report_from_the_command_line(default_bundle: Path, tmp_path: Path) -> None:
    result = runner.invoke(cli.app, ["evaluate", "--model", str(default_bundle), "--split", "test", "--report", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.html").is_file()
    assert "confusion" not in json.loads(result.stdout)  # the terminal gets the summary, the file everything


def test_mcnemar_counts_only_the_rows_where_the_models_disagree() -> None:
    a = np.array([True] * 50 + [False] * 12)
    b = np.array([True] * 50 + [True] * 12)
    test = mcnemar(a, b)
    assert (test["only_a_right"], test["only_b_right"]) == (0, 12)
    assert test["p_value"] == pytest.approx(2 * 0.5**12, rel=1e-3)
    assert mcnemar(a, a)["p_value"] == 1.0


def test_compare_a_model_with_itself_and_with_a_broken_one(dev, suggestions, default_bundle, tmp_path) -> None:
    same = compare_suggestions(dev, suggestions, suggestions)
    assert all(h["difference"] == 0 and h["p_value"] == 1.0 for h in same["heads"].values())
    broken = [s.model_copy(update={"category": s.topic.model_copy(update={"label": "其他"})}) for s in suggestions]
    worse = compare_suggestions(dev, suggestions, broken)["heads"]["category"]
    assert worse["difference"] < 0 and worse["verdict"] == "A better" and worse["ci95"][1] < 0
    result = runner.invoke(cli.app, ["compare", "--model", str(default_bundle), "--model", str(default_bundle), "--split", "test", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["heads"]["unit_top1"]["verdict"] == "no significant difference"
    assert (tmp_path / "comparison.png").stat().st_size > 1000


def test_category_per_class_scores_carry_their_n_and_intervals(report_dir: Path) -> None:
    """Rare classes (批评, 其他) are read with their n and a 95% interval: ten messages give a range, not a number."""
    metrics = json.loads((report_dir / "metrics.json").read_text(encoding="utf-8"))
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "per class, with n and 95% intervals" in page
    for label, scores in metrics["category"]["per_class"].items():
        assert {"precision", "recall", "f1", "support"} <= set(scores)  # the old keys stay
        assert scores["recall_n"] == scores["support"]
        if scores["support"]:
            low, high = scores["recall_interval"]
            assert low <= scores["recall"] <= high
            assert f'data-key="category|per_class|{label}|recall_interval|0"' in page
        if scores["precision_n"]:
            low, high = scores["precision_interval"]
            assert low <= scores["precision"] <= high
        else:
            assert scores["precision_interval"] is None


def test_the_ceiling_on_a_known_case() -> None:
    from sklearn.metrics import cohen_kappa_score

    from training.evaluate import category_ceiling

    first, second, predicted = ["投诉", "投诉", "求助", "求助"], ["投诉", "求助", "求助", "求助"], ["投诉", "投诉", "投诉", "求助"]
    ceiling = category_ceiling(first, second, predicted)
    assert ceiling["n"] == 4
    assert ceiling["agreement"]["rate"] == 0.75 and ceiling["agreement"]["kappa"] == round(cohen_kappa_score(first, second), 4)
    assert (ceiling["accuracy_first"]["accuracy"], ceiling["accuracy_second"]["accuracy"]) == (0.75, 0.5)
    assert ceiling["accuracy_agreed"] == {"n": 3, "right": 2, "accuracy": 0.6667, "interval": [0.2077, 0.9385]}
    assert ceiling["gap"] == 0.0


def test_the_report_lists_every_scope_mistake_and_scores_refusals_by_reason_and_number(report_dir: Path, dev, suggestions) -> None:
    metrics = json.loads((report_dir / "metrics.json").read_text(encoding="utf-8"))
    scope = metrics["scope"]
    to_refuse = [r for r in dev.records if r.label("scope") != "accepted"]
    assert scope["n_to_refuse"] == len(to_refuse)
    right = sum(1 for r, s in zip(dev.records, suggestions, strict=True) if r.label("scope") != "accepted" and s.scope.reason == r.label("scope"))
    assert scope["reason_accuracy"] == pytest.approx(right / len(to_refuse), abs=1e-4)
    assert set(scope["redirect_by_number"]) <= {"110", "119", "120", "122"}
    assert sum(v["n"] for v in scope["redirect_by_number"].values()) == scope["n_emergencies"]
    misses = metrics["scope_misses"]
    wrongly_refused = sum(1 for r, s in zip(dev.records, suggestions, strict=True) if r.label("scope") == "accepted" and not s.scope.accepted)
    assert sum(m["kind"] == "wrongly refused" for m in misses) == wrongly_refused
    assert [m["kind"] for m in misses] == sorted((m["kind"] for m in misses), key=["wrongly refused", "refusal missed", "wrong number", "wrong reason"].index)
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "id='scope-misses'" in page and all(m["id"] in page for m in misses)
