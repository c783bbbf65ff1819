"""Retraining on dispatchers' corrections: they move the corrected unit's predictions, the frozen score holds, the gate refuses worse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.datasets import Dataset, Record, outrank
from training.retrain import _running, gate, retrain
from triage.registry import Registry, RetrainBusy

PLACES = ["五一广场", "梅溪湖", "东塘", "火车站", "橘子洲", "四方坪", "侯家塘", "星沙", "河西大学城", "伍家岭", "高桥", "月湖公园"]
FORMS = [
    "{p}地铁口的共享单车乱停乱放，把人行道都堵死了，走都走不过去",
    "喂，我反映一下{p}那边共享单车堆成山了，没人管，车都停到马路上了",
    "{p}附近好多共享单车横七竖八倒在路边，企业也不来清理",
]
CORRECTED = "市交通运输局"
"""The duty lists give 共享单车乱停放 to 市城管局; in this city the dispatchers keep sending it to the transport bureau."""


def orders() -> list[dict]:
    rows = [
        {"id": f"order-{i * 3 + j + 1}", "text": form.format(p=place), "category": "投诉", "topic": "交通运输",
         "unit": CORRECTED, "scope": "accepted", "deadline": "standard"}
        for i, place in enumerate(PLACES)
        for j, form in enumerate(FORMS)
    ]
    return rows


def test_corrections_move_the_unit_and_the_frozen_score_does_not_fall(default_bundle: Path, pipeline, write_jsonl, tmp_path: Path) -> None:
    rows = orders()
    held_out = rows[::4]  # never trained on: do the corrections generalise to new calls?
    trained = [r for r in rows if r not in held_out]
    probe = [r["text"] for r in held_out] + ["芙蓉广场公交站旁边共享单车停得到处都是，挡住盲道了", "我家楼下小区门口共享单车乱停，出门都难"]

    def share(p) -> float:
        return sum(s.units[0].name == CORRECTED for s in p.suggest_many(probe)) / len(probe)

    before = share(pipeline)
    report = retrain(write_jsonl(trained, "orders.jsonl"), root=tmp_path / "models", base_model=default_bundle, version="retrain-1")

    from triage.bundle import load_bundle

    after = share(load_bundle(report["bundle"]))
    assert before < 0.3 and after >= 0.8, (before, after)
    assert report["decision"] == "promoted", report["reasons"]
    assert not any(row["worse"] for row in report["headline"])
    assert report["merge"]["local_used"] == len(trained)
    # the same path as `triage train --data`: the preset's data plus the orders, which count double
    args = json.loads((Path(report["bundle"]) / "training_args.json").read_text(encoding="utf-8"))["data"]
    assert args["preset"] == "default" and args["local_weight"] == 2.0
    assert args["data_files"] == [str((tmp_path / "models" / "retrain" / "retrain-1" / "orders.jsonl").resolve())]
    assert report["agreement_with_orders"]["candidate"]["unit"] > report["agreement_with_orders"]["current"]["unit"]
    registry = Registry.load(tmp_path / "models")
    assert (registry.current, registry.previous) == ("retrain-1", "test-default")
    assert registry.versions["retrain-1"]["retrain"]["decision"] == "promoted"
    saved = json.loads((tmp_path / "models" / "retrain" / "retrain-1" / "report.json").read_text(encoding="utf-8"))
    assert saved["reasons"] == report["reasons"]
    # the frozen evaluation set stayed out of training: no dev id was written to the training file's train side
    assert report["frozen_set"]["rows"] > 100


def test_a_correction_outranks_the_base_record_it_contradicts_and_frozen_calls_stay_out() -> None:
    base = Dataset([Record("c-1", "小区门口共享单车乱停放", {"unit": "市城管局"}), Record("c-2", "路灯坏了", {"unit": "开福区"})])
    corrected = Dataset([
        Record("order-1", "小区门口共享单车乱停放。", {"unit": "市交通运输局"}),  # same call once normalised
        Record("order-2", "公积金怎么提取", {"category": "咨询"}),
    ])
    frozen = [Record("d-1", "公积金怎么提取", {})]
    kept, used, stats = outrank(base, corrected, frozen)
    assert [r.id for r in kept] == ["c-2"]
    assert [r.id for r in used] == ["order-1"]
    assert (stats.base_contradicted, stats.local_held_out_frozen) == (1, 1)


def test_of_two_decisions_on_one_call_the_later_wins() -> None:
    later = Dataset([Record("o-1", "路灯坏了", {"unit": "开福区"}), Record("o-2", "路灯坏了！", {"unit": "市城管局"})])
    _, used, stats = outrank(Dataset(), later)
    assert [r.id for r in used] == ["o-2"] and stats.local_duplicate_text == 1


def test_a_second_retrain_on_the_same_models_is_refused_while_one_runs(tmp_path: Path) -> None:
    with _running(tmp_path / "models"):
        with pytest.raises(RetrainBusy, match="already running"):
            retrain(tmp_path / "orders.jsonl", root=tmp_path / "models")


def test_the_gate_refuses_a_head_that_got_worse_and_says_why() -> None:
    current = {"category_accuracy": 0.84, "unit_top1": 0.64, "scope_false_refusal_rate": 0.015}
    ok, rows = gate(current, {"category_accuracy": 0.85, "unit_top1": 0.63, "scope_false_refusal_rate": 0.02}, 0.02)
    assert ok
    ok, rows = gate(current, {"category_accuracy": 0.85, "unit_top1": 0.60, "scope_false_refusal_rate": 0.05}, 0.02)
    assert not ok
    assert {r["metric"] for r in rows if r["worse"]} == {"unit_top1", "scope_false_refusal_rate"}
