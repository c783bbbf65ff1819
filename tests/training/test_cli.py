import json

from typer.testing import CliRunner

from training import cli

runner = CliRunner()


def test_predict_one_transcript(default_bundle):
    result = runner.invoke(cli.app, ["predict", "--model", str(default_bundle), "长沙火车站门口黑车拉客,电话13873112345"])
    assert result.exit_code == 0, result.output
    suggestion = json.loads(result.stdout)
    assert suggestion["district"] == "芙蓉区"
    assert "13873112345" not in result.stdout


def test_predict_a_file_reports_bad_lines_and_keeps_the_good(default_bundle, write_jsonl, tmp_path):
    source = write_jsonl([{"id": "1", "text": "小区停水了"}, "not json", {"id": "3", "text": "   "}, {"id": "4", "text": "公积金怎么取"}])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(cli.app, ["predict", "--model", str(default_bundle), "--input", str(source), "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines if "error" not in line] == ["1", "4"]
    errors = [line["error"] for line in lines if "error" in line]
    assert len(errors) == 2 and any(":2: not valid JSON" in e for e in errors) and any(":3: `text`" in e for e in errors)
    assert "2 suggestions, 2 lines with errors" in result.stderr


def test_evaluate_writes_metrics(default_bundle, tmp_path):
    result = runner.invoke(cli.app, ["evaluate", "--model", str(default_bundle), "--split", "test", "--report", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text(encoding="utf-8"))
    assert {"category", "topic", "scope", "unit", "district", "deadline"} <= set(metrics)
    assert metrics["unit"]["top3_accuracy"] >= metrics["unit"]["top1_accuracy"]


def test_errors_are_one_clear_line(tmp_path):
    result = runner.invoke(cli.app, ["predict", "--model", str(tmp_path / "nope"), "停水了"])
    assert result.exit_code == 2
    assert "no such model folder" in result.stderr
    result = runner.invoke(cli.app, ["train", "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "missing.jsonl: file not found" in result.stderr
    result = runner.invoke(cli.app, ["train", "--preset", "tiny"])
    assert result.exit_code == 2 and "unknown preset" in result.stderr


def test_without_a_model_the_default_one_is_trained_first(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "DEFAULT_MODEL_DIR", tmp_path / "default")
    result = runner.invoke(cli.app, ["predict", "我想问一下社保卡丢了怎么补办"])
    assert result.exit_code == 0, result.output
    assert "training the default model" in result.stderr
    assert (tmp_path / "default" / "manifest.json").is_file()
