"""The corpus's bookkeeping: the guide's checks, adjudication with its record, and the agreement the README reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from training.corpus import adjudicate, agreement, check_call, first_labels
from triage.resources import CORPUS_DIR
from triage.units import default_catalogue

GOOD = {"id": "x-1", "text": "伍家岭小区门口占道经营", "category": "投诉", "topic": "城乡建设", "unit": "开福区",
        "units_ok": ["开福区", "市城管局"], "district": "开福区", "scope": "accepted", "deadline": "standard"}


def test_the_guides_rules_are_checked() -> None:
    catalogue = default_catalogue()
    assert check_call(GOOD, catalogue) == []
    assert "`units_ok` must start with `unit`" in check_call({**GOOD, "units_ok": ["市城管局", "开福区"]}, catalogue)
    assert any("not in the catalogue" in p for p in check_call({**GOOD, "units_ok": ["开福区", "街道办"]}, catalogue))
    refused = {**GOOD, "scope": "emergency", "unit": None, "units_ok": [], "deadline": None}
    assert check_call(refused, catalogue) == ["an emergency needs `redirect` one of 110 119 120 122"]
    assert check_call({**refused, "redirect": "120"}, catalogue) == []
    assert "a refused call has `unit` null and `units_ok` []" in check_call({**refused, "redirect": "120", "unit": "开福区"}, catalogue)



def test_the_check_asks_for_ningxiangs_name_since_2017() -> None:
    catalogue = default_catalogue()
    assert check_call({**GOOD, "district": "宁乡市"}, catalogue) == []
    assert check_call({**GOOD, "district": "宁乡县"}, catalogue) == ["`district` '宁乡县' is a former name: write 宁乡市"]

def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_adjudication_writes_the_final_labels_and_keeps_both_and_why(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "second").mkdir(parents=True)
    (tmp_path / "decisions").mkdir()
    second = {k: v for k, v in GOOD.items() if k != "text"} | {"category": "举报", "units_ok": ["开福区"]}
    _write(corpus / "calls_x.jsonl", [GOOD])
    _write(corpus / "second" / "part.jsonl", [second])
    final = {k: v for k, v in GOOD.items() if k not in ("id", "text")} | {"category": "举报"}
    _write(tmp_path / "decisions" / "d.jsonl", [{"id": "x-1", "final": final, "why": {"category": "暗中经营，举报", "units_ok": "城管也受理"}}])
    assert adjudicate(tmp_path / "decisions", corpus) == 1
    [call] = [json.loads(line) for line in (corpus / "calls_x.jsonl").read_text(encoding="utf-8").splitlines()]
    assert call["category"] == "举报" and call["text"] == GOOD["text"]
    [entry] = [json.loads(line) for line in (corpus / "adjudication.jsonl").read_text(encoding="utf-8").splitlines()]
    assert entry["fields"]["category"] == {"first": "投诉", "second": "举报", "final": "举报", "why": "暗中经营，举报"}
    assert set(entry["fields"]) == {"category", "units_ok"}
    assert first_labels(corpus)["x-1"]["category"] == "投诉"  # the writer's label is recovered from the record


def test_the_readme_reports_the_agreement_the_tool_computes() -> None:
    figures = agreement()
    assert figures["n"] >= 3000 and figures["adjudicated_calls"] > 0
    readme = (CORPUS_DIR / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| ([a-z :]+) \| (0\.\d{3}) \| 0\.\d{3} \|$", readme, flags=re.M))
    names = {"category": "category", "topic": "topic", "scope: accepted or not": "scope (accepted or not)", "district": "district", "deadline class": "deadline"}
    for shown, key in names.items():
        assert rows[shown] == f"{figures['fields'][key]['agreement']:.3f}", shown
    assert f"{figures['units']['first_best_acceptable_to_second']:.3f}" in readme
