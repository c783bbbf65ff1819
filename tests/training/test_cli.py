import json
import shutil

from typer.testing import CliRunner

from training import cli

runner = CliRunner()


def test_predict_one_transcript(default_bundle):
    result = runner.invoke(cli.app, ["predict", "--model", str(default_bundle), "长沙火车站门口黑车拉客,电话13873112345"])
    assert result.exit_code == 0, result.output
    suggestion = json.loads(result.stdout)
    assert suggestion["district"] == "芙蓉区"
    assert "13873112345" not in result.stdout


def test_a_consultation_on_the_command_line_prints_no_library_chatter(default_bundle):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "training.cli", "predict", "--model", str(default_bundle), "你好，我想问一下公积金怎么提取"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answers"]  # the knowledge base was built, and said nothing while building
    assert done.stderr == ""


def test_the_command_ends_quickly_yet_writes_every_line_and_its_exit_code(default_bundle, write_jsonl):
    """`triage` skips the interpreter's teardown (training.cli.run): every suggestion still reaches a pipe, and
    an error still ends with its code and message."""
    import subprocess
    import sys

    source = write_jsonl([{"id": str(i), "text": f"芙蓉区五一大道{i}号路灯不亮了"} for i in range(40)])
    command = [sys.executable, "-m", "training.cli", "predict", "--model", str(default_bundle)]
    done = subprocess.run([*command, "--input", str(source), "--workers", "1"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == [str(i) for i in range(40)]
    missing = subprocess.run([*command[:-1], str(default_bundle / "missing"), "小区停水了"], capture_output=True, text=True, timeout=120, check=False)
    assert missing.returncode == 2
    assert "no such model folder" in missing.stderr and missing.stdout == ""


def test_the_command_does_not_wait_on_an_idle_worker_pool_at_exit():
    """After training, joblib's reusable worker processes sit idle for minutes: the command must stop them on its way
    out, not wait until they time out (a bare `atexit` run did, and `triage train` took five minutes to end)."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from joblib import Parallel, delayed\n"
        "Parallel(n_jobs=2)(delayed(abs)(i) for i in range(4))\n"
        "sys.argv = ['triage', '--help']\n"
        "from training.cli import run\n"
        "run()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout


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


def test_one_call_and_a_file_give_the_same_answers_for_a_consultation(default_bundle, write_jsonl, tmp_path):
    question = "我想问一下住房公积金怎么提取，要带什么材料"
    one = json.loads(runner.invoke(cli.app, ["predict", "--model", str(default_bundle), question]).stdout)
    assert one["category"]["label"] == "咨询" and one["answers"]
    out = tmp_path / "out.jsonl"
    source = write_jsonl([{"id": "q", "text": question}, {"id": "c", "text": "楼下饭店油烟太大，熏得窗户都不敢开"}])
    result = runner.invoke(cli.app, ["predict", "--model", str(default_bundle), "--input", str(source), "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = {line["id"]: line for line in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert lines["q"]["answers"] == one["answers"]
    assert not lines["c"].get("answers")  # a complaint is not answered from the knowledge base


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


def test_without_a_model_the_default_one_is_trained_first(monkeypatch, tmp_path, default_bundle):
    """The training itself is the session's `default_bundle` (the same call, `train` on the default preset): here
    it is copied in, so that the test checks what `predict` asks for and then serves."""
    runs = []

    def train_run(**kwargs):
        runs.append(kwargs)
        shutil.copytree(default_bundle, kwargs["out"])

    monkeypatch.setattr(cli, "DEFAULT_MODEL_DIR", tmp_path / "default")
    monkeypatch.setattr(cli, "_train_run", train_run)
    result = runner.invoke(cli.app, ["predict", "我想问一下社保卡丢了怎么补办"])
    assert result.exit_code == 0, result.output
    assert "training the default model" in result.stderr
    assert [(r["preset"], r["out"], r["data"], r["config"]) for r in runs] == [("default", tmp_path / "default", [], None)]
    assert json.loads(result.stdout)["model_version"] == "test-default"
    result = runner.invoke(cli.app, ["predict", "我想问一下社保卡丢了怎么补办"])  # the second time it is there
    assert result.exit_code == 0 and len(runs) == 1 and "training the default model" not in result.stderr


def test_a_quick_training_draws_the_rows_it_is_given(tmp_path, write_jsonl):
    rows = [{"text": f"第{i}路公交车司机开车太猛，我要投诉", "category": "投诉", "topic": "交通运输"} for i in range(30)]
    rows += [{"text": f"想问一下第{i}号社保卡丢了怎么补办", "category": "咨询", "topic": "劳动和社会保障"} for i in range(30)]
    data = str(write_jsonl(rows))

    def trained_rows(*options: str) -> int:
        out = tmp_path / f"m{len(options)}"
        result = runner.invoke(cli.app, ["train", "--preset", "none", "--data", data, "--out", str(out), *options])
        assert result.exit_code == 0, result.output
        return json.loads((out / "manifest.json").read_text(encoding="utf-8"))["training"]["train_rows"]

    assert trained_rows() - trained_rows("--max-train-samples", "40") == 20  # the catalogue's own rows are always there
    result = runner.invoke(cli.app, ["train", "--preset", "none", "--data", data, "--out", str(tmp_path / "m"), "--max-train-samples", "5"])
    assert result.exit_code == 2 and "--max-train-samples" in result.stderr


def test_predict_a_file_reads_a_letters_title_as_part_of_it(default_bundle, write_jsonl, tmp_path):
    """`{"id","title","text"}` lines predict as the letter its writer wrote: the title first."""
    source = write_jsonl(
        [
            {"id": "titled", "title": "举报无证经营的黑诊所", "text": "我们小区楼下有一家诊所，请有关部门处理"},
            {"id": "joined", "text": "举报无证经营的黑诊所。我们小区楼下有一家诊所，请有关部门处理"},
        ]
    )
    out = tmp_path / "out.jsonl"
    result = runner.invoke(cli.app, ["predict", "--model", str(default_bundle), "--input", str(source), "--output", str(out)])
    assert result.exit_code == 0, result.output
    titled, joined = (json.loads(line) for line in out.read_text(encoding="utf-8").splitlines())
    assert titled["text"].startswith("举报无证经营的黑诊所。")
    for field in ("text", "category", "topic", "units"):
        assert titled[field] == joined[field], field


def test_a_bad_label_file_stops_training_but_evaluation_reports_it_and_carries_on(default_bundle, write_jsonl, tmp_path):
    rows = []
    for i in range(6):
        rows.append({"id": f"w{i}", "text": f"老板拖欠工资第{i}个月了", "topic": "劳动和社会保障"})
        rows.append({"id": f"b{i}", "text": f"公交车第{i}路司机甩站", "topic": "交通运输"})
    data = write_jsonl(rows)
    labels = write_jsonl(
        [{"id": f"w{i}", "category": "求助"} for i in range(6)] + [{"id": "b0", "category": "投拆"}] + [{"id": f"b{i}", "category": "投诉"} for i in range(1, 6)],
        name="labels.jsonl",
    )
    result = runner.invoke(cli.app, ["train", "--data", str(data), "--labels", str(labels), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert f"{labels}, line 7: unknown category '投拆'" in " ".join(result.stderr.split())
    assert not (tmp_path / "m").exists()
    result = runner.invoke(cli.app, ["evaluate", "--model", str(default_bundle), "--data", str(data), "--labels", str(labels)])
    assert result.exit_code == 0, result.output
    assert "unknown category '投拆'" in result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["category"]["n"] == 11 and metrics["skipped_lines"] == 1


def test_evaluate_with_a_second_annotator_shows_the_ceiling(default_bundle, write_jsonl, tmp_path):
    texts = ["老板拖欠工资三个月了", "公交车司机甩站", "公积金怎么提取", "小区门口占道经营", "建议增加公交线路", "举报无证经营的黑诊所"]
    first = ["求助", "投诉", "咨询", "投诉", "建议", "举报"]
    second = ["投诉", "投诉", "咨询", "投诉", "建议", "举报"]
    data = write_jsonl([{"id": f"m{i}", "text": t} for i, t in enumerate(texts)])
    one = write_jsonl([{"id": f"m{i}", "category": c} for i, c in enumerate(first)], name="first.jsonl")
    two = write_jsonl([{"id": f"m{i}", "category": c} for i, c in enumerate(second[:5])] + [{"id": "x", "category": "其他"}], name="second.jsonl")
    out = tmp_path / "r"
    result = runner.invoke(
        cli.app,
        ["evaluate", "--model", str(default_bundle), "--data", str(data), "--labels", str(one), "--second-labels", str(two), "--report", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "id 'x' matches no record" in result.stderr  # reported, not fatal: evaluation
    ceiling = json.loads(result.stdout)["category_ceiling"]
    predicted = [json.loads(line)["category"]["label"] for line in _predict(default_bundle, data, tmp_path)]
    right = [p == f for p, f in zip(predicted, first, strict=True)][:5]  # m5 has no second label: not in the ceiling
    assert ceiling["n"] == 5
    assert ceiling["agreement"] == {"n": 5, "agreed": 4, "rate": 0.8, "interval": [0.3755, 0.9638], "kappa": ceiling["agreement"]["kappa"]}
    assert 0 < ceiling["agreement"]["kappa"] < 0.8
    assert ceiling["accuracy_first"]["n"] == 5 and ceiling["accuracy_first"]["right"] == sum(right)
    assert ceiling["accuracy_agreed"]["n"] == 4 and ceiling["accuracy_agreed"]["right"] == sum(right[1:])
    assert ceiling["gap"] == round(0.8 - sum(right) / 5, 4)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Request type: the ceiling of two annotators" in page
    assert '<span data-key="category_ceiling|agreement|rate">0.8000</span>' in page
    assert '<span data-key="category_ceiling|agreement|interval|0">0.3755</span>' in page
    result = runner.invoke(cli.app, ["evaluate", "--model", str(default_bundle), "--data", str(data), "--second-labels", str(two)])
    assert result.exit_code == 2 and "no row has a category from both" in result.stderr


def _predict(bundle, data, tmp_path):
    out = tmp_path / "predicted.jsonl"
    result = runner.invoke(cli.app, ["predict", "--model", str(bundle), "--input", str(data), "--output", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8").splitlines()


def test_a_default_model_of_an_older_bundle_format_is_rebuilt_not_refused(monkeypatch, tmp_path):
    from triage.registry import Registry

    default = tmp_path / "default"
    default.mkdir()
    (default / "manifest.json").write_text(json.dumps({"format_version": 1}), encoding="utf-8")
    trained = []
    monkeypatch.setattr(cli, "DEFAULT_MODEL_DIR", default)
    monkeypatch.setattr(Registry, "current_path", lambda self: None)
    monkeypatch.setattr(cli, "_train_run", lambda **kwargs: trained.append(kwargs["out"]))
    assert cli.ensure_model(None) == default
    assert trained == [default]


def test_predict_says_which_register_decided_and_refuses_an_unknown_one(default_bundle):
    text = "长沙火车站门口黑车拉客"
    spoken = json.loads(runner.invoke(cli.app, ["predict", "--model", str(default_bundle), text]).stdout)
    written = runner.invoke(cli.app, ["predict", "--model", str(default_bundle), "--register", "written", text])
    assert spoken["register"] == "spoken" and json.loads(written.stdout)["register"] == "written"
    bad = runner.invoke(cli.app, ["predict", "--model", str(default_bundle), "--register", "fax", text])
    assert bad.exit_code != 0 and "spoken, written" in bad.output
