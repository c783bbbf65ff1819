"""`triage learning-curve`: base + n local rows of a hotline with its own convention, scored on its other rows, plotted."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from training.cli import app
from training.datasets import corpus_split
from training.learning_curve import CurveArguments, learning_curve
from triage.errors import LabelError


@pytest.fixture(scope="module")
def other_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """240 accepted calls of the training pool written as another city's letters, filed by a convention that records
    every 求助 and 批评 as 投诉 and every 咨询 as 其他."""
    calls = [r for r in corpus_split()[0].records if r.label("scope") == "accepted" and r.label("category")]
    random.Random(3).shuffle(calls)
    convention = {"求助": "投诉", "批评": "投诉", "咨询": "其他"}
    path = tmp_path_factory.mktemp("city") / "orders.jsonl"
    with path.open("w", encoding="utf-8") as sink:
        for r in calls[:240]:
            label = r.label("category") or ""
            letter = "尊敬的领导您好：" + r.text.replace("喂", "").replace("你好", "") + "望回复为盼。"
            sink.write(json.dumps({"id": r.id, "text": letter, "category": convention.get(label, label)}, ensure_ascii=False) + "\n")
    return path


def test_local_rows_move_the_head_to_the_new_convention_and_the_report_shows_the_curve(other_city: Path, tmp_path: Path) -> None:
    out = tmp_path / "lc"
    result = CliRunner().invoke(app, ["learning-curve", "--data", str(other_city), "--sizes", "40,150,999", "--repeats", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    curve = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["learning_curve"]
    by_n = {row["n"]: row for row in curve["summary"]}
    assert sorted(by_n) == [0, 40, 150] and curve["sizes_skipped"] == [999]
    best = max(by_n[40]["accuracy"], by_n[150]["accuracy"])
    assert best >= by_n[0]["accuracy"] + 0.1, by_n  # the base alone files a consultation as 咨询
    assert best > curve["majority"]["accuracy"] + 0.1
    assert abs(by_n[150]["home_accuracy"] - by_n[0]["home_accuracy"]) < 0.2  # the home figure is reported beside it
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "id='learning-curve'" in page and "alt='learning_curve'" in page
    assert (out / "figures" / "learning_curve.png").stat().st_size > 10_000


def test_too_few_labelled_rows_and_bad_arguments_are_refused_clearly(write_jsonl) -> None:
    few = write_jsonl([{"id": str(i), "text": "路灯坏了好几天了", "category": "投诉"} for i in range(10)])
    with pytest.raises(LabelError, match="10 rows carry a category label; a learning curve needs at least 20"):
        learning_curve(CurveArguments(data=str(few)))
    with pytest.raises(ValueError, match="--head 'unit'"):
        CurveArguments(data=str(few), head="unit")
    result = CliRunner().invoke(app, ["learning-curve", "--data", str(few), "--sizes", "50,lots"])
    assert result.exit_code == 2 and "give whole numbers" in result.output
