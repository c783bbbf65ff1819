"""`triage predict --input` in worker processes: the same lines as one process, in input order, bad lines named."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from training import cli
from training.batch import BatchError, items, predict_file, read_item
from training.datasets import read_labelled

GOOD = [
    "我想问一下住房公积金怎么提取，要带什么材料",
    "楼下饭店油烟太大，熏得窗户都不敢开",
    "长沙火车站门口黑车拉客,电话13873112345",
    "小区停水了",
    "社保卡丢了怎么补办",
    "岳麓区麓谷街道有人在小区里乱搭乱建",
    "喂？喂？",
]


def _lines() -> list[object]:
    """Good rows (consultations among them, so answers are compared too), and every kind of bad line."""
    rows: list[object] = []
    for k in range(3):
        for i, text in enumerate(GOOD):
            rows.append({"id": f"r{k}-{i}", "text": text})
        rows += [
            "not json",
            {"id": f"empty{k}", "text": "   "},
            {"id": f"none{k}"},
            ["a", "list"],
            b"\xff\xfe broken utf-8",
            "",
            {"id": f"titled{k}", "title": "举报无证经营的黑诊所", "text": "我们小区楼下有一家诊所"},
            {"text": "没有编号的来电，反映路灯不亮"},
            {"id": f"label{k}", "text": "路灯不亮", "category": "不存在的类别"},
        ]
    return rows


def _without_clock(text: str) -> list[dict]:
    """Output lines with the deadline's due time dropped: it is counted from the moment each row is suggested."""
    rows = []
    for line in text.splitlines():
        row = json.loads(line)
        if isinstance(row.get("deadline"), dict):
            row["deadline"].pop("due_at")
        rows.append(row)
    return rows


def test_workers_give_the_same_lines_as_one_process(default_bundle: Path, write_jsonl) -> None:
    source = write_jsonl(_lines())
    alone, shared = io.StringIO(), io.StringIO()
    one = predict_file(default_bundle, source, alone, workers=1)
    two = predict_file(default_bundle, source, shared, workers=2, chunk_rows=4, min_rows_for_workers=1)
    assert one.workers == 1 and not one.worker_peak_rss_kb
    assert two.workers == 2 and two.worker_peak_rss_kb  # the rows really went to other processes
    assert _without_clock(shared.getvalue()) == _without_clock(alone.getvalue())
    rows = _without_clock(alone.getvalue())
    assert (one.good, one.bad, one.rows) == (two.good, two.bad, two.rows) == (sum(1 for r in rows if "error" not in r), 18, len(rows))
    assert any(r.get("answers") for r in rows)  # consultations answered alike in both
    errors = [r["error"] for r in rows if "error" in r]
    assert f"{source}:8: not valid JSON" in errors[0]  # in place, in input order, file and line named
    assert any(f"{source}:10: no `text` field" in e for e in errors)


def test_a_line_is_read_as_read_labelled_reads_it(write_jsonl) -> None:
    source = write_jsonl(_lines())
    reference = read_labelled(source)
    read = [r for r in (read_item(i, str(source), source.stem) for i in items(source)) if r is not None]
    assert [r for r in read if isinstance(r, tuple)] == [(r.id, r.text) for r in reference.records]
    assert [r for r in read if isinstance(r, str)] == reference.problems


def test_a_csv_file_is_read_as_read_labelled_reads_it(tmp_path: Path) -> None:
    source = tmp_path / "calls.csv"
    good = "id,title,text\n1,,小区停水了\n2,,\"多行的\n来电内容\"\n3,only two\n".encode()
    source.write_bytes(good + b"\xff broken\n" + "4,投诉,路灯不亮\n".encode())
    reference = read_labelled(source)
    read = [r for r in (read_item(i, str(source), source.stem) for i in items(source)) if r is not None]
    assert [r for r in read if isinstance(r, tuple)] == [(r.id, r.text) for r in reference.records]
    assert sorted(r for r in read if isinstance(r, str)) == sorted(reference.problems)


def test_a_small_file_stays_in_this_process(default_bundle: Path, write_jsonl) -> None:
    source = write_jsonl([{"id": str(i), "text": "小区停水了"} for i in range(5)])
    summary = predict_file(default_bundle, source, io.StringIO(), workers=2, chunk_rows=2)
    assert summary.workers == 1 and not summary.worker_peak_rss_kb and summary.good == 5


def test_a_worker_that_cannot_load_the_model_says_why(tmp_path: Path, write_jsonl) -> None:
    source = write_jsonl([{"id": "1", "text": "小区停水了"}] * 3)
    with pytest.raises(BatchError, match="no such model folder"):
        predict_file(tmp_path / "nope", source, io.StringIO(), workers=2, chunk_rows=1, min_rows_for_workers=1)


def test_the_command_takes_a_worker_count(default_bundle: Path, write_jsonl, tmp_path: Path) -> None:
    runner = CliRunner()
    source = write_jsonl([{"id": "1", "text": "小区停水了"}, "not json"])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(cli.app, ["predict", "--model", str(default_bundle), "--input", str(source), "--output", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "1 suggestions, 1 lines with errors" in result.stderr
    assert [json.loads(line).get("id") for line in out.read_text(encoding="utf-8").splitlines()] == ["1", None]
    result = runner.invoke(cli.app, ["predict", "--model", str(default_bundle), "--input", str(source), "--workers", "0"])
    assert result.exit_code == 2 and "--workers must be at least 1" in result.stderr
    result = runner.invoke(cli.app, ["predict", "--model", str(default_bundle), "--input", str(tmp_path / "missing.jsonl"), "--output", str(out)])
    assert result.exit_code == 2 and "missing.jsonl: file not found" in result.stderr
