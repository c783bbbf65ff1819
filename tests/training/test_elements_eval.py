"""Scoring the order draft: span overlap, summary coverage and caller state, and the model card that reports them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.elements_eval import overlap_f1, score_spans, score_states, summary_coverage
from triage.bundle import load_bundle


def test_spans_score_by_overlap_with_a_null_matching_only_a_null() -> None:
    assert overlap_f1(None, None) == 1.0 and overlap_f1("四方坪", None) == 0.0 and overlap_f1(None, "四方坪") == 0.0
    assert overlap_f1("四方坪那边", "四方坪") == pytest.approx(2 * 0.6 * 1.0 / 1.6)
    scores = score_spans([{"address": "四方坪，", "ask": None}], [{"address": "四方坪,", "ask": None}])
    assert scores["address"]["exact"] == 1.0  # full-width punctuation folds as normalising folds it
    assert scores["ask"]["exact"] == 1.0 and scores["ask"]["said"] == 0


def test_summary_coverage_and_states() -> None:
    gold = [{"address": "四方坪", "ask": "派人来抓一下"}, {"address": None, "ask": None}]
    cover = summary_coverage(["来电人反映：四方坪流浪狗；诉求：派人来抓一下", "来电人反映：噪音"], gold)
    assert cover["address"] == {"n": 1, "covered": 1.0, "ci95": cover["address"]["ci95"]} and cover["within_limit"] == 2
    states = score_states(["求救", "平静", "焦急"], ["求救", "焦急", "焦急"])
    assert states["rescue_recall"] == 1.0 and states["accuracy"] == pytest.approx(0.6667, abs=1e-4)
    # the interval is as wide as a few calls make it, and holds the figure itself
    gold_states = ["平静"] * 170 + ["焦急"] * 28 + ["求救"] * 17 + ["愤怒"] * 10
    predicted = ["平静"] * 160 + ["焦急"] * 10 + ["焦急"] * 20 + ["平静"] * 8 + ["求救"] * 16 + ["平静"] + ["愤怒"] * 4 + ["平静"] * 6
    wide = score_states(predicted, gold_states)
    low, high = wide["macro_f1_ci95"]
    assert low < wide["macro_f1"] < high and high - low > 0.1
    assert wide["macro_f1_ci95"] == score_states(predicted, gold_states)["macro_f1_ci95"]  # seeded: the report does not move
    assert wide["rescue_n"] == 17 and wide["rescue_recall_ci95"][1] > 0.94 > wide["rescue_recall_ci95"][0]


def test_the_model_card_scores_the_draft_on_the_frozen_reference_and_the_state_head_survives_loading(default_bundle: Path) -> None:
    manifest = json.loads((default_bundle / "manifest.json").read_text(encoding="utf-8"))
    draft = manifest["metrics"]["test"]["order_draft"]
    assert draft["n"] == 225 and set(draft["elements"]) == {"address", "time", "object", "ask"}
    assert draft["caller_state"]["rescue_n"] > 0
    assert manifest["training"]["caller_state_rows"] > 200
    pipeline = load_bundle(default_bundle)
    assert pipeline.caller_state.fitted  # the learned head, not the bare rules


def test_a_state_only_file_is_scored_with_a_bundle(default_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from training.elements_eval import main, score_state_file

    calls = tmp_path / "states.jsonl"
    rows = [
        {"id": "t-1", "text": "救命啊，楼下着火了，烟好大，我们下不去", "caller_state": "求救"},
        {"id": "t-2", "text": "你好，我想问一下公积金提取要带什么材料", "caller_state": "平静"},
    ]
    calls.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    scores = score_state_file(default_bundle, calls)
    assert scores["n"] == 2 and scores["rescue_n"] == 1 and scores["rescue_recall"] == 1.0
    main(["--model", str(default_bundle), "--states", str(calls)])
    assert json.loads(capsys.readouterr().out)["n"] == 2
    blind = score_state_file(default_bundle)  # the blind file by default: 60 calls, 36 of them cries for help
    assert blind["n"] == 60 and blind["rescue_n"] == 36


def test_the_blind_probes_states_are_scored_from_the_blind_files_only() -> None:
    """`--blind-probes` scores the states outside writers gave their blind probe calls: every such call, none of a
    development file (those train the head)."""
    from training.datasets import caller_state_rows, probe_files
    from training.elements_eval import blind_probe_states

    rows = blind_probe_states()
    assert len(rows) == 760 and sum(r["caller_state"] == "求救" for r in rows) == 41
    assert len({r["id"] for r in rows}) == len(rows)
    blind = {p.stem for p in probe_files("blind")}
    assert {r["id"].split(":")[0] for r in rows if ":" in r["id"]} <= blind
    trained = {r["text"] for r in caller_state_rows()}
    assert not trained & {r["text"] for r in rows}


def test_the_rescue_curve_is_out_of_fold_and_picks_the_largest_threshold_that_reaches_the_recall() -> None:
    """What chose the served `rescue_threshold`: lower thresholds find more 求救 (never fewer) at a lower or equal
    precision, and the chosen one is the largest whose out-of-fold recall reaches the target."""
    from training.elements_eval import rescue_curve

    path = Path(__file__).resolve().parents[2] / "data" / "corpus" / "elements" / "caller_state_author.jsonl"
    rows = [{**json.loads(line), "scope": "accepted"} for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [{**row, "origin": "probes" if k % 3 == 0 else "calls"} for k, row in enumerate(rows)]
    out = rescue_curve(rows, folds=3, target=0.9, grid=(0.5, 0.2, 0.05), probe_weight=0.5)
    assert out["n"] == len(rows) and out["rescue_n"] == sum(r["caller_state"] == "求救" for r in rows) > 5
    assert {o: v["n"] for o, v in out["by_origin"].items()} == {"calls": len(rows) - len(rows[::3]), "probes": len(rows[::3])}
    recalls = [c["rescue_recall"] for c in out["curve"]]
    called = [c["accepted_called_rescue"] for c in out["curve"]]
    assert recalls == sorted(recalls) and called == sorted(called)  # thresholds fall along the curve
    reaching = [c["threshold"] for c in out["curve"] if c["rescue_recall"] >= 0.9]
    assert out["chosen"] == (max(reaching) if reaching else None)


def test_states_only_labels_widen_the_caller_state_score_and_never_replace_the_element_reference(tmp_path: Path) -> None:
    """`caller_state_all` scores every call with a reference state: the element reference's, and the states-only
    labels of the split's other calls; a call in both keeps the element reference's state."""
    from types import SimpleNamespace

    from training.elements_eval import draft_scores

    def suggestion(state: str) -> SimpleNamespace:
        spans = SimpleNamespace(address=None, time=None, object=None, ask=None)
        return SimpleNamespace(elements=spans, summary="来电人反映：路灯坏了", caller_state=SimpleNamespace(label=state))

    reference = {"r-1": {"id": "r-1", "address": None, "time": None, "object": None, "ask": None, "caller_state": "平静"}}
    extra = tmp_path / "states.jsonl"
    extra.write_text(
        '{"id": "r-1", "caller_state": "愤怒"}\n{"id": "s-1", "caller_state": "愤怒"}\n{"id": "s-2", "caller_state": "求救"}\n', encoding="utf-8"
    )
    ids = ["r-1", "s-1", "s-2", "x-1"]
    suggestions = [suggestion("平静"), suggestion("愤怒"), suggestion("平静"), suggestion("求救")]
    out = draft_scores(ids, suggestions, reference, extra)
    assert out is not None and out["caller_state"]["n"] == 1 and out["caller_state"]["accuracy"] == 1.0
    wide = out["caller_state_all"]
    assert wide["n"] == 3 and wide["accuracy"] == pytest.approx(2 / 3, abs=1e-4)  # r-1 kept 平静; x-1 has no state
    assert wide["rescue_n"] == 1 and wide["rescue_recall"] == 0.0
    assert "caller_state_all" not in draft_scores(ids, suggestions, reference, tmp_path / "missing.jsonl")  # type: ignore[operator]


def test_the_labellers_agreement_on_states_labelled_twice_is_computed_from_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m training.elements_eval --agreement`: the raw share and kappa the elements README quotes, from the
    first and second labellings as shipped; on a toy pair, the share counts only the calls both labelled."""
    from training.elements_eval import main, state_agreement

    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text('{"id": "x", "caller_state": "平静"}\n{"id": "y", "caller_state": "愤怒"}\n{"id": "z", "caller_state": "焦急"}\n', encoding="utf-8")
    second.write_text('{"id": "x", "caller_state": "平静"}\n{"id": "y", "caller_state": "平静"}\n', encoding="utf-8")
    assert state_agreement(first, second) == {"n": 2, "agreement": 0.5, "kappa": 0.0}
    main(["--agreement"])
    shipped = json.loads(capsys.readouterr().out)
    assert shipped["frozen split, states alone"]["n"] == 484 and shipped["training pool, states alone"]["n"] == 1887
    assert all(0.9 < row["agreement"] < 1.0 and row["kappa"] > 0.75 for row in shipped.values())
